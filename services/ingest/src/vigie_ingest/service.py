"""The ingest service assembled: the camera registry view, the publisher, citizen media (uploads
over gRPC and HTTP, live WHIP streams), and the use cases (app.py) that run this replica's
cameras and the retention of citizen evidence. Nothing imports this module but the runtime,
through the `vigie.services` entry point."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from vigie.camera.v1.camera_pb2 import Camera
from vigie_core.auth.model import public
from vigie_core.auth.web import declare
from vigie_core.codec import Event
from vigie_core.processing import Subscription
from vigie_core.service import Check, GrpcBinding, Service, Stream
from vigie_core.topics import CAMERAS, Topic
from vigie_core.view import CompactedView

from vigie_ingest.adapters import grpc_api
from vigie_ingest.adapters.citizen import CitizenMedia
from vigie_ingest.adapters.http_api import upload_handler
from vigie_ingest.adapters.publishing import Publisher
from vigie_ingest.adapters.whip import WhipIngest, citizen_routes
from vigie_ingest.app import IngestApp, runner_settings
from vigie_ingest.config import Settings
from vigie_ingest.domain.cameras import CameraLimits


class IngestService(Service):
    name = "ingest"
    settings_class = Settings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = self.settings if isinstance(self.settings, Settings) else Settings()
        self.config = settings
        self.cameras: CompactedView[Camera] = CompactedView()
        self.camera_limits = CameraLimits(settings.media_root)
        self.publisher = Publisher(self.bus, self.cameras)
        citizen_settings = runner_settings(settings, settings.citizen_sample_fps)
        self.citizen = CitizenMedia(self.ctx.core.data_dir / "evidence" / "citizen",
                                    settings.max_upload_bytes, settings.max_upload_duration_s,
                                    citizen_settings, self.publisher.publish_frame,
                                    self.publisher.publish_report)
        self.whip = WhipIngest(citizen_settings, self.publisher.publish_frame,
                               self.publisher.publish_report,
                               max_sessions=settings.whip_max_sessions,
                               max_duration_s=settings.whip_max_duration_s,
                               ice_host_addresses=settings.whip_ice_host_addresses,
                               base_path=f"/{self.name}/whip")
        self.app = IngestApp(settings, self.cameras, self.publisher, self.citizen,
                             lambda: self.audit, self._camera_partitions)

    def views(self) -> dict[Topic, CompactedView[Any]]:
        return {CAMERAS: self.cameras}

    def streams(self) -> list[Stream]:
        # Membership only: the group's assignment of camera partitions says what this replica
        # runs; nothing is committed, so a new owner reads its partitions whole.
        return [*super().streams(),
                Stream(self.group, [Subscription(CAMERAS, _ignore)], store_offsets=False)]

    def grpc_bindings(self) -> list[GrpcBinding]:
        servicer = grpc_api.IngestServicer(self.cameras, self.camera_limits,
                                           self.publisher.publish_camera, self.citizen)
        return [GrpcBinding(grpc_api.add_to_server, servicer, grpc_api.SERVICE_NAME,
                            grpc_api.ROLES, grpc_api.MAX_MESSAGE_BYTES)]

    def http_routes(self) -> list[web.RouteDef]:
        upload = public("citizen reports: anyone may send a geolocated video or photo",
                        max_body_bytes=self.config.max_upload_bytes)
        handler = upload_handler(self.citizen, self.config.max_upload_bytes)
        return [declare(web.post("/uploads", handler), upload), *self.whip.routes(),
                *citizen_routes()]

    async def on_start(self) -> None:
        self._tasks.append(asyncio.create_task(self.app.reconcile_forever(self._stop),
                                               name="ingest:cameras"))
        self._tasks.append(asyncio.create_task(self.app.retention_forever(self._stop),
                                               name="ingest:retention"))

    async def on_stop(self) -> None:
        await self.whip.close_all()
        await self.app.stop_cameras()

    def status(self) -> dict[str, Any]:
        return {**self.app.status(), "whip": self.whip.status()}

    @classmethod
    def doctor(cls, settings: Any) -> list[Check]:
        root = settings.media_root if settings else None
        if root is None:
            return [Check("ingest media root", "ok", "file sources disabled (no media root)")]
        if not root.is_dir():
            return [Check("ingest media root", "fail", f"{root} is not a directory",
                          "create it or fix VIGIE_INGEST_MEDIA_ROOT")]
        return [Check("ingest media root", "ok", f"file sources allowed under {root}")]

    def _camera_partitions(self) -> set[int] | None:
        """The cameras topic's partitions the group assigned to this replica."""
        processor = self.processors.get(self.group)
        consumer = processor.consumer if processor else None
        if consumer is None:
            return None
        return {p for t, p in consumer.assignment() if t == CAMERAS.name}


async def _ignore(_: Event[Any]) -> None:
    return None
