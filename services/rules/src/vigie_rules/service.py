"""Rules service assembly: detections, signal observations, face matches, citizen reports and
camera-health reports in, alerts, windowed counts and signal observations out (the use cases:
app.py; what each rule kind detects: domain/kinds/); RulesService over gRPC for rule management.

Two runtimes drive the same steps: on Kafka a Faust app (adapters/faust_worker.py: agents keyed
by camera, per-camera state in tables with changelog recovery), on the embedded in-memory bus
the core consume loop (adapters/builtin_worker.py, state in memory).
"""

from __future__ import annotations

import asyncio
from typing import Any

from vigie.camera.v1.camera_pb2 import Camera
from vigie.rules.v1.rule_pb2 import Rule
from vigie_core.bus.kafka import KafkaBus
from vigie_core.codec import DecodeError, decode
from vigie_core.processing import Subscription
from vigie_core.service import GrpcBinding, Service
from vigie_core.topics import CAMERAS, RULES, Topic
from vigie_core.view import CompactedView

from vigie_rules.adapters import grpc_api
from vigie_rules.adapters.builtin_worker import BuiltinWorker
from vigie_rules.adapters.signal_lamps import SignalLamps
from vigie_rules.app import RulesApp
from vigie_rules.config import Settings


class RulesService(Service):
    name = "rules"
    settings_class = Settings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config = self.settings if isinstance(self.settings, Settings) else Settings()
        self.rules: CompactedView[Rule] = CompactedView()
        self.cameras: CompactedView[Camera] = CompactedView()
        self.lamps = SignalLamps()
        self.app = RulesApp(self.config, self.rules, self.cameras, self.bus.publish,
                            self.lamps.observe)
        self.builtin = BuiltinWorker(self.app)
        self.faust: Any = None  # adapters.faust_worker.FaustWorker when runtime is faust

    @property
    def runtime(self) -> str:
        if self.config.runtime != "auto":
            return self.config.runtime
        return "faust" if isinstance(self.bus, KafkaBus) else "builtin"

    def views(self) -> dict[Topic, CompactedView[Any]]:
        return {RULES: self.rules, CAMERAS: self.cameras}

    def subscriptions(self) -> list[Subscription]:
        if self.runtime == "faust":
            return []  # the Faust app consumes
        return self.builtin.subscriptions()

    def grpc_bindings(self) -> list[GrpcBinding]:
        servicer = grpc_api.RulesServicer(self.rules, self.app.publish_rule, self.audit)
        return [GrpcBinding(grpc_api.add_to_server, servicer, grpc_api.SERVICE_NAME,
                            grpc_api.ROLES, grpc_api.MAX_MESSAGE_BYTES)]

    def status(self) -> dict[str, Any]:
        worker = self.builtin if self.faust is None else self.faust
        return {"runtime": self.runtime, "rules": len(self.rules), "cameras": worker.cameras(),
                **dict(self.app.counts)}

    async def on_start(self) -> None:
        # Views first, whole: evaluating a frame before the rules are known would miss alerts
        # that a replay would raise. The view streams then follow later changes.
        for topic, view in self.views().items():
            for record in await self.bus.read_all(topic.name):
                try:
                    event = decode(topic, record.key, record.value, record.headers)
                except DecodeError:
                    continue  # its view stream sends it to the DLQ
                view.apply(event.key or "", event.message)
        await self.audit.start()
        if self.runtime == "faust":
            if not isinstance(self.bus, KafkaBus):
                raise RuntimeError("the faust runtime needs Kafka (VIGIE_RULES_RUNTIME=builtin "
                                   "runs on the in-memory bus)")
            # Faust is imported on Kafka only.
            from vigie_rules.adapters.faust_worker import FaustWorker

            self.faust = FaustWorker(self.app, self.bus, self.config, self.ctx.core)
            await self.faust.start()
            self._tasks.append(asyncio.create_task(self.faust.run_until(self._stop),
                                                   name="rules:faust"))

    async def on_stop(self) -> None:
        if self.faust is not None:
            await self.faust.stop()
