"""Red light: vehicles crossing a stop line, joined with traffic-signal observations.

Scenarios on a synthetic road (exact alerts), the two signal sources (the region's colour under
the rule's id, or a controller's signal_id), the signal timeline on its own, and properties:
any interleaving of frames and signal observations within the tolerances gives the same
alerts, replays give the same ids, and a restart from a saved state loses or duplicates none.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.common.v1.common_pb2 import BoundingBox
from vigie.detect.v1.detection_pb2 import Detection, ObjectsDetected
from vigie.rules.v1.rule_pb2 import Rule, RuleKind
from vigie.rules.v1.signal_pb2 import SignalObserved, SignalSource, SignalState
from vigie.stats.v1.stats_pb2 import CountsAggregated
from vigie_rules.domain.alert_ids import alert_id
from vigie_rules.domain.engine import (
    SIGNAL_TOLERANCE_MS,
    CameraState,
    evaluate,
    flush,
    observe_signal,
)
from vigie_rules.domain.kinds.red_light import SIGNAL_MAX_WAIT_MS
from vigie_rules.domain.signal_timeline import MAX_AGE_MS, MAX_RUNS, SignalTimeline

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, window-aligned
STEP = 100
CAM = "cam-red"
RED, AMBER, GREEN, OFF, UNKNOWN = (SignalState.SIGNAL_STATE_RED, SignalState.SIGNAL_STATE_AMBER,
                                   SignalState.SIGNAL_STATE_GREEN, SignalState.SIGNAL_STATE_OFF,
                                   SignalState.SIGNAL_STATE_UNKNOWN)
STOP_LINE = ((0.1, 0.5), (0.9, 0.5))
UP = (0.0, -1.0)  # traffic drives up the image, toward the line


def det(track: int, cls: str, x: float, y: float) -> Detection:
    return Detection(box=BoundingBox(x_min=x - 0.05, y_min=y - 0.1, x_max=x + 0.05, y_max=y),
                     confidence=0.9, class_name=cls, track_id=track)


def frame(i: int, detections: Sequence[Detection]) -> ObjectsDetected:
    t = T0 + i * STEP
    f = ObjectsDetected(frame_id=f"{CAM}/{i}", camera_id=CAM, image_width=1000,
                        image_height=1000, detections=list(detections))
    f.captured_at.FromMilliseconds(t)
    return f


def red_rule(*, rule_id: str = "red-1", direction: tuple[float, float] | None = UP,
             classes: Sequence[str] = (), signal_id: str = "", cooldown_s: float = 0) -> Rule:
    r = Rule(rule_id=rule_id, name="Stop line", camera_id=CAM,
             kind=RuleKind.RULE_KIND_RED_LIGHT, class_names=list(classes), enabled=True,
             signal_id=signal_id)
    (r.geometry.line.start.x, r.geometry.line.start.y), (r.geometry.line.end.x,
                                                          r.geometry.line.end.y) = STOP_LINE
    if direction is not None:
        r.geometry.direction.dx, r.geometry.direction.dy = direction
    if not signal_id:
        r.geometry.signal_region.x_max = r.geometry.signal_region.y_max = 0.1
    if cooldown_s:
        r.thresholds.cooldown.FromMilliseconds(int(cooldown_s * 1000))
    return r


def sig(t_ms: int, state: int, signal_id: str = "red-1") -> SignalObserved:
    """An observation at T0 + t_ms."""
    s = SignalObserved(camera_id=CAM, signal_id=signal_id, state=state,
                       source=SignalSource.SIGNAL_SOURCE_COLOUR)
    s.observed_at.FromMilliseconds(T0 + t_ms)
    return s


def drive(n: int, track: int, cls: str = "car", *, y0: float = 0.805, vy: float = -0.01,
          x: float = 0.5, first: int = 0) -> list[tuple[int, Detection]]:
    """(frame index, detection) of a vehicle driving from y0 at vy per frame. From the default
    y0 and vy it is 0.495 (within the line's margin) on frame 31 and 0.485 on frame 32: it
    crosses at T0 + 3.2 s, last seen before the line at T0 + 3.1 s."""
    return [(first + i, det(track, cls, x, y0 + vy * i)) for i in range(n)]


def frames_of(n: int, *tracks: list[tuple[int, Detection]]) -> list[ObjectsDetected]:
    by_frame: dict[int, list[Detection]] = {}
    for track in tracks:
        for i, d in track:
            by_frame.setdefault(i, []).append(d)
    return [frame(i, by_frame.get(i, [])) for i in range(n)]


def every_frame(n: int, state_at: dict[int, int], signal_id: str = "red-1",
                ) -> list[SignalObserved]:
    """One observation per frame time (like the colour adapter); `state_at` maps a start time
    (ms from T0) to the state from then on."""
    starts = sorted(state_at)
    out = []
    for i in range(n):
        t = i * STEP
        current = [s for s in starts if s <= t]
        if current:
            out.append(sig(t, state_at[current[-1]], signal_id))
    return out


Event = ObjectsDetected | SignalObserved


def event_ms(e: Event) -> int:
    if isinstance(e, ObjectsDetected):
        return e.captured_at.ToMilliseconds()
    return e.observed_at.ToMilliseconds()


@dataclass
class Run:
    state: CameraState = field(default_factory=CameraState)
    alerts: list[AlertRaised] = field(default_factory=list)
    stats: list[CountsAggregated] = field(default_factory=list)

    def feed(self, rules: Sequence[Rule], events: Sequence[Event]) -> Run:
        for e in events:
            if isinstance(e, ObjectsDetected):
                self.state, alerts, stats = evaluate(self.state, rules, e)
            else:
                self.state, alerts, stats = observe_signal(self.state, rules, e)
            self.alerts += alerts
            self.stats += stats
        return self

    def end(self, rules: Sequence[Rule]) -> Run:
        self.state, alerts, stats = flush(self.state, rules, close_windows=True)
        self.alerts += alerts
        self.stats += stats
        return self


def in_order(frames: Sequence[ObjectsDetected], signals: Sequence[SignalObserved],
             ) -> list[Event]:
    """Frames and observations merged by event time (an observation first on a tie)."""
    return sorted([*signals, *frames], key=lambda e: (event_ms(e), isinstance(e, ObjectsDetected)))


def run(rules: Sequence[Rule], events: Sequence[Event]) -> Run:
    return Run().feed(rules, events).end(rules)


def summary(alerts: Sequence[AlertRaised]) -> list[tuple[tuple[int, ...], int]]:
    return [(tuple(a.track_ids), a.started_at.ToMilliseconds() - T0) for a in alerts]


def rule_counts(result: Run, rule_id: str = "red-1") -> dict[str, int]:
    total: dict[str, int] = {}
    for s in result.stats:
        if s.rule_id == rule_id:
            for c in s.counts:
                total[c.key] = total.get(c.key, 0) + c.value
    return total


def camera_counts(result: Run) -> dict[str, int]:
    return rule_counts(result, "")


# --------------------------------------------------------------------------------------------
# Scenarios


@dataclass
class Scenario:
    name: str
    rules: list[Rule]
    events: list[Event]
    expected: list[tuple[tuple[int, ...], int]]


N = 60
SCENARIOS = [
    Scenario("red all along: the car that crosses is flagged",
             [red_rule()], in_order(frames_of(N, drive(N, 1)), every_frame(N, {0: RED})),
             [((1,), 3200)]),
    Scenario("green all along: nothing",
             [red_rule()], in_order(frames_of(N, drive(N, 1)), every_frame(N, {0: GREEN})), []),
    Scenario("turned red between the last frame before the line and the crossing: entered "
             "on amber",
             [red_rule()], in_order(frames_of(N, drive(N, 1)),
                                    every_frame(N, {0: GREEN, 2000: AMBER, 3150: RED})), []),
    Scenario("red for 0.2 s when the car was still before the line",
             [red_rule()], in_order(frames_of(N, drive(N, 1)),
                                    every_frame(N, {0: AMBER, 3000: RED})), [((1,), 3200)]),
    Scenario("turned green just before the crossing",
             [red_rule()], in_order(frames_of(N, drive(N, 1)),
                                    every_frame(N, {0: RED, 3150: GREEN})), []),
    Scenario("the car waits at the line on red and goes on green",
             [red_rule()],
             in_order(frames_of(N, drive(20, 1, y0=0.75), [(i, det(1, "car", 0.5, 0.56))
                                                           for i in range(20, 45)],
                                drive(15, 1, y0=0.55, first=45)),
                      every_frame(N, {0: RED, 4000: GREEN})), []),
    Scenario("driving the other way (away from the line) on red",
             [red_rule()],
             in_order(frames_of(N, drive(N, 1, y0=0.195, vy=0.01)), every_frame(N, {0: RED})),
             []),
    Scenario("without a direction, both ways count",
             [red_rule(direction=None)],
             in_order(frames_of(N, drive(N, 1, y0=0.195, vy=0.01)), every_frame(N, {0: RED})),
             [((1,), 3200)]),
    Scenario("a pedestrian on red is not a vehicle; a class filter keeps only buses",
             [red_rule(rule_id="red-1"), red_rule(rule_id="red-2", classes=["bus"])],
             in_order(frames_of(N, drive(N, 1, "person", x=0.3), drive(N, 2, "car", x=0.5),
                                drive(N, 3, "bus", x=0.7)),
                      every_frame(N, {0: RED}) + every_frame(N, {0: RED}, "red-2")),
             [((2,), 3200), ((3,), 3200), ((3,), 3200)]),
    Scenario("no signal observation at all: nothing (counted no_signal)",
             [red_rule()], in_order(frames_of(N, drive(N, 1)), []), []),
    Scenario("the last observation is too old (a stalled adapter): nothing",
             [red_rule()],
             in_order(frames_of(N, drive(N, 1)), [sig(3200 - MAX_AGE_MS - 200, RED)]), []),
    Scenario("the last observation is old but in force",
             [red_rule()], in_order(frames_of(N, drive(N, 1)), [sig(3200 - MAX_AGE_MS, RED)]),
             [((1,), 3200)]),
    Scenario("two observers disagreeing on an instant make it unknown",
             [red_rule()],
             in_order(frames_of(N, drive(N, 1)), [sig(0, RED), sig(3150, GREEN),
                                                  sig(3150, RED)]), []),
    Scenario("a controller signal: only observations of that signal id count",
             [red_rule(signal_id="ctrl-9/sg-2")],
             in_order(frames_of(N, drive(N, 1)),
                      [*every_frame(N, {0: GREEN}, "red-1"), sig(0, RED, "ctrl-9/sg-2")]),
             [((1,), 3200)]),
    Scenario("the colour signal of the rule is ignored when it names a controller",
             [red_rule(signal_id="ctrl-9/sg-2")],
             in_order(frames_of(N, drive(N, 1)), every_frame(N, {0: RED}, "red-1")), []),
    Scenario("two cars, one crossing on red, the other on green",
             [red_rule()],
             in_order(frames_of(N, drive(N, 1, x=0.3), drive(N - 20, 2, x=0.6, first=20)),
                      every_frame(N, {0: RED, 4000: GREEN})), [((1,), 3200)]),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario(scenario: Scenario) -> None:
    result = run(scenario.rules, scenario.events)
    assert sorted(summary(result.alerts)) == sorted(scenario.expected)
    for a in result.alerts:
        t = a.started_at.ToMilliseconds()
        assert a.alert_id == alert_id(a.rule_id, CAM, a.track_ids[0], t)
        assert a.rule_kind == RuleKind.RULE_KIND_RED_LIGHT
        assert a.raised_at.ToMilliseconds() == t  # the crossing frame, not when decided
        assert a.frame_id == f"{CAM}/{(t - T0) // STEP}"
        assert a.title == "Red light - Stop line"
        assert len(a.boxes) == 1 and a.attributes["signal_id"]


def test_alert_attributes_and_counts() -> None:
    result = run([red_rule()], in_order(frames_of(N, drive(N, 1, "truck")),
                                        every_frame(N, {0: GREEN, 1000: RED})))
    (alert,) = result.alerts
    assert dict(alert.attributes) == {"class_name": "truck", "signal_id": "red-1",
                                      "red_for_s": "2.2"}
    assert alert.boxes[0].y_max == pytest.approx(0.485)
    assert rule_counts(result) == {"frames": N, "in:truck": 1, "alerts": 1}


def test_without_signal_the_crossing_is_counted_as_no_signal() -> None:
    result = run([red_rule()], frames_of(N, drive(N, 1)))
    assert result.alerts == []
    assert rule_counts(result) == {"frames": N, "in:car": 1, "no_signal": 1}


def test_cooldown_per_track() -> None:
    """A car crosses up, backs down over the line, crosses up again 2 s later, on red."""
    path = ([(i, det(1, "car", 0.5, 0.805 - 0.01 * i)) for i in range(35)]  # up to 0.465
            + [(35 + i, det(1, "car", 0.5, 0.465 + 0.01 * i)) for i in range(10)]  # to 0.555
            + [(45 + i, det(1, "car", 0.5, 0.555 - 0.01 * i)) for i in range(15)])  # to 0.415
    events = in_order(frames_of(N, path), every_frame(N, {0: RED}))
    twice = run([red_rule()], events)
    assert summary(twice.alerts) == [((1,), 3200), ((1,), 5200)]
    once = run([red_rule(cooldown_s=5)], events)
    assert summary(once.alerts) == [((1,), 3200)]


# --------------------------------------------------------------------------------------------
# Arrival order


def delayed(frames: Sequence[ObjectsDetected], signals: Sequence[SignalObserved], *,
            frame_delay_ms: int = 0, signal_delay_ms: int = 0) -> list[Event]:
    """The stream as the rules engine receives it when each topic lags by a constant."""
    arrivals = [(event_ms(f) + frame_delay_ms, 1, i, f) for i, f in enumerate(frames)]
    arrivals += [(event_ms(s) + signal_delay_ms, 0, i, s) for i, s in enumerate(signals)]
    return [e for *_, e in sorted(arrivals, key=lambda a: a[:3])]


FRAMES = frames_of(N, drive(N, 1, x=0.3), drive(N - 20, 2, x=0.6, first=20))
SIGNALS = every_frame(N, {0: AMBER, 3000: RED, 4000: GREEN})
EXPECTED = [((1,), 3200)]


@pytest.mark.parametrize(("frame_delay_ms", "signal_delay_ms"), [
    (0, 0), (0, 1500), (0, SIGNAL_TOLERANCE_MS - STEP), (1500, 0), (5000, 0), (60_000, 0),
])
def test_signal_and_detection_lags_within_the_tolerance_change_nothing(
        frame_delay_ms: int, signal_delay_ms: int) -> None:
    """Detections usually lag (inference), colour observations lag less; a controller may be
    ahead or behind. Within the tolerance, the same alerts."""
    result = run([red_rule()], delayed(FRAMES, SIGNALS, frame_delay_ms=frame_delay_ms,
                                       signal_delay_ms=signal_delay_ms))
    assert summary(result.alerts) == EXPECTED
    assert "late_signals" not in camera_counts(result)


@pytest.mark.parametrize("signal_delay_ms", [3000, 10_000, SIGNAL_MAX_WAIT_MS - 5 * STEP])
def test_crossings_wait_for_a_lagging_signal_feed(signal_delay_ms: int) -> None:
    """The topics are joined on event time: a colour adapter or controller feed seconds behind
    the detections (a backlog after a restart) changes nothing."""
    result = run([red_rule()], delayed(FRAMES, SIGNALS, signal_delay_ms=signal_delay_ms))
    assert summary(result.alerts) == EXPECTED
    assert "late_signals" not in camera_counts(result)


def test_a_feed_more_than_the_maximum_wait_behind_decides_without_it() -> None:
    frames = frames_of(400, drive(400, 1, x=0.3))  # 40 s of frames: waits can expire
    signals = every_frame(400, {0: AMBER, 3000: RED, 4000: GREEN})
    on_time = run([red_rule()], in_order(frames, signals))
    assert summary(on_time.alerts) == EXPECTED
    lagging = run([red_rule()], delayed(frames, signals,
                                        signal_delay_ms=SIGNAL_MAX_WAIT_MS + 5000))
    assert lagging.alerts == []  # decided with no signal known at the crossing
    assert rule_counts(lagging)["no_signal"] == 1


def test_a_late_observation_from_the_signal_own_past_is_refused() -> None:
    events = in_order(FRAMES, SIGNALS)
    stale = sig(1000, RED)  # arrives at the end, 4.9 s behind the newest observation
    result = run([red_rule()], [*events, stale])
    assert summary(result.alerts) == EXPECTED
    assert camera_counts(result)["late_signals"] == 1


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[ObjectsDetected], list[SignalObserved]]:
    """Random signal phases (observed on every frame) and a few vehicles crossing at random
    times, some too fast for the hysteresis to see them in one frame."""
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    n = rng.randint(40, 120)
    phases = {0: rng.choice([RED, GREEN, AMBER])}
    t = 0
    while t < n * STEP:
        t += rng.randint(3, 30) * STEP + rng.choice([0, 50])
        phases[t] = rng.choice([RED, GREEN, AMBER, OFF, UNKNOWN])
    signals = [s for s in every_frame(n, phases) if rng.random() > 0.2]  # some dropped
    tracks = []
    for track in range(1, rng.randint(1, 5) + 1):
        first = rng.randint(0, n - 10)
        vy = rng.choice([-0.01, -0.02, -0.04, 0.01])
        cls = rng.choice(["car", "car", "bus", "person", "bicycle"])
        tracks.append(drive(n - first, track, cls, y0=rng.uniform(0.3, 0.9), vy=vy,
                            x=rng.uniform(0.15, 0.85), first=first))
    return frames_of(n, *tracks), signals


def wire_set(alerts: Sequence[AlertRaised]) -> list[bytes]:
    return sorted(a.SerializeToString(deterministic=True) for a in alerts)


@settings(max_examples=60, deadline=None)
@given(streams(), st.randoms(use_true_random=False), st.integers(0, 3000))
def test_any_interleaving_within_the_tolerances_gives_the_same_alerts(
        stream: tuple[list[ObjectsDetected], list[SignalObserved]], rng: random.Random,
        detection_lag_ms: int) -> None:
    """Frames arrive `detection_lag_ms` late plus < 500 ms of jitter (the frame reorder
    tolerance), observations with < 1.5 s of jitter: the same alert set as in event-time
    order, and no observation is late."""
    frames, signals = stream
    rules = [red_rule(), red_rule(rule_id="red-2", direction=None, cooldown_s=2)]
    signals = signals + [sig(event_ms(s) - T0, s.state, "red-2") for s in signals]
    reference = run(rules, in_order(frames, signals))
    arrivals = [(event_ms(f) + detection_lag_ms + rng.randrange(500), 1, i, f)
                for i, f in enumerate(frames)]
    arrivals += [(event_ms(s) + rng.randrange(1500), 0, i, s) for i, s in enumerate(signals)]
    shuffled = run(rules, [e for *_, e in sorted(arrivals, key=lambda a: a[:3])])
    assert wire_set(shuffled.alerts) == wire_set(reference.alerts)
    assert "late_signals" not in camera_counts(shuffled)


@settings(max_examples=40, deadline=None)
@given(streams(), st.integers(0, 10**6), st.integers(0, 30))
def test_replay_and_restart_from_a_saved_state_give_the_same_alerts(
        stream: tuple[list[ObjectsDetected], list[SignalObserved]], pick: int,
        redo: int) -> None:
    """Kill mid-stream: the state (with its waiting crossings and signal timelines) was saved
    redo events before; those are delivered again. Same alerts, by id and content."""
    frames, signals = stream
    rules = [red_rule()]
    events = in_order(frames, signals)
    clean = run(rules, events)
    assert wire_set(run(rules, events).alerts) == wire_set(clean.alerts)
    k = pick % (len(events) + 1)
    saved_at = max(0, k - redo)
    before = Run().feed(rules, events[:saved_at])
    saved = json.loads(json.dumps(before.state.to_dict()))
    assert CameraState.from_dict(saved) == before.state
    crashed = Run(before.state, list(before.alerts)).feed(rules, events[saved_at:k])
    restarted = Run(CameraState.from_dict(saved)).feed(rules, events[saved_at:]).end(rules)
    emitted = {a.alert_id: a.SerializeToString(deterministic=True)
               for a in [*crashed.alerts, *restarted.alerts]}
    assert emitted == {a.alert_id: a.SerializeToString(deterministic=True) for a in clean.alerts}


def test_state_is_not_mutated_and_rejects_another_camera() -> None:
    rules = [red_rule()]
    state = Run().feed(rules, in_order(FRAMES[:33], SIGNALS[:33])).state
    before = json.dumps(state.to_dict(), sort_keys=True)
    observe_signal(state, rules, sig(3400, GREEN))
    evaluate(state, rules, FRAMES[40])
    assert json.dumps(state.to_dict(), sort_keys=True) == before
    other = SignalObserved(camera_id="cam-2", signal_id="red-1", state=RED)
    with pytest.raises(ValueError, match="camera"):
        observe_signal(state, rules, other)


def test_only_signals_of_red_light_rules_are_kept() -> None:
    rules = [red_rule()]
    state = Run().feed(rules, [sig(0, RED), sig(0, RED, "unrelated"), sig(100, GREEN)]).state
    assert sorted(state.signals) == ["red-1"]
    state, _, _ = evaluate(state, [], frame(5, []))  # the rule is gone
    assert state.signals == {}


# --------------------------------------------------------------------------------------------
# The timeline on its own


def test_timeline_state_in_force() -> None:
    tl = SignalTimeline()
    assert tl.state_at(0) == (UNKNOWN, None)
    for t, s in [(1000, GREEN), (5000, RED), (5100, RED), (9000, GREEN)]:
        assert tl.observe(t, s, 2000)
    assert tl.state_at(999) == (UNKNOWN, None)
    assert tl.state_at(1000) == (GREEN, 1000)
    assert tl.state_at(4999) == (GREEN, 1000)
    assert tl.state_at(5050) == (RED, 5000)
    assert tl.state_at(8999) == (RED, 5000)
    assert tl.state_at(9000 + MAX_AGE_MS) == (GREEN, 9000)
    assert tl.state_at(9001 + MAX_AGE_MS) == (UNKNOWN, None)
    assert not tl.observe(6999, AMBER, 2000)  # newest is 9000: late
    assert tl.observe(7001, AMBER, 2000)
    assert tl.state_at(7500) == (AMBER, 7001)


def test_timeline_a_gap_longer_than_the_maximum_age_breaks_a_run() -> None:
    """Red at 0 s and again at 40 s (the feed stalled in between): unknown from 30 s to 40 s,
    and the red since 40 s is not the red since 0 s."""
    tl = SignalTimeline()
    for t in (0, 100, 40_000, 40_100, 45_000):
        tl.observe(t, RED, 2000)
    assert tl.state_at(30_100) == (RED, 0)
    assert tl.state_at(30_101) == (UNKNOWN, None)
    assert tl.state_at(39_999) == (UNKNOWN, None)
    assert tl.state_at(40_050) == (RED, 40_000)


def test_timeline_unspecified_state_is_unknown() -> None:
    tl = SignalTimeline()
    tl.observe(0, RED, 2000)
    tl.observe(100, SignalState.SIGNAL_STATE_UNSPECIFIED, 2000)
    assert tl.state_at(150) == (UNKNOWN, None)
    assert tl.state_at(50) == (RED, 0)


def test_timeline_stays_small_on_a_per_frame_feed() -> None:
    """An hour of 10 fps observations with a 60 s cycle (30 s red, 27 s green, 3 s amber)."""
    tl = SignalTimeline()
    for i in range(36_000):
        t = i * 100
        phase = t % 60_000
        tl.observe(t, RED if phase < 30_000 else GREEN if phase < 57_000 else AMBER, 2000)
    assert len(tl.runs) <= 8 and len(tl.recent) <= 20
    assert len(json.dumps(tl.to_dict())) < 1000
    last_cycle = 59 * 60_000
    assert tl.state_at(last_cycle + 54_900) == (GREEN, last_cycle + 30_000)
    assert tl.state_at(last_cycle + 20_000) == (RED, last_cycle)


def test_timeline_keeps_at_most_max_runs() -> None:
    tl = SignalTimeline()
    for i in range(10 * MAX_RUNS):
        tl.observe(i * 100, AMBER if i % 2 else OFF, 200)  # flashing amber at 5 Hz
    assert len(tl.runs) == MAX_RUNS


def _reference_state(observations: list[tuple[int, int]], t: int) -> int:
    """State at t by the definition: the last observation at or before t (conflicting ones at
    one instant: UNKNOWN), if not older than MAX_AGE_MS."""
    at_or_before = [o for o in observations if o[0] <= t]
    if not at_or_before:
        return UNKNOWN
    last_t = max(o[0] for o in at_or_before)
    states = {s for o_t, s in at_or_before if o_t == last_t}
    if t - last_t > MAX_AGE_MS or len(states) > 1:
        return UNKNOWN
    (state,) = states
    return state if state in (RED, AMBER, GREEN, OFF) else UNKNOWN


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 400).map(lambda k: k * 250),
                          st.sampled_from([RED, AMBER, GREEN, OFF, UNKNOWN])),
                min_size=1, max_size=60),
       st.randoms(use_true_random=False))
def test_timeline_answers_like_the_raw_observations_whatever_the_order(
        observations: list[tuple[int, int]], rng: random.Random) -> None:
    """Run compression and settling never change an answer: observations arriving out of
    order within the tolerance give, at every instant, the state the definition gives."""
    tolerance = 2000
    arrival = sorted(observations, key=lambda o: o[0] + rng.randrange(tolerance))
    tl = SignalTimeline()
    for t, s in arrival:
        assert tl.observe(t, s, tolerance)
    assert len(tl.recent) <= 2000 // 250 + 1
    for t in range(0, 400 * 250 + MAX_AGE_MS + 500, 125):
        assert tl.state_at(t)[0] == _reference_state(observations, t), t
    again = SignalTimeline.from_dict(json.loads(json.dumps(tl.to_dict())))
    assert again == tl
