import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vigie.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RuleKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RULE_KIND_UNSPECIFIED: _ClassVar[RuleKind]
    RULE_KIND_ZONE_INTRUSION: _ClassVar[RuleKind]
    RULE_KIND_LOITERING: _ClassVar[RuleKind]
    RULE_KIND_STATIONARY_VEHICLE: _ClassVar[RuleKind]
    RULE_KIND_LINE_CROSSING: _ClassVar[RuleKind]
    RULE_KIND_WRONG_WAY: _ClassVar[RuleKind]
    RULE_KIND_RED_LIGHT: _ClassVar[RuleKind]
    RULE_KIND_CROWD_DENSITY: _ClassVar[RuleKind]
    RULE_KIND_CROWD_MOVEMENT: _ClassVar[RuleKind]
    RULE_KIND_ABANDONED_OBJECT: _ClassVar[RuleKind]
    RULE_KIND_ILLEGAL_DUMPING: _ClassVar[RuleKind]
    RULE_KIND_PERSON_ON_GROUND: _ClassVar[RuleKind]
    RULE_KIND_WEAPON_VISIBLE: _ClassVar[RuleKind]
    RULE_KIND_FACE_MATCH: _ClassVar[RuleKind]
    RULE_KIND_CITIZEN_REPORT: _ClassVar[RuleKind]

class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEVERITY_UNSPECIFIED: _ClassVar[Severity]
    SEVERITY_INFO: _ClassVar[Severity]
    SEVERITY_LOW: _ClassVar[Severity]
    SEVERITY_MEDIUM: _ClassVar[Severity]
    SEVERITY_HIGH: _ClassVar[Severity]
    SEVERITY_CRITICAL: _ClassVar[Severity]

