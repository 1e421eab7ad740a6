"""The pure rules core: (camera state, rules, detections) -> (camera state, alerts, counts).

No Kafka, no Faust, no clock, no I/O: the Faust agent, the embedded runtime and the benchmarks all
drive `evaluate` (frames of vigie.detections.v1) and `observe_signal` (traffic-signal states of
vigie.signals.v1, co-partitioned with detections, into the same camera state), and a replay of
the same events gives the same alerts with the same ids. FACE_MATCH and CITIZEN_REPORT rules
react to other topics and live in `face_rules` and `report_rules`; `evaluate` ignores them.

Time
    Event time is the frame's `captured_at`, never the wall clock; an alert's `raised_at` is the
    `captured_at` of the frame on which it fired, and a window's `emitted_at` the `captured_at` of
    the frame that closed it, so outputs are a function of the inputs only.

Out-of-order frames
    Frames wait in a small reorder buffer in the state and are applied in event-time order once
    the newest event time seen is `tolerance_ms` (default 500 ms) ahead of them. Any permutation
    of the input in which no frame arrives more than the tolerance behind the newest one therefore
    gives exactly the same alerts and counts. A frame not newer than the last frame already
    applied (which lags the newest by at least the tolerance) is *late*: it does not touch rule
    state and is counted under "late_frames" in the camera's counts (rule_id ""); this also covers
    a redelivery of an applied frame. A frame whose frame_id is already waiting in the buffer is a
    redelivery and is dropped silently. Frames wait by reference: do not mutate an event after
    giving it to `evaluate`. The price is latency:
    alerts fire `tolerance_ms` of event time after the frame that caused them (`flush` releases
    the buffer at the end of a finite stream).

Episodes and ids
    An alert is raised once per episode: the period during which the kind's condition holds
    (a track in the zone, a vehicle still, a crowd above the count...). The episode is named by
    the event time (ms) at which the condition started, which is also the alert's `started_at`,
    and the alert id is sha256(rule, camera, track or "-", episode) (see `alert_ids`). When an
    episode ends and a new one starts within `thresholds.cooldown` of the last alert (same track
    for per-track kinds, same rule otherwise), the new episode is absorbed silently.

Tracks
    Per-track kinds use the detection's track_id (0 = untracked: ignored by per-track kinds,
    counted by CROWD_DENSITY and by the frame-level test of WEAPON_VISIBLE). A track unseen for
    `TRACK_TTL_MS` of event time is forgotten; when it comes back, its episodes start afresh.
    The reference point of an object is the bottom centre of its box (where it touches the ground).

Counts
    Each rule counts in fixed 60 s windows of event time aligned on the epoch, emitted as one
    CountsAggregated when the first frame after the window's end is applied (windows in which the
    rule saw no frame are not emitted). Every window has "frames" (frames evaluated while the
    rule was active) and "alerts"; LINE_CROSSING adds "in:<class>" / "out:<class>", CROWD_DENSITY
    "max_count". The camera has its own window (rule_id ""): "frames" and "late_frames".

Line crossing
    Counts, per class and direction, tracks whose path crosses the segment. Hysteresis: a track's
    side is only confirmed once it is more than `LINE_MARGIN` (normalised) from the line; a
    crossing counts when the confirmed side flips and the path from the last confirmed position on
    the old side to the new position crosses the segment, so jitter around the line never counts
    twice. "in" is the rule's `direction` (the side the direction vector points to), or, without a
    direction, left-to-right as seen walking from the line's start toward its end (+1 of
    `segment_crossing`). An alert fires only when `thresholds.min_count` > 0 and the window's count
    reaches it (crossings "in" when a direction is set, all crossings otherwise): once per
    window, episode = window start, no track.

Red light
    A vehicle crossing the stop line (`geometry.line`, with the same hysteresis as line
    crossing) in the rule's `direction` (any direction without one) is a *crossing*, counted
    "in:<class>" in the rule's window. It waits in the rule state until the signal's state at
    its time is settled, then becomes an alert if the signal was RED both when the vehicle was
    last seen before the line and when it was first seen beyond it (so a vehicle that entered
    on amber is not flagged by a change to red between two frames). The signal is
    `signal_id_of(rule)`: the rule's controller `signal_id`, else its own rule_id (the colour
    of `geometry.signal_region`, classified by `signal_colour` and published by the adapter).
    `observe_signal` keeps a short timeline per signal (`signal_timeline`): an observation
    holds until the next one, for at most 30 s. Frames and observations travel on different
    topics, so their relative arrival order is not reproducible; a crossing at t is therefore
    decided by an event-time join: once the signal's own observations are settled past t
    (newest observation - `signal_tolerance_ms`, default 2 s, >= t), or once the camera's
    frames are SIGNAL_MAX_WAIT_MS (30 s) past t (a lagging or dead feed), whichever comes
    first. Any interleaving in which observations of one signal are out of order by less than
    `signal_tolerance_ms` and the two topics are less than 30 s of event time apart gives the
    same alerts. An observation `signal_tolerance_ms` behind its signal's newest one is
    ignored and counted "late_signals" (camera counts). Episode = the crossing (its
    event time), per track; `raised_at` and `frame_id` are the crossing frame's, whatever
    event decided it, and a crossing decided with no known state counts "no_signal". An alert
    counts in the rule window open when it is decided; `flush` decides every waiting crossing.

Crowd movement
    Over the tracked people in the zone that have at least MIN_HEADING_SPAN_MS of history, each
    one's velocity over the last HEADING_WINDOW_MS: with at least `min_count` of them, the
    condition holds when the mean speed rose by `min_speed_per_s` or more above its lowest value
    SURGE_LAG_MS..SURGE_WINDOW_MS earlier (a sudden acceleration: people start running), or when
    their mean distance from their centroid grows at `min_speed_per_s` or more (dispersal; a
    crowd walking together, however fast, does not disperse). Rule-level episodes and cooldown,
    as crowd density.

Illegal dumping
    A vehicle (car/truck/bus/motorcycle) still in the zone for `max_stop` makes a *stop*. An
    object of the rule's classes (default: every COCO class but people, vehicles, animals and
    street furniture, see `classes.DUMPABLE_CLASSES`) first seen in the zone after the stop
    began, while it lasts or up to DUMP_GRACE_MS after the vehicle left, within DUMP_RADIUS of
    the vehicle's box, is its load. A load static for `max_dwell` fires (episode = when it
    became static, per object), whether the vehicle is still there or gone. An object that was
    there before the vehicle stopped is never a load.

Rules apply when enabled, on their camera_id, within schedule valid_from..valid_until and (if any
windows are given) within a weekly window in the schedule's time zone (UTC when empty or
unknown). A rule that is inactive on a frame forgets its tracks, so episodes restart when it
resumes. A rule that disappears from `rules` (or whose kind, geometry, classes, thresholds or
signal_id change) loses its state, including its open counting window. Kinds in
`OTHER_EVENT_KINDS` are evaluated by other modules and ignored here; `UNSUPPORTED_KINDS` (kinds
nothing evaluates yet) is empty.

Kind defaults (a threshold left at zero): LOITERING max_dwell 60 s, person; STATIONARY_VEHICLE
max_stop 120 s, car/truck/bus/motorcycle; WRONG_WAY tolerance 45 deg, min speed 0.05/s, any class;
CROWD_DENSITY min_count 10 persons, cooldown 60 s; ABANDONED_OBJECT max_dwell (else max_stop) 60 s,
backpack/handbag/suitcase; PERSON_ON_GROUND max_dwell 2 s; WEAPON_VISIBLE knife, min_confidence
0.5, cooldown 60 s; RED_LIGHT car/truck/bus/motorcycle; CROWD_MOVEMENT min_count 5 persons,
min_speed 0.1/s, cooldown 60 s; ILLEGAL_DUMPING max_stop 5 s, max_dwell 60 s; ZONE_INTRUSION and
LINE_CROSSING any class. Other cooldowns default to 0.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from google.protobuf.duration_pb2 import Duration
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.common.v1.common_pb2 import BoundingBox
from vigie.detect.v1.detection_pb2 import ObjectsDetected
from vigie.rules.v1.rule_pb2 import Rule, RuleKind
from vigie.rules.v1.signal_pb2 import SignalObserved, SignalState
from vigie.stats.v1.stats_pb2 import Count, CountsAggregated

from vigie_rules.domain.alert_ids import alert_id
from vigie_rules.domain.classes import (
    BAG_CLASSES,
    DUMPABLE_CLASSES,
    PERSON,
    VEHICLE_CLASSES,
    WEAPON_CLASSES,
)
from vigie_rules.domain.engine_state import (
    CameraState,
    Crossing,
    RuleState,
    TrackState,
    VehicleStop,
)
from vigie_rules.domain.geometry import (
    angle_between_deg,
    box_bottom_centre,
    point_in_polygon,
    segment_crossing,
    side_of_line,
)
from vigie_rules.domain.signal_timeline import SignalTimeline

__all__ = [
    "DEFAULT_TOLERANCE_MS",
    "OTHER_EVENT_KINDS",
    "SIGNAL_MAX_WAIT_MS",
    "SIGNAL_TOLERANCE_MS",
    "SUPPORTED_KINDS",
    "UNSUPPORTED_KINDS",
    "WINDOW_MS",
    "CameraState",
    "evaluate",
    "flush",
    "observe_signal",
    "rule_active",
    "signal_id_of",
]

WINDOW_MS = 60_000
"""Length of the counting windows, in ms of event time (aligned on the Unix epoch)."""
DEFAULT_TOLERANCE_MS = 500
"""How far behind the newest frame a frame may arrive and still be applied in order."""
TRACK_TTL_MS = 5_000
"""A track unseen for this long (event time) is forgotten by every rule."""
STILL_EPS = 0.01
"""Displacement (normalised) below which an object counts as not moving..."""
STILL_WINDOW_MS = 1_000
"""...within this much event time: drifting further, but slower (a creeping vehicle), moves the
reference point without ending the stop; a one-frame outlier is ignored."""
LINE_MARGIN = 0.01
"""Distance (normalised) beyond the line at which a track's side is confirmed."""
HEADING_WINDOW_MS = 1_000
"""Wrong way: the heading is measured over this much recent event time..."""
MIN_HEADING_SPAN_MS = 500
"""...and only once the track has at least this much history."""
ABANDON_RADIUS = 0.1
"""Abandoned object: a person closer than this (normalised, ground points) attends the object."""
LYING_ASPECT = 1.2
"""Person on the ground: box width / height (in pixels) above which a person is lying."""
WEAPON_RUN = 3
"""Weapon: consecutive frames of one track with a qualifying detection..."""
WEAPON_RECENT = 5
"""...or, for untracked detections, WEAPON_RUN of the last WEAPON_RECENT frames."""
SIGNAL_TOLERANCE_MS = 2_000
"""Red light: how far signal observations may arrive out of order among themselves; a crossing
at t is decided once the signal's observations reach t + this."""
SIGNAL_MAX_WAIT_MS = 30_000
"""Red light: a crossing waits for its signal's observations at most until the camera's frames
are this far past it (the signal feed lags or died); it is then decided with what is known."""
SURGE_LAG_MS = 1_000
"""Crowd movement: the mean speed is compared with the lowest mean speed measured between
SURGE_LAG_MS..."""
SURGE_WINDOW_MS = 4_000
"""...and SURGE_WINDOW_MS of event time earlier (the baseline)."""
DUMP_RADIUS = 0.1
"""Illegal dumping: an object this close (normalised) to a stopped vehicle's box is its load..."""
DUMP_GRACE_MS = 10_000
"""...if it appears while the vehicle is stopped or up to this long after it left (an object
hidden behind the vehicle is first seen when it drives away)."""

