"""When a rule applies: enabled, within its validity period and (if it has any) within one of
its weekly windows, in the schedule's time zone (UTC when empty or unknown)."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vigie.rules.v1.rule_pb2 import Rule


def rule_active(rule: Rule, t_ms: int) -> bool:
    """Whether the rule is enabled and its schedule covers event time t_ms."""
    if not rule.enabled:
        return False
    schedule = rule.schedule
    if schedule.HasField("valid_from") and t_ms < schedule.valid_from.ToMilliseconds():
        return False
    if schedule.HasField("valid_until") and t_ms >= schedule.valid_until.ToMilliseconds():
        return False
    if not schedule.windows:
        return True
    local = datetime.fromtimestamp(t_ms / 1000, _zone(schedule.time_zone))
    minute = local.hour * 60 + local.minute
    day = local.isoweekday()
    previous_day = 7 if day == 1 else day - 1
    for window in schedule.windows:
        days = set(window.days)
        start, end = window.start_minute, window.end_minute
        if start < end:
            if (not days or day in days) and start <= minute < end:
                return True
        else:  # spans midnight: from start on its day to end on the next day
            if (not days or day in days) and minute >= start:
                return True
            if (not days or previous_day in days) and minute < end:
                return True
    return False


@lru_cache(maxsize=64)
def _zone(name: str) -> tzinfo:
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC
