"""DetectService over gRPC: one image in, detections out (no tracking), for integrators.

Callers need the integrator or service role (`ROLES`, enforced by vigie_core's interceptor);
request messages are capped at MAX_MESSAGE_BYTES (the image plus its fields)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import grpc
from vigie.detect.v1 import detect_service_pb2 as pb
from vigie.detect.v1 import detect_service_pb2_grpc as pb_grpc
from vigie_core.auth.model import Role, roles
from vigie_core.processing import PoisonError

from vigie_detect.adapters.images import decode_image
from vigie_detect.app import DetectApp, to_proto

MAX_IMAGE_BYTES = 16 * 1024 * 1024
MAX_MESSAGE_BYTES = MAX_IMAGE_BYTES + 64 * 1024
ROLES = {"Detect": roles(Role.INTEGRATOR, Role.SERVICE)}


class DetectServicer(pb_grpc.DetectServiceServicer):
    def __init__(self, app: DetectApp) -> None:
        self.app = app

    async def Detect(self, request: pb.DetectRequest,
                     context: grpc.aio.ServicerContext) -> pb.DetectResponse:
        app = self.app
        detector = app.detector
        if detector is None:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "model still loading")
        assert detector is not None
        if request.model and request.model != app.config.model:
            known = ", ".join(app.models.names())
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"model {request.model!r} is not served here (serving "
                                f"{app.config.model!r}; catalogue: {known})")
        if not 0.0 <= request.min_confidence <= 1.0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                "min_confidence must be within [0, 1]")
        if len(request.image) > MAX_IMAGE_BYTES:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"image larger than {MAX_IMAGE_BYTES} bytes")
        try:
            image = await asyncio.to_thread(decode_image, request.image)
        except PoisonError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise AssertionError("unreachable") from None
        started = time.perf_counter()
        (found,) = await asyncio.to_thread(detector.detect, [image])
        took = time.perf_counter() - started
        found = found[found.confidence >= max(request.min_confidence,
                                              app.config.min_confidence)]
        height, width = image.shape[:2]
        response = pb.DetectResponse(model_id=detector.model_id, image_width=width,
                                     image_height=height,
                                     detections=to_proto(found, width, height,
                                                         detector.class_names))
        response.inference_time.FromTimedelta(timedelta(seconds=took))
        return response


def add_to_server(servicer: DetectServicer, server: grpc.aio.Server) -> None:
    pb_grpc.add_DetectServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]


SERVICE_NAME = pb.DESCRIPTOR.services_by_name["DetectService"].full_name