UNSUPPORTED_KINDS: frozenset[RuleKind] = frozenset()
"""Kinds no module evaluates yet (rules of these kinds are accepted and ignored): none."""
OTHER_EVENT_KINDS: frozenset[RuleKind] = frozenset({
    RuleKind.RULE_KIND_FACE_MATCH, RuleKind.RULE_KIND_CITIZEN_REPORT,
})
"""Kinds driven by other events than frames: face matches (`face_rules`, from vigie.faces.v1)
and citizen reports (`report_rules`, from vigie.reports.v1). `evaluate` ignores them."""

# Classes a kind considers when the rule's class_names is empty (absent: every class).
_DEFAULT_CLASSES: dict[RuleKind, frozenset[str]] = {
    RuleKind.RULE_KIND_LOITERING: frozenset({PERSON}),
    RuleKind.RULE_KIND_STATIONARY_VEHICLE: VEHICLE_CLASSES,
    RuleKind.RULE_KIND_CROWD_DENSITY: frozenset({PERSON}),
    RuleKind.RULE_KIND_ABANDONED_OBJECT: BAG_CLASSES,
    RuleKind.RULE_KIND_PERSON_ON_GROUND: frozenset({PERSON}),
    RuleKind.RULE_KIND_WEAPON_VISIBLE: WEAPON_CLASSES,
    RuleKind.RULE_KIND_RED_LIGHT: VEHICLE_CLASSES,
    RuleKind.RULE_KIND_CROWD_MOVEMENT: frozenset({PERSON}),
    RuleKind.RULE_KIND_ILLEGAL_DUMPING: DUMPABLE_CLASSES,
}
_DEFAULT_MIN_CONFIDENCE: dict[RuleKind, float] = {
    RuleKind.RULE_KIND_WEAPON_VISIBLE: 0.5,
}
_DEFAULT_DWELL_MS: dict[RuleKind, int] = {
    RuleKind.RULE_KIND_LOITERING: 60_000,
    RuleKind.RULE_KIND_ABANDONED_OBJECT: 60_000,
    RuleKind.RULE_KIND_PERSON_ON_GROUND: 2_000,
    RuleKind.RULE_KIND_ILLEGAL_DUMPING: 60_000,
}
_DEFAULT_STOP_MS = 120_000
_DEFAULT_DUMPING_STOP_MS = 5_000
_DEFAULT_CROWD_MIN_COUNT = 10
_DEFAULT_MOVEMENT_MIN_COUNT = 5
_DEFAULT_MOVEMENT_MIN_SPEED = 0.1  # normalised units per second
_DEFAULT_WRONG_WAY_TOLERANCE_DEG = 45.0
_DEFAULT_WRONG_WAY_MIN_SPEED = 0.05  # normalised units per second
_DEFAULT_COOLDOWN_MS: dict[RuleKind, int] = {
    RuleKind.RULE_KIND_CROWD_DENSITY: 60_000,
    RuleKind.RULE_KIND_WEAPON_VISIBLE: 60_000,
    RuleKind.RULE_KIND_CROWD_MOVEMENT: 60_000,
}

