"""Scenario files: validation, and scoring of the engine's output (no video, no model)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.common.v1.common_pb2 import BoundingBox
from vigie.detect.v1.detection_pb2 import Detection, ObjectsDetected
from vigie_eval.scenarios import (
    ScenarioError,
    load_scenario,
    parse_scenario,
    replay,
    score,
    totals,
)

SCENARIOS = Path(__file__).parent.parent / "scenarios"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def raw(**changes):
    doc = {
        "name": "test-line", "clip": "clip.mp4", "sample_fps": 10,
        "rules": [{"rule_id": "line", "kind": "line_crossing", "line": [[0.5, 0], [0.5, 1]],
                   "direction": [1, 0]},
                  {"rule_id": "zone", "kind": "zone_intrusion",
                   "zone": [[0.7, 0], [1, 0], [1, 1], [0.7, 1]]}],
        "expect": {"counts": [{"rule": "line", "direction": "in", "count": 2}],
                   "alerts": [{"rule": "zone", "windows": [[0.5, 2.0]]}]},
    }
    doc.update(changes)
    return doc


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"not really a video")
    return path


def test_a_scenario_loads_with_its_rules_on_its_own_camera(clip):
    scenario = parse_scenario(raw(), scenario_dir=clip.parent)
    assert scenario.clip == clip
    assert [r.rule_id for r in scenario.rules] == ["line", "zone"]
    assert {r.camera_id for r in scenario.rules} == {"scenario-test-line"}


@pytest.mark.parametrize(("changes", "message"), [
    ({"expect": {"counts": [{"rule": "nope", "count": 1}]}}, "no rule nope"),
    ({"rules": [{"rule_id": "line", "kind": "line_crossing"}]}, "line"),
    ({"sample_fps": 0}, "sample_fps"),
    ({"surprise": 1}, "surprise"),
    ({"clip": "missing.mp4"}, "missing.mp4 not found"),
])
def test_invalid_scenarios_say_what_is_wrong(clip, changes, message):
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(raw(**changes), scenario_dir=clip.parent)


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_the_shipped_scenarios_are_valid(path, tmp_path):
    spec = yaml.safe_load(path.read_text())
    (tmp_path / spec["clip"]).write_bytes(b"")
    scenario = load_scenario(path, clips_dir=tmp_path)
    assert scenario.spec.expect.counts or scenario.spec.expect.alerts


def _walker(frames: int) -> list[ObjectsDetected]:
    """Person 1 walks right across the line at x=0.5 and into the zone at x>0.7 (10 fps);
    person 2 walks left across the line."""
    out = []
    for i in range(frames):
        t = T0 + i * 100
        x1, x2 = 0.1 + 0.05 * i, 0.9 - 0.05 * i
        frame = ObjectsDetected(frame_id=f"cam:{t}", camera_id="scenario-test-line",
                                image_width=640, image_height=480, detections=[
            Detection(box=BoundingBox(x_min=x - 0.02, y_min=0.3, x_max=x + 0.02, y_max=0.5),
                      class_name="person", confidence=0.9, track_id=k)
            for k, x in ((1, x1), (2, x2)) if 0 < x < 1])
        frame.captured_at.FromMilliseconds(t)
        out.append(frame)
    return out


def test_replay_and_score_count_crossings_and_place_alerts_in_time(clip):
    scenario = parse_scenario(raw(), scenario_dir=clip.parent)
    alerts, stats = replay(_walker(17), scenario.rules)
    assert totals(stats)["line"] == {"frames": 17, "in:person": 1, "out:person": 1}
    outcomes, _ = score(scenario, alerts, stats, T0)
    count, alert = outcomes
    assert (count.expected, count.measured, count.passed) == (2, 1, False)
    assert count.error == 0.5
    # Person 1 enters the zone at 1.3 s (x > 0.7); person 2 starts inside it: two alerts,
    # one at 0.0 s, outside the expected window.
    assert (alert.measured, alert.misses, alert.false_alerts, alert.passed) == (2, 0, 1, False)


def test_an_alert_window_without_an_alert_is_a_miss(clip):
    scenario = parse_scenario(raw(), scenario_dir=clip.parent)
    late = AlertRaised(rule_id="zone")
    late.raised_at.FromMilliseconds(T0 + 5000)
    outcomes, _ = score(scenario, [late], [], T0)
    assert (outcomes[1].misses, outcomes[1].false_alerts) == (1, 1)
