import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vigie.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReportChannel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPORT_CHANNEL_UNSPECIFIED: _ClassVar[ReportChannel]
    REPORT_CHANNEL_WHIP: _ClassVar[ReportChannel]
    REPORT_CHANNEL_UPLOAD: _ClassVar[ReportChannel]
REPORT_CHANNEL_UNSPECIFIED: ReportChannel
REPORT_CHANNEL_WHIP: ReportChannel
REPORT_CHANNEL_UPLOAD: ReportChannel

class ReportReceived(_message.Message):
    __slots__ = ("report_id", "received_at", "geo", "text", "media", "channel", "nearest_camera_id", "reporter")
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    GEO_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    NEAREST_CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    REPORTER_FIELD_NUMBER: _ClassVar[int]
    report_id: str
    received_at: _timestamp_pb2.Timestamp
    geo: _common_pb2.GeoPoint
    text: str
    media: _common_pb2.EvidenceRef
    channel: ReportChannel
    nearest_camera_id: str
    reporter: str
    def __init__(self, report_id: _Optional[str] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., geo: _Optional[_Union[_common_pb2.GeoPoint, _Mapping]] = ..., text: _Optional[str] = ..., media: _Optional[_Union[_common_pb2.EvidenceRef, _Mapping]] = ..., channel: _Optional[_Union[ReportChannel, str]] = ..., nearest_camera_id: _Optional[str] = ..., reporter: _Optional[str] = ...) -> None: ...
