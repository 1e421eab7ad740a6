"""Track machinery shared by kinds: presence in the zone, stillness, line crossings with
hysteresis, recent headings. The reference point of an object is the bottom centre of its box.
"""

from __future__ import annotations

import math

from vigie.rules.v1.rule_pb2 import Rule

from vigie_rules.domain.engine_state import TrackState
from vigie_rules.domain.geometry import segment_crossing, side_of_line
from vigie_rules.domain.kind import FrameContext, Obj

STILL_EPS = 0.01
"""Displacement (normalised) below which an object counts as not moving..."""
STILL_WINDOW_MS = 1_000
"""...within this much event time: drifting further, but slower (a creeping vehicle), moves the
reference point without ending the stop; a one-frame outlier is ignored."""
LINE_MARGIN = 0.01
"""Distance (normalised) beyond the line at which a track's side is confirmed."""
HEADING_WINDOW_MS = 1_000
"""Headings are measured over this much recent event time..."""
MIN_HEADING_SPAN_MS = 500
"""...and only once the track has at least this much history."""

XY = tuple[float, float]


def zone_presence(ctx: FrameContext, o: Obj) -> TrackState | None:
    """Track state with zone_since_ms maintained; None when the object is outside the zone
    (its zone-bound memory is then forgotten)."""
    ts = ctx.track(o)
    ts.last_pos = (o.x, o.y)
    if not ctx.in_zone(o):
        ts.zone_since_ms = ts.anchor = ts.anchor_since_ms = ts.cond_since_ms = None
        ts.history.clear()
        return None
    if ts.zone_since_ms is None:
        ts.zone_since_ms = ctx.t
    return ts


def moved(ts: TrackState, o: Obj, t: int) -> bool:
    """Update the stationarity anchor; True when the object moved.

    A single frame beyond STILL_EPS from the anchor is a box outlier and changes nothing. From the
    second consecutive one, the anchor moves to the new position; it is a move only if the object
    left the anchor within STILL_WINDOW_MS of its placement, otherwise a slow drift (a creeping
    vehicle) that does not end the stop.
    """
    p = (o.x, o.y)
    if ts.anchor is None or ts.anchor_since_ms is None:
        ts.anchor, ts.anchor_since_ms, ts.away = p, t, 0
        return True
    if math.dist(ts.anchor, p) <= STILL_EPS:
        ts.away = 0
        return False
    ts.away += 1
    if ts.away < 2:
        return False
    crept = t - ts.anchor_since_ms >= STILL_WINDOW_MS
    ts.anchor, ts.anchor_since_ms, ts.away = p, t, 0
    return not crept


def heading_start(ts: TrackState, o: Obj, t: int) -> tuple[int, float, float] | None:
    """Record the object's position; the oldest (t_ms, x, y) within HEADING_WINDOW_MS, or None
    while the track has less than MIN_HEADING_SPAN_MS of history."""
    ts.history.append((t, o.x, o.y))
    ts.history = [h for h in ts.history if t - h[0] <= HEADING_WINDOW_MS]
    start = ts.history[0]
    return None if t - start[0] < MIN_HEADING_SPAN_MS else start


def line_of(rule: Rule) -> tuple[XY, XY] | None:
    """The rule's line (start, end), None when it has none or it is a point."""
    if not rule.geometry.HasField("line"):
        return None
    line = rule.geometry.line
    start, end = (line.start.x, line.start.y), (line.end.x, line.end.y)
    return None if start == end else (start, end)


def direction_of(rule: Rule) -> XY:
    return (rule.geometry.direction.dx, rule.geometry.direction.dy)


def direction_sign(start: XY, end: XY, direction: XY) -> int:
    """segment_crossing sign of a movement along `direction` through the line's middle
    (0 when there is no direction or it runs along the line)."""
    norm = math.hypot(*direction)
    if norm == 0.0:
        return 0
    mid = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
    step = (direction[0] / norm * 1e-3, direction[1] / norm * 1e-3)
    return segment_crossing((mid[0] - step[0], mid[1] - step[1]),
                            (mid[0] + step[0], mid[1] + step[1]), start, end)


def line_steps(ctx: FrameContext, start: XY, end: XY) -> list[tuple[Obj, int, int | None]]:
    """Tracks that crossed the segment on this frame: (object, `segment_crossing` sign, event
    time the track was seen before).

    Hysteresis: a track's side is only confirmed once it is more than LINE_MARGIN from the
    line; a crossing counts when the confirmed side flips and the path from the last confirmed
    position on the old side to the new position crosses the segment, so jitter around the
    line never counts twice."""
    length = math.dist(start, end)
    out = []
    for o in ctx.tracked():
        before = ctx.state.tracks.get(o.track_id)
        before_ms = before.last_seen_ms if before is not None else None
        ts = ctx.track(o)
        p = (o.x, o.y)
        ts.last_pos = p
        distance = side_of_line(p, start, end) / length
        side = 1 if distance > LINE_MARGIN else -1 if distance < -LINE_MARGIN else 0
        if side == 0:
            continue
        if ts.side != side and ts.side != 0 and ts.anchor is not None:
            sign = segment_crossing(ts.anchor, p, start, end)
            if sign != 0:
                out.append((o, sign, before_ms))
        ts.side, ts.anchor = side, p
    return out
