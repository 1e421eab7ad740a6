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

class SourceKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SOURCE_KIND_UNSPECIFIED: _ClassVar[SourceKind]
    SOURCE_KIND_FILE: _ClassVar[SourceKind]
    SOURCE_KIND_RTSP: _ClassVar[SourceKind]
    SOURCE_KIND_HTTP: _ClassVar[SourceKind]
    SOURCE_KIND_CITIZEN: _ClassVar[SourceKind]

class Purpose(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PURPOSE_UNSPECIFIED: _ClassVar[Purpose]
    PURPOSE_OBJECTS: _ClassVar[Purpose]
    PURPOSE_TRAFFIC: _ClassVar[Purpose]
    PURPOSE_CROWD: _ClassVar[Purpose]
    PURPOSE_FACE_MATCHING: _ClassVar[Purpose]

class SlicingMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SLICING_MODE_UNSPECIFIED: _ClassVar[SlicingMode]
    SLICING_MODE_NONE: _ClassVar[SlicingMode]
    SLICING_MODE_TILES: _ClassVar[SlicingMode]
    SLICING_MODE_FAR_FIELD: _ClassVar[SlicingMode]
SOURCE_KIND_UNSPECIFIED: SourceKind
SOURCE_KIND_FILE: SourceKind
SOURCE_KIND_RTSP: SourceKind
SOURCE_KIND_HTTP: SourceKind
SOURCE_KIND_CITIZEN: SourceKind
PURPOSE_UNSPECIFIED: Purpose
PURPOSE_OBJECTS: Purpose
PURPOSE_TRAFFIC: Purpose
PURPOSE_CROWD: Purpose
PURPOSE_FACE_MATCHING: Purpose
SLICING_MODE_UNSPECIFIED: SlicingMode
SLICING_MODE_NONE: SlicingMode
SLICING_MODE_TILES: SlicingMode
SLICING_MODE_FAR_FIELD: SlicingMode

class FaceAuthorisation(_message.Message):
    __slots__ = ("window", "reference")
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    window: _common_pb2.TimeWindow
    reference: str
    def __init__(self, window: _Optional[_Union[_common_pb2.TimeWindow, _Mapping]] = ..., reference: _Optional[str] = ...) -> None: ...

class Camera(_message.Message):
    __slots__ = ("camera_id", "name", "source_url", "source_kind", "geo", "sample_fps", "analysis_max_width", "analysis_max_height", "purposes", "face_authorisation", "evidence_retention", "frame_retention", "enabled", "labels", "updated_at", "updated_by", "credentials_ref", "view_accepted_at", "slicing_mode", "far_field_regions")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_URL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_KIND_FIELD_NUMBER: _ClassVar[int]
    GEO_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FPS_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_MAX_WIDTH_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_MAX_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    FACE_AUTHORISATION_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_RETENTION_FIELD_NUMBER: _ClassVar[int]
    FRAME_RETENTION_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_REF_FIELD_NUMBER: _ClassVar[int]
    VIEW_ACCEPTED_AT_FIELD_NUMBER: _ClassVar[int]
    SLICING_MODE_FIELD_NUMBER: _ClassVar[int]
    FAR_FIELD_REGIONS_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    name: str
    source_url: str
    source_kind: SourceKind
    geo: _common_pb2.GeoPoint
    sample_fps: float
    analysis_max_width: int
    analysis_max_height: int
    purposes: _containers.RepeatedScalarFieldContainer[Purpose]
    face_authorisation: FaceAuthorisation
    evidence_retention: _duration_pb2.Duration
    frame_retention: _duration_pb2.Duration
    enabled: bool
    labels: _containers.ScalarMap[str, str]
    updated_at: _timestamp_pb2.Timestamp
    updated_by: str
    credentials_ref: str
    view_accepted_at: _timestamp_pb2.Timestamp
    slicing_mode: SlicingMode
    far_field_regions: _containers.RepeatedCompositeFieldContainer[_common_pb2.BoundingBox]
    def __init__(self, camera_id: _Optional[str] = ..., name: _Optional[str] = ..., source_url: _Optional[str] = ..., source_kind: _Optional[_Union[SourceKind, str]] = ..., geo: _Optional[_Union[_common_pb2.GeoPoint, _Mapping]] = ..., sample_fps: _Optional[float] = ..., analysis_max_width: _Optional[int] = ..., analysis_max_height: _Optional[int] = ..., purposes: _Optional[_Iterable[_Union[Purpose, str]]] = ..., face_authorisation: _Optional[_Union[FaceAuthorisation, _Mapping]] = ..., evidence_retention: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., frame_retention: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., enabled: _Optional[bool] = ..., labels: _Optional[_Mapping[str, str]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_by: _Optional[str] = ..., credentials_ref: _Optional[str] = ..., view_accepted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., slicing_mode: _Optional[_Union[SlicingMode, str]] = ..., far_field_regions: _Optional[_Iterable[_Union[_common_pb2.BoundingBox, _Mapping]]] = ...) -> None: ...
