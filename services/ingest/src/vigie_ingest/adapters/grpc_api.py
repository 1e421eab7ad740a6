"""IngestService over gRPC: the camera registry for integrators and `vigie cameras`.

Who may call what (`ROLES`, enforced by vigie_core's interceptor): administrators manage
cameras; operators, supervisors, auditors, integrators and services list them; partner
applications with the reporter role relay citizen media (UploadMedia, chunks of at most
MAX_MESSAGE_BYTES, the whole upload capped by VIGIE_INGEST_MAX_UPLOAD_BYTES).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import grpc
from google.protobuf import field_mask_pb2
from vigie.camera.v1.camera_pb2 import Camera
from vigie.ingest.v1 import ingest_service_pb2 as pb
from vigie.ingest.v1 import ingest_service_pb2_grpc as pb_grpc
from vigie_core.auth.model import MIB, Role, roles
from vigie_core.auth.rpc import caller, current_identity
from vigie_core.view import CompactedView

from vigie_ingest import metrics
from vigie_ingest.adapters.citizen import CitizenMedia, UploadRejected
from vigie_ingest.domain.cameras import CameraLimits, camera_errors

PAGE_SIZE = 100
MAX_MESSAGE_BYTES = 4 * MIB
_READERS = roles(Role.ADMIN, Role.OPERATOR, Role.SUPERVISOR, Role.AUDITOR, Role.INTEGRATOR,
                 Role.SERVICE)
ROLES = {"RegisterCamera": roles(Role.ADMIN), "UpdateCamera": roles(Role.ADMIN),
         "RemoveCamera": roles(Role.ADMIN), "ListCameras": _READERS,
         "UploadMedia": roles(Role.REPORTER, Role.ADMIN)}
PublishCamera = Callable[[str, Camera | None], Awaitable[None]]


async def _refuse(context: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str,
                  what: str) -> None:
    metrics.REJECTED.labels(what).inc()
    await context.abort(code, message)


class IngestServicer(pb_grpc.IngestServiceServicer):
    def __init__(self, cameras: CompactedView[Camera], limits: CameraLimits,
                 publish_camera: PublishCamera, citizen: CitizenMedia) -> None:
        self.cameras, self.limits = cameras, limits
        self.publish_camera, self.citizen = publish_camera, citizen

    async def _store(self, camera: Camera, context: grpc.aio.ServicerContext) -> Camera:
        if errors := camera_errors(camera, self.limits):
            await _refuse(context, grpc.StatusCode.INVALID_ARGUMENT, "; ".join(errors), "camera")
        camera.updated_at.FromDatetime(datetime.now(UTC))
        camera.updated_by = _caller(context)
        await self.publish_camera(camera.camera_id, camera)
        return camera

    async def RegisterCamera(self, request: pb.RegisterCameraRequest,
                             context: grpc.aio.ServicerContext) -> pb.RegisterCameraResponse:
        if self.cameras.get(request.camera.camera_id) is not None:
            await _refuse(context, grpc.StatusCode.ALREADY_EXISTS,
                          f"camera {request.camera.camera_id!r} exists: use UpdateCamera",
                          "camera")
        camera = Camera()
        camera.CopyFrom(request.camera)
        return pb.RegisterCameraResponse(camera=await self._store(camera, context))

    async def UpdateCamera(self, request: pb.UpdateCameraRequest,
                           context: grpc.aio.ServicerContext) -> pb.UpdateCameraResponse:
        current = self.cameras.get(request.camera.camera_id)
        if current is None:
            await _refuse(context, grpc.StatusCode.NOT_FOUND,
                          f"no camera {request.camera.camera_id!r}", "camera")
        camera = Camera()
        if request.update_mask.paths:
            camera.CopyFrom(current)
            try:
                mask = field_mask_pb2.FieldMask(paths=list(request.update_mask.paths))
                if not mask.IsValidForDescriptor(Camera.DESCRIPTOR):
                    raise ValueError(f"invalid field path in {list(mask.paths)}")
                mask.MergeMessage(request.camera, camera, replace_repeated_field=True,
                                  replace_message_field=True)
            except ValueError as exc:
                await _refuse(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc), "camera")
        else:
            camera.CopyFrom(request.camera)
        return pb.UpdateCameraResponse(camera=await self._store(camera, context))

    async def RemoveCamera(self, request: pb.RemoveCameraRequest,
                           context: grpc.aio.ServicerContext) -> pb.RemoveCameraResponse:
        if self.cameras.get(request.camera_id) is None:
            await _refuse(context, grpc.StatusCode.NOT_FOUND, f"no camera {request.camera_id!r}",
                          "camera")
        await self.publish_camera(request.camera_id, None)
        return pb.RemoveCameraResponse()

    async def ListCameras(self, request: pb.ListCamerasRequest,
                          context: grpc.aio.ServicerContext) -> pb.ListCamerasResponse:
        if request.page_size < 0:
            await _refuse(context, grpc.StatusCode.INVALID_ARGUMENT, "page_size must be >= 0",
                          "request")
        size = min(request.page_size or PAGE_SIZE, 1000)
        cameras = [c for c in self.cameras if c.camera_id > request.page_token]
        page = cameras[:size]
        token = page[-1].camera_id if len(cameras) > size else ""
        return pb.ListCamerasResponse(cameras=page, next_page_token=token)

    async def UploadMedia(self, request_iterator: AsyncIterator[pb.UploadMediaRequest],
                          context: grpc.aio.ServicerContext) -> pb.UploadMediaResponse:
        first = await anext(aiter(request_iterator), None)
        if first is None or not first.HasField("metadata"):
            await _refuse(context, grpc.StatusCode.INVALID_ARGUMENT,
                          "the first message must carry the upload metadata", "upload")
        assert first is not None

        async def chunks() -> AsyncIterator[bytes]:
            async for message in request_iterator:
                if not message.HasField("chunk"):
                    raise UploadRejected("every message after the first must be a chunk")
                yield message.chunk

        try:
            report_id, frames = await self.citizen.upload(first.metadata, chunks())
        except UploadRejected as exc:
            code = (grpc.StatusCode.RESOURCE_EXHAUSTED if exc.too_large
                    else grpc.StatusCode.INVALID_ARGUMENT)
            await _refuse(context, code, str(exc), "upload")
            raise AssertionError("unreachable") from None
        return pb.UploadMediaResponse(report_id=report_id, frames_published=frames)


def _caller(context: grpc.aio.ServicerContext) -> str:
    """Who changed the camera: the person, and the machine that relayed the change."""
    actor = caller(context)
    if actor is None:  # a person naming someone else: recorded as themselves
        identity = current_identity()
        return identity.name if identity else "grpc"
    return (f"{actor.name} via {actor.via}" if actor.via else actor.name)[:100]


def add_to_server(servicer: IngestServicer, server: grpc.aio.Server) -> None:
    pb_grpc.add_IngestServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]


SERVICE_NAME = pb.DESCRIPTOR.services_by_name["IngestService"].full_name
