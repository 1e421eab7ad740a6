"""Scene change: part of the scene in the zone (a wall, street furniture, a pavement) differs from
its reference view and stays so for `max_dwell` (default 30 s) with no person or vehicle over
it: something came and stayed (graffiti, a dumped heap: detect's static_object regions) or
something that belonged there is gone (a bench taken: removed_object). A person or vehicle
covering the region restarts the clock: people and traffic are not the scene. One alert per
region (episode = when it was first seen). Accepting the camera's new view as its reference
(`vigie cameras accept-view`) makes the scene stage learn the scene afresh."""

from __future__ import annotations

from vigie_rules.domain.classes import PERSON, REMOVED_OBJECT, SCENE_CLASSES, VEHICLE_CLASSES
from vigie_rules.domain.episodes import ms, seconds
from vigie_rules.domain.kind import FrameContext, Kind
from vigie_rules.domain.tracking import box_iou, box_of, zone_presence

DEFAULT_DWELL_MS = 30_000
MOVERS = VEHICLE_CLASSES | {PERSON, "bicycle"}


def step(ctx: FrameContext) -> None:
    max_dwell = ms(ctx.rule.thresholds.max_dwell, DEFAULT_DWELL_MS)
    movers = [box_of(m) for m in ctx.frame.objects if m.class_name in MOVERS]
    for o in ctx.tracked():
        ts = zone_presence(ctx, o)
        if ts is None or ts.zone_since_ms is None:
            continue
        region = box_of(o)
        if any(box_iou(region, m) > 0.0 for m in movers):
            ts.cond_since_ms = None  # someone is over it: not the scene itself, for now
            continue
        if ts.cond_since_ms is None:
            ts.cond_since_ms = ctx.t
        unchanged = ctx.t - ts.cond_since_ms
        if unchanged >= max_dwell:
            ctx.alert_track(o, ts, ts.zone_since_ms, {
                "change": "removed" if o.class_name == REMOVED_OBJECT else "appeared",
                "changed_s": seconds(ctx.t - ts.zone_since_ms)})


KIND = Kind(
    name="scene_change", title="Scene change",
    description="Part of the scene in the zone differs from its reference view (something "
                "came and stayed, or is gone) for max_dwell_s with nobody over it.",
    geometry="zone", required=("zone",), optional=("max_dwell_s",),
    default_classes=SCENE_CLASSES, step=step)
