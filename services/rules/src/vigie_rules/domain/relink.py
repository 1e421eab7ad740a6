"""Re-linking of track fragments: one object, one story, when the tracker loses it behind an
occluder (a pillar, a passing bus, another person) and starts a new track id for it.

Camera (`observe`, once per frame applied, before the rules)
    The camera remembers every track seen within the track ttl (`CameraState.seen`, pruned by
    event time): where it was last seen (the reference point, bottom centre of the box), its
    box height and its smoothed velocity. A track seen for the first time continues a *lost*
    one - not seen on this frame, lost at most RELINK_MS ago, not yet taken over, of the same
    class group (`class_group`) - whose reference point, where it was last seen or where its
    last velocity would have carried it since, is within `reach` of the new one. Pairs are
    taken nearest first, so one lost track continues in at most one new track and a new track
    continues at most one lost track; a track seen on the frame is never a candidate. The
    decision is the camera's, the same for every rule; the camera's window counts them
    ("relinked_tracks").

Rule (`continue_tracks`, for kinds that declare `Kind.relinks`)
    When a rule first sees a track that continues a lost one (directly, or through fragments
    this rule never saw), the lost track's state becomes the new track's: its presence in the
    zone (zone_since_ms, the episode alerted: no second alert for the same entry; the dwell goes
    on from the entry), its stop, its heading history, its side of a line (no second count).
    The episode keeps its alert id: `TrackState.fragments` names the earlier track ids, and an
    episode that started before the takeover is named by the track seen then
    (`TrackState.episode_track`). A line-crossing track that was counted crossing and comes
    back on the other side of the line (a box cut by the occluder) is not counted back and
    forth: it takes the other side only if it is still there RELINK_MS after the takeover (then
    counted, from where it was before the gap), and not at all if it is seen back on its side
    first.

Defaults are module constants, the same for every class, rule and detector (distances in
normalised image units, like the rest of the engine's geometry); not rule parameters, since the
decision is the camera's, shared by all its rules.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from vigie_rules.domain.classes import BAG_CLASSES, PERSON, SCENE_CLASSES, VEHICLE_CLASSES
from vigie_rules.domain.engine_state import RuleState, SeenTrack
from vigie_rules.domain.kind import Obj

__all__ = ["MAX_FRAGMENTS", "RELINK_MS", "class_group", "continue_tracks", "observe", "reach"]

RELINK_MS = 2_000
"""A track lost this long ago (event time) or less may be continued by a new one: about the time
a walking person takes to pass behind a pillar or a parked car. Longer gaps are left to the
track ttl (the same id coming back) and are otherwise a new object."""
RELINK_MIN_DISTANCE = 0.05
"""Reach (normalised) for small boxes: a few box widths of a distant person..."""
RELINK_HEIGHT_FRACTION = 0.5
"""...else half the box height (the lost box's or the new one's, the taller), since a near
object moves further in the image in the same time..."""
RELINK_MAX_DISTANCE = 0.15
"""...and never more than this, so that two people near the camera are not one."""
VELOCITY_SMOOTHING_MS = 500
"""The velocity is smoothed exponentially with this time constant (box jitter averages out)."""
MAX_FRAGMENTS = 8
"""A track's state remembers at most this many earlier track ids (the oldest are dropped)."""

_GROUPS = {**{c: "vehicle" for c in VEHICLE_CLASSES}, **{c: "bag" for c in BAG_CLASSES},
           PERSON: PERSON}


def class_group(class_name: str) -> str:
    """Classes a detector confuses on one object from frame to frame are one group (car, truck,
    bus, motorcycle; backpack, handbag, suitcase); every other class is its own."""
    return _GROUPS.get(class_name, class_name)


def reach(lost: SeenTrack, new: Obj) -> float:
    """How far (normalised) from the lost track's point a new track may appear to continue it."""
    height = max(lost.height, new.box.y_max - new.box.y_min)
    return min(RELINK_MAX_DISTANCE, max(RELINK_MIN_DISTANCE, RELINK_HEIGHT_FRACTION * height))


