import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vigie.common.v1 import common_pb2 as _common_pb2
from vigie.face.v1 import watchlist_pb2 as _watchlist_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EnrollRequest(_message.Message):
    __slots__ = ("display_name", "category", "consent", "photos", "camera_ids")
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    PHOTOS_FIELD_NUMBER: _ClassVar[int]
    CAMERA_IDS_FIELD_NUMBER: _ClassVar[int]
    display_name: str
    category: _watchlist_pb2.WatchlistCategory
    consent: _watchlist_pb2.ConsentRecord
    photos: _containers.RepeatedScalarFieldContainer[bytes]
    camera_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, display_name: _Optional[str] = ..., category: _Optional[_Union[_watchlist_pb2.WatchlistCategory, str]] = ..., consent: _Optional[_Union[_watchlist_pb2.ConsentRecord, _Mapping]] = ..., photos: _Optional[_Iterable[bytes]] = ..., camera_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class EnrollResponse(_message.Message):
    __slots__ = ("subject_id", "photos_used")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PHOTOS_USED_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    photos_used: int
    def __init__(self, subject_id: _Optional[str] = ..., photos_used: _Optional[int] = ...) -> None: ...

class EraseRequest(_message.Message):
    __slots__ = ("subject_id", "reason")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    reason: str
    def __init__(self, subject_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class EraseResponse(_message.Message):
    __slots__ = ("erased_at",)
    ERASED_AT_FIELD_NUMBER: _ClassVar[int]
    erased_at: _timestamp_pb2.Timestamp
    def __init__(self, erased_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListSubjectsRequest(_message.Message):
    __slots__ = ("categories", "include_expired", "page_size", "page_token")
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_EXPIRED_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    categories: _containers.RepeatedScalarFieldContainer[_watchlist_pb2.WatchlistCategory]
    include_expired: bool
    page_size: int
    page_token: str
    def __init__(self, categories: _Optional[_Iterable[_Union[_watchlist_pb2.WatchlistCategory, str]]] = ..., include_expired: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class Subject(_message.Message):
    __slots__ = ("subject_id", "display_name", "category", "consent", "template_model_id", "camera_ids")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_IDS_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    display_name: str
    category: _watchlist_pb2.WatchlistCategory
    consent: _watchlist_pb2.ConsentRecord
    template_model_id: str
    camera_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, subject_id: _Optional[str] = ..., display_name: _Optional[str] = ..., category: _Optional[_Union[_watchlist_pb2.WatchlistCategory, str]] = ..., consent: _Optional[_Union[_watchlist_pb2.ConsentRecord, _Mapping]] = ..., template_model_id: _Optional[str] = ..., camera_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ListSubjectsResponse(_message.Message):
    __slots__ = ("subjects", "next_page_token")
    SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    subjects: _containers.RepeatedCompositeFieldContainer[Subject]
    next_page_token: str
    def __init__(self, subjects: _Optional[_Iterable[_Union[Subject, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class VerifyRequest(_message.Message):
    __slots__ = ("photo_a", "photo_b")
    PHOTO_A_FIELD_NUMBER: _ClassVar[int]
    PHOTO_B_FIELD_NUMBER: _ClassVar[int]
    photo_a: bytes
    photo_b: bytes
    def __init__(self, photo_a: _Optional[bytes] = ..., photo_b: _Optional[bytes] = ...) -> None: ...

class VerifyResponse(_message.Message):
    __slots__ = ("score", "threshold", "same", "model_id")
    SCORE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    SAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    score: float
    threshold: float
    same: bool
    model_id: str
    def __init__(self, score: _Optional[float] = ..., threshold: _Optional[float] = ..., same: _Optional[bool] = ..., model_id: _Optional[str] = ...) -> None: ...

class SearchArchiveRequest(_message.Message):
    __slots__ = ("authorisation_reference", "camera_ids", "time_range", "probe_photo", "min_score", "max_hits", "videos")
    AUTHORISATION_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    CAMERA_IDS_FIELD_NUMBER: _ClassVar[int]
    TIME_RANGE_FIELD_NUMBER: _ClassVar[int]
    PROBE_PHOTO_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    MAX_HITS_FIELD_NUMBER: _ClassVar[int]
    VIDEOS_FIELD_NUMBER: _ClassVar[int]
    authorisation_reference: str
    camera_ids: _containers.RepeatedScalarFieldContainer[str]
    time_range: _common_pb2.TimeWindow
    probe_photo: bytes
    min_score: float
    max_hits: int
    videos: _containers.RepeatedCompositeFieldContainer[ArchivedVideo]
    def __init__(self, authorisation_reference: _Optional[str] = ..., camera_ids: _Optional[_Iterable[str]] = ..., time_range: _Optional[_Union[_common_pb2.TimeWindow, _Mapping]] = ..., probe_photo: _Optional[bytes] = ..., min_score: _Optional[float] = ..., max_hits: _Optional[int] = ..., videos: _Optional[_Iterable[_Union[ArchivedVideo, _Mapping]]] = ...) -> None: ...

class ArchivedVideo(_message.Message):
    __slots__ = ("camera_id", "evidence")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    evidence: _common_pb2.EvidenceRef
    def __init__(self, camera_id: _Optional[str] = ..., evidence: _Optional[_Union[_common_pb2.EvidenceRef, _Mapping]] = ...) -> None: ...

class SearchProgress(_message.Message):
    __slots__ = ("items_scanned", "items_total")
    ITEMS_SCANNED_FIELD_NUMBER: _ClassVar[int]
    ITEMS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    items_scanned: int
    items_total: int
    def __init__(self, items_scanned: _Optional[int] = ..., items_total: _Optional[int] = ...) -> None: ...

class SearchHit(_message.Message):
    __slots__ = ("camera_id", "captured_at", "score", "face_box", "evidence")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_AT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    FACE_BOX_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    captured_at: _timestamp_pb2.Timestamp
    score: float
    face_box: _common_pb2.BoundingBox
    evidence: _common_pb2.EvidenceRef
    def __init__(self, camera_id: _Optional[str] = ..., captured_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., score: _Optional[float] = ..., face_box: _Optional[_Union[_common_pb2.BoundingBox, _Mapping]] = ..., evidence: _Optional[_Union[_common_pb2.EvidenceRef, _Mapping]] = ...) -> None: ...

class SearchArchiveResponse(_message.Message):
    __slots__ = ("progress", "hit")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    HIT_FIELD_NUMBER: _ClassVar[int]
    progress: SearchProgress
    hit: SearchHit
    def __init__(self, progress: _Optional[_Union[SearchProgress, _Mapping]] = ..., hit: _Optional[_Union[SearchHit, _Mapping]] = ...) -> None: ...
