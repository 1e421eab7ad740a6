"""Loitering: a tracked person (by default) stays in the zone for `max_dwell`; one alert per
presence, episode = when it entered (by the track first seen in the zone, when the tracker
lost the person behind an occluder and went on under a new id: see `relink`)."""

from __future__ import annotations

from vigie.rules.v1.rule_pb2 import RuleKind

from vigie_rules.domain.classes import PERSON
from vigie_rules.domain.episodes import ms, seconds
from vigie_rules.domain.kind import FrameContext, Kind
from vigie_rules.domain.tracking import zone_presence

DEFAULT_DWELL_MS = 60_000


def step(ctx: FrameContext) -> None:
    max_dwell = ms(ctx.rule.thresholds.max_dwell, DEFAULT_DWELL_MS)
    for o in ctx.tracked():
        ts = zone_presence(ctx, o)
        if ts is not None and ts.zone_since_ms is not None:
            dwell = ctx.t - ts.zone_since_ms
            if dwell >= max_dwell:
                ctx.alert_track(o, ts, ts.zone_since_ms, {"dwell_s": seconds(dwell)})


KIND = Kind(
    name="loitering", enum=RuleKind.RULE_KIND_LOITERING, title="Loitering",
    description="A person stays in the zone longer than max_dwell_s (default 60 s).",
    geometry="zone", required=("zone", "max_dwell_s"), default_classes=frozenset({PERSON}),
    involves_persons=True, relinks=True, step=step)