_TITLES: dict[RuleKind, str] = {
    RuleKind.RULE_KIND_ZONE_INTRUSION: "Zone intrusion",
    RuleKind.RULE_KIND_LOITERING: "Loitering",
    RuleKind.RULE_KIND_STATIONARY_VEHICLE: "Stationary vehicle",
    RuleKind.RULE_KIND_LINE_CROSSING: "Line crossings",
    RuleKind.RULE_KIND_WRONG_WAY: "Wrong way",
    RuleKind.RULE_KIND_CROWD_DENSITY: "Crowd density",
    RuleKind.RULE_KIND_ABANDONED_OBJECT: "Abandoned object",
    RuleKind.RULE_KIND_PERSON_ON_GROUND: "Person on the ground",
    RuleKind.RULE_KIND_WEAPON_VISIBLE: "Weapon visible",
    RuleKind.RULE_KIND_RED_LIGHT: "Red light",
    RuleKind.RULE_KIND_CROWD_MOVEMENT: "Crowd movement",
    RuleKind.RULE_KIND_ILLEGAL_DUMPING: "Illegal dumping",
}


class _Obj(NamedTuple):
    """One detection, prepared once per frame."""

    track_id: int
    class_name: str
    confidence: float
    x: float  # reference point: bottom centre of the box
    y: float
    box: BoundingBox
    aspect: float  # width / height in pixels (0 when the box has no height)


@dataclass(slots=True)
class _Frame:
    frame: ObjectsDetected
    t_ms: int
    objects: list[_Obj]


@dataclass(slots=True)
class _Ctx:
    """What a kind handler needs for one rule on one frame."""

    rule: Rule
    state: RuleState
    camera_id: str
    frame: _Frame
    objects: list[_Obj]  # passing the class and confidence filters
    zone: list[tuple[float, float]]  # empty: the whole image
    alerts: list[AlertRaised]

    @property
    def t(self) -> int:
        return self.frame.t_ms

    def in_zone(self, o: _Obj) -> bool:
        return not self.zone or point_in_polygon((o.x, o.y), self.zone)

    def tracked(self) -> list[_Obj]:
        """Filtered objects with a track id, one per track (the most confident)."""
        best: dict[int, _Obj] = {}
        for o in self.objects:
            kept = best.get(o.track_id)
            if o.track_id and (kept is None or o.confidence > kept.confidence):
                best[o.track_id] = o
        return [best[k] for k in sorted(best)]

    def track(self, o: _Obj) -> TrackState:
        ts = self.state.tracks.get(o.track_id)
        if ts is None:
            ts = self.state.tracks[o.track_id] = TrackState(last_seen_ms=self.t)
        ts.last_seen_ms = self.t
        ts.class_name = o.class_name
        return ts

    def raise_alert(self, track_ids: Sequence[int], episode_ms: int, objs: Sequence[_Obj],
                    attributes: dict[str, str], *, per_track: int | None) -> None:
        alert = _alert(self.rule, self.camera_id, per_track, episode_ms, track_ids,
                       [o.box for o in objs], self.frame.frame.frame_id, self.t, attributes)
        alert.raised_at.CopyFrom(self.frame.frame.captured_at)  # exact, to the nanosecond
        self.alerts.append(alert)
        self.state.counts["alerts"] = self.state.counts.get("alerts", 0) + 1


def _alert(rule: Rule, camera_id: str, per_track: int | None, episode_ms: int,
           track_ids: Sequence[int], boxes: Sequence[BoundingBox], frame_id: str,
           raised_ms: int, attributes: dict[str, str]) -> AlertRaised:
    alert = AlertRaised(
        alert_id=alert_id(rule.rule_id, camera_id, per_track, episode_ms),
        rule_id=rule.rule_id, rule_kind=rule.kind, camera_id=camera_id,
        severity=rule.severity, title=f"{_TITLES[rule.kind]} - {rule.name or rule.rule_id}",
        track_ids=list(track_ids), boxes=boxes, frame_id=frame_id, attributes=attributes)
    alert.started_at.FromMilliseconds(episode_ms)
    alert.raised_at.FromMilliseconds(raised_ms)
    return alert


# ---------------------------------------------------------------------------------------------
# Public API


