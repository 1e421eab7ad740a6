"""Abandoned object: an object in the zone whose owner went away from it for `max_dwell`.

Objects are of the rule's classes: by default static_object regions of detect's scene stage
and the model's bags (backpack, handbag, suitcase). A bag matching a region is the region's
(`tracking.merge_static`: one alert per object, with the higher confidence); a bag alone counts
as appeared when its track was first seen.

The owner is the person track nearest the object's box when it appeared, within OWNER_RADIUS:
the kind's memory keeps where each person near the zone stood over the last HISTORY_MS. An
object nobody was near when it appeared has no owner and never fires: nobody was seen leaving
it (on a busy scene, most still things are not someone's bag). The object is unattended while
its owner is not within ABANDON_RADIUS of its box (an owner not seen counts as away); when it is
first seen, the clock is back-dated to the owner's last position near it, but it fires only once
seen MIN_SEEN_MS. A model bag that moves restarts the clock. Episode = when it became unattended."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vigie.rules.v1.rule_pb2 import RuleKind

from vigie_rules.domain.classes import BAG_CLASSES, PERSON, STATIC_LAG_MS, STATIC_OBJECT
from vigie_rules.domain.engine_state import Box, TrackState
from vigie_rules.domain.episodes import ms, seconds
from vigie_rules.domain.kind import FrameContext, Kind, Obj
from vigie_rules.domain.tracking import box_distance, box_of, merge_static, moved, zone_presence

DEFAULT_DWELL_MS = 60_000
OWNER_RADIUS = 0.15
"""The owner stood this close (normalised, feet to the object's box) when it appeared: a stride
or two; wider than ABANDON_RADIUS because appeared_at is an estimate and people step aside."""
OWNER_TIME_MS = 1_500
"""A person's position counts for the appearance when taken this close to it in event time."""
ABANDON_RADIUS = 0.1
"""An owner this close (normalised, feet to the object's box) attends the object."""
SAMPLE_MS = 300
"""Person positions are kept at most this often per track..."""
HISTORY_MS = STATIC_LAG_MS + 3_000
"""...for this much event time (a region is first seen up to STATIC_LAG_MS after it appeared):
about 50 positions per person."""
MIN_SEEN_MS = 5_000
"""An object fires only once seen this long (or max_dwell, if shorter): a still region that
lasts a moment (a shadow, part of a person who stood there) is not left behind."""
FOLLOW_MARGIN = 0.3
"""Only persons within this of the zone's bounding box are kept (an owner is near its object)."""

Sample = tuple[int, float, float]  # t_ms, x, y (feet)


@dataclass(slots=True)
class Memory:
    # Recent positions of the persons near the zone, by track, oldest first.
    trails: dict[int, list[Sample]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"person_trails": {str(k): [list(s) for s in v]
                                  for k, v in sorted(self.trails.items())}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Memory:
        return cls({int(k): [(int(t), float(x), float(y)) for t, x, y in v]
                    for k, v in data.get("person_trails", {}).items()})

    def copy(self) -> Memory:
        return Memory({k: list(v) for k, v in self.trails.items()})

    def pause(self) -> None:
        self.trails.clear()

    def record(self, persons: Mapping[int, Obj], t: int) -> None:
        for track_id, p in persons.items():
            trail = self.trails.setdefault(track_id, [])
            if not trail or t - trail[-1][0] >= SAMPLE_MS:
                trail.append((t, round(p.x, 3), round(p.y, 3)))
        for track_id in list(self.trails):
            trail = [s for s in self.trails[track_id] if t - s[0] <= HISTORY_MS]
            if trail:
                self.trails[track_id] = trail
            else:
                del self.trails[track_id]


def _persons(ctx: FrameContext) -> dict[int, Obj]:
    """Tracked persons of the frame near the zone, the most confident per track."""
    min_conf = ctx.rule.thresholds.min_confidence or ctx.kind.default_min_confidence
    near = None
    if ctx.zone:
        xs, ys = [p[0] for p in ctx.zone], [p[1] for p in ctx.zone]
        near = (min(xs), min(ys), max(xs), max(ys))
    out: dict[int, Obj] = {}
    for p in ctx.frame.objects:
        kept = out.get(p.track_id)
        if (p.track_id and p.class_name == PERSON and p.confidence >= min_conf
                and (near is None or box_distance((p.x, p.y), near) <= FOLLOW_MARGIN)
                and (kept is None or p.confidence > kept.confidence)):
            out[p.track_id] = p
    return out


def _adopt(memory: Memory, persons: Mapping[int, Obj], ts: TrackState, box: Box,
           appeared: int, t: int) -> None:
    """Find the owner of an object seen for the first time, and since when it is unattended."""
    best: tuple[float, int, list[Sample]] | None = None
    for track_id in sorted(memory.trails.keys() | persons.keys()):
        trail = list(memory.trails.get(track_id, []))
        if track_id in persons and (not trail or trail[-1][0] < t):
            trail.append((t, persons[track_id].x, persons[track_id].y))
        at = min(range(len(trail)), key=lambda i: (abs(trail[i][0] - appeared), i))
        if abs(trail[at][0] - appeared) > OWNER_TIME_MS:
            continue
        d = box_distance(trail[at][1:], box)
        if d <= OWNER_RADIUS and (best is None or d < best[0]):
            best = (d, track_id, trail[at:])
    if best is None:
        return  # nobody was near it when it appeared
    _, owner, trail = best
    near = [s[0] for s in trail if box_distance(s[1:], box) <= ABANDON_RADIUS]
    ts.partner, ts.partner_class = owner, PERSON
    if not near or near[-1] < t:  # near it now: the frame decides
        ts.cond_since_ms = near[-1] if near else trail[0][0]


def _iso(t_ms: int) -> str:
    return datetime.fromtimestamp(t_ms / 1000, UTC).isoformat(timespec="milliseconds")


def step(ctx: FrameContext) -> None:
    memory = ctx.memory(Memory)
    t = ctx.t
    max_dwell = ms(ctx.rule.thresholds.max_dwell, DEFAULT_DWELL_MS)
    persons = _persons(ctx)
    memory.record(persons, t)
    objects = [o for o in ctx.tracked() if o.class_name != PERSON]
    for o in objects:
        if o.track_id not in ctx.state.tracks:
            appeared = o.appeared_ms if o.appeared_ms is not None else t
            _adopt(memory, persons, ctx.track(o), box_of(o), appeared, t)
    for o in merge_static(ctx, objects):
        ts = zone_presence(ctx, o)
        if ts is None:
            continue
        if o.class_name != STATIC_OBJECT and moved(ts, o, t):
            ts.cond_since_ms = None
        if ts.partner_class != PERSON:
            continue  # no owner: never abandoned
        owner = persons.get(ts.partner)
        if owner is not None and box_distance((owner.x, owner.y), box_of(o)) <= ABANDON_RADIUS:
            ts.cond_since_ms = None
            continue
        if ts.cond_since_ms is None:
            ts.cond_since_ms = t
        unattended = t - ts.cond_since_ms
        seen = t - (ts.zone_since_ms if ts.zone_since_ms is not None else t)
        if unattended >= max_dwell and seen >= min(MIN_SEEN_MS, max_dwell):
            since = o.appeared_ms if o.appeared_ms is not None else ts.zone_since_ms
            ctx.alert_track(o, ts, ts.cond_since_ms, {
                "owner_track_id": str(ts.partner), "unattended_s": seconds(unattended),
                "appeared_at": _iso(since if since is not None else t),
                "confidence": f"{o.confidence:.2f}"})


def spec_problems(spec: Mapping[str, Any]) -> list[str]:
    return [f"classes[{i}]: {name!r} is not an object (abandoned_object follows persons as "
            "the owners of the objects it lists)"
            for i, name in enumerate(spec["classes"]) if name == PERSON]


KIND = Kind(
    name="abandoned_object", enum=RuleKind.RULE_KIND_ABANDONED_OBJECT, title="Abandoned object",
    description="An object left unattended in the zone by its owner longer than max_dwell_s.",
    # The proto (RuleThresholds.max_dwell and the RuleKind comments) times abandoned objects
    # with max_dwell, not max_stop.
    geometry="zone", required=("zone", "max_dwell_s"),
    default_classes=BAG_CLASSES | {STATIC_OBJECT}, memory=Memory, step=step,
    spec_problems=spec_problems, field_hints={"max_stop_s": "; use max_dwell_s"})
