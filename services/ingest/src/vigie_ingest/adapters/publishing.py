"""What ingest puts on the bus (cameras, frames, camera health, citizen reports), and the newest
frame of a camera still on it (where a file camera resumes)."""

from __future__ import annotations

import logging

from vigie.camera.v1.camera_health_pb2 import CameraHealthChanged
from vigie.camera.v1.camera_pb2 import Camera
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie.ingest.v1.report_pb2 import ReportReceived
from vigie_core.bus.base import Bus, murmur2_partition
from vigie_core.codec import DecodeError, decode
from vigie_core.topics import CAMERA_HEALTH, CAMERAS, FRAMES, REPORTS
from vigie_core.view import CompactedView

log = logging.getLogger(__name__)

RESUME_CHUNK = 100  # records read at a time looking for a file camera's last frame
RESUME_SCAN = 5000


class Publisher:
    """Publishes on `bus`; a camera it publishes is applied to `cameras` at once."""

    def __init__(self, bus: Bus, cameras: CompactedView[Camera]) -> None:
        self.bus, self.cameras = bus, cameras

    async def publish_camera(self, camera_id: str, camera: Camera | None) -> None:
        await (await self.bus.publish(CAMERAS, camera_id, camera))
        self.cameras.apply(camera_id, camera)  # read your own writes in ListCameras

    async def publish_frame(self, frame: FrameSampled) -> None:
        await self.bus.publish(FRAMES, frame.camera_id, frame, event_id=frame.frame_id)

    async def publish_health(self, change: CameraHealthChanged) -> None:
        await self.bus.publish(CAMERA_HEALTH, change.camera_id, change)

    async def publish_report(self, report: ReportReceived) -> None:
        await (await self.bus.publish(REPORTS, report.report_id, report,
                                      event_id=report.report_id))

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
