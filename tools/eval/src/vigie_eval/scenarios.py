"""`vigie eval rules`: a clip, the rules an operator would draw on it, and the events a person
read off its frames; the services' detections through the pure rules engine, compared.

A scenario file (YAML):

    name: motorway-overpass
    clip: motorway_overpass.mp4      # next to the scenario, in --clips, or $VIGIE_TEST_DATA/clips
    made_with: "boxblur=8:2:enable='gte(t,6)'"  # optional: an ffmpeg -vf filter graph applied
    duration_s: 14                   # at run time (a tampered copy), on the first 14 s
    sample_fps: 10                   # the camera's sampling rate (ingest)
    description: what the clip shows and how the expected events were read
    rules:                           # rule specs as `vigie rules add` takes them; camera_id is
      - rule_id: southbound          # the scenario's own
        kind: line_crossing
        line: [[0.0, 0.7], [0.6, 0.7]]
        direction: [0, 1]
        classes: [car, truck, bus]
    expect:
      counts:                        # crossings summed over the clip, per line and direction
        - rule: southbound
          direction: in              # in | out | any
          classes: [car, truck, bus] # summed over these classes (default: all the rule counts)
          count: 14
          tolerance: 0.05            # passed when |measured - count| <= max(abs_tolerance,
          abs_tolerance: 1           # tolerance x count) (defaults 0.05 and 1)
      alerts:                        # alerts of a rule, each expected within a time window
        - rule: car-stopped          # (stream seconds); an alert outside every window of its
          windows: [[8, 14]]         # rule is a false alert, a window without one a miss
          box: [0.2, 0.67, 0.3, 0.8] # optional: where (normalised); an alert whose box overlaps
          min_iou: 0.3               # it less is a false alert (default 0.3)
          max_per_event: 1.1         # optional: most alerts per true event (window hit)
      max_count:                     # the largest number seen at once (crowd_density)
        - rule: crossing-density
          count: 25
          tolerance: 0.2

Counts come from the engine's CountsAggregated windows ("in:<class>", "out:<class>",
"max_count"), alerts from its AlertRaised, with frames fed in stream order then flushed.

Alerts per true event: each alert in a window is matched to one window (the earliest-ending one
it falls in, preferring windows no alert has taken yet); alerts_per_event is the alerts matched to
windows over the windows hit, and a window with more than one alert holds duplicates. With
`max_per_event` set, an outcome whose alerts_per_event exceeds it fails (issue 18: at most 1.1
zone-intrusion alerts per true entry). Misses and false alerts are counted apart.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.camera.v1.camera_health_pb2 import CameraHealthChanged
from vigie.detect.v1.detection_pb2 import ObjectsDetected
from vigie.rules.v1.rule_pb2 import Rule
from vigie.stats.v1.stats_pb2 import CountsAggregated
from vigie_detect.config import Settings as DetectSettings
from vigie_rules.domain.engine import CameraState, evaluate, flush
from vigie_rules.domain.kinds.camera_tampering import evaluate_camera_health
from vigie_rules.domain.spec import RuleSpecError, load_rules

from vigie_eval.pipeline import Progress, VideoRun, analyse_video, ingest_overrides
from vigie_eval.report import ratio, table

DEFAULT_TOLERANCE = 0.05
DEFAULT_ABS_TOLERANCE = 1


class ScenarioError(ValueError):
    """The scenario file is invalid or its clip cannot be found."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CountExpectation(_Model):
    rule: str = Field(description="rule_id of a line_crossing (or red_light) rule")
    direction: Literal["in", "out", "any"] = Field("any", description="which crossings")
    classes: list[str] = Field(default_factory=list, description="summed over these classes; "
                               "empty: every class the rule counted")
    count: int = Field(ge=0, description="crossings read off the frames")
    tolerance: float = Field(DEFAULT_TOLERANCE, ge=0, le=1,
                             description="largest relative count error allowed (a fraction "
                             "of `count`), when more than abs_tolerance")
    abs_tolerance: int = Field(DEFAULT_ABS_TOLERANCE, ge=0,
                               description="largest count error always allowed (crossings): "
                               "passed when |measured - count| <= max(abs_tolerance, "
                               "tolerance x count)")
    note: str = Field("", description="how it was read (which objects, when)")


class AlertExpectation(_Model):
    rule: str = Field(description="rule_id")
    windows: list[tuple[float, float]] = Field(
        default_factory=list, description="[start_s, end_s] of stream time, one alert each")
    box: tuple[float, float, float, float] | None = Field(
        None, description="[x_min, y_min, x_max, y_max], normalised: where the alerts must be")
    min_iou: float = Field(0.3, gt=0, le=1, description="least IoU with `box`")
    max_per_event: float | None = Field(
        None, ge=1, description="most alerts per true event (alerts in windows / windows hit); "
        "None: not checked")
    note: str = Field("", description="what happens then")


