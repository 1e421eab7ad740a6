"""Alert lifecycle: the two-operator rule for face matches, final states, refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vigie.rules.v1.rule_pb2 import RuleKind
from vigie_alerts.domain import lifecycle as lc
from vigie_alerts.domain.lifecycle import ACK, CONFIRM, DISMISS, DecisionFact

FACE = RuleKind.RULE_KIND_FACE_MATCH
ZONE = RuleKind.RULE_KIND_ZONE_INTRUSION


def d(i: int, operator: str, decision: int, reason: str = "") -> DecisionFact:
    return DecisionFact(f"d{i}", operator, decision, reason)


@pytest.mark.parametrize(("kind", "asked", "required"), [
    (ZONE, 0, 1), (ZONE, 1, 1), (ZONE, 3, 3),
    (FACE, 0, 2), (FACE, 1, 2),  # a face match never needs fewer than two, whatever it says
    (FACE, 3, 3),
])
def test_required_confirmations(kind, asked, required):
    assert lc.required_confirmations(kind, asked) == required


@pytest.mark.parametrize(("required", "decisions", "status", "confirmations"), [
    (1, [], lc.OPEN, 0),
    (1, [d(1, "ann", ACK)], lc.ACKNOWLEDGED, 0),
    (1, [d(1, "ann", CONFIRM)], lc.CONFIRMED, 1),
    (1, [d(1, "ann", ACK), d(2, "bob", CONFIRM)], lc.CONFIRMED, 1),
    (1, [d(1, "ann", DISMISS, "false alarm")], lc.DISMISSED, 0),
    # face match: one confirmation is partial; the same operator again changes nothing
    (2, [d(1, "ann", CONFIRM)], lc.PARTIALLY_CONFIRMED, 1),
    (2, [d(1, "ann", CONFIRM), d(2, "ann", CONFIRM)], lc.PARTIALLY_CONFIRMED, 1),
    (2, [d(1, "ann", CONFIRM), d(2, "bob", CONFIRM)], lc.CONFIRMED, 2),
    # final states stay final: a dismissal after confirmation, or a confirmation after dismissal
    (1, [d(1, "ann", CONFIRM), d(2, "bob", DISMISS, "no")], lc.CONFIRMED, 1),
    (2, [d(1, "ann", DISMISS, "no"), d(2, "bob", CONFIRM), d(3, "cy", CONFIRM)],
     lc.DISMISSED, 0),
    # an acknowledgement after a partial confirmation keeps it partial
    (2, [d(1, "ann", CONFIRM), d(2, "bob", ACK)], lc.PARTIALLY_CONFIRMED, 1),
])
def test_fold(required, decisions, status, confirmations):
    state = lc.fold(required, decisions)
    assert (state.status, state.confirmations) == (status, confirmations)
    assert state.released == (status == lc.CONFIRMED)


def test_a_redelivered_decision_counts_once():
    state = lc.fold(2, [d(1, "ann", CONFIRM), d(1, "ann", CONFIRM), d(1, "bob", CONFIRM)])
    assert state.status == lc.PARTIALLY_CONFIRMED  # the third carries d1's id: same decision


@pytest.mark.parametrize(("required", "before", "operator", "decision", "reason", "why"), [
    (2, [d(1, "ann", CONFIRM)], "ann", CONFIRM, "", "different operator"),
    (1, [], "ann", DISMISS, "  ", "reason is required"),
    (1, [d(1, "ann", CONFIRM)], "bob", DISMISS, "x", "already confirmed"),
    (1, [d(1, "ann", DISMISS, "x")], "bob", CONFIRM, "", "already dismissed"),
    (1, [], "", CONFIRM, "", "authenticated operator"),
    (1, [], "ann", 0, "", "must be"),
    (1, [], "ann", CONFIRM, "x" * 1001, "longer than"),
    (2, [d(1, "ann", CONFIRM)], "bob", ACK, "", "partially confirmed"),
])
def test_refusals(required, before, operator, decision, reason, why):
    refusal = lc.refusal(lc.fold(required, before), operator, decision, reason)
    assert refusal is not None and why in refusal


@pytest.mark.parametrize(("required", "before", "operator", "decision"), [
    (1, [], "ann", ACK), (1, [d(1, "ann", ACK)], "bob", ACK), (1, [], "ann", CONFIRM),
    (2, [d(1, "ann", CONFIRM)], "bob", CONFIRM), (2, [d(1, "ann", CONFIRM)], "ann", DISMISS),
])
def test_allowed(required, before, operator, decision):
    assert lc.refusal(lc.fold(required, before), operator, decision, "why") is None


operators = st.sampled_from(["ann", "bob", "cy", "dee"])
decisions = st.lists(st.tuples(operators, st.sampled_from([ACK, CONFIRM, DISMISS])),
                     max_size=12)


@given(required=st.integers(1, 3), history=decisions)
def test_confirmed_exactly_when_enough_distinct_operators_confirmed_first(required, history):
    facts = [d(i, op, dec, "r") for i, (op, dec) in enumerate(history)]
    state = lc.fold(required, facts)
    confirmers: list[str] = []
    final = None
    for op, dec in history:  # reference model, written independently
        if final is not None:
            continue
        if dec == DISMISS:
            final = lc.DISMISSED
        elif dec == CONFIRM and op not in confirmers:
            confirmers.append(op)
            if len(confirmers) >= required:
                final = lc.CONFIRMED
    if final == lc.CONFIRMED:
        assert state.status == lc.CONFIRMED and len(set(state.confirmers)) >= required
    elif final == lc.DISMISSED:
        assert state.status == lc.DISMISSED and not state.released
    else:
        assert not state.released and len(set(state.confirmers)) < required
