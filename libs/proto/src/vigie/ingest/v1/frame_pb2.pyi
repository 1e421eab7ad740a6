import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vigie.camera.v1 import camera_pb2 as _camera_pb2
from vigie.common.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FrameSampled(_message.Message):
    __slots__ = ("frame_id", "camera_id", "sequence", "captured_at", "pts_s", "ingested_at", "width", "height", "jpeg", "motion_score", "source_kind", "geo", "report_id", "evidence")
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_AT_FIELD_NUMBER: _ClassVar[int]
    PTS_S_FIELD_NUMBER: _ClassVar[int]
    INGESTED_AT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    JPEG_FIELD_NUMBER: _ClassVar[int]
    MOTION_SCORE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_KIND_FIELD_NUMBER: _ClassVar[int]
    GEO_FIELD_NUMBER: _ClassVar[int]
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    frame_id: str
    camera_id: str
    sequence: int
    captured_at: _timestamp_pb2.Timestamp
    pts_s: float
    ingested_at: _timestamp_pb2.Timestamp
    width: int
    height: int
    jpeg: bytes
    motion_score: float
    source_kind: _camera_pb2.SourceKind
    geo: _common_pb2.GeoPoint
    report_id: str
    evidence: _common_pb2.EvidenceRef
    def __init__(self, frame_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., sequence: _Optional[int] = ..., captured_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., pts_s: _Optional[float] = ..., ingested_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., jpeg: _Optional[bytes] = ..., motion_score: _Optional[float] = ..., source_kind: _Optional[_Union[_camera_pb2.SourceKind, str]] = ..., geo: _Optional[_Union[_common_pb2.GeoPoint, _Mapping]] = ..., report_id: _Optional[str] = ..., evidence: _Optional[_Union[_common_pb2.EvidenceRef, _Mapping]] = ...) -> None: ...
