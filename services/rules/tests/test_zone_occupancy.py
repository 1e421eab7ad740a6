"""zone_occupancy, the kind added as one file (domain/kinds/zone_occupancy.py): the count of
watched objects in the zone reported every window, and an alert once a window at min_count."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.common.v1.common_pb2 import BoundingBox, Point
from vigie.detect.v1.detection_pb2 import Detection, ObjectsDetected
from vigie.rules.v1.rule_pb2 import Rule, RuleKind
from vigie.stats.v1.stats_pb2 import CountsAggregated
from vigie_rules.domain.alert_ids import alert_id
from vigie_rules.domain.engine import WINDOW_MS, CameraState, evaluate, flush
from vigie_rules.domain.spec import load_rules, rule_problems, validate_rule_yaml

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, window-aligned
STEP = 100
CAM = "cam-1"
SQUARE = [(0.1, 0.1), (0.5, 0.1), (0.5, 0.9), (0.1, 0.9)]


def det(track: int, cls: str, x: float, y: float) -> Detection:
    return Detection(box=BoundingBox(x_min=x - 0.02, y_min=y - 0.12, x_max=x + 0.02, y_max=y),
                     confidence=0.9, class_name=cls, track_id=track)


def frame(i: int, detections: Sequence[Detection]) -> ObjectsDetected:
    f = ObjectsDetected(frame_id=f"{CAM}/{i}", camera_id=CAM, image_width=1000,
                        image_height=1000, detections=list(detections))
    f.captured_at.FromMilliseconds(T0 + i * STEP)
    return f


def occupancy(*, classes: Sequence[str] = (), min_count: int = 0) -> Rule:
    r = Rule(rule_id="r1", name="rule r1", camera_id=CAM, kind_name="zone_occupancy",
             class_names=list(classes), enabled=True)
    r.geometry.zone.extend(Point(x=x, y=y) for x, y in SQUARE)
    r.thresholds.min_count = min_count
    return r


def people(n_inside: int, n_outside: int = 0) -> list[Detection]:
    """n people in SQUARE (x 0.1..0.5), others to its right."""
    return ([det(1 + k, "person", 0.15 + 0.05 * k, 0.5) for k in range(n_inside)]
            + [det(100 + k, "person", 0.8, 0.2 + 0.1 * k) for k in range(n_outside)])


def run(rules: Sequence[Rule], frames: Sequence[ObjectsDetected],
        ) -> tuple[list[AlertRaised], list[CountsAggregated]]:
    state, alerts, stats = CameraState(), [], []
    for f in frames:
        state, a, s = evaluate(state, rules, f)
        alerts += a
        stats += s
    state, a, s = flush(state, rules, close_windows=True)
    return alerts + a, stats + s


def counts(stats: Sequence[CountsAggregated]) -> list[dict[str, int]]:
    return [{c.key: c.value for c in s.counts} for s in stats if s.rule_id == "r1"]


def test_counts_the_watched_objects_in_the_zone_every_window() -> None:
    # Window 1: 2 people for 100 frames, then 5 (a car too: not watched), then 3 on its last
    # frame; window 2 (from frame 600): 1 person. No min_count: no alert.
    frames = [frame(i, people(2 if i < 100 else 5 if i < 599 else 3, 2)
                    + ([det(50, "car", 0.3, 0.6)] if i < 300 else []))
              for i in range(600)]
    frames += [frame(600 + i, people(1)) for i in range(10)]
    alerts, stats = run([occupancy()], frames)
    assert alerts == []
    assert counts(stats) == [
        {"frames": 600, "max_count": 5, "last_count": 3},
        {"frames": 10, "max_count": 1, "last_count": 1}]
    first = next(s for s in stats if s.rule_id == "r1")
    assert first.window.start.ToMilliseconds() == T0
    assert first.window.end.ToMilliseconds() == T0 + WINDOW_MS


def test_classes_of_the_rule_replace_the_default_persons() -> None:
    frames = [frame(i, [det(1, "car", 0.3, 0.5), det(2, "person", 0.2, 0.5),
                        det(3, "truck", 0.35, 0.6)]) for i in range(20)]
    assert counts(run([occupancy(classes=["car", "truck"])], frames)[1]) == [
        {"frames": 20, "max_count": 2, "last_count": 2}]


def test_min_count_raises_one_alert_a_window_when_the_count_reaches_it() -> None:
    # 2 people, then 4 from frame 10 (1 s), down to 1, up to 4 again (same window: no second
    # alert), then 4 in the next window (a new alert, episode = that window's start).
    n = [2] * 10 + [4] * 10 + [1] * 10 + [4] * 10
    frames = [frame(i, people(k)) for i, k in enumerate(n)]
    frames += [frame(600 + i, people(4)) for i in range(5)]
    alerts, stats = run([occupancy(min_count=3)], frames)
    assert [(a.started_at.ToMilliseconds() - T0, a.raised_at.ToMilliseconds() - T0,
             tuple(a.track_ids), a.attributes["count"]) for a in alerts] == [
        (0, 10 * STEP, (1, 2, 3, 4), "4"), (WINDOW_MS, WINDOW_MS, (1, 2, 3, 4), "4")]
    first = alerts[0]
    assert first.alert_id == alert_id("r1", CAM, None, T0)
    assert first.rule_kind_name == "zone_occupancy"
    assert first.rule_kind == RuleKind.RULE_KIND_UNSPECIFIED
    assert first.involves_persons
    assert first.title == "Zone occupancy - rule r1"
    assert len(first.boxes) == 4
    assert [c["alerts"] for c in counts(stats)] == [1, 1]


def test_untracked_objects_count_too() -> None:
    frames = [frame(i, [det(0, "person", 0.3, 0.5)] if i < 5 else []) for i in range(10)]
    alerts, stats = run([occupancy(min_count=1)], frames)
    assert [tuple(a.track_ids) for a in alerts] == [()]
    assert counts(stats) == [{"frames": 10, "max_count": 1, "last_count": 0, "alerts": 1}]


ZONE_OCCUPANCY = """\
rule_id: hall
name: Hall occupancy
camera_id: cam-hall
kind: zone_occupancy
zone: [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]
"""


@pytest.mark.parametrize(("extra", "problems"), [
    ("", []),
    ("min_count: 25\n", []),
    ("max_dwell_s: 30\n", ["max_dwell_s: not used by zone_occupancy rules"]),
])
def test_spec_validation(extra: str, problems: list[str]) -> None:
    assert validate_rule_yaml(ZONE_OCCUPANCY + extra) == problems


def test_a_spec_without_zone_is_refused() -> None:
    text = ZONE_OCCUPANCY.replace("zone: [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]\n", "")
    assert validate_rule_yaml(text) == ["zone: required for zone_occupancy rules"]


def test_a_loaded_rule_is_known_by_name_only_and_runs() -> None:
    (r,) = load_rules(ZONE_OCCUPANCY + "min_count: 2\n", datetime(2026, 1, 1, tzinfo=UTC))
    assert r.kind == RuleKind.RULE_KIND_UNSPECIFIED and r.kind_name == "zone_occupancy"
    assert rule_problems(r) == []
    r.camera_id = CAM
    alerts, _ = run([r], [frame(0, people(3))])
    assert [a.rule_id for a in alerts] == ["hall"]
