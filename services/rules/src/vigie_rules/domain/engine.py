"""The pure rules core: (camera state, rules, detections) -> (camera state, alerts, counts).

No Kafka, no Faust, no clock, no I/O: the Faust agent, the embedded runtime and the benchmarks all
drive `evaluate` (frames of vigie.detections.v1) and `observe_signal` (traffic-signal states of
vigie.signals.v1, co-partitioned with detections, into the same camera state), and a replay of
the same events gives the same alerts with the same ids.

This module is the machinery every kind shares; what a kind detects is in its own file of
`kinds/` (see `kind.Kind`). For each frame and each rule of the camera, the engine filters the
detections by the rule's classes and confidence (the kind's defaults when the rule gives none),
hands them to the kind's `step`, and expires tracks; after every event, kinds with a `settle`
decide what waited. Kinds without a `step` react to other topics (face_match, citizen_report:
see their files) and are ignored here.

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
    Once per episode, with a cooldown: see `episodes`.

Tracks
    Per-track kinds use the detection's track_id (0 = untracked: ignored by per-track kinds,
    counted by rule-level kinds such as crowd_density). A track unseen for `TRACK_TTL_MS` of
    event time is forgotten; when it comes back, its episodes start afresh. See `tracking`.
    A new track id that continues one lost moments ago nearby (the tracker lost the object
    behind an occluder) goes on with the lost track's state in the kinds that declare
    `Kind.relinks` (zone intrusion, loitering, stationary vehicle, line crossing, wrong way):
    the same entry is one alert, the same crossing one count. See `relink`.

Counts
    Each rule counts in fixed 60 s windows of event time aligned on the epoch, emitted as one
    CountsAggregated when the first frame after the window's end is applied (windows in which the
    rule saw no frame are not emitted). Every window has "frames" (frames evaluated while the
    rule was active) and "alerts"; kinds add their own (line_crossing "in:<class>" /
    "out:<class>", crowd_density "max_count"...). The camera has its own window (rule_id ""):
    "frames", "late_frames", "late_signals" and "relinked_tracks".

Traffic signals
    Kinds that follow a traffic signal (`Kind.signal_of`: red_light) get its timeline kept in the
    camera state by `observe_signal`; an observation `tolerance_ms` behind its signal's newest
    one is ignored and counted "late_signals".

Rules apply when enabled, on their camera_id, within their schedule (`schedule.rule_active`). A
rule that is inactive on a frame forgets its tracks and rule-level episode (and what its kind's
memory drops on `pause`), so episodes restart when it resumes. A rule that disappears from
`rules` (or whose kind, geometry, classes, thresholds or signal_id change) loses its state,
including its open counting window. A rule whose kind is unknown is ignored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.detect.v1.detection_pb2 import ObjectsDetected
from vigie.rules.v1.rule_pb2 import Rule
from vigie.rules.v1.signal_pb2 import SignalObserved
from vigie.stats.v1.stats_pb2 import Count, CountsAggregated

from vigie_rules.domain import relink
from vigie_rules.domain.classes import SCENE_CLASSES
from vigie_rules.domain.engine_state import CameraState, RuleState
from vigie_rules.domain.geometry import box_bottom_centre
from vigie_rules.domain.kind import Frame, FrameContext, Kind, Obj, SettleContext
from vigie_rules.domain.kinds import kind_of
from vigie_rules.domain.schedule import rule_active
from vigie_rules.domain.signal_timeline import SignalTimeline

__all__ = [
    "DEFAULT_TOLERANCE_MS",
    "SIGNAL_TOLERANCE_MS",
    "TRACK_TTL_MS",
    "WINDOW_MS",
    "CameraState",
    "evaluate",
    "flush",
    "observe_signal",
]

WINDOW_MS = 60_000
"""Length of the counting windows, in ms of event time (aligned on the Unix epoch)."""
DEFAULT_TOLERANCE_MS = 500
"""How far behind the newest frame a frame may arrive and still be applied in order."""
TRACK_TTL_MS = 5_000
"""A track unseen for this long (event time) is forgotten by every rule."""
SIGNAL_TOLERANCE_MS = 2_000
"""How far signal observations may arrive out of order among themselves; what waits for a signal
state at t is decided once the signal's observations reach t + this."""

CameraRule = tuple[Rule, Kind]


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
    _settle(new, camera_rules, alerts, signal_tolerance_ms, final=False)
    return new, alerts, stats


def observe_signal(state: CameraState, rules: Sequence[Rule], event: SignalObserved, *,
                   tolerance_ms: int = SIGNAL_TOLERANCE_MS,
                   ) -> tuple[CameraState, list[AlertRaised], list[CountsAggregated]]:
    """Take one traffic-signal observation; return the new state, the alerts it decided and
    (always empty today) windows of counts. `state` is not modified. Only signals that a rule of
    the camera follows are kept (`Kind.signal_of`); an observation not newer than the signal's
    newest observation or the camera's newest frame, minus `tolerance_ms`, is late: ignored and
    counted under "late_signals" in the camera's counts."""
    new = _own(state, event.camera_id, "signal observation")
    alerts: list[AlertRaised] = []
    camera_rules = _camera_rules(rules, new.camera_id)
    if event.signal_id in _signals(camera_rules):
        timeline = new.signals.setdefault(event.signal_id, SignalTimeline())
        if not timeline.observe(event.observed_at.ToMilliseconds(), event.state, tolerance_ms):
            new.counts["late_signals"] = new.counts.get("late_signals", 0) + 1
    _settle(new, camera_rules, alerts, tolerance_ms, final=False)
    return new, alerts, []


