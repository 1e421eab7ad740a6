import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vigie.common.v1 import common_pb2 as _common_pb2
from vigie.face.v1 import watchlist_pb2 as _watchlist_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FaceMatched(_message.Message):
    __slots__ = ("match_id", "frame_id", "camera_id", "captured_at", "subject_id", "category", "score", "threshold", "face_box", "model_id")
    MATCH_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_AT_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    FACE_BOX_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    match_id: str
    frame_id: str
    camera_id: str
    captured_at: _timestamp_pb2.Timestamp
    subject_id: str
    category: _watchlist_pb2.WatchlistCategory
    score: float
    threshold: float
    face_box: _common_pb2.BoundingBox
    model_id: str
    def __init__(self, match_id: _Optional[str] = ..., frame_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., captured_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., subject_id: _Optional[str] = ..., category: _Optional[_Union[_watchlist_pb2.WatchlistCategory, str]] = ..., score: _Optional[float] = ..., threshold: _Optional[float] = ..., face_box: _Optional[_Union[_common_pb2.BoundingBox, _Mapping]] = ..., model_id: _Optional[str] = ...) -> None: ...
