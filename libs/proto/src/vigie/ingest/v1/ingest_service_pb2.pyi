from google.protobuf import field_mask_pb2 as _field_mask_pb2
from vigie.camera.v1 import camera_pb2 as _camera_pb2
from vigie.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RegisterCameraRequest(_message.Message):
    __slots__ = ("camera",)
    CAMERA_FIELD_NUMBER: _ClassVar[int]
    camera: _camera_pb2.Camera
    def __init__(self, camera: _Optional[_Union[_camera_pb2.Camera, _Mapping]] = ...) -> None: ...

class RegisterCameraResponse(_message.Message):
    __slots__ = ("camera",)
    CAMERA_FIELD_NUMBER: _ClassVar[int]
    camera: _camera_pb2.Camera
    def __init__(self, camera: _Optional[_Union[_camera_pb2.Camera, _Mapping]] = ...) -> None: ...

class UpdateCameraRequest(_message.Message):
    __slots__ = ("camera", "update_mask")
    CAMERA_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    camera: _camera_pb2.Camera
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, camera: _Optional[_Union[_camera_pb2.Camera, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateCameraResponse(_message.Message):
    __slots__ = ("camera",)
    CAMERA_FIELD_NUMBER: _ClassVar[int]
    camera: _camera_pb2.Camera
    def __init__(self, camera: _Optional[_Union[_camera_pb2.Camera, _Mapping]] = ...) -> None: ...

class RemoveCameraRequest(_message.Message):
    __slots__ = ("camera_id",)
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    def __init__(self, camera_id: _Optional[str] = ...) -> None: ...

class RemoveCameraResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListCamerasRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListCamerasResponse(_message.Message):
    __slots__ = ("cameras", "next_page_token")
    CAMERAS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    cameras: _containers.RepeatedCompositeFieldContainer[_camera_pb2.Camera]
    next_page_token: str
    def __init__(self, cameras: _Optional[_Iterable[_Union[_camera_pb2.Camera, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UploadMetadata(_message.Message):
    __slots__ = ("geo", "text", "media_type", "filename", "reporter")
    GEO_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    REPORTER_FIELD_NUMBER: _ClassVar[int]
    geo: _common_pb2.GeoPoint
    text: str
    media_type: str
    filename: str
    reporter: str
    def __init__(self, geo: _Optional[_Union[_common_pb2.GeoPoint, _Mapping]] = ..., text: _Optional[str] = ..., media_type: _Optional[str] = ..., filename: _Optional[str] = ..., reporter: _Optional[str] = ...) -> None: ...

class UploadMediaRequest(_message.Message):
    __slots__ = ("metadata", "chunk")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    metadata: UploadMetadata
    chunk: bytes
    def __init__(self, metadata: _Optional[_Union[UploadMetadata, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class UploadMediaResponse(_message.Message):
    __slots__ = ("report_id", "frames_published")
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    FRAMES_PUBLISHED_FIELD_NUMBER: _ClassVar[int]
    report_id: str
    frames_published: int
    def __init__(self, report_id: _Optional[str] = ..., frames_published: _Optional[int] = ...) -> None: ...