def flush(state: CameraState, rules: Sequence[Rule], *, close_windows: bool = False,
          ) -> tuple[CameraState, list[AlertRaised], list[CountsAggregated]]:
    """End of a finite stream: apply every frame still in the reorder buffer, decide everything
    still waiting (red-light crossings without their signal) with what is known and, with
    close_windows, emit the windows still open (the camera's, then each rule's)."""
    new = state.copy()
    alerts: list[AlertRaised] = []
    stats: list[CountsAggregated] = []
    camera_rules = _camera_rules(rules, new.camera_id)
    while new.pending:
        _apply(new, camera_rules, new.pending.pop(0), alerts, stats)
    _settle(new, camera_rules, alerts, SIGNAL_TOLERANCE_MS, final=True)
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


def _camera_rules(rules: Sequence[Rule], camera_id: str) -> list[CameraRule]:
    """The camera's frame-driven rules with their kinds, by rule_id."""
    out = []
    for rule in rules:
        if rule.camera_id == camera_id and (kind := kind_of(rule)) is not None and kind.step:
            out.append((rule, kind))
    return sorted(out, key=lambda rk: rk[0].rule_id)


def _signals(camera_rules: list[CameraRule]) -> set[str]:
    return {kind.signal_of(rule) for rule, kind in camera_rules if kind.signal_of is not None}


def _fingerprint(rule: Rule, kind: Kind) -> str:
    """Changes when what the rule evaluates changes (then its state starts afresh)."""
    h = hashlib.sha256((str(kind.enum) if kind.enum else kind.name).encode())
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


def _prepare(frame: ObjectsDetected) -> Frame:
    width = frame.image_width or 1
    height = frame.image_height or 1
    objects = []
    for d in frame.detections:
        b = d.box
        x, y = box_bottom_centre(b.x_min, b.y_min, b.x_max, b.y_max)
        h_px = (b.y_max - b.y_min) * height
        aspect = (b.x_max - b.x_min) * width / h_px if h_px > 0 else 0.0
        appeared = d.appeared_at.ToMilliseconds() if d.HasField("appeared_at") else None
        objects.append(Obj(d.track_id, d.class_name, d.confidence, x, y, b, aspect, appeared))
    return Frame(frame, frame.captured_at.ToMilliseconds(), objects)


def _apply(state: CameraState, rules: list[CameraRule], event: ObjectsDetected,
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
    visible, relinked = relink.observe(state.seen, frame.objects, t, TRACK_TTL_MS)
    if relinked:
        state.counts["relinked_tracks"] = state.counts.get("relinked_tracks", 0) + relinked

    live: set[str] = set()
    for rule, kind in rules:
        assert kind.step is not None  # _camera_rules keeps frame-driven kinds only
        live.add(rule.rule_id)
        fingerprint = _fingerprint(rule, kind)
        rs = state.rules.get(rule.rule_id)
        if rs is None or rs.fingerprint != fingerprint:
            rs = state.rules[rule.rule_id] = RuleState(fingerprint)
        if rs.window_start_ms != window:
            if rs.window_start_ms is not None and rs.counts:
                stats.append(_window(state.camera_id, rule.rule_id, rs.window_start_ms,
                                     rs.counts, t))
            rs.window_start_ms, rs.counts = window, {}
        if not rule_active(rule, t):
            rs.tracks.clear()
            rs.cond_since_ms = None
            if kind.memory is not None and rs.memory is not None:
                rs.memory_of(kind.memory).pause()
            continue
        rs.counts["frames"] = rs.counts.get("frames", 0) + 1
        classes = frozenset(rule.class_names) or kind.default_classes
        min_conf = rule.thresholds.min_confidence or kind.default_min_confidence
        # "every class" is every class of the model: scene-stage regions only when named
        objects = [o for o in frame.objects if o.confidence >= min_conf
                   and (o.class_name in classes if classes is not None
                        else o.class_name not in SCENE_CLASSES)]
        zone = [(p.x, p.y) for p in rule.geometry.zone] if len(rule.geometry.zone) >= 3 else []
        if kind.relinks:
            relink.continue_tracks(rs, objects, state.seen, visible, t)
        kind.step(FrameContext(kind, rule, rs, state.camera_id, frame, objects, zone, alerts))
        for track_id in [k for k, ts in rs.tracks.items() if t - ts.last_seen_ms > TRACK_TTL_MS]:
            del rs.tracks[track_id]
    for rule_id in [r for r in state.rules if r not in live]:
        del state.rules[rule_id]


def _settle(state: CameraState, rules: list[CameraRule], alerts: list[AlertRaised],
            tolerance_ms: int, *, final: bool) -> None:
    """Let kinds decide what waited (all of it when `final`); drop the timelines of signals no
    rule follows any more."""
    used = _signals(rules)
    for signal in [s for s in state.signals if s not in used]:
        del state.signals[signal]
    for rule, kind in rules:
        if kind.settle is None:
            continue
        rs = state.rules.get(rule.rule_id)
        if rs is None or rs.fingerprint != _fingerprint(rule, kind):
            continue
        kind.settle(SettleContext(kind, rule, rs, state, alerts, tolerance_ms, final))