class MaxCountExpectation(_Model):
    rule: str = Field(description="rule_id of a crowd_density rule")
    count: int = Field(ge=0, description="the most objects in the zone at once")
    tolerance: float = Field(DEFAULT_TOLERANCE, ge=0, le=1,
                             description="largest relative error allowed")
    note: str = Field("", description="when, and how it was counted")


class Expectations(_Model):
    counts: list[CountExpectation] = Field(default_factory=list, description="line counts")
    alerts: list[AlertExpectation] = Field(default_factory=list, description="alerts in windows")
    max_count: list[MaxCountExpectation] = Field(default_factory=list,
                                                 description="peak counts in zones")


class ScenarioSpec(_Model):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$", description="scenario (and "
                      "camera) id")
    clip: str = Field(description="video file name or path")
    made_with: str | None = Field(None, description="an ffmpeg filter graph (-vf) applied to "
                                  "the clip at run time (a tampered or changed copy: nothing "
                                  "stored); needs ffmpeg")
    duration_s: float | None = Field(None, gt=0, description="only the clip's first seconds")
    sample_fps: float = Field(gt=0, le=30, description="the camera's sampling rate")
    description: str = Field("", description="what the clip shows, how expectations were read")
    rules: list[dict[str, Any]] = Field(min_length=1, description="rule specs (vigie rules add)")
    expect: Expectations = Field(description="the events read off the frames")


@dataclass(frozen=True)
class Scenario:
    spec: ScenarioSpec
    clip: Path
    rules: list[Rule]
    path: Path | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def camera_id(self) -> str:
        return f"scenario-{self.spec.name}"


def clip_folders(scenario_dir: Path | None, clips_dir: Path | None) -> list[Path]:
    folders = [p for p in (clips_dir, scenario_dir) if p is not None]
    if env := os.environ.get("VIGIE_TEST_DATA"):
        folders.append(Path(env) / "clips")
    return folders


def load_scenario(path: Path, clips_dir: Path | None = None) -> Scenario:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"cannot read: {exc}") from None
    return parse_scenario(raw, scenario_dir=path.parent, clips_dir=clips_dir, path=path)


def parse_scenario(raw: Any, *, scenario_dir: Path | None = None,
                   clips_dir: Path | None = None, path: Path | None = None) -> Scenario:
    try:
        spec = ScenarioSpec.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                      for e in exc.errors())) from None
    camera_id = f"scenario-{spec.name}"
    documents = [{"name": rule.get("rule_id", ""), **rule, "camera_id": camera_id}
                 for rule in spec.rules]
    try:
        rules = load_rules(yaml.safe_dump({"rules": documents}), datetime.now(UTC))
    except RuleSpecError as exc:
        raise ScenarioError("rules: " + "; ".join(exc.problems)) from None
    ids = {r.rule_id for r in rules}
    named = ([e.rule for e in spec.expect.counts] + [e.rule for e in spec.expect.alerts]
             + [e.rule for e in spec.expect.max_count])
    if unknown := sorted(set(named) - ids):
        raise ScenarioError(f"expect: no rule {', '.join(unknown)} in rules")
    clip = Path(spec.clip)
    if not clip.is_absolute():
        candidates = [folder / spec.clip for folder in clip_folders(scenario_dir, clips_dir)]
        clip = next((c for c in candidates if c.is_file()), candidates[0] if candidates else clip)
    if not clip.is_file():
        raise ScenarioError(f"clip {spec.clip} not found (looked in "
                            f"{', '.join(str(c.parent) for c in [clip])}; use --clips or "
                            f"VIGIE_TEST_DATA)")
    return Scenario(spec, clip, rules, path)


# -- running ----------------------------------------------------------------------------------


