from vigie.rules.v1 import rule_pb2 as _rule_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListRuleKindsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListRuleKindsResponse(_message.Message):
    __slots__ = ("kinds",)
    KINDS_FIELD_NUMBER: _ClassVar[int]
    kinds: _containers.RepeatedCompositeFieldContainer[RuleKindInfo]
    def __init__(self, kinds: _Optional[_Iterable[_Union[RuleKindInfo, _Mapping]]] = ...) -> None: ...

class RuleKindInfo(_message.Message):
    __slots__ = ("name", "kind", "title", "geometry", "required_fields", "optional_fields", "default_classes", "involves_persons", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    GEOMETRY_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELDS_FIELD_NUMBER: _ClassVar[int]
    OPTIONAL_FIELDS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_CLASSES_FIELD_NUMBER: _ClassVar[int]
    INVOLVES_PERSONS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: _rule_pb2.RuleKind
    title: str
    geometry: str
    required_fields: _containers.RepeatedScalarFieldContainer[str]
    optional_fields: _containers.RepeatedScalarFieldContainer[str]
    default_classes: _containers.RepeatedScalarFieldContainer[str]
    involves_persons: bool
    description: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[_rule_pb2.RuleKind, str]] = ..., title: _Optional[str] = ..., geometry: _Optional[str] = ..., required_fields: _Optional[_Iterable[str]] = ..., optional_fields: _Optional[_Iterable[str]] = ..., default_classes: _Optional[_Iterable[str]] = ..., involves_persons: _Optional[bool] = ..., description: _Optional[str] = ...) -> None: ...

class PutRuleRequest(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: _rule_pb2.Rule
    def __init__(self, rule: _Optional[_Union[_rule_pb2.Rule, _Mapping]] = ...) -> None: ...

class PutRuleResponse(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: _rule_pb2.Rule
    def __init__(self, rule: _Optional[_Union[_rule_pb2.Rule, _Mapping]] = ...) -> None: ...

class DeleteRuleRequest(_message.Message):
    __slots__ = ("rule_id",)
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    def __init__(self, rule_id: _Optional[str] = ...) -> None: ...

class DeleteRuleResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListRulesRequest(_message.Message):
    __slots__ = ("camera_id", "page_size", "page_token")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    page_size: int
    page_token: str
    def __init__(self, camera_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRulesResponse(_message.Message):
    __slots__ = ("rules", "next_page_token")
    RULES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    rules: _containers.RepeatedCompositeFieldContainer[_rule_pb2.Rule]
    next_page_token: str
    def __init__(self, rules: _Optional[_Iterable[_Union[_rule_pb2.Rule, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ValidateRuleRequest(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: _rule_pb2.Rule
    def __init__(self, rule: _Optional[_Union[_rule_pb2.Rule, _Mapping]] = ...) -> None: ...

class ValidationError(_message.Message):
    __slots__ = ("field_path", "message")
    FIELD_PATH_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    field_path: str
    message: str
    def __init__(self, field_path: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ValidateRuleResponse(_message.Message):
    __slots__ = ("errors",)
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    errors: _containers.RepeatedCompositeFieldContainer[ValidationError]
    def __init__(self, errors: _Optional[_Iterable[_Union[ValidationError, _Mapping]]] = ...) -> None: ...
