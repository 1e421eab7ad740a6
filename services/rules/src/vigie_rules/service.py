"""Rules service wiring. Foundation body: per-frame class counts to the stats topic; the Faust
app and the rule kinds come with the rules capability."""

from __future__ import annotations

from vigie.detect.v1.detection_pb2 import ObjectsDetected
from vigie_core.codec import Event
from vigie_core.processing import Subscription
from vigie_core.service import Service
from vigie_core.topics import DETECTIONS, STATS

from vigie_rules.domain.counts import frame_counts


class RulesService(Service):
    name = "rules"

    def subscriptions(self) -> list[Subscription]:
        return [Subscription(DETECTIONS, self._on_detections)]

    async def _on_detections(self, event: Event[ObjectsDetected]) -> None:
        if event.message is None:
            return
        counts = frame_counts(event.message)
        counts.emitted_at.GetCurrentTime()
        await self.bus.publish(STATS, event.message.camera_id, counts,
                               event_id=f"counts/{event.message.frame_id}")
