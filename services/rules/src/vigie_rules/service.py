"""Rules service wiring: detections, signal observations, face matches and citizen reports in,
the pure engine (domain/), alerts and windowed counts out; RulesService over gRPC for rule
management. Frames of cameras with colour-read red lights become signal observations.

Two runtimes drive the same step functions (`step_*`): on Kafka a Faust app
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
from vigie.face.v1.face_match_pb2 import FaceMatched
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie.ingest.v1.report_pb2 import ReportReceived
from vigie.rules.v1.rule_pb2 import Rule, RuleKind
from vigie.rules.v1.signal_pb2 import SignalObserved
from vigie.stats.v1.stats_pb2 import CountsAggregated
from vigie_core.bus.kafka import KafkaBus
from vigie_core.codec import DecodeError, Event, decode
from vigie_core.processing import Subscription
from vigie_core.service import GrpcBinding, Service
from vigie_core.topics import (
    ALERTS,
    CAMERAS,
    DETECTIONS,
    FACES,
    FRAMES,
    REPORTS,
    RULES,
    SIGNALS,
    STATS,
    Topic,
)
from vigie_core.view import CompactedView

from vigie_rules import metrics
from vigie_rules.adapters import grpc_api
from vigie_rules.adapters.signal_lamps import SignalLamps
from vigie_rules.config import Settings
from vigie_rules.domain.engine import evaluate, observe_signal
from vigie_rules.domain.engine_state import CameraState
from vigie_rules.domain.kinds.citizen_report import evaluate_report
from vigie_rules.domain.kinds.face_match import FaceState, evaluate_face_match

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
        self.face_states: dict[str, FaceState] = {}  # builtin runtime only
        self.lamps = SignalLamps()
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
        return [Subscription(DETECTIONS, self._on_detections),
                Subscription(SIGNALS, self._on_signal),
                Subscription(FACES, self._on_face_match),
                Subscription(REPORTS, self._on_report),
                Subscription(FRAMES, self._on_frame)]

    def grpc_bindings(self) -> list[GrpcBinding]:
        servicer = grpc_api.RulesServicer(self.rules, self.publish_rule, self.audit)
        return [GrpcBinding(grpc_api.add_to_server, servicer, grpc_api.SERVICE_NAME,
                            grpc_api.ROLES, grpc_api.MAX_MESSAGE_BYTES)]

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
                                        tolerance_ms=self.config.reorder_tolerance_ms,
                                        signal_tolerance_ms=self.config.signal_tolerance_ms)
        return new, alert_outputs(alerts) + stats_outputs(windows)

    def step_signal(self, state: CameraState, observed: SignalObserved,
                    ) -> tuple[CameraState, list[Output]]:
        """Pure: a traffic-signal observation folded into the camera's state (same state as its
        detections: the topics are co-partitioned)."""
        new, alerts, windows = observe_signal(state, self.rules_of(observed.camera_id), observed,
                                              tolerance_ms=self.config.signal_tolerance_ms)
        return new, alert_outputs(alerts) + stats_outputs(windows)

    def step_face_match(self, state: FaceState, match: FaceMatched,
                        ) -> tuple[FaceState, list[Output]]:
        new, alerts = evaluate_face_match(state, self.rules_of(match.camera_id), match)
        return new, alert_outputs(alerts)

    def step_report(self, report: ReportReceived) -> list[Output]:
        """Stateless: the alerts of citizen-report rules (of any camera) for one report."""
        cameras = {c.camera_id: c for c in self.cameras}
        return alert_outputs(evaluate_report(list(self.rules), cameras, report))

    def signal_observations(self, frame: FrameSampled) -> list[Output]:
        """The colour of every red-light signal region watched on this frame's camera (empty,
        without decoding, for cameras without such rules)."""
        observed = self.lamps.observe(self.rules_of(frame.camera_id), frame)
        return [Output(SIGNALS, o.camera_id, o, f"{o.frame_id}/{o.signal_id}",
                       o.observed_at.ToDatetime(UTC)) for o in observed]

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
        self.counts["signals_observed"] += sum(o.topic is SIGNALS for o in outputs)
        self.counts["windows_emitted"] += sum(o.topic is STATS for o in outputs)

    async def publish_rule(self, rule_id: str, rule: Rule | None) -> None:
        await (await self.bus.publish(RULES, rule_id, rule))

    # -- builtin runtime --------------------------------------------------------------------------

    async def _on_detections(self, event: Event[ObjectsDetected]) -> None:
        if (detected := event.message) is not None:
            await self._camera_step(detected.camera_id, self.step_detections, detected)
            self.counts["frames_evaluated"] += 1

    async def _on_signal(self, event: Event[SignalObserved]) -> None:
        if (observed := event.message) is not None:
            await self._camera_step(observed.camera_id, self.step_signal, observed)

    async def _camera_step(self, camera_id: str, step: Any, message: Any) -> None:
        state = self.states.get(camera_id) or CameraState(camera_id=camera_id)
        state, outputs = step(state, message)
        await self.emit(outputs)
        self.states[camera_id] = state  # only once every output is durable

    async def _on_face_match(self, event: Event[FaceMatched]) -> None:
        if (match := event.message) is not None:
            state = self.face_states.get(match.camera_id) or FaceState(camera_id=match.camera_id)
            state, outputs = self.step_face_match(state, match)
            await self.emit(outputs)
            self.face_states[match.camera_id] = state

    async def _on_report(self, event: Event[ReportReceived]) -> None:
        if (report := event.message) is not None:
            await self.emit(self.step_report(report))

    async def _on_frame(self, event: Event[FrameSampled]) -> None:
        if (frame := event.message) is not None:
            await self.emit(self.signal_observations(frame))
