"""The pure rules core on synthetic tracks: one table of scenarios per kind (exact alerts: kind,
tracks, episode start), counts windows, schedules, and properties (replay determinism, order
tolerance, late frames, line-crossing hysteresis, restart from a serialised state).
Red light, which also takes signal observations, has its own file (test_red_light.py)."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.common.v1.common_pb2 import BoundingBox, Point
from vigie.detect.v1.detection_pb2 import Detection, ObjectsDetected
from vigie.rules.v1.rule_pb2 import ActiveWindow, Rule, RuleKind, Severity, Weekday
from vigie.stats.v1.stats_pb2 import CountsAggregated
from vigie_rules.domain.alert_ids import alert_id
from vigie_rules.domain.engine import (
    DEFAULT_TOLERANCE_MS,
    WINDOW_MS,
    CameraState,
    evaluate,
    flush,
)
from vigie_rules.domain.kinds import KINDS, kind_of
from vigie_rules.domain.schedule import rule_active

K = RuleKind
OTHER_EVENT_KINDS = {k.enum for k in KINDS if k.step is None}  # face matches, citizen reports
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a Thursday (01:00 in Paris); window-aligned
STEP = 100  # 10 frames per second
CAM = "cam-1"

Det = tuple[int, str, float, float]  # track, class, x, y of the bottom centre


# --------------------------------------------------------------------------------------------
# Builders


def det(track: int, cls: str, x: float, y: float, *, w: float = 0.04, h: float = 0.12,
        conf: float = 0.9) -> Detection:
    """A detection whose bottom centre (the reference point) is (x, y)."""
    return Detection(box=BoundingBox(x_min=x - w / 2, y_min=y - h, x_max=x + w / 2, y_max=y),
                     confidence=conf, class_name=cls, track_id=track)


def frame(i: int, detections: Sequence[Detection], *, t_ms: int | None = None,
          camera: str = CAM) -> ObjectsDetected:
    t = T0 + i * STEP if t_ms is None else t_ms
    f = ObjectsDetected(frame_id=f"{camera}/{t}/{i}", camera_id=camera, image_width=1000,
                        image_height=1000, detections=list(detections))
    f.captured_at.FromMilliseconds(t)
    return f


SQUARE = [(0.1, 0.1), (0.5, 0.1), (0.5, 0.9), (0.1, 0.9)]  # left part of the image
DUMP_ZONE = [(0.05, 0.05), (0.95, 0.05), (0.95, 0.95), (0.05, 0.95)]


def rule(kind: RuleKind, *, rule_id: str = "r1", zone: Sequence[tuple[float, float]] = (),
         line: tuple[tuple[float, float], tuple[float, float]] | None = None,
         direction: tuple[float, float] | None = None, classes: Sequence[str] = (),
         camera: str = CAM, enabled: bool = True, **thresholds: object) -> Rule:
    r = Rule(rule_id=rule_id, name=f"rule {rule_id}", camera_id=camera, kind=kind,
             class_names=list(classes), enabled=enabled)
    r.geometry.zone.extend(Point(x=x, y=y) for x, y in zone)
    if line is not None:
        r.geometry.line.start.x, r.geometry.line.start.y = line[0]
        r.geometry.line.end.x, r.geometry.line.end.y = line[1]
    if direction is not None:
        r.geometry.direction.dx, r.geometry.direction.dy = direction
    for name, value in thresholds.items():
        if name in ("max_dwell_s", "max_stop_s", "cooldown_s"):
            getattr(r.thresholds, name[:-2]).FromMilliseconds(int(float(str(value)) * 1000))
        else:
            setattr(r.thresholds, name, value)
    return r


@dataclass
class Run:
    state: CameraState
    alerts: list[AlertRaised] = field(default_factory=list)
    stats: list[CountsAggregated] = field(default_factory=list)

    def feed(self, rules: Sequence[Rule], frames: Sequence[ObjectsDetected], *,
             tolerance_ms: int = DEFAULT_TOLERANCE_MS) -> Run:
        for f in frames:
            self.state, alerts, stats = evaluate(self.state, rules, f, tolerance_ms=tolerance_ms)
            self.alerts += alerts
            self.stats += stats
        return self

    def end(self, rules: Sequence[Rule]) -> Run:
        self.state, alerts, stats = flush(self.state, rules, close_windows=True)
        self.alerts += alerts
        self.stats += stats
        return self


def run(rules: Sequence[Rule], frames: Sequence[ObjectsDetected], **kw: int) -> Run:
    return Run(CameraState()).feed(rules, frames, **kw).end(rules)


def summary(alerts: Sequence[AlertRaised]) -> list[tuple[int, tuple[int, ...], int]]:
    """(kind, tracks, started_at relative to T0 in ms) of each alert, in order."""
    return [(a.rule_kind, tuple(a.track_ids), a.started_at.ToMilliseconds() - T0)
            for a in alerts]


def wire(alerts: Sequence[AlertRaised]) -> list[bytes]:
    return [a.SerializeToString(deterministic=True) for a in alerts]


def wire_stats(stats: Sequence[CountsAggregated]) -> list[bytes]:
    return [s.SerializeToString(deterministic=True) for s in stats]


def counts(stats: Sequence[CountsAggregated], rule_id: str = "r1") -> list[dict[str, int]]:
    return [{c.key: c.value for c in s.counts} for s in stats if s.rule_id == rule_id]


def walk(n: int, track: int, cls: str, start: tuple[float, float],
         velocity: tuple[float, float]) -> list[list[Detection]]:
    """n frames of one object moving `velocity` (normalised units per frame)."""
    return [[det(track, cls, start[0] + velocity[0] * i, start[1] + velocity[1] * i)]
            for i in range(n)]


def merge(*tracks: list[list[Detection]]) -> list[ObjectsDetected]:
    n = max(len(t) for t in tracks)
    return [frame(i, [d for t in tracks if i < len(t) for d in t[i]]) for i in range(n)]


def still(n: int, track: int, cls: str, at: tuple[float, float], **kw: float
          ) -> list[list[Detection]]:
    return [[det(track, cls, at[0], at[1], **kw)] for _ in range(n)]


def absent(n: int) -> list[list[Detection]]:
    return [[] for _ in range(n)]


def stop_and_go(track: int) -> list[list[Detection]]:
    """Stand 30 frames, run 10 at 0.03/frame, stand 30 where the run ended, run 10 again."""
    y = 0.1 * track
    return (still(30, track, "person", (0.1, y)) + walk(10, track, "person", (0.1, y), (0.03, 0))
            + still(30, track, "person", (0.4, y)) + walk(10, track, "person", (0.4, y),
                                                          (0.03, 0)))


def van_stop(drive: int, stop: int, leave: int, track: int = 1) -> list[list[Detection]]:
    """A van (box 0.2 x 0.15) drives right at 0.02/frame for `drive` frames, stops at
    (0.4, 0.6) for `stop` frames (its box then spans x 0.3..0.5, y 0.45..0.6), then drives on."""
    box = {"w": 0.2, "h": 0.15}
    x0 = 0.4 - 0.02 * drive
    return ([[det(track, "truck", x0 + 0.02 * i, 0.6, **box)] for i in range(drive)]
            + [[det(track, "truck", 0.4, 0.6, **box)] for _ in range(stop)]
            + [[det(track, "truck", 0.42 + 0.02 * i, 0.6, **box)] for i in range(leave)])


# --------------------------------------------------------------------------------------------
# Scenarios: every implemented kind, exact alerts


@dataclass
class Scenario:
    name: str
    rules: list[Rule]
    frames: Callable[[], list[ObjectsDetected]]
    expected: list[tuple[int, tuple[int, ...], int]]


SCENARIOS = [
    # Zone intrusion: track 1 walks right to left and enters the square at x = 0.495 (frame 21);
    # track 2 stays outside; a re-entry after leaving is a new episode.
    Scenario("intrusion: enters once", [rule(K.RULE_KIND_ZONE_INTRUSION, zone=SQUARE)],
             lambda: merge(walk(40, 1, "person", (0.705, 0.5), (-0.01, 0)),
                           still(40, 2, "person", (0.8, 0.5))),
             [(K.RULE_KIND_ZONE_INTRUSION, (1,), 2100)]),
    Scenario("intrusion: leaves and comes back",
             [rule(K.RULE_KIND_ZONE_INTRUSION, zone=SQUARE)],
             lambda: merge(still(10, 1, "person", (0.3, 0.5)) + still(10, 1, "person", (0.7, 0.5))
                           + still(10, 1, "person", (0.3, 0.5))),
             [(K.RULE_KIND_ZONE_INTRUSION, (1,), 0), (K.RULE_KIND_ZONE_INTRUSION, (1,), 2000)]),
    Scenario("intrusion: class filter and confidence",
             [rule(K.RULE_KIND_ZONE_INTRUSION, zone=SQUARE, classes=["person"],
                   min_confidence=0.5)],
             lambda: merge(still(10, 1, "car", (0.3, 0.5)),
                           [[det(2, "person", 0.3, 0.6, conf=0.4)] for _ in range(10)],
                           absent(5) + still(5, 3, "person", (0.2, 0.5))),
             [(K.RULE_KIND_ZONE_INTRUSION, (3,), 500)]),
    Scenario("intrusion: untracked objects are ignored",
             [rule(K.RULE_KIND_ZONE_INTRUSION, zone=SQUARE)],
             lambda: merge(still(10, 0, "person", (0.3, 0.5))), []),
    # Loitering: 10 s max dwell; a person stays 15 s (fires at 10 s, once), another 8 s; a car
    # stays 15 s (not a person).
    Scenario("loitering", [rule(K.RULE_KIND_LOITERING, zone=SQUARE, max_dwell_s=10)],
             lambda: merge(still(150, 1, "person", (0.3, 0.5)),
                           absent(20) + still(80, 2, "person", (0.2, 0.4)),
                           still(150, 3, "car", (0.3, 0.7))),
             [(K.RULE_KIND_LOITERING, (1,), 0)]),
    Scenario("loitering: a short absence (within the track ttl) keeps the dwell",
             [rule(K.RULE_KIND_LOITERING, zone=SQUARE, max_dwell_s=10)],
             lambda: merge(still(50, 1, "person", (0.3, 0.5)) + absent(20)
                           + still(60, 1, "person", (0.3, 0.5))),
             [(K.RULE_KIND_LOITERING, (1,), 0)]),
    # Stationary vehicle: a car drives (0.02 per frame) then stops at x = 0.5 on frame 20 with
    # jitter below the threshold; another keeps moving; a person stands still.
    Scenario("stationary vehicle",
             [rule(K.RULE_KIND_STATIONARY_VEHICLE, max_stop_s=5)],
             lambda: merge(walk(20, 1, "car", (0.1, 0.5), (0.02, 0))
                           + [[det(1, "car", 0.5 + 0.003 * (-1) ** i, 0.5)] for i in range(80)],
                           walk(100, 2, "truck", (0.0, 0.8), (0.01, 0)),
                           still(100, 3, "person", (0.2, 0.2))),
             [(K.RULE_KIND_STATIONARY_VEHICLE, (1,), 2000)]),
    Scenario("stationary vehicle: creeping (0.004/s) or jittering is still one stop",
             [rule(K.RULE_KIND_STATIONARY_VEHICLE, max_stop_s=5)],
             lambda: merge(walk(200, 1, "car", (0.1, 0.5), (0.0004, 0)),
                           [[det(2, "bus", 0.5 + 0.012 * (i % 15 == 14), 0.8)]
                            for i in range(200)]),
             [(K.RULE_KIND_STATIONARY_VEHICLE, (1,), 0),
              (K.RULE_KIND_STATIONARY_VEHICLE, (2,), 0)]),
    # Line crossing, vertical line x = 0.5, "in" = rightwards; min_count 2 "in" per window.
    Scenario("line crossing: alert when the window count reaches min_count",
             [rule(K.RULE_KIND_LINE_CROSSING, line=((0.5, 0.1), (0.5, 0.9)), direction=(1, 0),
                   min_count=2)],
             lambda: merge(walk(40, 1, "person", (0.3, 0.3), (0.01, 0)),
                           walk(40, 2, "car", (0.7, 0.5), (-0.01, 0)),
                           absent(10) + walk(40, 3, "person", (0.3, 0.6), (0.01, 0)),
                           walk(40, 4, "person", (0.3, 0.95), (0.01, 0))),  # beyond the end
             [(K.RULE_KIND_LINE_CROSSING, (3,), 0)]),
    # Wrong way: expected direction rightwards, tolerance 30; track 2 goes left at 0.1/s, track 3
    # left too slowly (0.02/s), track 1 rightwards.
    Scenario("wrong way",
             [rule(K.RULE_KIND_WRONG_WAY, direction=(1, 0), tolerance_deg=30.0)],
             lambda: merge(walk(30, 1, "car", (0.1, 0.3), (0.01, 0)),
                           walk(30, 2, "car", (0.9, 0.5), (-0.01, 0)),
                           walk(30, 3, "car", (0.9, 0.7), (-0.002, 0))),
             [(K.RULE_KIND_WRONG_WAY, (2,), 500)]),
    Scenario("wrong way: a diagonal within the tolerance is fine",
             [rule(K.RULE_KIND_WRONG_WAY, direction=(1, 0), tolerance_deg=30.0)],
             lambda: merge(walk(30, 1, "car", (0.9, 0.1), (-0.01, 0.01))), []),
    # Crowd density, 3 people: 2 for 1 s, 4 for 2 s, 1 for 1 s, 4 again; cooldown 2 s.
    Scenario("crowd density with cooldown",
             [rule(K.RULE_KIND_CROWD_DENSITY, zone=SQUARE, min_count=3, cooldown_s=2)],
             lambda: [frame(i, [det(k, "person", 0.15 + 0.05 * k, 0.5)
                                for k in range(1, (2 if i < 10 else 4 if i < 30 else 1
                                                   if i < 40 else 4) + 1)])
                      for i in range(50)],
             [(K.RULE_KIND_CROWD_DENSITY, (1, 2, 3, 4), 1000),
              (K.RULE_KIND_CROWD_DENSITY, (1, 2, 3, 4), 4000)]),
    Scenario("crowd density: a new episode within the default cooldown is absorbed",
             [rule(K.RULE_KIND_CROWD_DENSITY, zone=SQUARE, min_count=3)],
             lambda: [frame(i, [det(0, "person", 0.15 + 0.05 * k, 0.5)
                                for k in range(1, (4 if i % 20 < 10 else 1) + 1)])
                      for i in range(60)],
             [(K.RULE_KIND_CROWD_DENSITY, (), 0)]),
    # Abandoned object: a suitcase at (0.5, 0.8); its owner beside it leaves from frame 20 and
    # is beyond 0.1 on frame 21 -> unattended from 2.1 s, fires 5 s later.
    Scenario("abandoned object",
             [rule(K.RULE_KIND_ABANDONED_OBJECT, max_dwell_s=5)],
             lambda: merge(still(90, 10, "suitcase", (0.5, 0.8)),
                           still(20, 1, "person", (0.55, 0.8))
                           + walk(10, 1, "person", (0.59, 0.8), (0.04, 0))),
             [(K.RULE_KIND_ABANDONED_OBJECT, (10,), 2100)]),
    Scenario("abandoned object: attended all along",
             [rule(K.RULE_KIND_ABANDONED_OBJECT, max_dwell_s=5)],
             lambda: merge(still(90, 10, "backpack", (0.5, 0.8)),
                           still(90, 1, "person", (0.45, 0.8))), []),
    # Person on the ground (image 1000 x 1000): standing 1 s then lying 3 s; another lies 1.5 s.
    Scenario("person on the ground",
             [rule(K.RULE_KIND_PERSON_ON_GROUND)],
             lambda: merge(still(10, 1, "person", (0.3, 0.5), w=0.05, h=0.15)
                           + still(30, 1, "person", (0.3, 0.5), w=0.15, h=0.05),
                           still(15, 2, "person", (0.7, 0.5), w=0.15, h=0.05)
                           + still(25, 2, "person", (0.7, 0.5), w=0.05, h=0.15)),
             [(K.RULE_KIND_PERSON_ON_GROUND, (1,), 1000)]),
    # Weapon: a knife tracked for 10 frames (fires on the third), a weak one, one that flickers
    # every other frame; then an untracked knife on 3 of 5 frames.
    Scenario("weapon visible",
             [rule(K.RULE_KIND_WEAPON_VISIBLE)],
             lambda: merge(still(10, 5, "knife", (0.3, 0.5)),
                           still(10, 6, "knife", (0.5, 0.5), conf=0.3),
                           [[det(7, "knife", 0.7, 0.5)] if i % 2 else [] for i in range(20)],
                           absent(20) + [[det(0, "knife", 0.4, 0.4)] if i in (0, 1, 3) else []
                                         for i in range(5)]),
             [(K.RULE_KIND_WEAPON_VISIBLE, (5,), 0), (K.RULE_KIND_WEAPON_VISIBLE, (), 2000)]),
    # Crowd movement (default: 5 people, 0.1/s). Six people stand still for 3 s, then all run
    # rightwards at 0.3/s from frame 31: their speed over the last second is 0.09/s on frame 33
    # and 0.12/s on frame 34 (t = 3.4 s), above the standing baseline + 0.1. One alert.
    Scenario("crowd movement: a standing crowd starts running",
             [rule(K.RULE_KIND_CROWD_MOVEMENT)],
             lambda: merge(*[still(30, k, "person", (0.1 + 0.05 * k, 0.3 + 0.08 * k))
                             + walk(20, k, "person", (0.1 + 0.05 * k, 0.3 + 0.08 * k),
                                    (0.03, 0))
                             for k in range(1, 7)]),
             [(K.RULE_KIND_CROWD_MOVEMENT, (1, 2, 3, 4, 5, 6), 3400)]),
    Scenario("crowd movement: a crowd walking briskly all along is not a sudden change",
             [rule(K.RULE_KIND_CROWD_MOVEMENT)],
             lambda: merge(*[walk(60, k, "person", (0.1, 0.2 + 0.1 * k), (0.02, 0))
                             for k in range(1, 7)]), []),
    # Six people walk away from a common point at a steady 0.15/s from the start: no change of
    # speed, but their mean distance from the centroid grows at 0.15/s. Fires as soon as the
    # tracks have half a second of history.
    Scenario("crowd movement: dispersal",
             [rule(K.RULE_KIND_CROWD_MOVEMENT)],
             lambda: merge(*[walk(30, k, "person", (0.5, 0.5), (
                 0.015 * math.cos(k * math.pi / 3), 0.015 * math.sin(k * math.pi / 3)))
                             for k in range(1, 7)]),
             [(K.RULE_KIND_CROWD_MOVEMENT, (1, 2, 3, 4, 5, 6), 500)]),
    Scenario("crowd movement: three people running are not a crowd (min_count 5)",
             [rule(K.RULE_KIND_CROWD_MOVEMENT)],
             lambda: merge(*[still(30, k, "person", (0.2, 0.2 * k)) + walk(20, k, "person", (
                 0.2, 0.2 * k), (0.02, 0)) for k in range(1, 4)]), []),
    Scenario("crowd movement: min_count and min_speed thresholds",
             [rule(K.RULE_KIND_CROWD_MOVEMENT, min_count=3, min_speed_per_s=0.3)],
             lambda: merge(*[still(30, k, "person", (0.2, 0.2 * k)) + walk(20, k, "person", (
                 0.2, 0.2 * k), (0.02, 0)) for k in range(1, 4)],  # 0.2/s: not enough
                           *[absent(50) + still(30, k, "person", (0.2, 0.2 * k - 0.1))
                             + walk(20, k, "person", (0.2, 0.2 * k - 0.1), (0.04, 0))
                             for k in range(4, 7)]),  # 0.4/s: fires (8.0 s + 0.8 s)
             [(K.RULE_KIND_CROWD_MOVEMENT, (4, 5, 6), 8800)]),
    # Stand 3 s, run 1 s (0.3/s), stand 3 s, run again: two episodes (from frames 34 and 74);
    # with the default 60 s cooldown, the second one is absorbed.
    Scenario("crowd movement: second surge after the cooldown",
             [rule(K.RULE_KIND_CROWD_MOVEMENT, cooldown_s=1)],
             lambda: merge(*[stop_and_go(k) for k in range(1, 7)]),
             [(K.RULE_KIND_CROWD_MOVEMENT, (1, 2, 3, 4, 5, 6), 3400),
              (K.RULE_KIND_CROWD_MOVEMENT, (1, 2, 3, 4, 5, 6), 7400)]),
    Scenario("crowd movement: second surge within the default cooldown is absorbed",
             [rule(K.RULE_KIND_CROWD_MOVEMENT)],
             lambda: merge(*[stop_and_go(k) for k in range(1, 7)]),
             [(K.RULE_KIND_CROWD_MOVEMENT, (1, 2, 3, 4, 5, 6), 3400)]),
    # Illegal dumping (max_stop 2 s, max_dwell 3 s). A van (track 1, box 0.2 x 0.15) drives in
    # and stops at (0.4, 0.6) on frame 10 (1.0 s): the stop counts from 3.0 s. A suitcase
    # (track 2) appears beside it on frame 35 and stays; the van leaves on frame 60. The load
    # is static from 3.5 s and fires at 6.5 s.
    Scenario("illegal dumping: a vehicle stops, leaves a load, drives away",
             [rule(K.RULE_KIND_ILLEGAL_DUMPING, zone=DUMP_ZONE, max_stop_s=2, max_dwell_s=3)],
             lambda: merge(van_stop(10, 50, 20), absent(35) + still(85, 2, "suitcase",
                                                                     (0.55, 0.62))),
             [(K.RULE_KIND_ILLEGAL_DUMPING, (2,), 3500)]),
    Scenario("illegal dumping: a load hidden behind the vehicle, first seen as it leaves",
             [rule(K.RULE_KIND_ILLEGAL_DUMPING, zone=DUMP_ZONE, max_stop_s=2, max_dwell_s=3)],
             lambda: merge(van_stop(10, 50, 20), absent(62) + still(60, 2, "couch",
                                                                     (0.4, 0.66))),
             [(K.RULE_KIND_ILLEGAL_DUMPING, (2,), 6200)]),
    Scenario("illegal dumping: the object was there before the vehicle stopped",
             [rule(K.RULE_KIND_ILLEGAL_DUMPING, zone=DUMP_ZONE, max_stop_s=2, max_dwell_s=3)],
             lambda: merge(van_stop(10, 50, 20), still(120, 2, "suitcase", (0.55, 0.62))), []),
    Scenario("illegal dumping: an object far from the vehicle is not its load",
             [rule(K.RULE_KIND_ILLEGAL_DUMPING, zone=DUMP_ZONE, max_stop_s=2, max_dwell_s=3)],
             lambda: merge(van_stop(10, 50, 20), absent(35) + still(85, 2, "suitcase",
                                                                     (0.85, 0.3))), []),
    Scenario("illegal dumping: the vehicle stopped too briefly",
             [rule(K.RULE_KIND_ILLEGAL_DUMPING, zone=DUMP_ZONE, max_stop_s=2, max_dwell_s=3)],
             lambda: merge(van_stop(10, 15, 20), absent(20) + still(85, 2, "suitcase",
                                                                     (0.55, 0.62))), []),
    Scenario("illegal dumping: the load is picked up again before max_dwell",
             [rule(K.RULE_KIND_ILLEGAL_DUMPING, zone=DUMP_ZONE, max_stop_s=2, max_dwell_s=3)],
             lambda: merge(van_stop(10, 50, 20), absent(35) + still(25, 2, "suitcase",
                                                                     (0.55, 0.62))), []),
    Scenario("illegal dumping: a person who gets out and stands is not a load",
             [rule(K.RULE_KIND_ILLEGAL_DUMPING, zone=DUMP_ZONE, max_stop_s=2, max_dwell_s=3)],
             lambda: merge(van_stop(10, 50, 20), absent(35) + still(85, 2, "person",
                                                                     (0.55, 0.62))), []),
    Scenario("illegal dumping: a class list (only mattresses... here: beds)",
             [rule(K.RULE_KIND_ILLEGAL_DUMPING, zone=DUMP_ZONE, max_stop_s=2, max_dwell_s=3,
                   classes=["bed"])],
             lambda: merge(van_stop(10, 50, 20),
                           absent(35) + still(85, 2, "suitcase", (0.55, 0.62)),
                           absent(36) + still(85, 3, "bed", (0.25, 0.64))),
             [(K.RULE_KIND_ILLEGAL_DUMPING, (3,), 3600)]),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario(scenario: Scenario) -> None:
    result = run(scenario.rules, scenario.frames())
    assert summary(result.alerts) == scenario.expected
    for a in result.alerts:
        track = a.track_ids[0] if len(a.track_ids) == 1 and a.rule_kind not in (
            K.RULE_KIND_CROWD_DENSITY, K.RULE_KIND_LINE_CROSSING,
            K.RULE_KIND_CROWD_MOVEMENT) else None
        assert a.alert_id == alert_id(a.rule_id, CAM, track, a.started_at.ToMilliseconds())
        assert a.raised_at.ToMilliseconds() >= a.started_at.ToMilliseconds()
        assert a.frame_id and a.title


def test_alert_fields() -> None:
    r = rule(K.RULE_KIND_LOITERING, zone=SQUARE, max_dwell_s=2)
    r.severity = Severity.SEVERITY_HIGH
    (alert,) = run([r], merge(still(30, 7, "person", (0.3, 0.5)))).alerts
    assert alert.rule_id == "r1" and alert.camera_id == CAM
    assert alert.severity == Severity.SEVERITY_HIGH
    assert alert.title == "Loitering - rule r1"
    assert alert.raised_at.ToMilliseconds() == T0 + 2000  # fires on the frame reaching 2 s
    assert alert.frame_id == f"{CAM}/{T0 + 2000}/20"
    assert alert.attributes["dwell_s"] == "2" and alert.attributes["class_name"] == "person"
    assert list(alert.track_ids) == [7] and len(alert.boxes) == 1
    assert alert.boxes[0].y_max == pytest.approx(0.5)


def test_alerts_name_their_kind_and_whether_they_show_people() -> None:
    zone = rule(K.RULE_KIND_ZONE_INTRUSION, zone=SQUARE)
    person, car = (run([zone], merge(still(5, 1, cls, (0.3, 0.5)))).alerts[0]
                   for cls in ("person", "car"))
    assert (person.rule_kind_name, person.involves_persons) == ("zone_intrusion", True)
    assert (car.rule_kind_name, car.involves_persons) == ("zone_intrusion", False)
    for scenario in SCENARIOS:
        kind = kind_of(scenario.rules[0])
        assert kind is not None
        for a in run(scenario.rules, scenario.frames()).alerts:
            assert a.rule_kind_name == kind.name and a.rule_kind == kind.enum
            shows_person = a.attributes.get("class_name") == PERSON
            if kind.involves_persons or shows_person:
                assert a.involves_persons, scenario.name
    by_kind = {s.rules[0].kind: run(s.rules, s.frames()).alerts[0]
               for s in SCENARIOS if s.expected}
    assert by_kind[K.RULE_KIND_CROWD_MOVEMENT].involves_persons
    assert by_kind[K.RULE_KIND_LINE_CROSSING].involves_persons  # a person's crossing counted
    assert not by_kind[K.RULE_KIND_STATIONARY_VEHICLE].involves_persons
    assert not by_kind[K.RULE_KIND_ABANDONED_OBJECT].involves_persons


def test_a_rule_naming_its_kind_by_name_only_gives_the_same_alerts() -> None:
    for scenario in SCENARIOS:
        by_name = []
        for r in scenario.rules:
            named = Rule()
            named.CopyFrom(r)
            named.kind_name = RuleKind.Name(r.kind).removeprefix("RULE_KIND_").lower()
            named.kind = K.RULE_KIND_UNSPECIFIED
            by_name.append(named)
        frames = scenario.frames()
        assert wire(run(by_name, frames).alerts) == wire(run(scenario.rules, frames).alerts)


def test_a_rule_whose_kind_and_kind_name_disagree_is_ignored() -> None:
    confused = rule(K.RULE_KIND_ZONE_INTRUSION, zone=SQUARE)
    confused.kind_name = "loitering"
    result = run([confused], merge(still(30, 1, "person", (0.3, 0.5))))
    assert result.alerts == [] and counts(result.stats) == []


# --------------------------------------------------------------------------------------------
# Counts


def test_line_crossing_counts_per_class_and_direction_in_windows() -> None:
    line = ((0.5, 0.1), (0.5, 0.9))
    rules = [rule(K.RULE_KIND_LINE_CROSSING, line=line, direction=(1, 0))]
    # Window 1: person 1 crosses rightwards, car 2 leftwards, person 3 jitters on the line.
    # Window 2 (from frame 600): car 4 rightwards. Nothing crosses after.
    frames = merge(walk(40, 1, "person", (0.3, 0.3), (0.01, 0)),
                   walk(40, 2, "car", (0.7, 0.5), (-0.01, 0)),
                   [[det(3, "person", 0.5 + 0.008 * (-1) ** i, 0.7)] for i in range(100)],
                   absent(600) + walk(40, 4, "car", (0.3, 0.4), (0.01, 0)))
    result = run(rules, frames)
    assert result.alerts == []
    assert counts(result.stats) == [{"frames": 600, "in:person": 1, "out:car": 1},
                                    {"frames": 40, "in:car": 1}]
    first = next(s for s in result.stats if s.rule_id == "r1")
    assert first.window.start.ToMilliseconds() == T0
    assert first.window.end.ToMilliseconds() == T0 + WINDOW_MS
    assert first.emitted_at.ToMilliseconds() == T0 + WINDOW_MS  # frame 600 closed it
    assert counts(result.stats, "") == [{"frames": 600}, {"frames": 40}]


def test_line_crossing_without_direction_counts_left_to_right_as_in() -> None:
    # Walking from the line's start (0.5, 0.1) toward its end (0.5, 0.9), i.e. down the image,
    # +x is on the walker's left: a track moving toward +x crosses right to left, "out".
    rules = [rule(K.RULE_KIND_LINE_CROSSING, line=((0.5, 0.1), (0.5, 0.9)))]
    result = run(rules, merge(walk(40, 1, "person", (0.3, 0.3), (0.01, 0)),
                              walk(40, 2, "car", (0.7, 0.6), (-0.01, 0))))
    assert counts(result.stats) == [{"frames": 40, "out:person": 1, "in:car": 1}]


def test_crowd_density_reports_the_maximum() -> None:
    rules = [rule(K.RULE_KIND_CROWD_DENSITY, min_count=50)]
    frames = [frame(i, [det(0, "person", 0.1 * k, 0.5) for k in range(i % 4)])
              for i in range(20)]
    assert counts(run(rules, frames).stats) == [{"frames": 20, "max_count": 3}]


# --------------------------------------------------------------------------------------------
# Which rules apply


def test_rules_apply_only_when_enabled_on_their_camera_and_of_a_frame_kind() -> None:
    frames = merge(still(30, 1, "person", (0.3, 0.5)))
    rules = [rule(K.RULE_KIND_ZONE_INTRUSION, rule_id="off", enabled=False),
             rule(K.RULE_KIND_ZONE_INTRUSION, rule_id="other", camera="cam-2"),
             *[rule(kind, rule_id=f"k{kind}", zone=SQUARE, max_dwell_s=1)
               for kind in sorted(OTHER_EVENT_KINDS)],
             rule(K.RULE_KIND_ZONE_INTRUSION, rule_id="on")]
    result = run(rules, frames)
    assert [a.rule_id for a in result.alerts] == ["on"]
    assert sorted(result.state.rules) == ["off", "on"]


def test_every_kind_is_evaluated_somewhere() -> None:
    frame_kinds = {k for k in K.values() if k != K.RULE_KIND_UNSPECIFIED} - OTHER_EVENT_KINDS
    assert {s.rules[0].kind for s in SCENARIOS if s.expected} | {
        K.RULE_KIND_RED_LIGHT} == frame_kinds  # red light: test_red_light.py


def _scheduled(**schedule: object) -> Rule:
    r = rule(K.RULE_KIND_ZONE_INTRUSION)
    for name, value in schedule.items():
        if name in ("valid_from", "valid_until"):
            getattr(r.schedule, name).FromMilliseconds(T0 + int(str(value)))
        elif name == "windows":
            r.schedule.windows.extend(value)
        else:
            setattr(r.schedule, name, value)
    return r


PARIS = "Europe/Paris"
THU, FRI = Weekday.WEEKDAY_THURSDAY, Weekday.WEEKDAY_FRIDAY


@pytest.mark.parametrize(("schedule", "offset_ms", "active"), [
    ({}, 0, True),
    ({"valid_from": 1000}, 0, False),
    ({"valid_from": 1000}, 1000, True),
    ({"valid_until": 1000}, 999, True),
    ({"valid_until": 1000}, 1000, False),
    # T0 is Thursday 01:00 in Paris, Thursday 00:00 UTC.
    ({"time_zone": PARIS, "windows": [ActiveWindow(start_minute=30, end_minute=90)]}, 0, True),
    ({"time_zone": PARIS, "windows": [ActiveWindow(days=[THU], start_minute=30,
                                                   end_minute=90)]}, 0, True),
    ({"time_zone": PARIS, "windows": [ActiveWindow(days=[FRI], start_minute=30,
                                                   end_minute=90)]}, 0, False),
    ({"time_zone": "", "windows": [ActiveWindow(start_minute=30, end_minute=90)]}, 0, False),
    ({"time_zone": PARIS, "windows": [ActiveWindow(start_minute=90, end_minute=120)]}, 0, False),
    # Overnight windows (end <= start) belong to the day they start on.
    ({"time_zone": PARIS, "windows": [ActiveWindow(days=[Weekday.WEEKDAY_WEDNESDAY],
                                                   start_minute=22 * 60, end_minute=120)]},
     0, True),
    ({"time_zone": PARIS, "windows": [ActiveWindow(days=[THU], start_minute=22 * 60,
                                                   end_minute=120)]}, 0, False),
    ({"time_zone": PARIS, "windows": [ActiveWindow(days=[THU], start_minute=22 * 60,
                                                   end_minute=120)]}, 21 * 3_600_000, True),
])
def test_schedule(schedule: dict[str, object], offset_ms: int, active: bool) -> None:
    assert rule_active(_scheduled(**schedule), T0 + offset_ms) is active


def test_rule_inactive_forgets_tracks_and_episodes_restart() -> None:
    r = _scheduled(valid_until=2000)
    r2 = _scheduled(valid_from=3000)
    r2.rule_id = "later"
    frames = merge(still(50, 1, "person", (0.3, 0.5)))
    assert summary(run([r, r2], frames).alerts) == [
        (K.RULE_KIND_ZONE_INTRUSION, (1,), 0), (K.RULE_KIND_ZONE_INTRUSION, (1,), 3000)]


# --------------------------------------------------------------------------------------------
# Order, lateness, replays, restarts


def test_reorder_within_tolerance_and_late_frames() -> None:
    rules = [rule(K.RULE_KIND_ZONE_INTRUSION, zone=SQUARE)]
    frames = merge(absent(10) + still(20, 1, "person", (0.3, 0.5)))
    swapped = [frames[0], frames[2], frames[1], *frames[3:]]
    assert wire(run(rules, swapped).alerts) == wire(run(rules, frames).alerts)
    # A frame 2 s old arrives after frame 29: late, ignored (an intruder on it changes nothing).
    late = frame(8, [det(9, "person", 0.3, 0.5)])
    result = run(rules, [*frames, late])
    assert summary(result.alerts) == [(K.RULE_KIND_ZONE_INTRUSION, (1,), 1000)]
    assert counts(result.stats, "") == [{"frames": 30, "late_frames": 1}]
    # Redelivery of a frame still in the reorder buffer is dropped, not counted.
    again = run(rules, [*frames, frames[-1]])
    assert counts(again.stats, "") == [{"frames": 30}]


def test_state_is_not_mutated_and_round_trips_through_json() -> None:
    rules = [rule(K.RULE_KIND_LOITERING, zone=SQUARE, max_dwell_s=1)]
    state = CameraState()
    for f in merge(still(12, 1, "person", (0.3, 0.5))):
        before = json.dumps(state.to_dict(), sort_keys=True)
        new, _, _ = evaluate(state, rules, f)
        assert json.dumps(state.to_dict(), sort_keys=True) == before
        state = new
    restored = CameraState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored == state
    with pytest.raises(ValueError, match="camera"):
        evaluate(state, rules, frame(0, [], camera="cam-2"))


def test_a_state_saved_by_earlier_engines_still_loads() -> None:
    """STATE_VERSION is unchanged: fields were added with defaults, and every rule's state once
    held every kind's memory (empty when not its kind). A state saved that way, without the
    later fields, loads and goes on the same way."""
    rules = [rule(K.RULE_KIND_LOITERING, zone=SQUARE, max_dwell_s=2)]
    frames = merge(still(40, 1, "person", (0.3, 0.5)))
    before = Run(CameraState()).feed(rules, frames[:10])
    old = json.loads(json.dumps(before.state.to_dict()))
    del old["signals"], old["seen"]
    for rs in old["rules"].values():
        rs.update({"recent": [], "crossings": [], "red_alerts": {}, "speeds": [], "stops": []})
        for ts in rs["tracks"].values():
            del ts["partner"], ts["partner_class"]
            del ts["fragments"], ts["crossed"], ts["hold_side_until_ms"]
    restored = CameraState.from_dict(old)
    assert restored == replace(before.state, seen={})  # no lost track known to re-link
    assert summary(Run(restored).feed(rules, frames[10:]).end(rules).alerts) == [
        (K.RULE_KIND_LOITERING, (1,), 0)]


# A random scene: a few objects of a few classes, moving, stopping, lying, leaving.
PERSON = "person"
CLASSES = [PERSON, "car", "suitcase", "knife"]
ALL_RULES = [
    rule(K.RULE_KIND_ZONE_INTRUSION, rule_id="intrusion", zone=SQUARE),
    rule(K.RULE_KIND_LOITERING, rule_id="loiter", zone=SQUARE, max_dwell_s=1.5),
    rule(K.RULE_KIND_STATIONARY_VEHICLE, rule_id="stop", max_stop_s=1),
    rule(K.RULE_KIND_LINE_CROSSING, rule_id="line", line=((0.5, 0.0), (0.5, 1.0)),
         direction=(1, 0), min_count=2),
    rule(K.RULE_KIND_WRONG_WAY, rule_id="wrong", direction=(1, 0)),
    rule(K.RULE_KIND_CROWD_DENSITY, rule_id="crowd", min_count=3, cooldown_s=1),
    rule(K.RULE_KIND_ABANDONED_OBJECT, rule_id="abandon", max_dwell_s=1),
    rule(K.RULE_KIND_PERSON_ON_GROUND, rule_id="ground", max_dwell_s=0.5),
    rule(K.RULE_KIND_WEAPON_VISIBLE, rule_id="weapon", cooldown_s=1),
    rule(K.RULE_KIND_CROWD_MOVEMENT, rule_id="movement", min_count=2, min_speed_per_s=0.05,
         cooldown_s=1),
    rule(K.RULE_KIND_ILLEGAL_DUMPING, rule_id="dumping", zone=DUMP_ZONE, max_stop_s=0.5,
         max_dwell_s=1),
    # No signal observations here: crossings wait, then are decided "no_signal".
    rule(K.RULE_KIND_RED_LIGHT, rule_id="red", line=((0.0, 0.5), (1.0, 0.5))),
]


@st.composite
def scenes(draw: st.DrawFn, max_frames: int = 60) -> list[ObjectsDetected]:
    n = draw(st.integers(10, max_frames))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = random.Random(seed)
    objects = []
    for track in range(1, rng.randint(1, 6) + 1):
        cls = rng.choice([*CLASSES, PERSON, PERSON])
        x, y = rng.uniform(0.05, 0.95), rng.uniform(0.2, 0.95)
        vx, vy = rng.choice([0.0, 0.0, rng.uniform(-0.03, 0.03)]), rng.uniform(-0.01, 0.01)
        lying = rng.random() < 0.3
        first, last = sorted(rng.randint(0, n) for _ in range(2))
        objects.append((track, cls, x, y, vx, vy, lying, first, last))
    frames, t = [], T0 + rng.randint(0, 59_000)
    for i in range(n):
        t += rng.choice([STEP, STEP, STEP, 2 * STEP, 700])  # some gaps, crossing windows
        dets = []
        for track, cls, x, y, vx, vy, lying, first, last in objects:
            if first <= i < last and rng.random() > 0.1:
                w, h = (0.12, 0.05) if lying else (0.04, 0.12)
                dets.append(det(0 if rng.random() < 0.05 else track, cls, x + vx * i, y + vy * i,
                                w=w, h=h, conf=rng.uniform(0.3, 1.0)))
        frames.append(frame(i, dets, t_ms=t))
    return frames


FAST = settings(max_examples=40, deadline=None)


@FAST
@given(scenes())
def test_replay_is_deterministic(frames: list[ObjectsDetected]) -> None:
    first, second = run(ALL_RULES, frames), run(ALL_RULES, frames)
    assert wire(first.alerts) == wire(second.alerts)
    assert wire_stats(first.stats) == wire_stats(second.stats)
    ids = [a.alert_id for a in first.alerts]
    assert len(ids) == len(set(ids))  # once per episode


@FAST
@given(scenes(), st.randoms(use_true_random=False))
def test_shuffling_within_the_tolerance_changes_nothing(frames: list[ObjectsDetected],
                                                        rng: random.Random) -> None:
    tolerance = DEFAULT_TOLERANCE_MS
    delayed = sorted(frames, key=lambda f: f.captured_at.ToMilliseconds()
                     + rng.randrange(tolerance))
    in_order, shuffled = run(ALL_RULES, frames), run(ALL_RULES, delayed)
    assert wire(shuffled.alerts) == wire(in_order.alerts)
    assert wire_stats(shuffled.stats) == wire_stats(in_order.stats)


@FAST
@given(scenes(), st.lists(st.integers(0, 10**6), min_size=1, max_size=5))
def test_late_frames_are_ignored_and_counted(frames: list[ObjectsDetected],
                                             picks: list[int]) -> None:
    base = run(ALL_RULES, frames)
    stream = list(frames)
    injected = 0
    for pick in sorted(picks):
        # Re-send an old frame, with a new id and an intruder on it, once it is beyond the
        # tolerance: long after it was applied.
        last_t = frames[-1].captured_at.ToMilliseconds()
        old = [f for f in frames if f.captured_at.ToMilliseconds() < last_t - 2 * STEP
               - DEFAULT_TOLERANCE_MS]
        if not old:
            continue
        late = ObjectsDetected()
        late.CopyFrom(old[pick % len(old)])
        late.frame_id += "/late"
        late.detections.append(det(99, "person", 0.3, 0.5))
        stream.append(late)
        injected += 1
    result = run(ALL_RULES, stream)
    assert wire(result.alerts) == wire(base.alerts)
    assert sum(c.get("late_frames", 0) for c in counts(result.stats, "")) == injected


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-0.0099, 0.0099), min_size=1, max_size=40), st.booleans(),
       st.floats(0.2, 0.8))
def test_jitter_around_a_line_never_double_counts(jitter: list[float], ends_right: bool,
                                                  y: float) -> None:
    """A track walks to the line, wanders within the margin around it (x = 0.5 +- 0.0099),
    and ends on the right or back on the left: one crossing or none, never more."""
    xs = [0.3, 0.4, 0.45, *[0.5 + j for j in jitter], 0.6 if ends_right else 0.4]
    rules = [rule(K.RULE_KIND_LINE_CROSSING, line=((0.5, 0.1), (0.5, 0.9)), direction=(1, 0))]
    frames = [frame(i, [det(1, "person", x, y)]) for i, x in enumerate(xs)]
    totals = counts(run(rules, frames).stats)
    assert totals == [{"frames": len(xs), **({"in:person": 1} if ends_right else {})}]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0.3, 0.7), min_size=2, max_size=40))
def test_line_counts_telescope_to_the_net_crossing(xs: list[float]) -> None:
    """Whatever the path, "in" minus "out" is the net change of confirmed side."""
    assume(all(abs(abs(x - 0.5) - 0.01) > 1e-9 for x in xs))
    rules = [rule(K.RULE_KIND_LINE_CROSSING, line=((0.5, 0.0), (0.5, 1.0)), direction=(1, 0))]
    frames = [frame(i, [det(1, "person", x, 0.5)]) for i, x in enumerate(xs)]
    (c,) = counts(run(rules, frames).stats)
    sides = [1 if x > 0.51 else -1 for x in xs if abs(x - 0.5) > 0.01]
    net = (sides[-1] - sides[0]) // 2 if sides else 0
    assert c.get("in:person", 0) - c.get("out:person", 0) == net


@FAST
@given(scenes(), st.integers(0, 10**6), st.integers(0, 10))
def test_restart_from_a_saved_state_gives_the_same_alerts(frames: list[ObjectsDetected],
                                                          pick: int, redo: int) -> None:
    """Kill mid-stream: the state was last saved after frame k - redo, the frames after it are
    delivered again (at least once). Same alert set, by id and content, as a clean run."""
    clean = run(ALL_RULES, frames)
    k = pick % (len(frames) + 1)
    saved_at = max(0, k - redo)
    before = Run(CameraState()).feed(ALL_RULES, frames[:saved_at])
    saved = json.loads(json.dumps(before.state.to_dict()))
    crashed = Run(before.state, list(before.alerts)).feed(ALL_RULES, frames[saved_at:k])
    restarted = Run(CameraState.from_dict(saved)).feed(ALL_RULES, frames[saved_at:]).end(ALL_RULES)
    emitted = {a.alert_id: a.SerializeToString(deterministic=True)
               for a in [*crashed.alerts, *restarted.alerts]}
    assert emitted == {a.alert_id: a.SerializeToString(deterministic=True) for a in clean.alerts}
    assert wire_stats([*before.stats, *restarted.stats]) == wire_stats(clean.stats)
