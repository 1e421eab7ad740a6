"""The rule scenarios of tools/eval/scenarios on the shared clips, through ingest, detect (the
production defaults) and the rules engine: every expectation read off the frames is checked.

Expectations the available detector cannot meet are strict xfails carrying the measured
numbers: if a better model or setting makes one pass, the xfail fails and the table in
docs/models/yolov3-tiny.md is due an update. Each clip runs once per module (a few minutes in all;
the two MOT15 sequences, TUD-Stadtmitte and TUD-Campus, about 45 s of it).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from vigie_detect.config import Settings
from vigie_eval.scenarios import Outcome, ScenarioReport, load_scenario, run_scenario

SCENARIOS = Path(__file__).parent.parent / "scenarios"
FILES = sorted(SCENARIOS.glob("*.yaml"))

# (scenario, rule, what) -> why it fails, with the numbers measured 2026-12-01 (defaults); the
# zone entries (lower-lane, zone-right) measured 2026-12-07. A count passes within
# max(1, 5 %) of the truth; alerts need every window hit, no false alert and, with max_per_event,
# at most that many alerts per true event (issue 18: 1.1 for zone intrusion).
KNOWN_FAILURES: dict[tuple[str, str, str], str] = {
    ("carpark-topdown", "lower-lane", "alerts in their windows"):
        "1 alert for 4 entries (16.8 s, the red car driving up; 3 missed): seen from straight "
        "above, the white car driving up and the silver car driving down are labelled "
        "`cell phone` (confidence 0.8-0.98) while they cross the zone, and the rule watches "
        "car, truck and bus",
    ("tud-stadtmitte", "zone-right", "alerts in their windows"):
        "6 alerts for 7 entries, 1 missed: a person at the zone's left edge is seen inside on one "
        "frame only (track 19 at 1.88 s), and zone intrusion alerts an object seen inside on two "
        "frames (before that rule, that one-frame box was counted as the 7th entry)",
    ("tud-campus", "zone-right", "alerts in their windows"):
        "4 alerts for 5 entries (0.00, 1.44, 2.00, 2.48 s), 1 missed: of the four people "
        "entering at 1.48-2.56 s, walking behind one another, one is never alerted",
    ("crossing-crowd-aerial", "density", "alerts in their windows"):
        "people seen from straight above: YOLOv3-tiny finds at most 2 of the ~17 at once",
    ("crossing-crowd-aerial", "density", "most at once"):
        "people seen from straight above: 2 found at most, 17 there",
}

_reports: dict[Path, ScenarioReport] = {}


def report_of(path: Path, clips: Path) -> ScenarioReport:
    if path not in _reports:
        scenario = load_scenario(path, clips_dir=clips)
        _reports[path] = asyncio.run(run_scenario(scenario, Settings()))
    return _reports[path]


def expectations() -> list[object]:
    import yaml

    params = []
    for path in FILES:
        spec = yaml.safe_load(path.read_text())
        name = spec["name"]
        expect = spec["expect"]
        items = [(e["rule"], f"{e.get('direction', 'any')} "
                             f"{'+'.join(e.get('classes', [])) or 'all classes'}")
                 for e in expect.get("counts", [])]
        items += [(e["rule"], "alerts in their windows") for e in expect.get("alerts", [])]
        items += [(e["rule"], "most at once") for e in expect.get("max_count", [])]
        for rule, what in items:
            reason = KNOWN_FAILURES.get((name, rule, what))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            params.append(pytest.param(path, rule, what, marks=marks,
                                       id=f"{name}:{rule}:{what.replace(' ', '_')}"))
    return params


@pytest.mark.parametrize(("path", "rule", "what"), expectations())
def test_expected_events_are_found(clips, path, rule, what):
    report = report_of(path, clips)
    outcome: Outcome = next(o for o in report.outcomes if (o.rule, o.what) == (rule, what))
    assert outcome.passed, (f"{rule} {what}: expected {outcome.expected}, measured "
                            f"{outcome.measured} (misses {outcome.misses}, false alerts "
                            f"{outcome.false_alerts}; totals {report.totals.get(rule)})")
