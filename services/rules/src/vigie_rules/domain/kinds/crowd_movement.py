"""Crowd movement: over the tracked people in the zone that have at least half a second of
history, each one's velocity over the last second (`tracking.heading_start`): with at least
`min_count` (default 5) of them, the condition holds when the mean speed rose by
`min_speed_per_s` (default 0.1/s) or more above its lowest value SURGE_LAG_MS..SURGE_WINDOW_MS
earlier (a sudden acceleration: people start running), or when their mean distance from their
centroid grows at `min_speed_per_s` or more (dispersal; a crowd walking together, however fast,
does not disperse). Rule-level episodes, default cooldown 60 s."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vigie.rules.v1.rule_pb2 import RuleKind

from vigie_rules.domain.classes import PERSON
from vigie_rules.domain.episodes import new_episode
from vigie_rules.domain.kind import FrameContext, Kind, Obj
from vigie_rules.domain.tracking import heading_start, zone_presence

DEFAULT_MIN_COUNT = 5
DEFAULT_MIN_SPEED = 0.1  # normalised units per second
SURGE_LAG_MS = 1_000
"""The mean speed is compared with the lowest mean speed measured between SURGE_LAG_MS..."""
SURGE_WINDOW_MS = 4_000
"""...and SURGE_WINDOW_MS of event time earlier (the baseline)."""


@dataclass(slots=True)
class Memory:
    # (t_ms, mean speed) of the last seconds: the baseline of a surge.
    speeds: list[tuple[int, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"speeds": [list(s) for s in self.speeds]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Memory:
        return cls([(int(t), float(v)) for t, v in data.get("speeds", [])])

    def copy(self) -> Memory:
        return Memory(list(self.speeds))

    def pause(self) -> None:
        self.speeds.clear()


def step(ctx: FrameContext) -> None:
    """Mean speed of the tracked people in the zone, and the rate at which their mean distance
    from their centroid grows (dispersal), each over about a second of track history."""
    rs = ctx.state
    memory = ctx.memory(Memory)
    t = ctx.t
    objs: list[Obj] = []
    velocities: list[tuple[float, float]] = []
    for o in ctx.tracked():
        ts = zone_presence(ctx, o)
        if ts is None:
            continue
        start = heading_start(ts, o, t)
        if start is None:
            continue
        t0, x0, y0 = start
        dt = (t - t0) / 1000
        objs.append(o)
        velocities.append(((o.x - x0) / dt, (o.y - y0) / dt))
    memory.speeds = [s for s in memory.speeds if t - s[0] <= SURGE_WINDOW_MS]
    thresholds = ctx.rule.thresholds
    if len(objs) < (thresholds.min_count or DEFAULT_MIN_COUNT):
        rs.cond_since_ms = None
        return
    n = len(objs)
    mean_speed = sum(math.hypot(vx, vy) for vx, vy in velocities) / n
    cx, cy = sum(o.x for o in objs) / n, sum(o.y for o in objs) / n
    mvx, mvy = sum(v[0] for v in velocities) / n, sum(v[1] for v in velocities) / n
    outward = 0.0  # d/dt of the mean distance from the centroid
    for o, (vx, vy) in zip(objs, velocities, strict=True):
        r = math.hypot(o.x - cx, o.y - cy)
        if r > 0:
            outward += ((vx - mvx) * (o.x - cx) + (vy - mvy) * (o.y - cy)) / r
    dispersal = outward / n
    baseline = [s for ts_, s in memory.speeds if t - ts_ >= SURGE_LAG_MS]
    surge = mean_speed - min(baseline) if baseline else 0.0
    memory.speeds = [*memory.speeds, (t, mean_speed)]
    threshold = thresholds.min_speed_per_s or DEFAULT_MIN_SPEED
    triggers = [name for name, value in (("speed", surge), ("dispersal", dispersal))
                if value >= threshold]
    if not triggers:
        rs.cond_since_ms = None
        return
    if rs.cond_since_ms is None:
        rs.cond_since_ms = t
    if new_episode(rs, rs.cond_since_ms, t, ctx.cooldown_ms()):
        ctx.raise_alert([o.track_id for o in objs], rs.cond_since_ms, objs, {
            "count": str(n), "trigger": "+".join(triggers),
            "mean_speed_per_s": f"{mean_speed:.3f}", "speed_change_per_s": f"{surge:.3f}",
            "dispersal_per_s": f"{dispersal:.3f}"}, per_track=None)


KIND = Kind(
    name="crowd_movement", enum=RuleKind.RULE_KIND_CROWD_MOVEMENT, title="Crowd movement",
    description="Sudden collective movement in the zone: people start running or disperse "
                "faster than min_speed_per_s.",
    geometry="zone", optional=("zone", "min_speed_per_s", "min_count"),
    default_classes=frozenset({PERSON}), default_cooldown_ms=60_000, involves_persons=True,
    memory=Memory, step=step)
