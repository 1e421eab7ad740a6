import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SignalState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIGNAL_STATE_UNSPECIFIED: _ClassVar[SignalState]
    SIGNAL_STATE_RED: _ClassVar[SignalState]
    SIGNAL_STATE_AMBER: _ClassVar[SignalState]
    SIGNAL_STATE_GREEN: _ClassVar[SignalState]
    SIGNAL_STATE_OFF: _ClassVar[SignalState]
    SIGNAL_STATE_UNKNOWN: _ClassVar[SignalState]

class SignalSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIGNAL_SOURCE_UNSPECIFIED: _ClassVar[SignalSource]
    SIGNAL_SOURCE_COLOUR: _ClassVar[SignalSource]
    SIGNAL_SOURCE_CONTROLLER: _ClassVar[SignalSource]
SIGNAL_STATE_UNSPECIFIED: SignalState
SIGNAL_STATE_RED: SignalState
SIGNAL_STATE_AMBER: SignalState
SIGNAL_STATE_GREEN: SignalState
SIGNAL_STATE_OFF: SignalState
SIGNAL_STATE_UNKNOWN: SignalState
SIGNAL_SOURCE_UNSPECIFIED: SignalSource
SIGNAL_SOURCE_COLOUR: SignalSource
SIGNAL_SOURCE_CONTROLLER: SignalSource

class SignalObserved(_message.Message):
    __slots__ = ("camera_id", "signal_id", "state", "observed_at", "source", "frame_id")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_AT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    signal_id: str
    state: SignalState
    observed_at: _timestamp_pb2.Timestamp
    source: SignalSource
    frame_id: str
    def __init__(self, camera_id: _Optional[str] = ..., signal_id: _Optional[str] = ..., state: _Optional[_Union[SignalState, str]] = ..., observed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source: _Optional[_Union[SignalSource, str]] = ..., frame_id: _Optional[str] = ...) -> None: ...
