import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TrackState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRACK_STATE_UNSPECIFIED: _ClassVar[TrackState]
    TRACK_STATE_NEW: _ClassVar[TrackState]
    TRACK_STATE_TRACKED: _ClassVar[TrackState]
    TRACK_STATE_LOST: _ClassVar[TrackState]
    TRACK_STATE_REMOVED: _ClassVar[TrackState]

class TrackPool(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRACK_POOL_UNSPECIFIED: _ClassVar[TrackPool]
    TRACK_POOL_TRACKED: _ClassVar[TrackPool]
    TRACK_POOL_LOST: _ClassVar[TrackPool]
TRACK_STATE_UNSPECIFIED: TrackState
TRACK_STATE_NEW: TrackState
TRACK_STATE_TRACKED: TrackState
TRACK_STATE_LOST: TrackState
TRACK_STATE_REMOVED: TrackState
TRACK_POOL_UNSPECIFIED: TrackPool
TRACK_POOL_TRACKED: TrackPool
TRACK_POOL_LOST: TrackPool

class TrackSnapshot(_message.Message):
    __slots__ = ("track_id", "state", "pool", "activated", "score", "class_id", "detection_index", "start_frame", "frame", "tracklet_len", "tlwh", "mean", "covariance", "current_feature", "smooth_feature")
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    ACTIVATED_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    DETECTION_INDEX_FIELD_NUMBER: _ClassVar[int]
    START_FRAME_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    TRACKLET_LEN_FIELD_NUMBER: _ClassVar[int]
    TLWH_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    COVARIANCE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FEATURE_FIELD_NUMBER: _ClassVar[int]
    SMOOTH_FEATURE_FIELD_NUMBER: _ClassVar[int]
    track_id: int
    state: TrackState
    pool: TrackPool
    activated: bool
    score: float
    class_id: float
    detection_index: int
    start_frame: int
    frame: int
    tracklet_len: int
    tlwh: _containers.RepeatedScalarFieldContainer[float]
    mean: _containers.RepeatedScalarFieldContainer[float]
    covariance: _containers.RepeatedScalarFieldContainer[float]
    current_feature: _containers.RepeatedScalarFieldContainer[float]
    smooth_feature: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, track_id: _Optional[int] = ..., state: _Optional[_Union[TrackState, str]] = ..., pool: _Optional[_Union[TrackPool, str]] = ..., activated: _Optional[bool] = ..., score: _Optional[float] = ..., class_id: _Optional[float] = ..., detection_index: _Optional[int] = ..., start_frame: _Optional[int] = ..., frame: _Optional[int] = ..., tracklet_len: _Optional[int] = ..., tlwh: _Optional[_Iterable[float]] = ..., mean: _Optional[_Iterable[float]] = ..., covariance: _Optional[_Iterable[float]] = ..., current_feature: _Optional[_Iterable[float]] = ..., smooth_feature: _Optional[_Iterable[float]] = ...) -> None: ...

class RemovedTrack(_message.Message):
    __slots__ = ("position", "track_id")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    position: int
    track_id: int
    def __init__(self, position: _Optional[int] = ..., track_id: _Optional[int] = ...) -> None: ...

class TrackIdentity(_message.Message):
    __slots__ = ("track_id", "raw_track_id", "class_id", "last_seen_s", "box", "velocity", "appearance", "observations")
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    RAW_TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_S_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    VELOCITY_FIELD_NUMBER: _ClassVar[int]
    APPEARANCE_FIELD_NUMBER: _ClassVar[int]
    OBSERVATIONS_FIELD_NUMBER: _ClassVar[int]
    track_id: int
    raw_track_id: int
    class_id: int
    last_seen_s: float
    box: _containers.RepeatedScalarFieldContainer[float]
    velocity: _containers.RepeatedScalarFieldContainer[float]
    appearance: _containers.RepeatedScalarFieldContainer[float]
    observations: int
    def __init__(self, track_id: _Optional[int] = ..., raw_track_id: _Optional[int] = ..., class_id: _Optional[int] = ..., last_seen_s: _Optional[float] = ..., box: _Optional[_Iterable[float]] = ..., velocity: _Optional[_Iterable[float]] = ..., appearance: _Optional[_Iterable[float]] = ..., observations: _Optional[int] = ...) -> None: ...