class Weekday(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WEEKDAY_UNSPECIFIED: _ClassVar[Weekday]
    WEEKDAY_MONDAY: _ClassVar[Weekday]
    WEEKDAY_TUESDAY: _ClassVar[Weekday]
    WEEKDAY_WEDNESDAY: _ClassVar[Weekday]
    WEEKDAY_THURSDAY: _ClassVar[Weekday]
    WEEKDAY_FRIDAY: _ClassVar[Weekday]
    WEEKDAY_SATURDAY: _ClassVar[Weekday]
    WEEKDAY_SUNDAY: _ClassVar[Weekday]
RULE_KIND_UNSPECIFIED: RuleKind
RULE_KIND_ZONE_INTRUSION: RuleKind
RULE_KIND_LOITERING: RuleKind
RULE_KIND_STATIONARY_VEHICLE: RuleKind
RULE_KIND_LINE_CROSSING: RuleKind
RULE_KIND_WRONG_WAY: RuleKind
RULE_KIND_RED_LIGHT: RuleKind
RULE_KIND_CROWD_DENSITY: RuleKind
RULE_KIND_CROWD_MOVEMENT: RuleKind
RULE_KIND_ABANDONED_OBJECT: RuleKind
RULE_KIND_ILLEGAL_DUMPING: RuleKind
RULE_KIND_PERSON_ON_GROUND: RuleKind
RULE_KIND_WEAPON_VISIBLE: RuleKind
RULE_KIND_FACE_MATCH: RuleKind
RULE_KIND_CITIZEN_REPORT: RuleKind
SEVERITY_UNSPECIFIED: Severity
SEVERITY_INFO: Severity
SEVERITY_LOW: Severity
SEVERITY_MEDIUM: Severity
SEVERITY_HIGH: Severity
SEVERITY_CRITICAL: Severity
WEEKDAY_UNSPECIFIED: Weekday
WEEKDAY_MONDAY: Weekday
WEEKDAY_TUESDAY: Weekday
WEEKDAY_WEDNESDAY: Weekday
WEEKDAY_THURSDAY: Weekday
WEEKDAY_FRIDAY: Weekday
WEEKDAY_SATURDAY: Weekday
WEEKDAY_SUNDAY: Weekday

class Line(_message.Message):
    __slots__ = ("start", "end")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    start: _common_pb2.Point
    end: _common_pb2.Point
    def __init__(self, start: _Optional[_Union[_common_pb2.Point, _Mapping]] = ..., end: _Optional[_Union[_common_pb2.Point, _Mapping]] = ...) -> None: ...

class Direction(_message.Message):
    __slots__ = ("dx", "dy")
    DX_FIELD_NUMBER: _ClassVar[int]
    DY_FIELD_NUMBER: _ClassVar[int]
    dx: float
    dy: float
    def __init__(self, dx: _Optional[float] = ..., dy: _Optional[float] = ...) -> None: ...

class RuleGeometry(_message.Message):
    __slots__ = ("zone", "line", "direction", "signal_region", "geo_centre")
    ZONE_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_REGION_FIELD_NUMBER: _ClassVar[int]
    GEO_CENTRE_FIELD_NUMBER: _ClassVar[int]
    zone: _containers.RepeatedCompositeFieldContainer[_common_pb2.Point]
    line: Line
    direction: Direction
    signal_region: _common_pb2.BoundingBox
    geo_centre: _common_pb2.GeoPoint
    def __init__(self, zone: _Optional[_Iterable[_Union[_common_pb2.Point, _Mapping]]] = ..., line: _Optional[_Union[Line, _Mapping]] = ..., direction: _Optional[_Union[Direction, _Mapping]] = ..., signal_region: _Optional[_Union[_common_pb2.BoundingBox, _Mapping]] = ..., geo_centre: _Optional[_Union[_common_pb2.GeoPoint, _Mapping]] = ...) -> None: ...

class RuleThresholds(_message.Message):
    __slots__ = ("min_confidence", "max_dwell", "max_stop", "min_count", "tolerance_deg", "min_speed_per_s", "min_match_score", "cooldown", "max_distance_m")
    MIN_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    MAX_DWELL_FIELD_NUMBER: _ClassVar[int]
    MAX_STOP_FIELD_NUMBER: _ClassVar[int]
    MIN_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOLERANCE_DEG_FIELD_NUMBER: _ClassVar[int]
    MIN_SPEED_PER_S_FIELD_NUMBER: _ClassVar[int]
    MIN_MATCH_SCORE_FIELD_NUMBER: _ClassVar[int]
    COOLDOWN_FIELD_NUMBER: _ClassVar[int]
    MAX_DISTANCE_M_FIELD_NUMBER: _ClassVar[int]
    min_confidence: float
    max_dwell: _duration_pb2.Duration
    max_stop: _duration_pb2.Duration
    min_count: int
    tolerance_deg: float
    min_speed_per_s: float
    min_match_score: float
    cooldown: _duration_pb2.Duration
    max_distance_m: float
    def __init__(self, min_confidence: _Optional[float] = ..., max_dwell: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_stop: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., min_count: _Optional[int] = ..., tolerance_deg: _Optional[float] = ..., min_speed_per_s: _Optional[float] = ..., min_match_score: _Optional[float] = ..., cooldown: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_distance_m: _Optional[float] = ...) -> None: ...

class ActiveWindow(_message.Message):
    __slots__ = ("days", "start_minute", "end_minute")
    DAYS_FIELD_NUMBER: _ClassVar[int]
    START_MINUTE_FIELD_NUMBER: _ClassVar[int]
    END_MINUTE_FIELD_NUMBER: _ClassVar[int]
    days: _containers.RepeatedScalarFieldContainer[Weekday]
    start_minute: int
    end_minute: int
    def __init__(self, days: _Optional[_Iterable[_Union[Weekday, str]]] = ..., start_minute: _Optional[int] = ..., end_minute: _Optional[int] = ...) -> None: ...

class RuleSchedule(_message.Message):
    __slots__ = ("time_zone", "windows", "valid_from", "valid_until")
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    time_zone: str
    windows: _containers.RepeatedCompositeFieldContainer[ActiveWindow]
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    def __init__(self, time_zone: _Optional[str] = ..., windows: _Optional[_Iterable[_Union[ActiveWindow, _Mapping]]] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Rule(_message.Message):
    __slots__ = ("rule_id", "name", "camera_id", "kind", "geometry", "class_names", "thresholds", "schedule", "severity", "enabled", "created_by", "updated_at", "signal_id", "kind_name")
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    GEOMETRY_FIELD_NUMBER: _ClassVar[int]
    CLASS_NAMES_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_NAME_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    name: str
    camera_id: str
    kind: RuleKind
    geometry: RuleGeometry
    class_names: _containers.RepeatedScalarFieldContainer[str]
    thresholds: RuleThresholds
    schedule: RuleSchedule
    severity: Severity
    enabled: bool
    created_by: str
    updated_at: _timestamp_pb2.Timestamp
    signal_id: str
    kind_name: str
    def __init__(self, rule_id: _Optional[str] = ..., name: _Optional[str] = ..., camera_id: _Optional[str] = ..., kind: _Optional[_Union[RuleKind, str]] = ..., geometry: _Optional[_Union[RuleGeometry, _Mapping]] = ..., class_names: _Optional[_Iterable[str]] = ..., thresholds: _Optional[_Union[RuleThresholds, _Mapping]] = ..., schedule: _Optional[_Union[RuleSchedule, _Mapping]] = ..., severity: _Optional[_Union[Severity, str]] = ..., enabled: _Optional[bool] = ..., created_by: _Optional[str] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., signal_id: _Optional[str] = ..., kind_name: _Optional[str] = ...) -> None: ...
