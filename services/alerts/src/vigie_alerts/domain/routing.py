"""Routing: which routes and channels an alert goes to, with cooldowns and rate limits.

Pure: given the policy, the alert, the trigger (raised / confirmed) and the dispatches already made
on the routes, `plan` says for every matching route and channel whether to send or why not.
Cooldowns and rate limits are measured in event time (the alerts' raised_at), so a replay plans the
same dispatches. Suppressed dispatches are planned too (outcome "suppressed" with the reason),
so the operator sees why an alert did not go out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vigie.rules.v1.rule_pb2 import RuleKind

from vigie_alerts.domain.policy import (
    KIND_BY_NAME,
    SEVERITY_BY_NAME,
    ActiveWindowSpec,
    Policy,
    Route,
)

Trigger = Literal["raised", "confirmed"]


@dataclass(frozen=True)
class AlertFacts:
    """What routing needs of an alert."""

    alert_id: str
    rule_id: str
    rule_kind: int
    camera_id: str
    severity: int
    raised_at: datetime  # timezone-aware

    @property
    def face_match(self) -> bool:
        return self.rule_kind == RuleKind.RULE_KIND_FACE_MATCH


@dataclass(frozen=True)
class PastDispatch:
    """An alert already dispatched (or being dispatched) on a route."""

    route: str
    alert_id: str
    camera_id: str
    rule_id: str
    raised_at: datetime


@dataclass(frozen=True)
class Planned:
    route: str
    channel: str
    trigger: Trigger
    outcome: Literal["send", "suppressed"]
    reason: str = ""


@lru_cache(maxsize=64)
def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def in_windows(windows: Sequence[ActiveWindowSpec], time_zone: str, at: datetime) -> bool:
    """True when `at` falls in one of the weekly windows (always, when there is none). A window
    whose end is not after its start spans midnight and belongs to the day it starts on."""
    if not windows:
        return True
    local = at.astimezone(_zone(time_zone))
    minute = local.hour * 60 + local.minute
    today = local.isoweekday()
    yesterday = (local - timedelta(days=1)).isoweekday()
    for w in windows:
        if w.end_minute > w.start_minute:
            if (not w.days or today in w.days) and w.start_minute <= minute < w.end_minute:
                return True
        else:  # spans midnight
            if (not w.days or today in w.days) and minute >= w.start_minute:
                return True
            if (not w.days or yesterday in w.days) and minute < w.end_minute:
                return True
    return False


def route_matches(route: Route, alert: AlertFacts) -> bool:
    m = route.match
    if m.rule_ids and alert.rule_id not in m.rule_ids:
        return False
    if m.camera_ids and alert.camera_id not in m.camera_ids:
        return False
    if m.rule_kinds and alert.rule_kind not in {KIND_BY_NAME[k] for k in m.rule_kinds}:
        return False
    if alert.severity < SEVERITY_BY_NAME[m.min_severity]:
        return False
    return in_windows(m.windows, m.time_zone, alert.raised_at)


def suppression(route: Route, alert: AlertFacts, history: Sequence[PastDispatch]) -> str:
    """Why the route must not dispatch `alert` given what it dispatched before ("" = go)."""
    past = [p for p in history if p.route == route.name and p.alert_id != alert.alert_id]
    if route.cooldown_s > 0:
        cooldown = timedelta(seconds=route.cooldown_s)
        for p in past:
            if (p.camera_id == alert.camera_id and p.rule_id == alert.rule_id
                    and abs(alert.raised_at - p.raised_at) < cooldown):
                return (f"cooldown: alert {p.alert_id} of the same rule and camera was "
                        f"dispatched {abs(alert.raised_at - p.raised_at).total_seconds():.0f} s "
                        f"apart (cooldown {route.cooldown_s:g} s)")
    if route.rate_limit_count > 0:
        period = timedelta(seconds=route.rate_limit_period_s)
        recent = {p.alert_id for p in past
                  if alert.raised_at - period < p.raised_at <= alert.raised_at}
        if len(recent) >= route.rate_limit_count:
            return (f"rate limit: {len(recent)} alerts already dispatched on this route within "
                    f"{route.rate_limit_period_s:g} s")
    return ""


def plan(policy: Policy, alert: AlertFacts, trigger: Trigger,
         history: Sequence[PastDispatch]) -> list[Planned]:
    """Dispatches for `alert` now that `trigger` happened, in route then channel order.
    A face-match alert is never dispatched on "raised": only once confirmed."""
    planned: list[Planned] = []
    for route in policy.routes:
        if route.trigger != trigger or not route_matches(route, alert):
            continue
        if trigger == "raised" and alert.face_match:
            continue  # invariant 5: two distinct confirmations before any external dispatch
        reason = suppression(route, alert, history)
        for channel in route.channels:
            planned.append(Planned(route.name, channel, trigger,
                                   "suppressed" if reason else "send", reason))
    return planned