def evaluate(state: CameraState, rules: Sequence[Rule], event: ObjectsDetected, *,
             tolerance_ms: int = DEFAULT_TOLERANCE_MS,
             signal_tolerance_ms: int = SIGNAL_TOLERANCE_MS,
             ) -> tuple[CameraState, list[AlertRaised], list[CountsAggregated]]:
    """Take one frame's detections; return the new state, the alerts raised and the windows of
    counts closed. `state` is not modified. `rules` may hold rules of any camera: only those of
    the event's camera apply. All frames given to one state must come from one camera.
    `signal_tolerance_ms` must be the tolerance given to `observe_signal` for this camera."""
    new = _own(state, event.camera_id, "frame")
    alerts: list[AlertRaised] = []
    stats: list[CountsAggregated] = []
    t = event.captured_at.ToMilliseconds()
    if new.released_ms is not None and t <= new.released_ms:
        new.counts["late_frames"] = new.counts.get("late_frames", 0) + 1
        return new, alerts, stats
    if any(p.frame_id == event.frame_id for p in new.pending):
        return new, alerts, stats
    new.pending.append(event)
    new.pending.sort(key=lambda f: (f.captured_at.ToMilliseconds(), f.frame_id))
    new.max_seen_ms = t if new.max_seen_ms is None else max(new.max_seen_ms, t)
    watermark = new.max_seen_ms - tolerance_ms
    camera_rules = _camera_rules(rules, new.camera_id)
    while new.pending and new.pending[0].captured_at.ToMilliseconds() <= watermark:
        _apply(new, camera_rules, new.pending.pop(0), alerts, stats)
    _decide_crossings(new, camera_rules, alerts, signal_tolerance_ms, final=False)
    return new, alerts, stats


def observe_signal(state: CameraState, rules: Sequence[Rule], event: SignalObserved, *,
                   tolerance_ms: int = SIGNAL_TOLERANCE_MS,
                   ) -> tuple[CameraState, list[AlertRaised], list[CountsAggregated]]:
    """Take one traffic-signal observation; return the new state, the red-light alerts it
    decided and (always empty today) windows of counts. `state` is not modified. Only signals
    that a RED_LIGHT rule of the camera uses are kept (see `signal_id_of`); an observation
    not newer than the signal's newest observation or the camera's newest frame, minus
    `tolerance_ms`, is late: ignored and counted under "late_signals" in the camera's counts."""
    new = _own(state, event.camera_id, "signal observation")
    alerts: list[AlertRaised] = []
    camera_rules = _camera_rules(rules, new.camera_id)
    if event.signal_id in {signal_id_of(r) for r in camera_rules
                           if r.kind == RuleKind.RULE_KIND_RED_LIGHT}:
        timeline = new.signals.setdefault(event.signal_id, SignalTimeline())
        if not timeline.observe(event.observed_at.ToMilliseconds(), event.state, tolerance_ms):
            new.counts["late_signals"] = new.counts.get("late_signals", 0) + 1
    _decide_crossings(new, camera_rules, alerts, tolerance_ms, final=False)
    return new, alerts, []


def signal_id_of(rule: Rule) -> str:
    """The signal a RED_LIGHT rule follows: its controller signal_id, else its own rule_id
    (the colour of its signal region, published under that id)."""
    return rule.signal_id or rule.rule_id


def flush(state: CameraState, rules: Sequence[Rule], *, close_windows: bool = False,
          ) -> tuple[CameraState, list[AlertRaised], list[CountsAggregated]]:
    """End of a finite stream: apply every frame still in the reorder buffer, decide every
    red-light crossing still waiting for its signal with what is known and, with
    close_windows, emit the windows still open (the camera's, then each rule's)."""
    new = state.copy()
    alerts: list[AlertRaised] = []
    stats: list[CountsAggregated] = []
    camera_rules = _camera_rules(rules, new.camera_id)
    while new.pending:
        _apply(new, camera_rules, new.pending.pop(0), alerts, stats)
    _decide_crossings(new, camera_rules, alerts, SIGNAL_TOLERANCE_MS, final=True)
    if close_windows and new.released_ms is not None:
        emitted = new.released_ms
        if new.window_start_ms is not None and new.counts:
            stats.append(_window(new.camera_id, "", new.window_start_ms, new.counts, emitted))
        new.counts = {}
        for rule_id, rs in sorted(new.rules.items()):
            if rs.window_start_ms is not None and rs.counts:
                stats.append(_window(new.camera_id, rule_id, rs.window_start_ms, rs.counts,
                                     emitted))
            rs.counts = {}
    return new, alerts, stats


def rule_active(rule: Rule, t_ms: int) -> bool:
    """Whether the rule is enabled and its schedule covers event time t_ms."""
    if not rule.enabled:
        return False
    schedule = rule.schedule
    if schedule.HasField("valid_from") and t_ms < schedule.valid_from.ToMilliseconds():
        return False
    if schedule.HasField("valid_until") and t_ms >= schedule.valid_until.ToMilliseconds():
        return False
    if not schedule.windows:
        return True
    local = datetime.fromtimestamp(t_ms / 1000, _zone(schedule.time_zone))
    minute = local.hour * 60 + local.minute
    day = local.isoweekday()
    previous_day = 7 if day == 1 else day - 1
    for window in schedule.windows:
        days = set(window.days)
        start, end = window.start_minute, window.end_minute
        if start < end:
            if (not days or day in days) and start <= minute < end:
                return True
        else:  # spans midnight: from start on its day to end on the next day
            if (not days or day in days) and minute >= start:
                return True
            if (not days or previous_day in days) and minute < end:
                return True
    return False


SUPPORTED_KINDS: frozenset[RuleKind] = frozenset(_TITLES)


# ---------------------------------------------------------------------------------------------
# Frame application


def _own(state: CameraState, camera_id: str, what: str) -> CameraState:
    new = state.copy()
    if not new.camera_id:
        new.camera_id = camera_id
    elif camera_id != new.camera_id:
        raise ValueError(f"{what} of camera {camera_id!r} given to the state of camera "
                         f"{new.camera_id!r}")
    return new


@lru_cache(maxsize=64)
def _zone(name: str) -> tzinfo:
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _camera_rules(rules: Sequence[Rule], camera_id: str) -> list[Rule]:
    return sorted((r for r in rules if r.camera_id == camera_id and r.kind in SUPPORTED_KINDS),
                  key=lambda r: r.rule_id)


def _fingerprint(rule: Rule) -> str:
    """Changes when what the rule evaluates changes (then its state starts afresh)."""
    h = hashlib.sha256(str(rule.kind).encode())
    h.update(rule.geometry.SerializeToString(deterministic=True))
    h.update("\x00".join(rule.class_names).encode())
    h.update(rule.thresholds.SerializeToString(deterministic=True))
    if rule.signal_id:
        h.update(b"\x00signal:" + rule.signal_id.encode())
    return h.hexdigest()[:16]