def made_clip(scenario: Scenario, folder: Path) -> Path:
    """The scenario's clip through its `made_with` ffmpeg filter graph, written in `folder`."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise ScenarioError(f"{scenario.name}: made_with needs ffmpeg (make system-deps)")
    out = folder / f"{scenario.name}.mp4"
    length = ["-t", str(scenario.spec.duration_s)] if scenario.spec.duration_s else []
    done = subprocess.run([ffmpeg, "-loglevel", "error", "-y", "-i", str(scenario.clip), *length,  # noqa: S603
                           "-vf", str(scenario.spec.made_with), "-an", str(out)],
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise ScenarioError(f"{scenario.name}: ffmpeg failed: {done.stderr.strip()[-500:]}")
    return out


@dataclass
class Outcome:
    """One expectation, measured."""

    kind: str  # "count", "alerts", "max_count"
    rule: str
    what: str
    expected: int
    measured: int
    passed: bool
    misses: int = 0
    false_alerts: int = 0
    tolerance: float = 0.0
    abs_tolerance: int = 0
    duplicates: int = 0  # alerts beyond the first in a window
    alerts_per_event: float | None = None  # alerts in windows / windows hit (None: none hit)
    max_per_event: float | None = None
    per_window: list[int] = field(default_factory=list)  # alerts matched to each window
    times_s: list[float] = field(default_factory=list)  # the rule's alerts, stream seconds

    @property
    def error(self) -> float:
        if self.expected == 0:
            return 0.0 if self.measured == 0 else float("inf")
        return abs(self.measured - self.expected) / self.expected

    @property
    def allowed(self) -> float:
        """The largest absolute error allowed (counts and peaks)."""
        return max(float(self.abs_tolerance), self.tolerance * self.expected)


@dataclass
class ScenarioReport:
    scenario: Scenario
    run: VideoRun
    outcomes: list[Outcome]
    alerts: list[AlertRaised] = field(default_factory=list)
    totals: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes)

    def as_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario.name, "clip": self.scenario.clip.name,
                "model_id": self.run.model_id, "frames": len(self.run.frames),
                "passed": self.passed, "totals": self.totals,
                "outcomes": [{**o.__dict__, "error": o.error,
                              **({"allowed": o.allowed} if o.kind != "alerts" else {})}
                             for o in self.outcomes]}


def replay(frames: Iterable[ObjectsDetected], rules: list[Rule],
           view_reports: Iterable[CameraHealthChanged] = (),
           ) -> tuple[list[AlertRaised], list[CountsAggregated]]:
    """The pure engine over one camera's frames in order, then flushed (windows closed); and
    over detect's reports on the camera's view (camera_tampering rules)."""
    state = CameraState()
    alerts: list[AlertRaised] = []
    stats: list[CountsAggregated] = []
    for report in view_reports:
        alerts += evaluate_camera_health(rules, report)
    for frame in frames:
        state, raised, closed = evaluate(state, rules, frame)
        alerts += raised
        stats += closed
    state, raised, closed = flush(state, rules, close_windows=True)
    return alerts + raised, stats + closed


def totals(stats: Iterable[CountsAggregated]) -> dict[str, dict[str, int]]:
    """Counts per rule summed over windows; max_count is the largest of any window."""
    out: dict[str, dict[str, int]] = {}
    for window in stats:
        if not window.rule_id:
            continue
        rule = out.setdefault(window.rule_id, {})
        for count in window.counts:
            if count.key == "max_count":
                rule[count.key] = max(rule.get(count.key, 0), count.value)
            else:
                rule[count.key] = rule.get(count.key, 0) + count.value
    return out


def stream_seconds(alert: AlertRaised, origin_ms: int) -> float:
    return float(alert.raised_at.ToMilliseconds() - origin_ms) / 1000


def _alert_iou(alert: AlertRaised, box: tuple[float, float, float, float]) -> float:
    """The best IoU of the alert's boxes with `box` (0 when it has none)."""
    best = 0.0
    for b in alert.boxes:
        w = min(b.x_max, box[2]) - max(b.x_min, box[0])
        h = min(b.y_max, box[3]) - max(b.y_min, box[1])
        inter = max(w, 0.0) * max(h, 0.0)
        union = ((b.x_max - b.x_min) * (b.y_max - b.y_min)
                 + (box[2] - box[0]) * (box[3] - box[1]) - inter)
        best = max(best, inter / union if union > 0 else 0.0)
    return best


def match_windows(times: Iterable[float], windows: list[tuple[float, float]],
                  ) -> tuple[list[int], int]:
    """How many alerts (stream seconds) each window holds, and how many fall in no window.

    Each alert, in time order, goes to one window containing it: one no alert has taken yet if
    any (the earliest-ending), else the earliest-ending one (a duplicate there)."""
    held = [0] * len(windows)
    outside = 0
    for t in sorted(times):
        inside = sorted((hi, i) for i, (lo, hi) in enumerate(windows) if lo <= t <= hi)
        if not inside:
            outside += 1
            continue
        free = [i for _, i in inside if held[i] == 0]
        held[free[0] if free else inside[0][1]] += 1
    return held, outside


