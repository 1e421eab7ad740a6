import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CameraState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CAMERA_STATE_UNSPECIFIED: _ClassVar[CameraState]
    CAMERA_STATE_UP: _ClassVar[CameraState]
    CAMERA_STATE_STALLED: _ClassVar[CameraState]
    CAMERA_STATE_RECONNECTING: _ClassVar[CameraState]
    CAMERA_STATE_FAILED: _ClassVar[CameraState]
    CAMERA_STATE_DOWN: _ClassVar[CameraState]

class ViewProblem(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VIEW_PROBLEM_UNSPECIFIED: _ClassVar[ViewProblem]
    VIEW_PROBLEM_COVERED: _ClassVar[ViewProblem]
    VIEW_PROBLEM_DEFOCUSED: _ClassVar[ViewProblem]
    VIEW_PROBLEM_MOVED: _ClassVar[ViewProblem]
    VIEW_PROBLEM_TOO_DARK: _ClassVar[ViewProblem]
    VIEW_PROBLEM_TOO_BRIGHT: _ClassVar[ViewProblem]
CAMERA_STATE_UNSPECIFIED: CameraState
CAMERA_STATE_UP: CameraState
CAMERA_STATE_STALLED: CameraState
CAMERA_STATE_RECONNECTING: CameraState
CAMERA_STATE_FAILED: CameraState
CAMERA_STATE_DOWN: CameraState
VIEW_PROBLEM_UNSPECIFIED: ViewProblem
VIEW_PROBLEM_COVERED: ViewProblem
VIEW_PROBLEM_DEFOCUSED: ViewProblem
VIEW_PROBLEM_MOVED: ViewProblem
VIEW_PROBLEM_TOO_DARK: ViewProblem
VIEW_PROBLEM_TOO_BRIGHT: ViewProblem

class CameraHealthChanged(_message.Message):
    __slots__ = ("camera_id", "state", "reason", "attempt", "next_retry_in", "observed_at", "frames_total", "previous_state", "reporter", "view_problem", "previous_view_problem", "problem_since", "frame_id", "reference_jpeg", "current_jpeg")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    NEXT_RETRY_IN_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_AT_FIELD_NUMBER: _ClassVar[int]
    FRAMES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_STATE_FIELD_NUMBER: _ClassVar[int]
    REPORTER_FIELD_NUMBER: _ClassVar[int]
    VIEW_PROBLEM_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_VIEW_PROBLEM_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_SINCE_FIELD_NUMBER: _ClassVar[int]
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_JPEG_FIELD_NUMBER: _ClassVar[int]
    CURRENT_JPEG_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    state: CameraState
    reason: str
    attempt: int
    next_retry_in: _duration_pb2.Duration
    observed_at: _timestamp_pb2.Timestamp
    frames_total: int
    previous_state: CameraState
    reporter: str
    view_problem: ViewProblem
    previous_view_problem: ViewProblem
    problem_since: _timestamp_pb2.Timestamp
    frame_id: str
    reference_jpeg: bytes
    current_jpeg: bytes
    def __init__(self, camera_id: _Optional[str] = ..., state: _Optional[_Union[CameraState, str]] = ..., reason: _Optional[str] = ..., attempt: _Optional[int] = ..., next_retry_in: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., observed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., frames_total: _Optional[int] = ..., previous_state: _Optional[_Union[CameraState, str]] = ..., reporter: _Optional[str] = ..., view_problem: _Optional[_Union[ViewProblem, str]] = ..., previous_view_problem: _Optional[_Union[ViewProblem, str]] = ..., problem_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., frame_id: _Optional[str] = ..., reference_jpeg: _Optional[bytes] = ..., current_jpeg: _Optional[bytes] = ...) -> None: ...
