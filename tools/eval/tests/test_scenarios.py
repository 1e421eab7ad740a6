"""Scenario files: validation, and scoring of the engine's output (no video, no model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import required_inputs as inputs
import yaml
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.common.v1.common_pb2 import BoundingBox
from vigie.detect.v1.detection_pb2 import Detection, ObjectsDetected
from vigie.stats.v1.stats_pb2 import CountsAggregated
from vigie_eval.groundtruth import (
    derive,
    entry_windows,
    line_crossings,
    parse_ground_truth,
    read_ground_truth,
    zone_entries,
)
from vigie_eval.pipeline import VideoRun
from vigie_eval.scenarios import (
    ScenarioError,
    ScenarioReport,
    load_scenario,
    match_windows,
    parse_scenario,
    replay,
    scenario_table,
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
    clips = tmp_path / "clips"  # a clip may be named relative to it (../mot15/...)
    clip = clips / spec["clip"]
    clip.parent.mkdir(parents=True, exist_ok=True)
    clip.write_bytes(b"")
    scenario = load_scenario(path, clips_dir=clips)
    assert scenario.clip.resolve() == clip.resolve()
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
    assert (count.expected, count.measured) == (2, 1)
    assert count.error == 0.5
    assert count.passed  # off by one: within the default abs_tolerance of 1
    # Person 1 enters the zone at 1.3 s (x > 0.7); person 2 starts inside it: two alerts,
    # one at 0.0 s, outside the expected window.
    assert (alert.measured, alert.misses, alert.false_alerts, alert.passed) == (2, 0, 1, False)


def test_an_alert_window_without_an_alert_is_a_miss(clip):
    scenario = parse_scenario(raw(), scenario_dir=clip.parent)
    late = AlertRaised(rule_id="zone")
    late.raised_at.FromMilliseconds(T0 + 5000)
    outcomes, _ = score(scenario, [late], [], T0)
    assert (outcomes[1].misses, outcomes[1].false_alerts) == (1, 1)


def _counts(rule: str, **keys: int) -> CountsAggregated:
    window = CountsAggregated(rule_id=rule)
    for key, value in keys.items():
        window.counts.add(key=key.replace("_", ":"), value=value)
    return window


@pytest.mark.parametrize(("expected", "measured", "changes", "passed"), [
    (2, 1, {}, True),  # |error| 1 <= max(1, 5 % of 2)
    (2, 0, {}, False),
    (2, 3, {}, True),
    (0, 1, {}, True),
    (0, 2, {}, False),
    (40, 42, {}, True),  # 5 % of 40 = 2
    (40, 43, {}, False),
    (10, 11, {"abs_tolerance": 0}, False),  # 10 % > 5 %
    (10, 12, {"abs_tolerance": 2}, True),
    (10, 12, {"tolerance": 0.2, "abs_tolerance": 0}, True),
])
def test_a_count_passes_within_the_larger_of_its_absolute_and_relative_tolerance(
        clip, expected, measured, changes, passed):
    expect = {"counts": [{"rule": "line", "direction": "in", "count": expected, **changes}]}
    scenario = parse_scenario(raw(expect=expect), scenario_dir=clip.parent)
    (outcome,), _ = score(scenario, [], [_counts("line", in_person=measured)], T0)
    assert (outcome.measured, outcome.passed) == (measured, passed)


def _alert(at_s: float, rule: str = "zone") -> AlertRaised:
    alert = AlertRaised(rule_id=rule)
    alert.raised_at.FromMilliseconds(T0 + round(at_s * 1000))
    return alert


@pytest.mark.parametrize(("times", "windows", "held", "outside"), [
    ([], [(0, 1)], [0], 0),
    ([0.5, 0.7], [(0, 1), (2, 3)], [2, 0], 0),
    ([0.5, 1.5, 4.0], [(0, 1), (1, 2)], [1, 1], 1),
    # Overlapping windows (two people entering together): each alert takes a free window, the
    # earliest-ending first; a third is a duplicate in the earliest-ending one.
    ([1.2, 1.1], [(0, 3), (1, 2)], [1, 1], 0),
    ([1.2, 1.1, 1.3], [(0, 3), (1, 2)], [1, 2], 0),
    ([2.5, 1.5], [(0, 3), (1, 2)], [1, 1], 0),
])
def test_each_alert_is_matched_to_one_window(times, windows, held, outside):
    assert match_windows(times, windows) == (held, outside)


@pytest.mark.parametrize(("times", "max_per_event", "per_event", "duplicates", "passed"), [
    ([1.0, 5.0], 1.1, 1.0, 0, True),
    ([1.0, 1.5, 5.0], 1.1, 1.5, 1, False),  # 3 alerts for 2 entries
    ([1.0, 1.5, 5.0], None, 1.5, 1, True),  # not checked
    ([1.0, 1.5, 5.0], 1.5, 1.5, 1, True),
    ([1.0, 1.2, 1.4, 5.0, 5.5], 1.5, 2.5, 3, False),
    ([1.0], 1.1, 1.0, 0, False),  # a miss fails whatever the ratio
    ([], 1.1, None, 0, False),
])
def test_alerts_per_true_event_counts_duplicates_in_windows(
        clip, times, max_per_event, per_event, duplicates, passed):
    expect = {"alerts": [{"rule": "zone", "windows": [[0.5, 2.5], [4.5, 6.5]],
                          "max_per_event": max_per_event}]}
    scenario = parse_scenario(raw(expect=expect), scenario_dir=clip.parent)
    (outcome,), _ = score(scenario, [_alert(t) for t in times], [], T0)
    assert (outcome.alerts_per_event, outcome.duplicates, outcome.passed) == (
        per_event, duplicates, passed)
    assert outcome.measured == len(times)


def test_alerts_outside_the_windows_are_false_not_duplicates(clip):
    expect = {"alerts": [{"rule": "zone", "windows": [[0.5, 2.5]], "max_per_event": 1.1}]}
    scenario = parse_scenario(raw(expect=expect), scenario_dir=clip.parent)
    (outcome,), _ = score(scenario, [_alert(1.0), _alert(3.0), _alert(9.0)], [], T0)
    assert (outcome.alerts_per_event, outcome.duplicates, outcome.false_alerts,
            outcome.passed) == (1.0, 0, 2, False)


def test_max_per_event_is_at_least_one(clip):
    expect = {"alerts": [{"rule": "zone", "windows": [[0.5, 2.5]], "max_per_event": 0.9}]}
    with pytest.raises(ScenarioError, match="max_per_event"):
        parse_scenario(raw(expect=expect), scenario_dir=clip.parent)


def test_the_report_shows_alerts_per_event_and_the_count_allowance(clip):
    expect = {"counts": [{"rule": "line", "direction": "in", "count": 40}],
              "alerts": [{"rule": "zone", "windows": [[0.5, 2.5], [4.5, 6.5]],
                          "max_per_event": 1.1}]}
    scenario = parse_scenario(raw(expect=expect), scenario_dir=clip.parent)
    outcomes, summed = score(scenario, [_alert(1.0), _alert(1.5), _alert(5.0)],
                             [_counts("line", in_person=41)], T0)
    report = ScenarioReport(scenario, VideoRun([], "model", 1.0, 1.0), outcomes, [], summed)
    text = scenario_table(report)
    assert "1.50 (<= 1.1)" in text
    assert "1 duplicate" in text
    assert "+-2" in text  # 5 % of 40
    data = json.loads(json.dumps(report.as_dict()))
    count, alerts = data["outcomes"]
    assert (count["allowed"], count["abs_tolerance"], count["passed"]) == (2.0, 1, True)
    assert (alerts["alerts_per_event"], alerts["duplicates"], alerts["max_per_event"],
            alerts["passed"]) == (1.5, 1, 1.1, False)


# -- expectations derived from a MOT sequence's annotation (vigie_eval.groundtruth) -----------

SEQINFO = "[Sequence]\nname=toy\nframeRate=10\nseqLength=50\nimWidth=100\nimHeight=100\n"


def _gt(*rows: tuple[int, int, float, float]) -> str:
    """(frame, id, x of the box's middle, y of its bottom) in pixels; boxes 10 x 40."""
    return "\n".join(f"{f},{i},{x - 5},{y - 40},10,40,1,-1,-1,-1" for f, i, x, y in rows)


def test_annotated_tracks_cross_a_line_once_each_way_despite_jitter():
    # Track 1 walks right through x = 50 and jitters on the line before; track 2 walks left.
    xs1 = [30, 40, 49.5, 50.5, 49.5, 60, 70]
    xs2 = [80, 70, 55, 45, 30]
    gt = parse_ground_truth(_gt(*[(f + 1, 1, x, 80) for f, x in enumerate(xs1)],
                                *[(f + 5, 2, x, 80) for f, x in enumerate(xs2)]), SEQINFO)
    crossings = line_crossings(gt, (0.5, 0.2), (0.5, 1.0), (1.0, 0.0))
    assert [(c.track_id, c.frame, c.direction) for c in crossings] == [(1, 6, "in"), (2, 8, "out")]
    assert crossings[0].t_s == 0.5  # frame 6 at 10 frames/s
    # Passing beyond the segment's end is no crossing.
    assert line_crossings(gt, (0.5, 0.0), (0.5, 0.5), (1.0, 0.0)) == []


def test_annotated_tracks_enter_a_zone_by_their_feet_and_on_their_first_frame_inside():
    zone = [(0.4, 0.5), (0.9, 0.5), (0.9, 0.9), (0.4, 0.9)]
    gt = parse_ground_truth(_gt(
        (1, 1, 20, 80), (2, 1, 30, 80), (3, 1, 45, 80), (4, 1, 20, 80), (15, 1, 50, 80),  # re-entry
        (1, 2, 60, 70),  # there from its first frame
        (2, 3, 60, 40),  # its box is over the zone, its feet are not
        (3, 4, 60, 120),  # box cut by the image's bottom: clipped, feet at y = 1.0, outside
    ), SEQINFO)
    entries = zone_entries(gt, zone)
    assert [(e.track_id, e.frame, e.first_frame) for e in entries] == [
        (2, 1, True), (1, 3, False), (1, 15, False)]
    assert entry_windows(gt, entries) == [(0.0, 2.0), (0.0, 2.2), (0.4, 3.4)]
    assert entry_windows(gt, entries, after_s=4.0)[2] == (0.4, 5.0)  # the clip's end


def test_derive_gives_counts_per_direction_and_entry_windows_for_people_rules():
    gt = parse_ground_truth(_gt(*[(f, 1, 10 * f, 80) for f in range(1, 10)]), SEQINFO)
    rules = [{"rule_id": "l", "kind": "line_crossing", "line": [[0.5, 0.2], [0.5, 1.0]],
              "direction": [1, 0], "classes": ["person"]},
             {"rule_id": "z", "kind": "zone_intrusion",
              "zone": [[0.6, 0.5], [0.9, 0.5], [0.9, 0.9], [0.6, 0.9]]},
             {"rule_id": "cars", "kind": "zone_intrusion", "classes": ["car"],
              "zone": [[0.6, 0.5], [0.9, 0.5], [0.9, 0.9], [0.6, 0.9]]}]
    expect = derive(gt, rules)["expect"]
    assert [(c["rule"], c["direction"], c["count"]) for c in expect["counts"]] == [
        ("l", "in", 1), ("l", "out", 0)]
    assert [(a["rule"], a["windows"], a["max_per_event"]) for a in expect["alerts"]] == [
        ("z", [[0.0, 2.5]], 1.1)]  # enters at frame 6 (0.5 s), on its edge


@pytest.mark.parametrize("sequence", ["TUD-Stadtmitte", "TUD-Campus"])
def test_the_tud_scenarios_expect_what_the_annotation_gives(sequence):
    folder = inputs.need(inputs.mot15) / sequence
    path = SCENARIOS / f"{sequence.lower().replace('-', '_')}.yaml"
    spec = yaml.safe_load(path.read_text())
    derived = derive(read_ground_truth(folder), spec["rules"])["expect"]
    counts = {(c["rule"], c["direction"]): c["count"] for c in derived["counts"]}
    assert {(c["rule"], c["direction"]): c["count"] for c in spec["expect"]["counts"]} == counts
    windows = {a["rule"]: a["windows"] for a in derived["alerts"]}
    assert {a["rule"]: [list(w) for w in a["windows"]]
            for a in spec["expect"]["alerts"]} == windows
