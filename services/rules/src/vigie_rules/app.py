"""The rules service's use cases, whichever runtime drives them: a frame of detections, a signal
observation, a face match, a citizen report, a camera-health report or a sampled frame in; the
alerts, windows of counts and signal observations to publish out (`Output`), then `emit`
publishes them and waits until they are durable. The steps are pure functions of (state,
event): the runtimes (adapters/builtin_worker.py, adapters/faust_worker.py) keep the states,
and keep a new state only once its outputs are durable, so a crash replays inputs rather than
losing outputs; alert ids are deterministic, so replays produce the same alerts and consumers
de-duplicate them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from google.protobuf.message import Message
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.camera.v1.camera_health_pb2 import CameraHealthChanged
from vigie.camera.v1.camera_pb2 import Camera
from vigie.detect.v1.detection_pb2 import ObjectsDetected
from vigie.face.v1.face_match_pb2 import FaceMatched
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie.ingest.v1.report_pb2 import ReportReceived
from vigie.rules.v1.rule_pb2 import Rule
from vigie.rules.v1.signal_pb2 import SignalObserved
from vigie.stats.v1.stats_pb2 import CountsAggregated
from vigie_core.topics import ALERTS, RULES, SIGNALS, STATS, Topic
from vigie_core.view import CompactedView

from vigie_rules import metrics
from vigie_rules.config import Settings
from vigie_rules.domain.engine import evaluate, observe_signal
from vigie_rules.domain.engine_state import CameraState
from vigie_rules.domain.kinds.camera_tampering import evaluate_camera_health
from vigie_rules.domain.kinds.citizen_report import evaluate_report
from vigie_rules.domain.kinds.face_match import FaceState, evaluate_face_match

log = logging.getLogger(__name__)


class Publish(Protocol):
    """The bus's publish: returns once the record is queued, with its delivery to await."""

    def __call__(self, topic: Topic, key: str | None, message: Message | None, *,
                 event_id: str | None = None, time: datetime | None = None,
                 ) -> Awaitable[Awaitable[Any]]: ...


ReadLamps = Callable[[Sequence[Rule], FrameSampled], list[SignalObserved]]
"""The colour of the red-light signal regions watched on a frame (adapters/signal_lamps.py)."""


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


class RulesApp:
    """The steps, over the current rules and cameras (compacted views kept up to date by the
    service), and the publication of their outputs."""

    def __init__(self, settings: Settings, rules: CompactedView[Rule],
                 cameras: CompactedView[Camera], publish: Publish, read_lamps: ReadLamps,
                 ) -> None:
        self.settings = settings
        self.rules = rules
        self.cameras = cameras
        self.publish = publish
        self.read_lamps = read_lamps
        self.counts = Counter[str]()

    def rules_of(self, camera_id: str) -> list[Rule]:
        return [r for r in self.rules if r.camera_id == camera_id]

    def step_detections(self, state: CameraState, detected: ObjectsDetected,
                        ) -> tuple[CameraState, list[Output]]:
        """Pure: the camera's next state and the outputs to publish."""
        new, alerts, windows = evaluate(state, self.rules_of(detected.camera_id), detected,
                                        tolerance_ms=self.settings.reorder_tolerance_ms,
                                        signal_tolerance_ms=self.settings.signal_tolerance_ms)
        return new, alert_outputs(alerts) + stats_outputs(windows)

    def step_signal(self, state: CameraState, observed: SignalObserved,
                    ) -> tuple[CameraState, list[Output]]:
        """Pure: a traffic-signal observation folded into the camera's state (same state as its
        detections: the topics are co-partitioned)."""
        new, alerts, windows = observe_signal(state, self.rules_of(observed.camera_id), observed,
                                              tolerance_ms=self.settings.signal_tolerance_ms)
        return new, alert_outputs(alerts) + stats_outputs(windows)

    def step_face_match(self, state: FaceState, match: FaceMatched,
                        ) -> tuple[FaceState, list[Output]]:
        new, alerts = evaluate_face_match(state, self.rules_of(match.camera_id), match)
        return new, alert_outputs(alerts)

    def step_report(self, report: ReportReceived) -> list[Output]:
        """Stateless: the alerts of citizen-report rules (of any camera) for one report."""
        cameras = {c.camera_id: c for c in self.cameras}
        return alert_outputs(evaluate_report(list(self.rules), cameras, report))

    def step_camera_health(self, report: CameraHealthChanged) -> list[Output]:
        """Stateless: the alerts of camera-tampering rules (of the report's camera, or of every
        camera) when detect reports that a view problem began; ingest's reports and returns to
        normal raise none. Raises ValueError on a malformed report (the runtimes dead-letter
        it)."""
        self.counts["camera_health_reports"] += 1
        return alert_outputs(evaluate_camera_health(list(self.rules), report))

    def signal_observations(self, frame: FrameSampled) -> list[Output]:
        """The colour of every red-light signal region watched on this frame's camera (empty,
        without decoding, for cameras without such rules)."""
        observed = self.read_lamps(self.rules_of(frame.camera_id), frame)
        return [Output(SIGNALS, o.camera_id, o, f"{o.frame_id}/{o.signal_id}",
                       o.observed_at.ToDatetime(UTC)) for o in observed]

    async def emit(self, outputs: list[Output]) -> None:
        """Publish and wait until every output is durable (raises if one is refused)."""
        deliveries = [await self.publish(o.topic, o.key, o.message, event_id=o.event_id,
                                         time=o.time) for o in outputs]
        for delivery in deliveries:
            await delivery
        for o in outputs:
            if isinstance(o.message, AlertRaised):
                metrics.ALERTS.labels(o.message.rule_kind_name or "unknown").inc()
                log.info("alert %s (%s) on %s", o.event_id, o.message.title, o.key,
                         extra={"camera_id": o.key, "event_id": o.event_id})
        self.counts["alerts_raised"] += sum(o.topic is ALERTS for o in outputs)
        self.counts["signals_observed"] += sum(o.topic is SIGNALS for o in outputs)
        self.counts["windows_emitted"] += sum(o.topic is STATS for o in outputs)

    async def publish_rule(self, rule_id: str, rule: Rule | None) -> None:
        await (await self.publish(RULES, rule_id, rule))
