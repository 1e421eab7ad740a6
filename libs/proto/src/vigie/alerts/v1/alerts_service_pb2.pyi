import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vigie.alerts.v1 import alert_pb2 as _alert_pb2
from vigie.alerts.v1 import decision_pb2 as _decision_pb2
from vigie.rules.v1 import rule_pb2 as _rule_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AlertStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_STATUS_UNSPECIFIED: _ClassVar[AlertStatus]
    ALERT_STATUS_OPEN: _ClassVar[AlertStatus]
    ALERT_STATUS_ACKNOWLEDGED: _ClassVar[AlertStatus]
    ALERT_STATUS_PARTIALLY_CONFIRMED: _ClassVar[AlertStatus]
    ALERT_STATUS_CONFIRMED: _ClassVar[AlertStatus]
    ALERT_STATUS_DISMISSED: _ClassVar[AlertStatus]
ALERT_STATUS_UNSPECIFIED: AlertStatus
ALERT_STATUS_OPEN: AlertStatus
ALERT_STATUS_ACKNOWLEDGED: AlertStatus
ALERT_STATUS_PARTIALLY_CONFIRMED: AlertStatus
ALERT_STATUS_CONFIRMED: AlertStatus
ALERT_STATUS_DISMISSED: AlertStatus

class AlertFilter(_message.Message):
    __slots__ = ("camera_ids", "severities", "rule_kinds", "since")
    CAMERA_IDS_FIELD_NUMBER: _ClassVar[int]
    SEVERITIES_FIELD_NUMBER: _ClassVar[int]
    RULE_KINDS_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    camera_ids: _containers.RepeatedScalarFieldContainer[str]
    severities: _containers.RepeatedScalarFieldContainer[_rule_pb2.Severity]
    rule_kinds: _containers.RepeatedScalarFieldContainer[_rule_pb2.RuleKind]
    since: _timestamp_pb2.Timestamp
    def __init__(self, camera_ids: _Optional[_Iterable[str]] = ..., severities: _Optional[_Iterable[_Union[_rule_pb2.Severity, str]]] = ..., rule_kinds: _Optional[_Iterable[_Union[_rule_pb2.RuleKind, str]]] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AlertRecord(_message.Message):
    __slots__ = ("alert", "decisions", "status")
    ALERT_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    alert: _alert_pb2.AlertRaised
    decisions: _containers.RepeatedCompositeFieldContainer[_decision_pb2.AlertDecided]
    status: AlertStatus
    def __init__(self, alert: _Optional[_Union[_alert_pb2.AlertRaised, _Mapping]] = ..., decisions: _Optional[_Iterable[_Union[_decision_pb2.AlertDecided, _Mapping]]] = ..., status: _Optional[_Union[AlertStatus, str]] = ...) -> None: ...

class StreamAlertsRequest(_message.Message):
    __slots__ = ("filter",)
    FILTER_FIELD_NUMBER: _ClassVar[int]
    filter: AlertFilter
    def __init__(self, filter: _Optional[_Union[AlertFilter, _Mapping]] = ...) -> None: ...

class StreamAlertsResponse(_message.Message):
    __slots__ = ("alert", "decision")
    ALERT_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    alert: _alert_pb2.AlertRaised
    decision: _decision_pb2.AlertDecided
    def __init__(self, alert: _Optional[_Union[_alert_pb2.AlertRaised, _Mapping]] = ..., decision: _Optional[_Union[_decision_pb2.AlertDecided, _Mapping]] = ...) -> None: ...

class ListAlertsRequest(_message.Message):
    __slots__ = ("filter", "until", "page_size", "page_token")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    filter: AlertFilter
    until: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, filter: _Optional[_Union[AlertFilter, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAlertsResponse(_message.Message):
    __slots__ = ("alerts", "next_page_token")
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[AlertRecord]
    next_page_token: str
    def __init__(self, alerts: _Optional[_Iterable[_Union[AlertRecord, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DecideAlertRequest(_message.Message):
    __slots__ = ("alert_id", "decision", "reason", "operator", "role")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    decision: _decision_pb2.AlertDecision
    reason: str
    operator: str
    role: str
    def __init__(self, alert_id: _Optional[str] = ..., decision: _Optional[_Union[_decision_pb2.AlertDecision, str]] = ..., reason: _Optional[str] = ..., operator: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class DecideAlertResponse(_message.Message):
    __slots__ = ("decision", "status", "confirmations")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CONFIRMATIONS_FIELD_NUMBER: _ClassVar[int]
    decision: _decision_pb2.AlertDecided
    status: AlertStatus
    confirmations: int
    def __init__(self, decision: _Optional[_Union[_decision_pb2.AlertDecided, _Mapping]] = ..., status: _Optional[_Union[AlertStatus, str]] = ..., confirmations: _Optional[int] = ...) -> None: ...
