"""Wrong way: a tracked object in the zone (the whole image without one) moving against the
rule's `direction`, beyond `tolerance_deg` (default 45) of the opposite heading, at
`min_speed_per_s` (default 0.05/s) or more over the last second; episode = when it started.
A (nearly) still object, or one with too little history, leaves its episode as it is."""

from __future__ import annotations

import math

from vigie.rules.v1.rule_pb2 import RuleKind

from vigie_rules.domain.geometry import angle_between_deg
from vigie_rules.domain.kind import FrameContext, Kind
from vigie_rules.domain.tracking import direction_of, heading_start, zone_presence

DEFAULT_TOLERANCE_DEG = 45.0
DEFAULT_MIN_SPEED = 0.05  # normalised units per second


def step(ctx: FrameContext) -> None:
    thresholds = ctx.rule.thresholds
    direction = direction_of(ctx.rule)
    if not any(direction):
        return
    tolerance = thresholds.tolerance_deg or DEFAULT_TOLERANCE_DEG
    min_speed = thresholds.min_speed_per_s or DEFAULT_MIN_SPEED
    t = ctx.t
    for o in ctx.tracked():
        ts = zone_presence(ctx, o)
        if ts is None:
            continue
        start = heading_start(ts, o, t)
        if start is None:
            continue  # too little history to judge: the episode (if any) goes on
        t0, x0, y0 = start
        motion = (o.x - x0, o.y - y0)
        if math.hypot(*motion) / ((t - t0) / 1000) < min_speed:
            continue  # (nearly) still: no heading, the episode (if any) goes on
        angle = angle_between_deg(motion, direction)
        if angle is None or angle <= 180.0 - tolerance:
            ts.cond_since_ms = None
            continue
        if ts.cond_since_ms is None:
            ts.cond_since_ms = t
        ctx.alert_track(o, ts, ts.cond_since_ms, {"angle_deg": f"{angle:.0f}"})


KIND = Kind(
    name="wrong_way", enum=RuleKind.RULE_KIND_WRONG_WAY, title="Wrong way",
    description="An object moves against the direction (beyond tolerance_deg) in the zone.",
    geometry="none", required=("direction",),
    optional=("zone", "tolerance_deg", "min_speed_per_s"), relinks=True, step=step)
