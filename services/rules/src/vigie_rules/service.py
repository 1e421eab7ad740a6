"""Rules service wiring for the embedded runtime and plain Kafka consumers: detections in, the
pure engine (domain/engine.py), alerts and windowed counts out. State is per camera; the rules
are the whole compacted rules topic, read by every instance.

Not built yet: the Faust app (tables with changelog recovery) that runs this same core in the
distributed deployment; until then a restart rebuilds each camera's state from new frames."""

from __future__ import annotations

import logging
from datetime import UTC
from typing import Any

from vigie.detect.v1.detection_pb2 import ObjectsDetected
from vigie.rules.v1.rule_pb2 import Rule
from vigie_core.codec import Event
from vigie_core.processing import Subscription
from vigie_core.service import Service
from vigie_core.topics import ALERTS, DETECTIONS, RULES, STATS, Topic
from vigie_core.view import CompactedView

from vigie_rules.domain.engine import evaluate
from vigie_rules.domain.engine_state import CameraState

log = logging.getLogger(__name__)


class RulesService(Service):
    name = "rules"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rules: CompactedView[Rule] = CompactedView()
        self.cameras: dict[str, CameraState] = {}
        self.alerts_raised = 0

    def views(self) -> dict[Topic, CompactedView[Any]]:
        return {RULES: self.rules}

    def subscriptions(self) -> list[Subscription]:
        return [Subscription(DETECTIONS, self._on_detections)]

    def status(self) -> dict[str, Any]:
        return {"rules": len(self.rules), "cameras": len(self.cameras),
                "alerts_raised": self.alerts_raised}

    async def _on_detections(self, event: Event[ObjectsDetected]) -> None:
        detected = event.message
        if detected is None:
            return
        camera_id = detected.camera_id
        state = self.cameras.get(camera_id) or CameraState(camera_id=camera_id)
        rules = [r for r in self.rules if r.camera_id == camera_id]
        state, alerts, counts = evaluate(state, rules, detected)
        for alert in alerts:  # ids derive from rule, camera, track and episode: replays agree
            await self.bus.publish(ALERTS, alert.camera_id, alert, event_id=alert.alert_id,
                                   time=alert.raised_at.ToDatetime(UTC))
            log.info("alert %s (%s) on %s", alert.alert_id, alert.title, camera_id,
                     extra={"camera_id": camera_id, "event_id": alert.alert_id})
        for window in counts:
            window.emitted_at.GetCurrentTime()  # the contract: wall time of emission
            await self.bus.publish(
                STATS, window.camera_id, window,
                event_id=f"{window.camera_id}/{window.rule_id}/{window.window.start.ToJsonString()}")
        self.cameras[camera_id] = state  # only once every output is on its way
        self.alerts_raised += len(alerts)
