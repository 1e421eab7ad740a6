"""Routing policy: matching, triggers, cooldowns, rate limits, the face-match gate; policy files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from vigie.rules.v1.rule_pb2 import RuleKind, Severity
from vigie_alerts.adapters.channels import parse_policy
from vigie_alerts.domain.policy import Policy, is_loopback_host
from vigie_alerts.domain.routing import AlertFacts, PastDispatch, in_windows, plan

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday, 13:00 in Paris


def alert(alert_id="a1", rule="r1", camera="cam-1", kind=RuleKind.RULE_KIND_ZONE_INTRUSION,
          severity=Severity.SEVERITY_HIGH, at=T0) -> AlertFacts:
    return AlertFacts(alert_id, rule, kind, camera, severity, at)


def policy(**route) -> Policy:
    return parse_policy({
        "channels": {
            "sms": {"kind": "sms", "base_url": "http://127.0.0.1:9", "account_sid": "AC1",
                    "auth_token_env": "X", "from_number": "+33600000000",
                    "to_numbers": ["+33611111111"]},
            "hook": {"kind": "webhook", "url": "https://hooks.example.org/v", "secret_env": "S"},
        },
        "routes": [{"name": "main", "channels": ["sms", "hook"], **route}],
    })


@pytest.mark.parametrize(("match", "facts", "routed"), [
    ({}, alert(), True),
    ({"min_severity": "critical"}, alert(), False),
    ({"min_severity": "high"}, alert(), True),
    ({"camera_ids": ["cam-2"]}, alert(), False),
    ({"rule_ids": ["r1"]}, alert(), True),
    ({"rule_kinds": ["loitering"]}, alert(), False),
    ({"rule_kinds": ["zone_intrusion", "loitering"]}, alert(), True),
    # Paris local windows: 13:00 Monday
    ({"time_zone": "Europe/Paris", "windows": [{"start_minute": 780, "end_minute": 840}]},
     alert(), True),
    ({"time_zone": "Europe/Paris", "windows": [{"start_minute": 840, "end_minute": 900}]},
     alert(), False),
    ({"time_zone": "Europe/Paris", "windows": [{"days": [2], "start_minute": 0,
                                                "end_minute": 1440}]}, alert(), False),
])
def test_matching(match, facts, routed):
    planned = plan(policy(match=match, trigger="confirmed"), facts, "confirmed", [])
    assert bool(planned) == routed
    if routed:
        assert [(p.channel, p.outcome) for p in planned] == [("sms", "send"), ("hook", "send")]


@pytest.mark.parametrize(("windows", "local", "inside"), [
    ([{"start_minute": 1320, "end_minute": 360}], (23, 30), True),  # 22:00-06:00 spans midnight
    ([{"start_minute": 1320, "end_minute": 360}], (5, 59), True),
    ([{"start_minute": 1320, "end_minute": 360}], (6, 0), False),
    # Tuesday 02:00 belongs to the window that started on Monday evening
    ([{"days": [1], "start_minute": 1320, "end_minute": 360}], (2, 0), True),
    ([{"days": [2], "start_minute": 1320, "end_minute": 360}], (2, 0), False),
])
def test_windows_spanning_midnight(windows, local, inside):
    from zoneinfo import ZoneInfo

    from vigie_alerts.domain.policy import ActiveWindowSpec

    at = datetime(2026, 3, 3, *local, tzinfo=ZoneInfo("Europe/Paris"))  # a Tuesday
    if local[0] >= 12:
        at = at - timedelta(days=1)  # Monday evening
    specs = [ActiveWindowSpec.model_validate(w) for w in windows]
    assert in_windows(specs, "Europe/Paris", at) == inside


def test_trigger_raised_never_dispatches_a_face_match():
    p = policy(trigger="raised")
    assert plan(p, alert(), "raised", [])
    assert plan(p, alert(kind=RuleKind.RULE_KIND_FACE_MATCH), "raised", []) == []
    assert plan(p, alert(), "confirmed", []) == []  # a raised route does not fire on confirm
    face = plan(policy(trigger="confirmed"), alert(kind=RuleKind.RULE_KIND_FACE_MATCH),
                "confirmed", [])
    assert [p.outcome for p in face] == ["send", "send"]


def past(alert_id: str, seconds: float, camera="cam-1", rule="r1", route="main"):
    return PastDispatch(route, alert_id, camera, rule, T0 + timedelta(seconds=seconds))


@pytest.mark.parametrize(("history", "outcome", "why"), [
    ([], "send", ""),
    ([past("a0", -100)], "suppressed", "cooldown"),
    ([past("a0", -400)], "send", ""),  # older than the 300 s cooldown
    ([past("a0", -100, camera="cam-2")], "send", ""),  # another camera
    ([past("a0", -100, rule="r2")], "send", ""),  # another rule
    ([past("a0", -100, route="other")], "send", ""),  # another route
    ([past("a1", -100)], "send", ""),  # itself (a re-planned alert)
])
def test_cooldown(history, outcome, why):
    planned = plan(policy(cooldown_s=300), alert(), "confirmed", history)
    assert {p.outcome for p in planned} == {outcome}
    assert why in planned[0].reason


def test_rate_limit_counts_distinct_alerts_in_the_period():
    p = policy(rate_limit_count=2, rate_limit_period_s=600)
    two = [past("a8", -60, camera="c8"), past("a9", -500, camera="c9")]
    assert plan(p, alert(), "confirmed", two)[0].outcome == "suppressed"
    assert "rate limit" in plan(p, alert(), "confirmed", two)[0].reason
    older = [past("a8", -60, camera="c8"), past("a9", -700, camera="c9")]
    assert plan(p, alert(), "confirmed", older)[0].outcome == "send"


@pytest.mark.parametrize(("document", "problem"), [
    ({"routes": [{"name": "r", "channels": ["nope"]}]}, "no channel named"),
    ({"channels": {"h": {"kind": "webhook", "url": "http://hooks.example.org/x",
                         "secret_env": "S"}}}, "plain http"),
    ({"channels": {"h": {"kind": "webhook", "url": "https://u:p@hooks.example.org/x",
                         "secret_env": "S"}}}, "credentials"),
    ({"channels": {"h": {"kind": "webhook", "url": "https://hooks.example.org/x"}}},
     "must be signed"),
    ({"channels": {"s": {"kind": "sms", "base_url": "https://api.example.org",
                         "account_sid": "A", "auth_token_env": "T", "from_number": "0612",
                         "to_numbers": ["+33611111111"]}}}, "E.164"),
    ({"channels": {"k": {"kind": "kafka", "topic": "vigie.alerts.v1"}}}, "vigie. prefix"),
    ({"routes": [{"name": "r", "channels": ["x"], "match": {"rule_kinds": ["fire"]}}],
      "channels": {"x": {"kind": "kafka", "topic": "city.alerts"}}}, "unknown rule kind"),
    ({"routes": [{"name": "r", "channels": ["x"], "trigger": "always"}],
      "channels": {"x": {"kind": "kafka", "topic": "city.alerts"}}}, "trigger"),
    ({"routes": [], "extra": 1}, "extra"),
])
def test_bad_policies_are_refused_with_a_reason(document, problem):
    with pytest.raises(ValidationError) as info:
        parse_policy(document)
    assert problem in str(info.value).lower() or problem in str(info.value)


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True),
    ("10.0.0.1", False), ("example.org", False)])
def test_loopback(host, loopback):
    assert is_loopback_host(host) == loopback
