"""Crowd density: at least `min_count` (default 10) objects of the rule's classes (persons by
default, tracked or not) in the zone. Rule-level episodes (default cooldown 60 s); the window
counts "max_count", the most seen in the zone on one frame."""

from __future__ import annotations

from vigie.rules.v1.rule_pb2 import RuleKind

from vigie_rules.domain.classes import PERSON
from vigie_rules.domain.episodes import new_episode
from vigie_rules.domain.kind import FrameContext, Kind

DEFAULT_MIN_COUNT = 10


def step(ctx: FrameContext) -> None:
    rs = ctx.state
    inside = [o for o in ctx.objects if ctx.in_zone(o)]
    rs.counts["max_count"] = max(rs.counts.get("max_count", 0), len(inside))
    min_count = ctx.rule.thresholds.min_count or DEFAULT_MIN_COUNT
    if len(inside) < min_count:
        rs.cond_since_ms = None
        return
    if rs.cond_since_ms is None:
        rs.cond_since_ms = ctx.t
    if new_episode(rs, rs.cond_since_ms, ctx.t, ctx.cooldown_ms()):
        ctx.raise_alert(sorted({o.track_id for o in inside if o.track_id}), rs.cond_since_ms,
                        inside, {"count": str(len(inside))}, per_track=None)


KIND = Kind(
    name="crowd_density", enum=RuleKind.RULE_KIND_CROWD_DENSITY, title="Crowd density",
    description="At least min_count people in the zone.",
    geometry="zone", required=("zone", "min_count"), default_classes=frozenset({PERSON}),
    default_cooldown_ms=60_000, involves_persons=True, step=step)