class TrackIdAlias(_message.Message):
    __slots__ = ("raw_track_id", "track_id")
    RAW_TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    raw_track_id: int
    track_id: int
    def __init__(self, raw_track_id: _Optional[int] = ..., track_id: _Optional[int] = ...) -> None: ...

class TrackerCheckpointed(_message.Message):
    __slots__ = ("camera_id", "frame_id", "captured_at", "model_id", "tracker_params", "tracker_frames", "next_track_id", "tracks", "removed_count", "removed", "frame_rate", "analysed_at", "identities", "aliases", "newest_raw_track_id", "tracker_time_s", "class_evidence")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_AT_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    TRACKER_PARAMS_FIELD_NUMBER: _ClassVar[int]
    TRACKER_FRAMES_FIELD_NUMBER: _ClassVar[int]
    NEXT_TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    TRACKS_FIELD_NUMBER: _ClassVar[int]
    REMOVED_COUNT_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    FRAME_RATE_FIELD_NUMBER: _ClassVar[int]
    ANALYSED_AT_FIELD_NUMBER: _ClassVar[int]
    IDENTITIES_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    NEWEST_RAW_TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    TRACKER_TIME_S_FIELD_NUMBER: _ClassVar[int]
    CLASS_EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    frame_id: str
    captured_at: _timestamp_pb2.Timestamp
    model_id: str
    tracker_params: str
    tracker_frames: int
    next_track_id: int
    tracks: _containers.RepeatedCompositeFieldContainer[TrackSnapshot]
    removed_count: int
    removed: _containers.RepeatedCompositeFieldContainer[RemovedTrack]
    frame_rate: float
    analysed_at: _timestamp_pb2.Timestamp
    identities: _containers.RepeatedCompositeFieldContainer[TrackIdentity]
    aliases: _containers.RepeatedCompositeFieldContainer[TrackIdAlias]
    newest_raw_track_id: int
    tracker_time_s: float
    class_evidence: _containers.RepeatedCompositeFieldContainer[TrackClassEvidence]
    def __init__(self, camera_id: _Optional[str] = ..., frame_id: _Optional[str] = ..., captured_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., model_id: _Optional[str] = ..., tracker_params: _Optional[str] = ..., tracker_frames: _Optional[int] = ..., next_track_id: _Optional[int] = ..., tracks: _Optional[_Iterable[_Union[TrackSnapshot, _Mapping]]] = ..., removed_count: _Optional[int] = ..., removed: _Optional[_Iterable[_Union[RemovedTrack, _Mapping]]] = ..., frame_rate: _Optional[float] = ..., analysed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., identities: _Optional[_Iterable[_Union[TrackIdentity, _Mapping]]] = ..., aliases: _Optional[_Iterable[_Union[TrackIdAlias, _Mapping]]] = ..., newest_raw_track_id: _Optional[int] = ..., tracker_time_s: _Optional[float] = ..., class_evidence: _Optional[_Iterable[_Union[TrackClassEvidence, _Mapping]]] = ...) -> None: ...

class TrackClassEvidence(_message.Message):
    __slots__ = ("track_id", "last_seen_s", "class_ids", "confidence_sums")
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_S_FIELD_NUMBER: _ClassVar[int]
    CLASS_IDS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_SUMS_FIELD_NUMBER: _ClassVar[int]
    track_id: int
    last_seen_s: float
    class_ids: _containers.RepeatedScalarFieldContainer[int]
    confidence_sums: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, track_id: _Optional[int] = ..., last_seen_s: _Optional[float] = ..., class_ids: _Optional[_Iterable[int]] = ..., confidence_sums: _Optional[_Iterable[float]] = ...) -> None: ...