def _window(camera_id: str, rule_id: str, start_ms: int, counts: dict[str, int],
            emitted_ms: int) -> CountsAggregated:
    out = CountsAggregated(camera_id=camera_id, rule_id=rule_id,
                           counts=[Count(key=k, value=v) for k, v in sorted(counts.items())])
    out.window.start.FromMilliseconds(start_ms)
    out.window.end.FromMilliseconds(start_ms + WINDOW_MS)
    out.emitted_at.FromMilliseconds(emitted_ms)
    return out


def _prepare(frame: ObjectsDetected) -> _Frame:
    width = frame.image_width or 1
    height = frame.image_height or 1
    objects = []
    for d in frame.detections:
        b = d.box
        x, y = box_bottom_centre(b.x_min, b.y_min, b.x_max, b.y_max)
        h_px = (b.y_max - b.y_min) * height
        aspect = (b.x_max - b.x_min) * width / h_px if h_px > 0 else 0.0
        objects.append(_Obj(d.track_id, d.class_name, d.confidence, x, y, b, aspect))
    return _Frame(frame, frame.captured_at.ToMilliseconds(), objects)


def _apply(state: CameraState, rules: list[Rule], event: ObjectsDetected,
           alerts: list[AlertRaised], stats: list[CountsAggregated]) -> None:
    frame = _prepare(event)
    t = frame.t_ms
    window = t - t % WINDOW_MS
    if state.window_start_ms != window:
        if state.window_start_ms is not None and state.counts:
            stats.append(_window(state.camera_id, "", state.window_start_ms, state.counts, t))
        state.window_start_ms, state.counts = window, {}
    state.counts["frames"] = state.counts.get("frames", 0) + 1
    state.released_ms = t

    live: set[str] = set()
    for rule in rules:
        live.add(rule.rule_id)
        fingerprint = _fingerprint(rule)
        rs = state.rules.get(rule.rule_id)
        if rs is None or rs.fingerprint != fingerprint:
            rs = state.rules[rule.rule_id] = RuleState(fingerprint)
        if rs.window_start_ms != window:
            if rs.window_start_ms is not None and rs.counts:
                stats.append(_window(state.camera_id, rule.rule_id, rs.window_start_ms,
                                     rs.counts, t))
            rs.window_start_ms, rs.counts = window, {}
        if not rule_active(rule, t):
            # Crossings already made wait for their signal state all the same.
            rs.tracks.clear()
            rs.cond_since_ms = None
            rs.recent.clear()
            rs.speeds.clear()
            rs.stops.clear()
            continue
        rs.counts["frames"] = rs.counts.get("frames", 0) + 1
        classes = frozenset(rule.class_names) or _DEFAULT_CLASSES.get(rule.kind)
        min_conf = rule.thresholds.min_confidence or _DEFAULT_MIN_CONFIDENCE.get(rule.kind, 0.0)
        objects = [o for o in frame.objects if o.confidence >= min_conf
                   and (classes is None or o.class_name in classes)]
        zone = [(p.x, p.y) for p in rule.geometry.zone] if len(rule.geometry.zone) >= 3 else []
        _HANDLERS[rule.kind](_Ctx(rule, rs, state.camera_id, frame, objects, zone, alerts))
        for track_id in [k for k, ts in rs.tracks.items() if t - ts.last_seen_ms > TRACK_TTL_MS]:
            del rs.tracks[track_id]
    for rule_id in [r for r in state.rules if r not in live]:
        del state.rules[rule_id]


# ---------------------------------------------------------------------------------------------
# Kinds


def _ms(duration: Duration, default: int) -> int:
    value = duration.ToMilliseconds()
    return value if value > 0 else default


def _cooldown(ctx: _Ctx) -> int:
    return _ms(ctx.rule.thresholds.cooldown, _DEFAULT_COOLDOWN_MS.get(ctx.rule.kind, 0))


def _new_episode(holder: TrackState | RuleState, episode_ms: int, t: int, cooldown_ms: int,
                 ) -> bool:
    """Whether to raise an alert for this episode: once per episode, and not within the cooldown
    of the previous alert (an episode starting within it is absorbed)."""
    if holder.alerted_episode_ms == episode_ms:
        return False
    holder.alerted_episode_ms = episode_ms
    if holder.last_alert_ms is not None and t - holder.last_alert_ms < cooldown_ms:
        return False
    holder.last_alert_ms = t
    return True


def _alert_track(ctx: _Ctx, o: _Obj, ts: TrackState, episode_ms: int,
                 attributes: dict[str, str]) -> None:
    if _new_episode(ts, episode_ms, ctx.t, _cooldown(ctx)):
        ctx.raise_alert([o.track_id], episode_ms, [o], {"class_name": o.class_name, **attributes},
                        per_track=o.track_id)


def _seconds(ms: int) -> str:
    return f"{ms / 1000:g}"


def _zone_presence(ctx: _Ctx, o: _Obj) -> TrackState | None:
    """Track state with zone_since_ms maintained; None when the object is outside the zone."""
    ts = ctx.track(o)
    ts.last_pos = (o.x, o.y)
    if not ctx.in_zone(o):
        ts.zone_since_ms = ts.anchor = ts.anchor_since_ms = ts.cond_since_ms = None
        ts.history.clear()
        return None
    if ts.zone_since_ms is None:
        ts.zone_since_ms = ctx.t
    return ts


def _zone_intrusion(ctx: _Ctx) -> None:
    for o in ctx.tracked():
        ts = _zone_presence(ctx, o)
        if ts is not None and ts.zone_since_ms is not None:
            _alert_track(ctx, o, ts, ts.zone_since_ms, {})


def _loitering(ctx: _Ctx) -> None:
    max_dwell = _ms(ctx.rule.thresholds.max_dwell, _DEFAULT_DWELL_MS[ctx.rule.kind])
    for o in ctx.tracked():
        ts = _zone_presence(ctx, o)
        if ts is not None and ts.zone_since_ms is not None:
            dwell = ctx.t - ts.zone_since_ms
            if dwell >= max_dwell:
                _alert_track(ctx, o, ts, ts.zone_since_ms, {"dwell_s": _seconds(dwell)})


def _settle(ts: TrackState, o: _Obj, t: int) -> bool:
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


