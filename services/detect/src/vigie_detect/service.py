"""Detect service wiring. Foundation body: every frame yields an ObjectsDetected event with no
detections from the model "none", so the path frames -> detections runs end to end; real models
and tracking come with the detect capability."""

from __future__ import annotations

from vigie.detect.v1.detection_pb2 import ObjectsDetected
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie_core.codec import Event
from vigie_core.processing import Subscription
from vigie_core.service import Service
from vigie_core.topics import DETECTIONS, FRAMES

NO_MODEL = "none"


class DetectService(Service):
    name = "detect"

    def subscriptions(self) -> list[Subscription]:
        return [Subscription(FRAMES, self._on_frame)]

    async def _on_frame(self, event: Event[FrameSampled]) -> None:
        frame = event.message
        if frame is None:
            return
        detected = ObjectsDetected(frame_id=frame.frame_id, camera_id=frame.camera_id,
                                   model_id=NO_MODEL, image_width=frame.width,
                                   image_height=frame.height)
        detected.captured_at.CopyFrom(frame.captured_at)
        await self.bus.publish(DETECTIONS, frame.camera_id, detected,
                               event_id=f"{frame.frame_id}/{NO_MODEL}")
