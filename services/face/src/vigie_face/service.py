"""Face service wiring. Foundation body: it decides per frame whether face processing is allowed
(camera purpose, authorisation window, no-biometrics mode) and counts the decisions; detection,
embedding and matching come with the face capability."""

from __future__ import annotations

from collections import Counter
from datetime import UTC
from typing import Any

from vigie.camera.v1.camera_pb2 import Camera
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie_core.codec import Event
from vigie_core.processing import Subscription
from vigie_core.service import Service
from vigie_core.topics import CAMERAS, FRAMES, Topic
from vigie_core.view import CompactedView

from vigie_face.domain.authorisation import face_processing_refusal


class FaceService(Service):
    name = "face"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cameras: CompactedView[Camera] = CompactedView()
        self.frames = Counter[str]()

    def views(self) -> dict[Topic, CompactedView[Any]]:
        return {CAMERAS: self.cameras}

    def subscriptions(self) -> list[Subscription]:
        return [Subscription(FRAMES, self._on_frame)]

    async def _on_frame(self, event: Event[FrameSampled]) -> None:
        frame = event.message
        if frame is None:
            return
        refusal = face_processing_refusal(self.cameras.get(frame.camera_id),
                                          frame.captured_at.ToDatetime(UTC),
                                          self.ctx.core.no_biometrics)
        self.frames["skipped: " + refusal if refusal else "eligible"] += 1

    def status(self) -> dict[str, Any]:
        return {"no_biometrics": self.ctx.core.no_biometrics, "frames": dict(self.frames)}
