"""Stationary vehicle: a tracked vehicle (car, truck, bus, motorcycle by default) stays still in
the zone for `max_stop` (default 120 s). Stillness tolerates box jitter and a slow creep (see
`tracking.moved`); episode = when it stopped."""

from __future__ import annotations

from vigie.rules.v1.rule_pb2 import RuleKind

from vigie_rules.domain.classes import VEHICLE_CLASSES
from vigie_rules.domain.episodes import ms, seconds
from vigie_rules.domain.kind import FrameContext, Kind
from vigie_rules.domain.tracking import moved, zone_presence

DEFAULT_STOP_MS = 120_000


def step(ctx: FrameContext) -> None:
    max_stop = ms(ctx.rule.thresholds.max_stop, DEFAULT_STOP_MS)
    for o in ctx.tracked():
        ts = zone_presence(ctx, o)
        if ts is None:
            continue
        if moved(ts, o, ctx.t) or ts.cond_since_ms is None:
            ts.cond_since_ms = ctx.t  # stopped since
        stopped = ctx.t - ts.cond_since_ms
        if stopped >= max_stop:
            ctx.alert_track(o, ts, ts.cond_since_ms, {"stop_s": seconds(stopped)})


KIND = Kind(
    name="stationary_vehicle", enum=RuleKind.RULE_KIND_STATIONARY_VEHICLE,
    title="Stationary vehicle",
    description="A vehicle stays still in the zone longer than max_stop_s (default 120 s).",
    geometry="zone", required=("zone", "max_stop_s"), default_classes=VEHICLE_CLASSES,
    relinks=True, step=step)