def score(scenario: Scenario, alerts: list[AlertRaised], stats: list[CountsAggregated],
          origin_ms: int) -> tuple[list[Outcome], dict[str, dict[str, int]]]:
    """Each expectation against the engine's output; origin_ms: event time of stream time 0."""
    summed = totals(stats)
    outcomes: list[Outcome] = []
    for e in scenario.spec.expect.counts:
        counts = summed.get(e.rule, {})
        keys = [k for k in counts if k.partition(":")[0] in (("in", "out") if e.direction == "any"
                                                             else (e.direction,))
                and k.partition(":")[2] and (not e.classes or k.partition(":")[2] in e.classes)]
        measured = sum(counts[k] for k in keys)
        what = f"{e.direction} {'+'.join(e.classes) or 'all classes'}"
        outcome = Outcome("count", e.rule, what, e.count, measured, False, tolerance=e.tolerance,
                          abs_tolerance=e.abs_tolerance)
        outcome.passed = abs(measured - e.count) <= outcome.allowed + 1e-9
        outcomes.append(outcome)
    for a in scenario.spec.expect.alerts:
        mine = [x for x in alerts if x.rule_id == a.rule]
        placed = [x for x in mine if a.box is None or _alert_iou(x, a.box) >= a.min_iou]
        held, outside = match_windows((stream_seconds(x, origin_ms) for x in placed), a.windows)
        hits = sum(1 for n in held if n)
        per_event = sum(held) / hits if hits else None
        false_alerts = len(mine) - len(placed) + outside
        passed = hits == len(a.windows) and false_alerts == 0 and (
            a.max_per_event is None or per_event is None
            or per_event <= a.max_per_event + 1e-9)
        outcomes.append(Outcome("alerts", a.rule, "alerts in their windows", len(a.windows),
                                len(mine), passed, misses=len(a.windows) - hits,
                                false_alerts=false_alerts,
                                duplicates=sum(max(n - 1, 0) for n in held),
                                alerts_per_event=per_event, max_per_event=a.max_per_event,
                                per_window=held,
                                times_s=sorted(round(stream_seconds(x, origin_ms), 3)
                                               for x in mine)))
    for m in scenario.spec.expect.max_count:
        measured = summed.get(m.rule, {}).get("max_count", 0)
        peak = Outcome("max_count", m.rule, "most at once", m.count, measured, False,
                       tolerance=m.tolerance)
        peak.passed = abs(measured - m.count) <= peak.allowed + 1e-9
        outcomes.append(peak)
    return outcomes, summed


async def run_scenario(scenario: Scenario, detect: DetectSettings, *,
                       progress: Progress | None = None) -> ScenarioReport:
    with tempfile.TemporaryDirectory(prefix="vigie-scenario-") as tmp:
        clip = made_clip(scenario, Path(tmp)) if scenario.spec.made_with else scenario.clip
        run = await analyse_video(clip, scenario.spec.sample_fps, detect,
                                  ingest=ingest_overrides(clip),
                                  camera_id=scenario.camera_id, progress=progress)
    frames = [a.detected for a in run.frames]
    alerts, stats = replay(frames, scenario.rules, run.view_reports)
    first = run.frames[0] if run.frames else None
    origin_ms = (first.detected.captured_at.ToMilliseconds() - round(first.pts_s * 1000)
                 if first else 0)
    outcomes, summed = score(scenario, alerts, stats, origin_ms)
    return ScenarioReport(scenario, run, outcomes, alerts, summed)


def scenario_table(report: ScenarioReport, markdown: bool = False) -> str:
    rows = []
    for o in report.outcomes:
        if o.kind == "alerts":
            error = "-"
            detail = (f"{o.misses} missed, {o.false_alerts} false, {o.duplicates} duplicate"
                      + ("" if o.duplicates == 1 else "s"))
            per_event = ratio(o.alerts_per_event)
            if o.max_per_event is not None:
                per_event += f" (<= {o.max_per_event:g})"
        else:
            error = "inf" if o.error == float("inf") else f"{o.error:.0%}"
            detail = f"+-{o.allowed:g}"
            per_event = "-"
        rows.append([o.rule, o.kind, o.what, str(o.expected), str(o.measured), error, detail,
                     per_event, "pass" if o.passed else "FAIL"])
    title = (f"{report.scenario.name} ({report.scenario.clip.name}, {len(report.run.frames)} "
             f"frames at {report.scenario.spec.sample_fps:g}/s, {report.run.model_id})")
    body = table(["rule", "kind", "what", "expected", "measured", "error", "allowed",
                  "per event", "result"], rows, markdown)
    return (f"**{title}**\n\n" if markdown else title + "\n") + body