def _distance(lost: SeenTrack, new: Obj, t: int) -> float:
    """From where the lost track was last seen, or from where its velocity would have carried
    it since (whichever is nearer: it may have stopped behind the occluder)."""
    dt_s = (t - lost.last_seen_ms) / 1000
    predicted = (lost.pos[0] + lost.velocity[0] * dt_s, lost.pos[1] + lost.velocity[1] * dt_s)
    p = (new.x, new.y)
    return min(math.dist(lost.pos, p), math.dist(predicted, p))


def _tracked(objects: Iterable[Obj]) -> dict[int, Obj]:
    """One detection per track (the most confident); untracked objects and the scene stage's
    regions (ids of their own, never occluded tracks) are left out."""
    best: dict[int, Obj] = {}
    for o in objects:
        kept = best.get(o.track_id)
        if (o.track_id and o.class_name not in SCENE_CLASSES
                and (kept is None or o.confidence > kept.confidence)):
            best[o.track_id] = o
    return best


def observe(seen: dict[int, SeenTrack], objects: Iterable[Obj], t: int, ttl_ms: int
            ) -> tuple[frozenset[int], int]:
    """Take one frame's detections into the camera's tracks (links decided for the tracks seen
    for the first time); return the track ids seen on the frame and how many were re-linked.
    Tracks unseen for more than `ttl_ms` are forgotten."""
    best = _tracked(objects)
    visible = frozenset(best)
    new = [best[k] for k in sorted(best) if k not in seen]
    lost = [(k, s) for k, s in sorted(seen.items())
            if k not in visible and not s.taken and 0 < t - s.last_seen_ms <= RELINK_MS
            ] if new else []
    pairs = []
    for o in new:
        group = class_group(o.class_name)
        for k, s in lost:
            if class_group(s.class_name) == group:
                d = _distance(s, o, t)
                if d <= reach(s, o):
                    pairs.append((d, o.track_id, k))
    links: dict[int, int] = {}
    for _, new_id, old_id in sorted(pairs):
        if new_id not in links and old_id not in links.values():
            links[new_id] = old_id
    for k, o in sorted(best.items()):
        height = o.box.y_max - o.box.y_min
        track = seen.get(k)
        if track is None:
            old = links.get(k, 0)
            velocity = seen[old].velocity if old else (0.0, 0.0)
            seen[k] = SeenTrack(t, o.class_name, (o.x, o.y), height, velocity, continues=old)
            continue
        dt = t - track.last_seen_ms
        if dt > 0:
            alpha = min(1.0, dt / VELOCITY_SMOOTHING_MS)
            vx, vy = track.velocity
            vx += alpha * ((o.x - track.pos[0]) * 1000 / dt - vx)
            vy += alpha * ((o.y - track.pos[1]) * 1000 / dt - vy)
            track.velocity = (vx, vy)
        track.last_seen_ms, track.class_name = t, o.class_name
        track.pos, track.height = (o.x, o.y), height
    for old in links.values():
        seen[old].taken = True
    for k in [k for k, s in seen.items() if t - s.last_seen_ms > ttl_ms]:
        del seen[k]
    return visible, len(links)


def continue_tracks(rs: RuleState, objects: Iterable[Obj], seen: dict[int, SeenTrack],
                    visible: frozenset[int], t: int) -> None:
    """Before a rule's step: each track the rule sees for the first time takes over the state of
    the lost track it continues, if the rule has one (not seen on this frame)."""
    for k in sorted({o.track_id for o in objects if o.track_id} - rs.tracks.keys()):
        old = _predecessor(rs, seen, k, visible, t)
        if old is None:
            continue
        ts = rs.tracks.pop(old)
        ts.fragments = [*ts.fragments, (old, t)][-MAX_FRAGMENTS:]
        if ts.side and ts.crossed:
            ts.hold_side_until_ms = t + RELINK_MS
        rs.tracks[k] = ts


def _predecessor(rs: RuleState, seen: dict[int, SeenTrack], track_id: int,
                 visible: frozenset[int], t: int) -> int | None:
    """The nearest earlier track of the same object that the rule has a state of."""
    entry = seen.get(track_id)
    for _ in range(MAX_FRAGMENTS):
        if entry is None or not entry.continues:
            return None
        old = entry.continues
        ts = rs.tracks.get(old)
        if ts is not None:
            return old if old not in visible and ts.last_seen_ms < t else None
        entry = seen.get(old)
    return None