def _stationary_vehicle(ctx: _Ctx) -> None:
    max_stop = _ms(ctx.rule.thresholds.max_stop, _DEFAULT_STOP_MS)
    for o in ctx.tracked():
        ts = _zone_presence(ctx, o)
        if ts is None:
            continue
        if _settle(ts, o, ctx.t) or ts.cond_since_ms is None:
            ts.cond_since_ms = ctx.t  # stopped since
        stopped = ctx.t - ts.cond_since_ms
        if stopped >= max_stop:
            _alert_track(ctx, o, ts, ts.cond_since_ms, {"stop_s": _seconds(stopped)})


_XY = tuple[float, float]


def _line(rule: Rule) -> tuple[_XY, _XY] | None:
    """The rule's line (start, end), None when it has none or it is a point."""
    if not rule.geometry.HasField("line"):
        return None
    line = rule.geometry.line
    start, end = (line.start.x, line.start.y), (line.end.x, line.end.y)
    return None if start == end else (start, end)


def _line_steps(ctx: _Ctx, start: _XY, end: _XY) -> list[tuple[_Obj, int, int | None]]:
    """Tracks that crossed the segment on this frame, with hysteresis (see the module
    docstring): (object, `segment_crossing` sign, event time the track was seen before)."""
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


def _line_crossing(ctx: _Ctx) -> None:
    rule = ctx.rule
    line = _line(rule)
    if line is None:
        return
    start, end = line
    direction = (rule.geometry.direction.dx, rule.geometry.direction.dy)
    in_sign = _direction_sign(start, end, direction) or 1
    for o, sign, _ in _line_steps(ctx, start, end):
        key = f"{'in' if sign == in_sign else 'out'}:{o.class_name}"
        ctx.state.counts[key] = ctx.state.counts.get(key, 0) + 1
        _count_threshold(ctx, o, any(direction))


def _red_light(ctx: _Ctx) -> None:
    """Record each vehicle crossing the stop line in the counted direction (any direction
    without one); `_decide_crossings` raises the alert once the signal state is known."""
    rule = ctx.rule
    line = _line(rule)
    if line is None:
        return
    start, end = line
    in_sign = _direction_sign(start, end, (rule.geometry.direction.dx,
                                           rule.geometry.direction.dy))
    for o, sign, before_ms in _line_steps(ctx, start, end):
        if in_sign and sign != in_sign:
            continue
        key = f"in:{o.class_name}"
        ctx.state.counts[key] = ctx.state.counts.get(key, 0) + 1
        b = o.box
        ctx.state.crossings = [*ctx.state.crossings, Crossing(
            o.track_id, o.class_name, ctx.t if before_ms is None else before_ms, ctx.t,
            ctx.frame.frame.frame_id, (b.x_min, b.y_min, b.x_max, b.y_max))]


_RED = SignalState.SIGNAL_STATE_RED
_UNKNOWN = SignalState.SIGNAL_STATE_UNKNOWN


def _decide_crossings(state: CameraState, rules: list[Rule], alerts: list[AlertRaised],
                      tolerance_ms: int, *, final: bool) -> None:
    """Decide the red-light crossings whose signal state is settled: crossings at t with
    t <= max(newest frame, newest observation of the signal) - tolerance (all of them when
    `final`). A crossing is a red-light alert when the signal was RED both when the vehicle was
    last seen before the line and when it was first seen beyond it. Also drops the timelines
    of signals no rule uses any more."""
    red_rules = [r for r in rules if r.kind == RuleKind.RULE_KIND_RED_LIGHT]
    used = {signal_id_of(r) for r in red_rules}
    for signal in [s for s in state.signals if s not in used]:
        del state.signals[signal]
    for rule in red_rules:
        rs = state.rules.get(rule.rule_id)
        if rs is None or not rs.crossings or rs.fingerprint != _fingerprint(rule):
            continue
        signal = signal_id_of(rule)
        timeline = state.signals.get(signal)
        # An event-time join: decided once the signal's own observations are settled past the
        # crossing, or once the frames are SIGNAL_MAX_WAIT_MS past it (the feed lags or died).
        horizons = [h for h in (
            timeline.watermark(tolerance_ms) if timeline is not None else None,
            None if state.max_seen_ms is None else state.max_seen_ms - SIGNAL_MAX_WAIT_MS)
            if h is not None]
        horizon = max(horizons) if horizons else None
        ready = [c for c in rs.crossings if final or (horizon is not None and c.t_ms <= horizon)]
        if not ready:
            continue
        rs.crossings = rs.crossings[len(ready):]
        cooldown = _ms(rule.thresholds.cooldown, 0)
        for c in ready:
            before, _ = timeline.state_at(c.before_ms) if timeline else (_UNKNOWN, None)
            now, red_since = timeline.state_at(c.t_ms) if timeline else (_UNKNOWN, None)
            if now == _UNKNOWN:
                rs.counts["no_signal"] = rs.counts.get("no_signal", 0) + 1
            if before != _RED or now != _RED:
                continue
            last = rs.red_alerts.get(c.track_id)
            if last is not None and c.t_ms - last < cooldown:
                continue
            rs.red_alerts[c.track_id] = c.t_ms
            attributes = {"class_name": c.class_name, "signal_id": signal}
            if red_since is not None:
                attributes["red_for_s"] = _seconds(c.t_ms - red_since)
            x0, y0, x1, y1 = c.box
            alerts.append(_alert(rule, state.camera_id, c.track_id, c.t_ms, [c.track_id],
                                 [BoundingBox(x_min=x0, y_min=y0, x_max=x1, y_max=y1)],
                                 c.frame_id, c.t_ms, attributes))
            rs.counts["alerts"] = rs.counts.get("alerts", 0) + 1
        newest = ready[-1].t_ms
        rs.red_alerts = {k: v for k, v in rs.red_alerts.items() if newest - v < cooldown}


def _direction_sign(start: tuple[float, float], end: tuple[float, float],
                    direction: tuple[float, float]) -> int:
    """segment_crossing sign of a movement along `direction` through the line's middle
    (0 when there is no direction or it runs along the line)."""
    norm = math.hypot(*direction)
    if norm == 0.0:
        return 0
    mid = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
    step = (direction[0] / norm * 1e-3, direction[1] / norm * 1e-3)
    return segment_crossing((mid[0] - step[0], mid[1] - step[1]),
                            (mid[0] + step[0], mid[1] + step[1]), start, end)


