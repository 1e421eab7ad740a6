"""Abandoned object: a tracked object of the rule's classes (backpack, handbag, suitcase by
default) in the zone with no person within ABANDON_RADIUS for `max_dwell` (else `max_stop`,
default 60 s); a move of the object restarts the clock. Episode = when it became unattended."""

from __future__ import annotations

import math

from vigie.rules.v1.rule_pb2 import RuleKind

from vigie_rules.domain.classes import BAG_CLASSES, PERSON
from vigie_rules.domain.episodes import ms, seconds
from vigie_rules.domain.kind import FrameContext, Kind
from vigie_rules.domain.tracking import moved, zone_presence

DEFAULT_DWELL_MS = 60_000
ABANDON_RADIUS = 0.1
"""A person closer than this (normalised, ground points) attends the object."""


def step(ctx: FrameContext) -> None:
    thresholds = ctx.rule.thresholds
    max_dwell = ms(thresholds.max_dwell, ms(thresholds.max_stop, DEFAULT_DWELL_MS))
    min_conf = thresholds.min_confidence
    people = [(p.x, p.y) for p in ctx.frame.objects
              if p.class_name == PERSON and p.confidence >= min_conf]
    for o in ctx.tracked():
        ts = zone_presence(ctx, o)
        if ts is None:
            continue
        if moved(ts, o, ctx.t):
            ts.cond_since_ms = None
        if any(math.dist((o.x, o.y), p) <= ABANDON_RADIUS for p in people):
            ts.cond_since_ms = None
            continue
        if ts.cond_since_ms is None:
            ts.cond_since_ms = ctx.t
        unattended = ctx.t - ts.cond_since_ms
        if unattended >= max_dwell:
            ctx.alert_track(o, ts, ts.cond_since_ms, {"unattended_s": seconds(unattended)})


KIND = Kind(
    name="abandoned_object", enum=RuleKind.RULE_KIND_ABANDONED_OBJECT, title="Abandoned object",
    description="An object left unattended in the zone longer than max_dwell_s.",
    # The proto (RuleThresholds.max_dwell and the RuleKind comments) times abandoned objects
    # with max_dwell, not max_stop.
    geometry="zone", required=("zone", "max_dwell_s"), default_classes=BAG_CLASSES,
    field_hints={"max_stop_s": "; use max_dwell_s"}, step=step)
