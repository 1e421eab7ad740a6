"""The ingest use cases: run the cameras this replica owns, and delete citizen evidence past its
retention with proof.

Replicas share cameras without a coordinator of ours: they all join the `vigie-ingest` group on
the compacted cameras topic, and a replica runs the cameras whose key falls in the partitions the
group assigned to it. When a replica dies, Kafka hands its partitions, hence its cameras, to the
others. Every replica also keeps the whole registry in memory for ListCameras. (Registering
cameras and receiving citizen media are adapters/grpc_api.py, citizen.py and whip.py.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from vigie.camera.v1.camera_pb2 import Camera
from vigie_core.audit import AuditLog
from vigie_core.bus.base import murmur2_partition
from vigie_core.topics import CAMERAS
from vigie_core.view import CompactedView

from vigie_ingest import metrics
from vigie_ingest.adapters.citizen import CitizenMedia
from vigie_ingest.adapters.publishing import Publisher
from vigie_ingest.adapters.runner import CameraRunner, RunnerSettings
from vigie_ingest.adapters.source import SourceLimits
from vigie_ingest.config import Settings

log = logging.getLogger(__name__)


class IngestApp:
    """Handed the settings, the camera registry view, the publisher, the citizen media store, the
    audit log (opened on first use) and the camera partitions the group assigned to this replica
    (None before it joined)."""

    def __init__(self, config: Settings, cameras: CompactedView[Camera], publisher: Publisher,
                 citizen: CitizenMedia, audit: Callable[[], AuditLog],
                 camera_partitions: Callable[[], set[int] | None]) -> None:
        self.config = config
        self.cameras = cameras
        self.publisher = publisher
        self.citizen = citizen
        self._audit = audit
        self.camera_partitions = camera_partitions
        self.source_limits = SourceLimits(config.media_root, config.open_timeout_s,
                                          config.read_timeout_s, config.max_source_width,
                                          config.max_source_height)
        self.runner_settings = runner_settings(config)
        self.runners: dict[str, tuple[Camera, CameraRunner, asyncio.Event, asyncio.Task[None]]]
        self.runners = {}

    def status(self) -> dict[str, Any]:
        return {"cameras": len(self.cameras), "running": sorted(self.runners),
                "health": {cid: r[1].health.state for cid, r in self.runners.items()}}

    # -- the cameras this replica runs ----------------------------------------------------------
    def owned(self) -> list[Camera]:
        mine = self.camera_partitions()
        if mine is None:
            return []
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
                                      self.publisher.publish_frame,
                                      self.publisher.publish_health,
                                      last_frame=self.publisher.last_frame)
                stop = asyncio.Event()
                task = asyncio.create_task(runner.run(stop), name=f"camera:{camera_id}")
                self.runners[camera_id] = (camera, runner, stop, task)
        metrics.RUNNING.set(sum(not task.done() for _, _, _, task in self.runners.values()))

    async def reconcile_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.reconcile()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    async def stop_cameras(self) -> None:
        await asyncio.gather(*(self._stop_runner(cid) for cid in list(self.runners)))

    async def _stop_runner(self, camera_id: str) -> None:
        _, _, stop, task = self.runners.pop(camera_id)
        stop.set()
        try:
            await asyncio.wait_for(task, 10)
        except TimeoutError:
            task.cancel()
        except Exception:
            log.exception("camera runner ended with an error", extra={"camera_id": camera_id})

    # -- retention of citizen evidence (DESIGN invariant 6) --------------------------------------
    async def retention(self) -> int:
        """Delete the citizen uploads past their retention, each with its audit record."""
        keep = timedelta(days=self.config.citizen_evidence_retention_days)
        deleted = 0
        for upload in await asyncio.to_thread(self.citizen.expired, keep, datetime.now(UTC)):
            deletion = await asyncio.to_thread(self.citizen.delete, upload, keep)
            await deletion.record(self._audit())
            metrics.RETENTION_DELETED.inc()
            deleted += 1
        if deleted:
            log.info("retention deleted %d citizen uploads", deleted)
        return deleted

    async def retention_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.retention()
            except Exception:
                log.exception("citizen evidence retention failed; retried next round")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.retention_interval_s)


def runner_settings(config: Settings, sample_fps: float | None = None) -> RunnerSettings:
    """How camera runners sample, gate and encode frames (citizen media: its own rate)."""
    return RunnerSettings(
        config.sample_fps if sample_fps is None else sample_fps, config.min_motion,
        config.keepalive_s, config.stall_timeout_s, config.backoff_base_s, config.backoff_cap_s,
        config.jpeg_quality, config.analysis_max_width, config.analysis_max_height,
        config.loop_files, config.file_speed)