def _count_threshold(ctx: _Ctx, o: _Obj, directed: bool) -> None:
    min_count = ctx.rule.thresholds.min_count
    window = ctx.state.window_start_ms
    if min_count <= 0 or window is None:
        return
    counted = sum(v for k, v in ctx.state.counts.items()
                  if k.startswith("in:") or (not directed and k.startswith("out:")))
    if counted >= min_count and _new_episode(ctx.state, window, ctx.t, _cooldown(ctx)):
        ctx.raise_alert([o.track_id], window, [o], {"count": str(counted)}, per_track=None)


def _wrong_way(ctx: _Ctx) -> None:
    thresholds = ctx.rule.thresholds
    direction = (ctx.rule.geometry.direction.dx, ctx.rule.geometry.direction.dy)
    if not any(direction):
        return
    tolerance = thresholds.tolerance_deg or _DEFAULT_WRONG_WAY_TOLERANCE_DEG
    min_speed = thresholds.min_speed_per_s or _DEFAULT_WRONG_WAY_MIN_SPEED
    t = ctx.t
    for o in ctx.tracked():
        ts = _zone_presence(ctx, o)
        if ts is None:
            continue
        ts.history.append((t, o.x, o.y))
        ts.history = [h for h in ts.history if t - h[0] <= HEADING_WINDOW_MS]
        t0, x0, y0 = ts.history[0]
        if t - t0 < MIN_HEADING_SPAN_MS:
            continue  # too little history to judge: the episode (if any) goes on
        motion = (o.x - x0, o.y - y0)
        if math.hypot(*motion) / ((t - t0) / 1000) < min_speed:
            continue  # (nearly) still: no heading, the episode (if any) goes on
        angle = angle_between_deg(motion, direction)
        if angle is None or angle <= 180.0 - tolerance:
            ts.cond_since_ms = None
            continue
        if ts.cond_since_ms is None:
            ts.cond_since_ms = t
        _alert_track(ctx, o, ts, ts.cond_since_ms, {"angle_deg": f"{angle:.0f}"})


def _crowd_density(ctx: _Ctx) -> None:
    rs = ctx.state
    inside = [o for o in ctx.objects if ctx.in_zone(o)]
    rs.counts["max_count"] = max(rs.counts.get("max_count", 0), len(inside))
    min_count = ctx.rule.thresholds.min_count or _DEFAULT_CROWD_MIN_COUNT
    if len(inside) < min_count:
        rs.cond_since_ms = None
        return
    if rs.cond_since_ms is None:
        rs.cond_since_ms = ctx.t
    if _new_episode(rs, rs.cond_since_ms, ctx.t, _cooldown(ctx)):
        ctx.raise_alert(sorted({o.track_id for o in inside if o.track_id}), rs.cond_since_ms,
                        inside, {"count": str(len(inside))}, per_track=None)


def _crowd_movement(ctx: _Ctx) -> None:
    """Mean speed of the tracked people in the zone, and the rate at which their mean distance
    from their centroid grows (dispersal), each over about a second of track history."""
    rs = ctx.state
    t = ctx.t
    objs: list[_Obj] = []
    velocities: list[tuple[float, float]] = []
    for o in ctx.tracked():
        ts = _zone_presence(ctx, o)
        if ts is None:
            continue
        ts.history.append((t, o.x, o.y))
        ts.history = [h for h in ts.history if t - h[0] <= HEADING_WINDOW_MS]
        t0, x0, y0 = ts.history[0]
        if t - t0 < MIN_HEADING_SPAN_MS:
            continue
        dt = (t - t0) / 1000
        objs.append(o)
        velocities.append(((o.x - x0) / dt, (o.y - y0) / dt))
    rs.speeds = [s for s in rs.speeds if t - s[0] <= SURGE_WINDOW_MS]
    thresholds = ctx.rule.thresholds
    if len(objs) < (thresholds.min_count or _DEFAULT_MOVEMENT_MIN_COUNT):
        rs.cond_since_ms = None
        return
    n = len(objs)
    mean_speed = sum(math.hypot(vx, vy) for vx, vy in velocities) / n
    cx, cy = sum(o.x for o in objs) / n, sum(o.y for o in objs) / n
    mvx, mvy = sum(v[0] for v in velocities) / n, sum(v[1] for v in velocities) / n
    outward = 0.0  # d/dt of the mean distance from the centroid
    for o, (vx, vy) in zip(objs, velocities, strict=True):
        r = math.hypot(o.x - cx, o.y - cy)
        if r > 0:
            outward += ((vx - mvx) * (o.x - cx) + (vy - mvy) * (o.y - cy)) / r
    dispersal = outward / n
    baseline = [s for ts_, s in rs.speeds if t - ts_ >= SURGE_LAG_MS]
    surge = mean_speed - min(baseline) if baseline else 0.0
    rs.speeds = [*rs.speeds, (t, mean_speed)]
    threshold = thresholds.min_speed_per_s or _DEFAULT_MOVEMENT_MIN_SPEED
    triggers = [name for name, value in (("speed", surge), ("dispersal", dispersal))
                if value >= threshold]
    if not triggers:
        rs.cond_since_ms = None
        return
    if rs.cond_since_ms is None:
        rs.cond_since_ms = t
    if _new_episode(rs, rs.cond_since_ms, t, _cooldown(ctx)):
        ctx.raise_alert([o.track_id for o in objs], rs.cond_since_ms, objs, {
            "count": str(n), "trigger": "+".join(triggers),
            "mean_speed_per_s": f"{mean_speed:.3f}", "speed_change_per_s": f"{surge:.3f}",
            "dispersal_per_s": f"{dispersal:.3f}"}, per_track=None)


def _box_distance(p: _XY, box: tuple[float, float, float, float]) -> float:
    x0, y0, x1, y1 = box
    return math.hypot(max(x0 - p[0], 0.0, p[0] - x1), max(y0 - p[1], 0.0, p[1] - y1))


