"""Ingest service wiring. Foundation body: it keeps the camera directory from the cameras topic;
sources, uploads and WHIP come with the ingest capability."""

from __future__ import annotations

from typing import Any

from vigie.camera.v1.camera_pb2 import Camera
from vigie_core.processing import Subscription
from vigie_core.service import Service
from vigie_core.topics import CAMERAS
from vigie_core.view import CompactedView


class IngestService(Service):
    name = "ingest"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cameras: CompactedView[Camera] = CompactedView()

    def subscriptions(self) -> list[Subscription]:
        return [Subscription(CAMERAS, self.cameras.handle)]

    def status(self) -> dict[str, Any]:
        return {"cameras": len(self.cameras)}
