import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AlertDecision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_DECISION_UNSPECIFIED: _ClassVar[AlertDecision]
    ALERT_DECISION_ACKNOWLEDGED: _ClassVar[AlertDecision]
    ALERT_DECISION_CONFIRMED: _ClassVar[AlertDecision]
    ALERT_DECISION_DISMISSED: _ClassVar[AlertDecision]
ALERT_DECISION_UNSPECIFIED: AlertDecision
ALERT_DECISION_ACKNOWLEDGED: AlertDecision
ALERT_DECISION_CONFIRMED: AlertDecision
ALERT_DECISION_DISMISSED: AlertDecision

class AlertDecided(_message.Message):
    __slots__ = ("decision_id", "alert_id", "operator", "role", "decision", "reason", "decided_at")
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    alert_id: str
    operator: str
    role: str
    decision: AlertDecision
    reason: str
    decided_at: _timestamp_pb2.Timestamp
    def __init__(self, decision_id: _Optional[str] = ..., alert_id: _Optional[str] = ..., operator: _Optional[str] = ..., role: _Optional[str] = ..., decision: _Optional[_Union[AlertDecision, str]] = ..., reason: _Optional[str] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
