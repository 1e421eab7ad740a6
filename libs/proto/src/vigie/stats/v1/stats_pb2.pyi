import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vigie.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Count(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: int
    def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...

class CountsAggregated(_message.Message):
    __slots__ = ("camera_id", "rule_id", "window", "counts", "emitted_at")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    EMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    rule_id: str
    window: _common_pb2.TimeWindow
    counts: _containers.RepeatedCompositeFieldContainer[Count]
    emitted_at: _timestamp_pb2.Timestamp
    def __init__(self, camera_id: _Optional[str] = ..., rule_id: _Optional[str] = ..., window: _Optional[_Union[_common_pb2.TimeWindow, _Mapping]] = ..., counts: _Optional[_Iterable[_Union[Count, _Mapping]]] = ..., emitted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
