"""Alerts service wiring. Foundation body: it keeps the alerts and decisions it has seen, by id
(so redelivered events count once); fan-out, console and history store come with the alerts
capability."""

from __future__ import annotations

from typing import Any

from vigie_core.codec import Event
from vigie_core.processing import Subscription
from vigie_core.service import Service
from vigie_core.topics import ALERT_DECISIONS, ALERTS


class AlertsService(Service):
    name = "alerts"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.alerts: dict[str, Any] = {}
        self.decisions: dict[str, Any] = {}

    def subscriptions(self) -> list[Subscription]:
        return [Subscription(ALERTS, self._on_alert),
                Subscription(ALERT_DECISIONS, self._on_decision)]

    async def _on_alert(self, event: Event[Any]) -> None:
        if event.message is not None:
            self.alerts[event.message.alert_id] = event.message

    async def _on_decision(self, event: Event[Any]) -> None:
        if event.message is not None:
            self.decisions[event.message.decision_id] = event.message

    def status(self) -> dict[str, Any]:
        return {"alerts": len(self.alerts), "decisions": len(self.decisions)}
