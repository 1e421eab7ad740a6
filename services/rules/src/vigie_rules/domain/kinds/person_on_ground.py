"""Person on the ground: a tracked person (by default) in the zone (the whole image without
one) whose box is wider than LYING_ASPECT times its height, in pixels, for `max_dwell`
(default 2 s); episode = when it lay down."""

from __future__ import annotations

from vigie.rules.v1.rule_pb2 import RuleKind

from vigie_rules.domain.classes import PERSON
from vigie_rules.domain.episodes import ms, seconds
from vigie_rules.domain.kind import FrameContext, Kind
from vigie_rules.domain.tracking import zone_presence

DEFAULT_DWELL_MS = 2_000
LYING_ASPECT = 1.2
"""Box width / height (in pixels) above which a person is lying."""


def step(ctx: FrameContext) -> None:
    max_dwell = ms(ctx.rule.thresholds.max_dwell, DEFAULT_DWELL_MS)
    for o in ctx.tracked():
        ts = zone_presence(ctx, o)
        if ts is None:
            continue
        if o.aspect <= LYING_ASPECT:
            ts.cond_since_ms = None
            continue
        if ts.cond_since_ms is None:
            ts.cond_since_ms = ctx.t
        lying = ctx.t - ts.cond_since_ms
        if lying >= max_dwell:
            ctx.alert_track(o, ts, ts.cond_since_ms, {"lying_s": seconds(lying)})


KIND = Kind(
    name="person_on_ground", enum=RuleKind.RULE_KIND_PERSON_ON_GROUND,
    title="Person on the ground",
    description="A person lying on the ground longer than max_dwell_s (default 2 s).",
    geometry="zone", optional=("zone", "max_dwell_s"), default_classes=frozenset({PERSON}),
    involves_persons=True, step=step)