def _illegal_dumping(ctx: _Ctx) -> None:
    """A vehicle stays still in the zone for max_stop; an object (dumpable class) first seen in
    the zone after the stop began, while it lasts or up to DUMP_GRACE_MS after, within
    DUMP_RADIUS of the vehicle's box, is its load; the load static for max_dwell fires, once
    per object and static episode (whether the vehicle is still there or not)."""
    rs = ctx.state
    t = ctx.t
    thresholds = ctx.rule.thresholds
    max_stop = _ms(thresholds.max_stop, _DEFAULT_DUMPING_STOP_MS)
    max_dwell = _ms(thresholds.max_dwell, _DEFAULT_DWELL_MS[ctx.rule.kind])
    vehicles: dict[int, _Obj] = {}
    for v in ctx.frame.objects:
        kept = vehicles.get(v.track_id)
        if (v.track_id and v.class_name in VEHICLE_CLASSES
                and v.confidence >= thresholds.min_confidence
                and (kept is None or v.confidence > kept.confidence)):
            vehicles[v.track_id] = v
    for track_id in sorted(vehicles):
        v = vehicles[track_id]
        vs = _zone_presence(ctx, v)
        if vs is None:
            continue
        if _settle(vs, v, t) or vs.cond_since_ms is None:
            vs.cond_since_ms = t  # still since
        if t - vs.cond_since_ms < max_stop:
            continue
        box = (v.box.x_min, v.box.y_min, v.box.x_max, v.box.y_max)
        stop = VehicleStop(track_id, v.class_name, vs.cond_since_ms, t, box)
        rs.stops = [s for s in rs.stops
                    if (s.track_id, s.start_ms) != (track_id, vs.cond_since_ms)] + [stop]
    rs.stops = [s for s in rs.stops if t - s.last_ms <= DUMP_GRACE_MS]
    for o in ctx.tracked():
        if o.class_name in VEHICLE_CLASSES:
            continue
        ts = _zone_presence(ctx, o)
        if ts is None or ts.zone_since_ms is None:
            continue
        if not ts.partner:
            appeared = ts.zone_since_ms
            for stop in rs.stops:
                if (stop.start_ms <= appeared <= stop.last_ms + DUMP_GRACE_MS
                        and _box_distance((o.x, o.y), stop.box) <= DUMP_RADIUS):
                    ts.partner, ts.partner_class = stop.track_id, stop.class_name
                    break
        if _settle(ts, o, t) or ts.cond_since_ms is None:
            ts.cond_since_ms = t  # static since
        static = t - ts.cond_since_ms
        if ts.partner and static >= max_dwell:
            _alert_track(ctx, o, ts, ts.cond_since_ms, {
                "static_s": _seconds(static), "vehicle_track_id": str(ts.partner),
                "vehicle_class": ts.partner_class})


def _abandoned_object(ctx: _Ctx) -> None:
    thresholds = ctx.rule.thresholds
    max_dwell = _ms(thresholds.max_dwell, _ms(thresholds.max_stop,
                                              _DEFAULT_DWELL_MS[ctx.rule.kind]))
    min_conf = thresholds.min_confidence
    people = [(p.x, p.y) for p in ctx.frame.objects
              if p.class_name == PERSON and p.confidence >= min_conf]
    for o in ctx.tracked():
        ts = _zone_presence(ctx, o)
        if ts is None:
            continue
        if _settle(ts, o, ctx.t):
            ts.cond_since_ms = None
        if any(math.dist((o.x, o.y), p) <= ABANDON_RADIUS for p in people):
            ts.cond_since_ms = None
            continue
        if ts.cond_since_ms is None:
            ts.cond_since_ms = ctx.t
        unattended = ctx.t - ts.cond_since_ms
        if unattended >= max_dwell:
            _alert_track(ctx, o, ts, ts.cond_since_ms, {"unattended_s": _seconds(unattended)})


def _person_on_ground(ctx: _Ctx) -> None:
    max_dwell = _ms(ctx.rule.thresholds.max_dwell, _DEFAULT_DWELL_MS[ctx.rule.kind])
    for o in ctx.tracked():
        ts = _zone_presence(ctx, o)
        if ts is None:
            continue
        if o.aspect <= LYING_ASPECT:
            ts.cond_since_ms = None
            continue
        if ts.cond_since_ms is None:
            ts.cond_since_ms = ctx.t
        lying = ctx.t - ts.cond_since_ms
        if lying >= max_dwell:
            _alert_track(ctx, o, ts, ts.cond_since_ms, {"lying_s": _seconds(lying)})


def _weapon_visible(ctx: _Ctx) -> None:
    rs = ctx.state
    inside = [o for o in ctx.objects if ctx.in_zone(o)]
    seen = set()
    for o in [o for o in ctx.tracked() if ctx.in_zone(o)]:
        seen.add(o.track_id)
        ts = ctx.track(o)
        ts.run += 1
        if ts.run == 1:
            ts.cond_since_ms = ctx.t
        if ts.run >= WEAPON_RUN and ts.cond_since_ms is not None:
            _alert_track(ctx, o, ts, ts.cond_since_ms, {"confidence": f"{o.confidence:.2f}"})
    for track_id, ts in rs.tracks.items():
        if track_id not in seen:
            ts.run, ts.cond_since_ms = 0, None
    # Untracked detections: WEAPON_RUN of the last WEAPON_RECENT frames, one rule-level episode.
    untracked = [o for o in inside if not o.track_id]
    rs.recent = [*rs.recent, (ctx.t, bool(untracked))][-WEAPON_RECENT:]
    present = [t for t, p in rs.recent if p]
    if len(present) < WEAPON_RUN:
        rs.cond_since_ms = None
        return
    if rs.cond_since_ms is None:
        rs.cond_since_ms = present[0]
    if untracked and _new_episode(rs, rs.cond_since_ms, ctx.t, _cooldown(ctx)):
        ctx.raise_alert([], rs.cond_since_ms, untracked,
                        {"confidence": f"{max(o.confidence for o in untracked):.2f}"},
                        per_track=None)


_HANDLERS: dict[RuleKind, Callable[[_Ctx], None]] = {
    RuleKind.RULE_KIND_ZONE_INTRUSION: _zone_intrusion,
    RuleKind.RULE_KIND_LOITERING: _loitering,
    RuleKind.RULE_KIND_STATIONARY_VEHICLE: _stationary_vehicle,
    RuleKind.RULE_KIND_LINE_CROSSING: _line_crossing,
    RuleKind.RULE_KIND_WRONG_WAY: _wrong_way,
    RuleKind.RULE_KIND_CROWD_DENSITY: _crowd_density,
    RuleKind.RULE_KIND_ABANDONED_OBJECT: _abandoned_object,
    RuleKind.RULE_KIND_PERSON_ON_GROUND: _person_on_ground,
    RuleKind.RULE_KIND_WEAPON_VISIBLE: _weapon_visible,
    RuleKind.RULE_KIND_RED_LIGHT: _red_light,
    RuleKind.RULE_KIND_CROWD_MOVEMENT: _crowd_movement,
    RuleKind.RULE_KIND_ILLEGAL_DUMPING: _illegal_dumping,
}
