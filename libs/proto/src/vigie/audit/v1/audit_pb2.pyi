import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AuditAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUDIT_ACTION_UNSPECIFIED: _ClassVar[AuditAction]
    AUDIT_ACTION_ENROLMENT: _ClassVar[AuditAction]
    AUDIT_ACTION_ERASURE: _ClassVar[AuditAction]
    AUDIT_ACTION_MATCH: _ClassVar[AuditAction]
    AUDIT_ACTION_SEARCH: _ClassVar[AuditAction]
    AUDIT_ACTION_RULE_CHANGE: _ClassVar[AuditAction]
    AUDIT_ACTION_DECISION: _ClassVar[AuditAction]
    AUDIT_ACTION_CAMERA_CHANGE: _ClassVar[AuditAction]
    AUDIT_ACTION_EXPORT: _ClassVar[AuditAction]
    AUDIT_ACTION_RETENTION_DELETION: _ClassVar[AuditAction]
    AUDIT_ACTION_DISPATCH: _ClassVar[AuditAction]
    AUDIT_ACTION_EXPIRY: _ClassVar[AuditAction]
    AUDIT_ACTION_EVIDENCE_LOCK: _ClassVar[AuditAction]
    AUDIT_ACTION_DISPATCH_SUSPENSION: _ClassVar[AuditAction]
    AUDIT_ACTION_ACCOUNT_CHANGE: _ClassVar[AuditAction]
AUDIT_ACTION_UNSPECIFIED: AuditAction
AUDIT_ACTION_ENROLMENT: AuditAction
AUDIT_ACTION_ERASURE: AuditAction
AUDIT_ACTION_MATCH: AuditAction
AUDIT_ACTION_SEARCH: AuditAction
AUDIT_ACTION_RULE_CHANGE: AuditAction
AUDIT_ACTION_DECISION: AuditAction
AUDIT_ACTION_CAMERA_CHANGE: AuditAction
AUDIT_ACTION_EXPORT: AuditAction
AUDIT_ACTION_RETENTION_DELETION: AuditAction
AUDIT_ACTION_DISPATCH: AuditAction
AUDIT_ACTION_EXPIRY: AuditAction
AUDIT_ACTION_EVIDENCE_LOCK: AuditAction
AUDIT_ACTION_DISPATCH_SUSPENSION: AuditAction
AUDIT_ACTION_ACCOUNT_CHANGE: AuditAction

class AuditRecorded(_message.Message):
    __slots__ = ("sequence", "event_id", "occurred_at", "actor", "action", "subject_ref", "details", "prev_hash", "hash", "chain", "public_key", "signature")
    class DetailsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_REF_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    PREV_HASH_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    actor: str
    action: AuditAction
    subject_ref: str
    details: _containers.ScalarMap[str, str]
    prev_hash: bytes
    hash: bytes
    chain: str
    public_key: bytes
    signature: bytes
    def __init__(self, sequence: _Optional[int] = ..., event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor: _Optional[str] = ..., action: _Optional[_Union[AuditAction, str]] = ..., subject_ref: _Optional[str] = ..., details: _Optional[_Mapping[str, str]] = ..., prev_hash: _Optional[bytes] = ..., hash: _Optional[bytes] = ..., chain: _Optional[str] = ..., public_key: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...
