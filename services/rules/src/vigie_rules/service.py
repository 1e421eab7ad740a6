"""Rules service wiring: detections in, the pure engine (domain/engine.py), alerts and windowed
counts out; RulesService over gRPC for rule management.

Two runtimes drive the same step functions (`step_detections`): on Kafka a Faust app
(adapters/faust_worker.py: agents keyed by camera, per-camera state in a table with changelog
recovery), in the embedded runtime the core consume loop with the state in memory. Either way a
step publishes its outputs and waits until they are durable before its new state is kept, so a
crash at any point replays inputs rather than losing outputs; alert ids are deterministic, so
replays produce the same alerts and consumers de-duplicate them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.camera.v1.camera_pb2 import Camera
from vigie.detect.v1.detection_pb2 import ObjectsDetected
from vigie.rules.v1.rule_pb2 import Rule, RuleKind
from vigie.stats.v1.stats_pb2 import CountsAggregated
from vigie_core.bus.kafka import KafkaBus
from vigie_core.codec import DecodeError, Event, decode
from vigie_core.processing import Subscription
from vigie_core.service import GrpcBinding, Service
from vigie_core.topics import ALERTS, CAMERAS, DETECTIONS, RULES, STATS, Topic
from vigie_core.view import CompactedView

from vigie_rules import metrics
from vigie_rules.adapters import grpc_api
from vigie_rules.config import Settings
from vigie_rules.domain.engine import evaluate
from vigie_rules.domain.engine_state import CameraState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Output:
    """One event a step publishes."""

    topic: Topic
    key: str
    message: Message
    event_id: str
    time: datetime


def alert_outputs(alerts: list[AlertRaised]) -> list[Output]:
    # Ids derive from rule, camera, track and episode: replays agree, consumers de-duplicate.
    return [Output(ALERTS, a.camera_id, a, a.alert_id, a.raised_at.ToDatetime(UTC))
            for a in alerts]


def stats_outputs(windows: list[CountsAggregated]) -> list[Output]:
    outputs = []
    for window in windows:
        window.emitted_at.GetCurrentTime()  # the contract: wall time of emission
        outputs.append(Output(
            STATS, window.camera_id, window,
            f"{window.camera_id}/{window.rule_id}/{window.window.start.ToJsonString()}",
            window.window.end.ToDatetime(UTC)))
    return outputs


def kind_name(kind: int) -> str:
    return (RuleKind.Name(kind).removeprefix("RULE_KIND_").lower()
            if kind in RuleKind.values() else "unknown")


class RulesService(Service):
    name = "rules"
    settings_class = Settings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config = self.settings if isinstance(self.settings, Settings) else Settings()
        self.rules: CompactedView[Rule] = CompactedView()
        self.cameras: CompactedView[Camera] = CompactedView()
        self.states: dict[str, CameraState] = {}  # builtin runtime only
        self.counts = Counter[str]()
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
        return [Subscription(DETECTIONS, self._on_detections)]

    def grpc_bindings(self) -> list[GrpcBinding]:
        servicer = grpc_api.RulesServicer(self.rules, self.publish_rule, self.audit)
        return [GrpcBinding(grpc_api.add_to_server, servicer, grpc_api.SERVICE_NAME)]

    def status(self) -> dict[str, Any]:
        return {"runtime": self.runtime, "rules": len(self.rules),
                "cameras": len(self.states) if self.faust is None else self.faust.cameras(),
                **dict(self.counts)}

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
            from vigie_rules.adapters.faust_worker import FaustWorker

            self.faust = FaustWorker(self, self.bus.bootstrap, self.config, self.ctx.core)
            await self.faust.start()
            self._tasks.append(asyncio.create_task(self.faust.run_until(self._stop),
                                                   name="rules:faust"))

    async def on_stop(self) -> None:
        if self.faust is not None:
            await self.faust.stop()

    # -- steps shared by both runtimes ----------------------------------------------------------

    def rules_of(self, camera_id: str) -> list[Rule]:
        return [r for r in self.rules if r.camera_id == camera_id]

    def step_detections(self, state: CameraState, detected: ObjectsDetected,
                        ) -> tuple[CameraState, list[Output]]:
        """Pure: the camera's next state and the outputs to publish."""
        new, alerts, windows = evaluate(state, self.rules_of(detected.camera_id), detected,
                                        tolerance_ms=self.config.reorder_tolerance_ms)
        return new, alert_outputs(alerts) + stats_outputs(windows)

    async def emit(self, outputs: list[Output]) -> None:
        """Publish and wait until every output is durable (raises if one is refused)."""
        deliveries = [await self.bus.publish(o.topic, o.key, o.message, event_id=o.event_id,
                                             time=o.time) for o in outputs]
        for delivery in deliveries:
            await delivery
        for o in outputs:
            if isinstance(o.message, AlertRaised):
                metrics.ALERTS.labels(kind_name(o.message.rule_kind)).inc()
                log.info("alert %s (%s) on %s", o.event_id, o.message.title, o.key,
                         extra={"camera_id": o.key, "event_id": o.event_id})
        self.counts["alerts_raised"] += sum(o.topic is ALERTS for o in outputs)
        self.counts["windows_emitted"] += sum(o.topic is STATS for o in outputs)

    async def publish_rule(self, rule_id: str, rule: Rule | None) -> None:
        await (await self.bus.publish(RULES, rule_id, rule))

    # -- builtin runtime --------------------------------------------------------------------------

    async def _on_detections(self, event: Event[ObjectsDetected]) -> None:
        detected = event.message
        if detected is None:
            return
        camera_id = detected.camera_id
        state = self.states.get(camera_id) or CameraState(camera_id=camera_id)
        state, outputs = self.step_detections(state, detected)
        await self.emit(outputs)
        self.states[camera_id] = state  # only once every output is durable
        self.counts["frames_evaluated"] += 1
