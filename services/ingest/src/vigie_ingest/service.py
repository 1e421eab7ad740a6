"""Ingest service wiring: the camera registry, the cameras this replica runs, citizen media.

Replicas share cameras without a coordinator of ours: they all join the `vigie-ingest` group on
the compacted cameras topic, and a replica runs the cameras whose key falls in the partitions the
group assigned to it. When a replica dies, Kafka hands its partitions, hence its cameras, to the
others. Every replica also keeps the whole registry in memory for ListCameras.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from vigie.camera.v1.camera_health_pb2 import CameraHealthChanged
from vigie.camera.v1.camera_pb2 import Camera
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie.ingest.v1.ingest_service_pb2 import UploadMetadata
from vigie.ingest.v1.report_pb2 import ReportReceived
from vigie_core.auth.model import public
from vigie_core.auth.web import declare
from vigie_core.bus.base import murmur2_partition
from vigie_core.codec import DecodeError, Event, decode
from vigie_core.processing import Subscription
from vigie_core.service import Check, GrpcBinding, Service, Stream
from vigie_core.topics import CAMERA_HEALTH, CAMERAS, FRAMES, REPORTS, Topic
from vigie_core.view import CompactedView

from vigie_ingest import metrics
from vigie_ingest.adapters import grpc_api
from vigie_ingest.adapters.citizen import CitizenMedia, UploadRejected
from vigie_ingest.adapters.runner import CameraRunner, RunnerSettings
from vigie_ingest.adapters.source import SourceLimits
from vigie_ingest.adapters.whip import WhipIngest, citizen_routes
from vigie_ingest.config import Settings
from vigie_ingest.domain.cameras import CameraLimits

log = logging.getLogger(__name__)

UPLOAD_CHUNK = 256 * 1024
RESUME_CHUNK = 100  # records read at a time looking for a file camera's last frame
RESUME_SCAN = 5000


class IngestService(Service):
    name = "ingest"
    settings_class = Settings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = self.settings if isinstance(self.settings, Settings) else Settings()
        self.config = settings
        self.cameras: CompactedView[Camera] = CompactedView()
        self.camera_limits = CameraLimits(settings.media_root)
        self.source_limits = SourceLimits(settings.media_root, settings.open_timeout_s,
                                          settings.read_timeout_s, settings.max_source_width,
                                          settings.max_source_height)
        self.runner_settings = RunnerSettings(
            settings.sample_fps, settings.min_motion, settings.keepalive_s,
            settings.stall_timeout_s, settings.backoff_base_s, settings.backoff_cap_s,
            settings.jpeg_quality, settings.analysis_max_width, settings.analysis_max_height,
            settings.loop_files, settings.file_speed)
        citizen_settings = RunnerSettings(**{**self.runner_settings.__dict__,
                                             "sample_fps": settings.citizen_sample_fps})
        self.citizen = CitizenMedia(self.ctx.core.data_dir / "evidence" / "citizen",
                                    settings.max_upload_bytes, settings.max_upload_duration_s,
                                    citizen_settings, self.publish_frame, self.publish_report)
        self.whip = WhipIngest(citizen_settings, self.publish_frame, self.publish_report,
                               max_sessions=settings.whip_max_sessions,
                               max_duration_s=settings.whip_max_duration_s,
                               ice_host_addresses=settings.whip_ice_host_addresses,
                               base_path=f"/{self.name}/whip")
        self.runners: dict[str, tuple[Camera, CameraRunner, asyncio.Event, asyncio.Task[None]]]
        self.runners = {}

    # -- wiring ---------------------------------------------------------------------------------
    def views(self) -> dict[Topic, CompactedView[Any]]:
        return {CAMERAS: self.cameras}

    def streams(self) -> list[Stream]:
        # Membership only: the group's assignment of camera partitions says what this replica
        # runs; nothing is committed, so a new owner reads its partitions whole.
        return [*super().streams(),
                Stream(self.group, [Subscription(CAMERAS, _ignore)], store_offsets=False)]

    def grpc_bindings(self) -> list[GrpcBinding]:
        servicer = grpc_api.IngestServicer(self.cameras, self.camera_limits, self.publish_camera,
                                           self.citizen)
        return [GrpcBinding(grpc_api.add_to_server, servicer, grpc_api.SERVICE_NAME,
                            grpc_api.ROLES, grpc_api.MAX_MESSAGE_BYTES)]

    def http_routes(self) -> list[web.RouteDef]:
        upload = public("citizen reports: anyone may send a geolocated video or photo",
                        max_body_bytes=self.config.max_upload_bytes)
        return [declare(web.post("/uploads", self.http_upload), upload), *self.whip.routes(),
                *citizen_routes()]

    async def on_start(self) -> None:
        self._tasks.append(asyncio.create_task(self._reconcile_forever(), name="ingest:cameras"))
        self._tasks.append(asyncio.create_task(self._retention_forever(),
                                               name="ingest:retention"))

    async def on_stop(self) -> None:
        await self.whip.close_all()
        await asyncio.gather(*(self._stop_runner(cid) for cid in list(self.runners)))

    def status(self) -> dict[str, Any]:
        return {"cameras": len(self.cameras), "running": sorted(self.runners),
                "whip": self.whip.status(),
                "health": {cid: r[1].health.state for cid, r in self.runners.items()}}

    @classmethod
    def doctor(cls, settings: Any) -> list[Check]:
        root = settings.media_root if settings else None
        if root is None:
            return [Check("ingest media root", "ok", "file sources disabled (no media root)")]
        if not root.is_dir():
            return [Check("ingest media root", "fail", f"{root} is not a directory",
                          "create it or fix VIGIE_INGEST_MEDIA_ROOT")]
        return [Check("ingest media root", "ok", f"file sources allowed under {root}")]

    # -- publishing -----------------------------------------------------------------------------
    async def publish_camera(self, camera_id: str, camera: Camera | None) -> None:
        await (await self.bus.publish(CAMERAS, camera_id, camera))
        self.cameras.apply(camera_id, camera)  # read your own writes in ListCameras

    async def publish_frame(self, frame: FrameSampled) -> None:
        await self.bus.publish(FRAMES, frame.camera_id, frame, event_id=frame.frame_id)

    async def last_frame(self, camera_id: str) -> FrameSampled | None:
        """The camera's newest frame still on vigie.frames.v1, read backwards from the end of
        its partition (at most RESUME_SCAN records: further back, the camera starts afresh)."""
        key = camera_id.encode()
        partition = murmur2_partition(key, FRAMES.partitions)
        before: int | None = None
        scanned = 0
        while scanned < RESUME_SCAN:
            records = await self.bus.read_tail(FRAMES.name, partition, RESUME_CHUNK,
                                               before=before)
            for record in reversed(records):
                if record.key == key and record.value is not None:
                    try:
                        message = decode(FRAMES, record.key, record.value, record.headers)
                    except DecodeError:
                        continue
                    if isinstance(message.message, FrameSampled):
                        return message.message
            if not records or records[0].offset == 0:
                return None
            before, scanned = records[0].offset, scanned + len(records)
        log.info("no frame of the camera in the last %d records of its partition", scanned,
                 extra={"camera_id": camera_id})
        return None

    async def publish_health(self, change: CameraHealthChanged) -> None:
        await self.bus.publish(CAMERA_HEALTH, change.camera_id, change)

    async def publish_report(self, report: ReportReceived) -> None:
        await (await self.bus.publish(REPORTS, report.report_id, report,
                                      event_id=report.report_id))

    # -- the cameras this replica runs ----------------------------------------------------------
    def owned(self) -> list[Camera]:
        processor = self.processors.get(self.group)
        consumer = processor.consumer if processor else None
        if consumer is None:
            return []
        mine = {p for t, p in consumer.assignment() if t == CAMERAS.name}
        return [c for c in self.cameras if c.enabled and
                murmur2_partition(c.camera_id.encode(), CAMERAS.partitions) in mine]

    async def reconcile(self) -> None:
        wanted = {c.camera_id: c for c in self.owned()}
        for camera_id, (camera, _, _, _) in list(self.runners.items()):
            # A runner that ended (end of file, permanent failure) stays ended, its state
            # visible, until its configuration changes.
            if camera_id not in wanted or wanted[camera_id] != camera:
                await self._stop_runner(camera_id)
        for camera_id, camera in wanted.items():
            if camera_id not in self.runners:
                runner = CameraRunner(camera, self.source_limits, self.runner_settings,
                                      self.publish_frame, self.publish_health,
                                      last_frame=self.last_frame)
                stop = asyncio.Event()
                task = asyncio.create_task(runner.run(stop), name=f"camera:{camera_id}")
                self.runners[camera_id] = (camera, runner, stop, task)
        metrics.RUNNING.set(sum(not task.done() for _, _, _, task in self.runners.values()))

    async def _reconcile_forever(self) -> None:
        while not self._stop.is_set():
            await self.reconcile()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 1.0)

    # -- retention of citizen evidence (DESIGN invariant 6) --------------------------------------
    async def retention(self) -> int:
        """Delete the citizen uploads past their retention, each with its audit record."""
        keep = timedelta(days=self.config.citizen_evidence_retention_days)
        deleted = 0
        for upload in await asyncio.to_thread(self.citizen.expired, keep, datetime.now(UTC)):
            deletion = await asyncio.to_thread(self.citizen.delete, upload, keep)
            await deletion.record(self.audit)
            metrics.RETENTION_DELETED.inc()
            deleted += 1
        if deleted:
            log.info("retention deleted %d citizen uploads", deleted)
        return deleted

    async def _retention_forever(self) -> None:
        while not self._stop.is_set():
            try:
                await self.retention()
            except Exception:
                log.exception("citizen evidence retention failed; retried next round")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.config.retention_interval_s)

    async def _stop_runner(self, camera_id: str) -> None:
        _, _, stop, task = self.runners.pop(camera_id)
        stop.set()
        try:
            await asyncio.wait_for(task, 10)
        except TimeoutError:
            task.cancel()
        except Exception:
            log.exception("camera runner ended with an error", extra={"camera_id": camera_id})

    # -- HTTP uploads ---------------------------------------------------------------------------
    async def http_upload(self, request: web.Request) -> web.Response:
        """POST /ingest/uploads?lat=..&lon=..&text=.. with the media as the body."""
        try:
            meta = UploadMetadata(media_type=request.content_type,
                                  text=request.query.get("text", ""),
                                  reporter=request.query.get("reporter", ""),
                                  filename=request.query.get("filename", ""))
            try:
                meta.geo.lat_deg = float(request.query["lat"])
                meta.geo.lon_deg = float(request.query["lon"])
            except (KeyError, ValueError):
                raise UploadRejected("lat and lon query parameters are required numbers") from None
            if request.content_length and request.content_length > self.config.max_upload_bytes:
                raise UploadRejected(f"upload larger than {self.config.max_upload_bytes} bytes",
                                     too_large=True)

            async def chunks() -> AsyncIterator[bytes]:
                async for chunk in request.content.iter_chunked(UPLOAD_CHUNK):
                    yield chunk

            report_id, frames = await self.citizen.upload(meta, chunks())
        except UploadRejected as exc:
            metrics.REJECTED.labels("upload").inc()
            return web.json_response({"error": str(exc)}, status=413 if exc.too_large else 422)
        return web.json_response({"report_id": report_id, "frames_published": frames},
                                 status=201)


async def _ignore(_: Event[Any]) -> None:
    return None
