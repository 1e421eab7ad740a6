"""Track machinery shared by kinds: presence in the zone, stillness, line crossings with
hysteresis, recent headings, static regions and the model's detections of the same object. The
reference point of an object is the bottom centre of its box.
"""

from __future__ import annotations

import math

from vigie.rules.v1.rule_pb2 import Rule

from vigie_rules.domain.classes import STATIC_OBJECT
from vigie_rules.domain.engine_state import Box, TrackState
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
STATIC_MATCH_IOU = 0.3
"""A model detection overlapping a static_object region this much (IoU), or with its centre in
the region's box, shows the same object."""

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
    line never counts twice. A track re-linked after a crossing (`relink`) and seen back on the
    other side only takes it once it holds there (`TrackState.hold_side_until_ms`): a box cut
    by the occluder does not count the same person out and in again."""
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
            if ts.hold_side_until_ms is not None and ctx.t < ts.hold_side_until_ms:
                continue  # re-linked, seen back across: wait (see `relink`)
            sign = segment_crossing(ts.anchor, p, start, end)
            if sign != 0:
                out.append((o, sign, before_ms))
            ts.crossed = sign != 0
        ts.side, ts.anchor, ts.hold_side_until_ms = side, p, None
    return out


def box_of(o: Obj) -> Box:
    b = o.box
    return (b.x_min, b.y_min, b.x_max, b.y_max)


def box_distance(p: XY, box: Box) -> float:
    """Distance (normalised) from a point to a box; 0 inside it."""
    x0, y0, x1, y1 = box
    return math.hypot(max(x0 - p[0], 0.0, p[0] - x1), max(y0 - p[1], 0.0, p[1] - y1))


def box_iou(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _overlap(detection: Obj, region: Obj) -> float:
    """How well a model detection matches a region (0: not the same object)."""
    d, r = box_of(detection), box_of(region)
    iou = box_iou(d, r)
    centre = ((d[0] + d[2]) / 2, (d[1] + d[3]) / 2)
    return iou if iou >= STATIC_MATCH_IOU or box_distance(centre, r) == 0.0 else 0.0


def merge_static(ctx: FrameContext, objects: list[Obj]) -> list[Obj]:
    """The objects to evaluate, one per object, when static_object regions and the model's
    detections may show the same one: the regions (with the confidence of the most confident
    detection of the same object when higher), then the detections that are no part of a region.

    A detection matching a region (STATIC_MATCH_IOU; the best match when several) is part of it
    while its track lives (its TrackState.partner is then the region, partner_class
    STATIC_OBJECT) and is no longer evaluated. When it joins, the region takes over its story
    (partner, clock, alerted episode) if the region has not alerted and the detection has, or the
    detection has a partner and the region none: one object raises one alert. Every object given
    is seen (`ctx.track`)."""
    regions = [o for o in objects if o.class_name == STATIC_OBJECT]
    confidence = {r.track_id: r.confidence for r in regions}
    out = []
    for d in objects:
        if d.class_name == STATIC_OBJECT:
            continue
        ts = ctx.track(d)
        best = max(regions, key=lambda r: (_overlap(d, r), -r.track_id), default=None)
        if best is not None and _overlap(d, best) > 0.0:
            confidence[best.track_id] = max(confidence[best.track_id], d.confidence)
            if ts.partner_class != STATIC_OBJECT:
                _join(ctx.track(best), ts)
                ts.partner, ts.partner_class = best.track_id, STATIC_OBJECT
        elif ts.partner_class != STATIC_OBJECT:
            out.append(d)
    for r in regions:
        ctx.track(r)
    return [r._replace(confidence=confidence[r.track_id]) for r in regions] + out


def _join(region: TrackState, detection: TrackState) -> None:
    if region.alerted_episode_ms is not None or not detection.partner:
        return
    if detection.alerted_episode_ms is not None or not region.partner:
        region.partner, region.partner_class = detection.partner, detection.partner_class
        region.cond_since_ms = detection.cond_since_ms
        region.alerted_episode_ms = detection.alerted_episode_ms
        region.last_alert_ms = detection.last_alert_ms
