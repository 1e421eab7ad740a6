"""Alert lifecycle: open -> acknowledged -> confirmed / dismissed, as a fold over decisions.

An alert is an attention signal; it never acts by itself (DESIGN invariant 5). External dispatch
is released when the alert is CONFIRMED, which takes `required` *distinct* confirming operators:
at least 2 for face-match alerts whatever the alert says, at least 1 otherwise. The same operator
confirming twice counts once. CONFIRMED and DISMISSED are final: later decisions on the topic
(a race between two operators, a replay) change nothing, so every replica folding the same
decisions in topic order reaches the same status.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from vigie.alerts.v1.alerts_service_pb2 import AlertStatus
from vigie.alerts.v1.decision_pb2 import AlertDecided, AlertDecision
from vigie.rules.v1.rule_pb2 import RuleKind

MAX_REASON_CHARS = 1000
FACE_MATCH_CONFIRMATIONS = 2

OPEN = AlertStatus.ALERT_STATUS_OPEN
ACKNOWLEDGED = AlertStatus.ALERT_STATUS_ACKNOWLEDGED
PARTIALLY_CONFIRMED = AlertStatus.ALERT_STATUS_PARTIALLY_CONFIRMED
CONFIRMED = AlertStatus.ALERT_STATUS_CONFIRMED
DISMISSED = AlertStatus.ALERT_STATUS_DISMISSED
FINAL = frozenset({CONFIRMED, DISMISSED})

ACK = AlertDecision.ALERT_DECISION_ACKNOWLEDGED
CONFIRM = AlertDecision.ALERT_DECISION_CONFIRMED
DISMISS = AlertDecision.ALERT_DECISION_DISMISSED


def required_confirmations(rule_kind: int, requested: int) -> int:
    """Distinct confirmations that release dispatch: what the alert asks, never fewer than 2 for
    a face match nor fewer than 1 for anything."""
    floor = FACE_MATCH_CONFIRMATIONS if rule_kind == RuleKind.RULE_KIND_FACE_MATCH else 1
    return max(int(requested), floor)


@dataclass(frozen=True)
class DecisionFact:
    """What the fold needs of one AlertDecided."""

    decision_id: str
    operator: str
    decision: int  # AlertDecision value
    reason: str = ""


@dataclass(frozen=True)
class AlertState:
    status: int  # AlertStatus value
    required: int
    confirmers: tuple[str, ...] = ()
    acknowledged_by: tuple[str, ...] = ()
    dismissed_by: str = ""
    applied: tuple[str, ...] = ()  # decision ids that changed or confirmed the state
    ignored: tuple[str, ...] = ()  # decision ids that came after a final state

    @property
    def confirmations(self) -> int:
        return len(self.confirmers)

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @property
    def released(self) -> bool:
        """External dispatch may happen (trigger "confirmed")."""
        return self.status == CONFIRMED


def initial(required: int) -> AlertState:
    return AlertState(OPEN, max(1, required))


def apply(state: AlertState, decision: DecisionFact) -> AlertState:
    """The state after one more decision (in topic order)."""
    if decision.decision_id in state.applied or decision.decision_id in state.ignored:
        return state  # redelivered
    if state.final or decision.decision not in (ACK, CONFIRM, DISMISS):
        return replace(state, ignored=(*state.ignored, decision.decision_id))
    applied = (*state.applied, decision.decision_id)
    if decision.decision == ACK:
        acked = state.acknowledged_by
        if decision.operator not in acked:
            acked = (*acked, decision.operator)
        status = ACKNOWLEDGED if state.status == OPEN else state.status
        return replace(state, status=status, acknowledged_by=acked, applied=applied)
    if decision.decision == DISMISS:
        return replace(state, status=DISMISSED, dismissed_by=decision.operator, applied=applied)
    confirmers = state.confirmers
    if decision.operator not in confirmers:
        confirmers = (*confirmers, decision.operator)
    status = CONFIRMED if len(confirmers) >= state.required else PARTIALLY_CONFIRMED
    return replace(state, status=status, confirmers=confirmers, applied=applied)


def fold(required: int, decisions: Iterable[DecisionFact]) -> AlertState:
    state = initial(required)
    for decision in decisions:
        state = apply(state, decision)
    return state


def fold_decided(required: int, decisions: Iterable[AlertDecided]) -> AlertState:
    """The fold over decisions as published on vigie.alert-decisions.v1, in topic order."""
    return fold(required, (DecisionFact(d.decision_id, d.operator, d.decision, d.reason)
                           for d in decisions))


def refusal(state: AlertState, operator: str, decision: int, reason: str) -> str | None:
    """Why `operator` may not record `decision` now (None: allowed). Checked before publishing,
    so that the topic only carries meaningful decisions."""
    if not operator:
        return "an authenticated operator is required"
    if decision not in (ACK, CONFIRM, DISMISS):
        return "decision must be ACKNOWLEDGED, CONFIRMED or DISMISSED"
    if len(reason) > MAX_REASON_CHARS:
        return f"reason longer than {MAX_REASON_CHARS} characters"
    if state.status == CONFIRMED:
        return "the alert is already confirmed"
    if state.status == DISMISSED:
        return "the alert is already dismissed"
    if decision == DISMISS and not reason.strip():
        return "a reason is required to dismiss an alert"
    if decision == CONFIRM and operator in state.confirmers:
        return ("you already confirmed this alert: it needs a confirmation by a different "
                f"operator ({state.confirmations}/{state.required})")
    if decision == ACK and state.status == PARTIALLY_CONFIRMED:
        return "the alert is already partially confirmed"
    return None


STATUS_NAMES: dict[int, str] = {OPEN: "open", ACKNOWLEDGED: "acknowledged",
                PARTIALLY_CONFIRMED: "partially_confirmed", CONFIRMED: "confirmed",
                DISMISSED: "dismissed"}
DECISION_NAMES: dict[int, str] = {ACK: "acknowledged", CONFIRM: "confirmed", DISMISS: "dismissed"}
DECISIONS_BY_NAME: dict[str, int] = {v: k for k, v in DECISION_NAMES.items()}
STATUSES_BY_NAME: dict[str, int] = {v: k for k, v in STATUS_NAMES.items()}
