import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from vigie.detect.v1 import detection_pb2 as _detection_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DetectRequest(_message.Message):
    __slots__ = ("image", "model", "min_confidence")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MIN_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    model: str
    min_confidence: float
    def __init__(self, image: _Optional[bytes] = ..., model: _Optional[str] = ..., min_confidence: _Optional[float] = ...) -> None: ...

class DetectResponse(_message.Message):
    __slots__ = ("model_id", "inference_time", "image_width", "image_height", "detections")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_TIME_FIELD_NUMBER: _ClassVar[int]
    IMAGE_WIDTH_FIELD_NUMBER: _ClassVar[int]
    IMAGE_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    DETECTIONS_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    inference_time: _duration_pb2.Duration
    image_width: int
    image_height: int
    detections: _containers.RepeatedCompositeFieldContainer[_detection_pb2.Detection]
    def __init__(self, model_id: _Optional[str] = ..., inference_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., image_width: _Optional[int] = ..., image_height: _Optional[int] = ..., detections: _Optional[_Iterable[_Union[_detection_pb2.Detection, _Mapping]]] = ...) -> None: ...
