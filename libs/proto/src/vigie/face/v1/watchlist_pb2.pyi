import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WatchlistCategory(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WATCHLIST_CATEGORY_UNSPECIFIED: _ClassVar[WatchlistCategory]
    WATCHLIST_CATEGORY_VOLUNTEER: _ClassVar[WatchlistCategory]
    WATCHLIST_CATEGORY_MISSING_PERSON: _ClassVar[WatchlistCategory]
    WATCHLIST_CATEGORY_WANTED: _ClassVar[WatchlistCategory]
    WATCHLIST_CATEGORY_BANNED_FROM_AREA: _ClassVar[WatchlistCategory]

class LegalBasis(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LEGAL_BASIS_UNSPECIFIED: _ClassVar[LegalBasis]
    LEGAL_BASIS_CONSENT: _ClassVar[LegalBasis]
    LEGAL_BASIS_JUDICIAL_ORDER: _ClassVar[LegalBasis]
    LEGAL_BASIS_ADMINISTRATIVE_ORDER: _ClassVar[LegalBasis]
    LEGAL_BASIS_VITAL_INTEREST: _ClassVar[LegalBasis]
WATCHLIST_CATEGORY_UNSPECIFIED: WatchlistCategory
WATCHLIST_CATEGORY_VOLUNTEER: WatchlistCategory
WATCHLIST_CATEGORY_MISSING_PERSON: WatchlistCategory
WATCHLIST_CATEGORY_WANTED: WatchlistCategory
WATCHLIST_CATEGORY_BANNED_FROM_AREA: WatchlistCategory
LEGAL_BASIS_UNSPECIFIED: LegalBasis
LEGAL_BASIS_CONSENT: LegalBasis
LEGAL_BASIS_JUDICIAL_ORDER: LegalBasis
LEGAL_BASIS_ADMINISTRATIVE_ORDER: LegalBasis
LEGAL_BASIS_VITAL_INTEREST: LegalBasis

class ConsentRecord(_message.Message):
    __slots__ = ("legal_basis", "reference", "enrolled_by", "enrolled_at", "expires_at")
    LEGAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_BY_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    legal_basis: LegalBasis
    reference: str
    enrolled_by: str
    enrolled_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, legal_basis: _Optional[_Union[LegalBasis, str]] = ..., reference: _Optional[str] = ..., enrolled_by: _Optional[str] = ..., enrolled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class WatchlistEntry(_message.Message):
    __slots__ = ("subject_id", "display_name", "category", "consent", "encrypted_template", "key_id", "template_model_id", "camera_ids")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTED_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_IDS_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    display_name: str
    category: WatchlistCategory
    consent: ConsentRecord
    encrypted_template: bytes
    key_id: str
    template_model_id: str
    camera_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, subject_id: _Optional[str] = ..., display_name: _Optional[str] = ..., category: _Optional[_Union[WatchlistCategory, str]] = ..., consent: _Optional[_Union[ConsentRecord, _Mapping]] = ..., encrypted_template: _Optional[bytes] = ..., key_id: _Optional[str] = ..., template_model_id: _Optional[str] = ..., camera_ids: _Optional[_Iterable[str]] = ...) -> None: ...
