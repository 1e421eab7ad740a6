import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vigie.common.v1 import common_pb2 as _common_pb2
from vigie.rules.v1 import rule_pb2 as _rule_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AlertRaised(_message.Message):
    __slots__ = ("alert_id", "rule_id", "rule_kind", "camera_id", "severity", "title", "started_at", "raised_at", "track_ids", "geo", "snapshot", "clip", "boxes", "subject_id", "requires_confirmations", "attributes", "frame_id", "involves_persons", "rule_kind_name")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_KIND_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    RAISED_AT_FIELD_NUMBER: _ClassVar[int]
    TRACK_IDS_FIELD_NUMBER: _ClassVar[int]
    GEO_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    CLIP_FIELD_NUMBER: _ClassVar[int]
    BOXES_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_CONFIRMATIONS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    INVOLVES_PERSONS_FIELD_NUMBER: _ClassVar[int]
    RULE_KIND_NAME_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    rule_id: str
    rule_kind: _rule_pb2.RuleKind
    camera_id: str
    severity: _rule_pb2.Severity
    title: str
    started_at: _timestamp_pb2.Timestamp
    raised_at: _timestamp_pb2.Timestamp
    track_ids: _containers.RepeatedScalarFieldContainer[int]
    geo: _common_pb2.GeoPoint
    snapshot: _common_pb2.EvidenceRef
    clip: _common_pb2.EvidenceRef
    boxes: _containers.RepeatedCompositeFieldContainer[_common_pb2.BoundingBox]
    subject_id: str
    requires_confirmations: int
    attributes: _containers.ScalarMap[str, str]
    frame_id: str
    involves_persons: bool
    rule_kind_name: str
    def __init__(self, alert_id: _Optional[str] = ..., rule_id: _Optional[str] = ..., rule_kind: _Optional[_Union[_rule_pb2.RuleKind, str]] = ..., camera_id: _Optional[str] = ..., severity: _Optional[_Union[_rule_pb2.Severity, str]] = ..., title: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., raised_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., track_ids: _Optional[_Iterable[int]] = ..., geo: _Optional[_Union[_common_pb2.GeoPoint, _Mapping]] = ..., snapshot: _Optional[_Union[_common_pb2.EvidenceRef, _Mapping]] = ..., clip: _Optional[_Union[_common_pb2.EvidenceRef, _Mapping]] = ..., boxes: _Optional[_Iterable[_Union[_common_pb2.BoundingBox, _Mapping]]] = ..., subject_id: _Optional[str] = ..., requires_confirmations: _Optional[int] = ..., attributes: _Optional[_Mapping[str, str]] = ..., frame_id: _Optional[str] = ..., involves_persons: _Optional[bool] = ..., rule_kind_name: _Optional[str] = ...) -> None: ...
