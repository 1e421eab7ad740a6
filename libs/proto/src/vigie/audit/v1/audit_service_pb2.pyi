import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vigie.audit.v1 import audit_pb2 as _audit_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListAuditRecordsRequest(_message.Message):
    __slots__ = ("from_sequence", "actions", "actor", "since", "until", "page_size", "page_token", "chain")
    FROM_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    from_sequence: int
    actions: _containers.RepeatedScalarFieldContainer[_audit_pb2.AuditAction]
    actor: str
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    chain: str
    def __init__(self, from_sequence: _Optional[int] = ..., actions: _Optional[_Iterable[_Union[_audit_pb2.AuditAction, str]]] = ..., actor: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., chain: _Optional[str] = ...) -> None: ...

class ListAuditRecordsResponse(_message.Message):
    __slots__ = ("records", "next_page_token")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[_audit_pb2.AuditRecorded]
    next_page_token: str
    def __init__(self, records: _Optional[_Iterable[_Union[_audit_pb2.AuditRecorded, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class VerifyChainRequest(_message.Message):
    __slots__ = ("from_sequence", "to_sequence", "chain")
    FROM_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TO_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    from_sequence: int
    to_sequence: int
    chain: str
    def __init__(self, from_sequence: _Optional[int] = ..., to_sequence: _Optional[int] = ..., chain: _Optional[str] = ...) -> None: ...

class ChainVerification(_message.Message):
    __slots__ = ("chain", "valid", "records_checked", "first_invalid_sequence", "error", "head_hash")
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    VALID_FIELD_NUMBER: _ClassVar[int]
    RECORDS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    FIRST_INVALID_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    HEAD_HASH_FIELD_NUMBER: _ClassVar[int]
    chain: str
    valid: bool
    records_checked: int
    first_invalid_sequence: int
    error: str
    head_hash: bytes
    def __init__(self, chain: _Optional[str] = ..., valid: _Optional[bool] = ..., records_checked: _Optional[int] = ..., first_invalid_sequence: _Optional[int] = ..., error: _Optional[str] = ..., head_hash: _Optional[bytes] = ...) -> None: ...

class VerifyChainResponse(_message.Message):
    __slots__ = ("valid", "records_checked", "first_invalid_sequence", "error", "head_hash", "chains")
    VALID_FIELD_NUMBER: _ClassVar[int]
    RECORDS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    FIRST_INVALID_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    HEAD_HASH_FIELD_NUMBER: _ClassVar[int]
    CHAINS_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    records_checked: int
    first_invalid_sequence: int
    error: str
    head_hash: bytes
    chains: _containers.RepeatedCompositeFieldContainer[ChainVerification]
    def __init__(self, valid: _Optional[bool] = ..., records_checked: _Optional[int] = ..., first_invalid_sequence: _Optional[int] = ..., error: _Optional[str] = ..., head_hash: _Optional[bytes] = ..., chains: _Optional[_Iterable[_Union[ChainVerification, _Mapping]]] = ...) -> None: ...
