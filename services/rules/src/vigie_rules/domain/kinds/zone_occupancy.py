"""Zone occupancy: how many watched objects (persons by default, tracked or not) are in the
zone, reported every counting window on vigie.stats.v1: "max_count", the most seen on one
frame of the window, and "last_count", the number on its last frame. With `min_count`, an alert
too, at most once per window, on the first frame where the count reaches it (episode = the
window's start, no track), with the count, the tracks and the boxes in the zone."""

from __future__ import annotations

from vigie_rules.domain.classes import PERSON
from vigie_rules.domain.episodes import new_episode
from vigie_rules.domain.kind import FrameContext, Kind


def step(ctx: FrameContext) -> None:
    rs = ctx.state
    inside = [o for o in ctx.objects if ctx.in_zone(o)]
    rs.counts["max_count"] = max(rs.counts.get("max_count", 0), len(inside))
    rs.counts["last_count"] = len(inside)
    min_count = ctx.rule.thresholds.min_count
    window = rs.window_start_ms
    if (min_count and window is not None and len(inside) >= min_count
            and new_episode(rs, window, ctx.t, ctx.cooldown_ms())):
        ctx.raise_alert(sorted({o.track_id for o in inside if o.track_id}), window, inside,
                        {"count": str(len(inside))}, per_track=None)


KIND = Kind(
    name="zone_occupancy", title="Zone occupancy",
    description="Counts the watched objects in the zone every window (max_count, last_count); "
                "with min_count, alerts once a window when the count reaches it.",
    geometry="zone", required=("zone",), optional=("min_count",),
    default_classes=frozenset({PERSON}), involves_persons=True, step=step)
