"""Illegal dumping: a vehicle (car, truck, bus, motorcycle) still in the zone for `max_stop`
(default 5 s) makes a *stop*. An object of the rule's classes (default: static_object regions of
detect's scene stage and every COCO class but people, vehicles, animals and street furniture,
see `classes.DUMPABLE_CLASSES`) that appeared in the zone after the stop began, while it lasts or
up to DUMP_GRACE_MS after the vehicle left, within DUMP_RADIUS of the vehicle's box, is its load.
A region appeared at its appeared_at (give or take APPEARED_SLACK_MS), a model detection when
first seen in the zone; a model detection matching a region is the region's
(`tracking.merge_static`: one alert per object). A load static for `max_dwell` (default 60 s)
fires (episode = when it became static, per object: for a region, when first seen), whether
the vehicle is still there or gone. An object that was there before the vehicle stopped is
never a load."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vigie.rules.v1.rule_pb2 import RuleKind

from vigie_rules.domain.classes import (
    DUMPABLE_CLASSES,
    PERSON,
    STATIC_LAG_MS,
    STATIC_OBJECT,
    VEHICLE_CLASSES,
)
from vigie_rules.domain.engine_state import Box
from vigie_rules.domain.episodes import ms, seconds
from vigie_rules.domain.kind import FrameContext, Kind, Obj
from vigie_rules.domain.tracking import box_distance, merge_static, moved, zone_presence

DEFAULT_STOP_MS = 5_000
DEFAULT_DWELL_MS = 60_000
DUMP_RADIUS = 0.1
"""An object this close (normalised) to a stopped vehicle's box is its load..."""
DUMP_GRACE_MS = 10_000
"""...if it appears while the vehicle is stopped or up to this long after it left (an object
hidden behind the vehicle is first seen when it drives away). Stops are remembered
STATIC_LAG_MS longer, for regions first seen that long after they appeared."""
APPEARED_SLACK_MS = 2_000
"""A region's appeared_at is the scene stage's estimate (its short-term background lags about
2 s): a region may appear this long before the stop began and still be its load."""


@dataclass(slots=True)
class VehicleStop:
    """A vehicle stopped in the zone for at least the rule's max_stop."""

    track_id: int
    class_name: str
    start_ms: int  # the stop began (the vehicle became still)
    last_ms: int  # last event time the vehicle was seen still there
    box: Box  # its box then

    def to_dict(self) -> dict[str, Any]:
        return {"track_id": self.track_id, "class_name": self.class_name,
                "start_ms": self.start_ms, "last_ms": self.last_ms, "box": list(self.box)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VehicleStop:
        x0, y0, x1, y1 = (float(v) for v in data["box"])
        return cls(int(data["track_id"]), str(data["class_name"]), int(data["start_ms"]),
                   int(data["last_ms"]), (x0, y0, x1, y1))


@dataclass(slots=True)
class Memory:
    # Recent vehicle stops long enough to count (replaced, never mutated).
    stops: list[VehicleStop] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"stops": [s.to_dict() for s in self.stops]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Memory:
        return cls([VehicleStop.from_dict(v) for v in data.get("stops", [])])

    def copy(self) -> Memory:
        return Memory(list(self.stops))

    def pause(self) -> None:
        self.stops.clear()


def step(ctx: FrameContext) -> None:
    memory = ctx.memory(Memory)
    t = ctx.t
    thresholds = ctx.rule.thresholds
    max_stop = ms(thresholds.max_stop, DEFAULT_STOP_MS)
    max_dwell = ms(thresholds.max_dwell, DEFAULT_DWELL_MS)
    vehicles: dict[int, Obj] = {}
    for v in ctx.frame.objects:
        kept = vehicles.get(v.track_id)
        if (v.track_id and v.class_name in VEHICLE_CLASSES
                and v.confidence >= thresholds.min_confidence
                and (kept is None or v.confidence > kept.confidence)):
            vehicles[v.track_id] = v
    for track_id in sorted(vehicles):
        v = vehicles[track_id]
        vs = zone_presence(ctx, v)
        if vs is None:
            continue
        if moved(vs, v, t) or vs.cond_since_ms is None:
            vs.cond_since_ms = t  # still since
        if t - vs.cond_since_ms < max_stop:
            continue
        box = (v.box.x_min, v.box.y_min, v.box.x_max, v.box.y_max)
        stop = VehicleStop(track_id, v.class_name, vs.cond_since_ms, t, box)
        memory.stops = [s for s in memory.stops
                        if (s.track_id, s.start_ms) != (track_id, vs.cond_since_ms)] + [stop]
    memory.stops = [s for s in memory.stops
                    if t - s.last_ms <= DUMP_GRACE_MS + STATIC_LAG_MS]
    objects = [o for o in ctx.tracked()
               if o.class_name not in VEHICLE_CLASSES and o.class_name != PERSON]
    for o in merge_static(ctx, objects):
        ts = zone_presence(ctx, o)
        if ts is None or ts.zone_since_ms is None:
            continue
        if not ts.partner:
            appeared, slack = ts.zone_since_ms, 0
            if o.appeared_ms is not None:
                appeared, slack = o.appeared_ms, APPEARED_SLACK_MS
            for stop in memory.stops:
                if (stop.start_ms - slack <= appeared <= stop.last_ms + DUMP_GRACE_MS
                        and box_distance((o.x, o.y), stop.box) <= DUMP_RADIUS):
                    ts.partner, ts.partner_class = stop.track_id, stop.class_name
                    break
        if ((o.class_name != STATIC_OBJECT and moved(ts, o, t))
                or ts.cond_since_ms is None):
            ts.cond_since_ms = t  # static since
        static = t - ts.cond_since_ms
        if ts.partner and static >= max_dwell:
            ctx.alert_track(o, ts, ts.cond_since_ms, {
                "static_s": seconds(static), "vehicle_track_id": str(ts.partner),
                "vehicle_class": ts.partner_class})


def spec_problems(spec: Mapping[str, Any]) -> list[str]:
    return [f"classes[{i}]: {name!r} is not a dumped object (illegal_dumping watches for "
            "vehicles and lists the objects they leave)"
            for i, name in enumerate(spec["classes"])
            if name == PERSON or name in VEHICLE_CLASSES]


KIND = Kind(
    name="illegal_dumping", enum=RuleKind.RULE_KIND_ILLEGAL_DUMPING, title="Illegal dumping",
    description="A vehicle stops in the zone and leaves objects behind, static for "
                "max_dwell_s.",
    geometry="zone", required=("zone",), optional=("max_dwell_s", "max_stop_s"),
    default_classes=DUMPABLE_CLASSES | {STATIC_OBJECT}, memory=Memory, step=step,
    spec_problems=spec_problems)
