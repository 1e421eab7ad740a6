"""Camera tampering: detect's reports of a camera's view problems (vigie.camera-health.v1) ->
alerts.

Stateless: `evaluate_camera_health(rules, report) -> alerts`, one alert per matching rule.

Which reports a rule takes
    Reports of detect's scene stage (`reporter` "detect") in which a view problem begins:
    `view_problem` set and other than `previous_view_problem` (normal -> covered, or covered ->
    moved). Back to normal (`view_problem` UNSPECIFIED) raises nothing, and ingest's reports on
    the source (reporter "ingest", or empty on older records: up, stalled, reconnecting...) are
    not tampering. The rule's camera is the report's, or the rule names none (it covers every
    camera); it is enabled and active (schedule) when detect confirmed the problem; its
    `classes` name the problems that alert (`PROBLEMS`: covered, defocused, moved, too_dark,
    too_bright), empty meaning all of them (a problem this version does not know, from a newer
    detect, alerts on those rules only).

The alert
    id = sha256(rule, camera, "view:<problem>", problem_since) (`alert_ids.view_alert_id`): a
    redelivered or replayed report raises the same id. `started_at` is `problem_since` (the
    frame time the problem began), `raised_at` when detect confirmed it (`observed_at`, never
    before `problem_since`), `frame_id` the confirming frame, of which the alerts service takes
    its usual snapshot (the "after" image). The title names the problem ("Camera tampering:
    covered or sprayed - <rule name>"); the attributes carry `view_problem`,
    `previous_view_problem` (when the view went from one problem to another) and detect's
    `reason`. The report's images are not copied into the alert (alerts are kept long, evidence
    by its camera's retention): the alerts service reads the "before" image (the camera's
    reference view) from the same report, by `frame_id`, for any alert with a `view_problem`
    attribute.

Malformed reports (from detect, a problem beginning without `camera_id` or `problem_since`)
raise ValueError: the runtimes dead-letter them, like a record the engine refuses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.camera.v1.camera_health_pb2 import CameraHealthChanged, ViewProblem
from vigie.rules.v1.rule_pb2 import Rule

from vigie_rules.domain.alert_ids import view_alert_id
from vigie_rules.domain.kind import Kind
from vigie_rules.domain.schedule import rule_active

__all__ = ["DETECT", "KIND", "LABELS", "PROBLEMS", "evaluate_camera_health", "problem_name"]

DETECT = "detect"
"""CameraHealthChanged.reporter of the reports about the picture (the others are ingest's)."""

LABELS: dict[str, str] = {
    "covered": "covered or sprayed",
    "defocused": "defocused",
    "moved": "moved",
    "too_dark": "too dark",
    "too_bright": "too bright",
}
"""The view problems a rule may name in `classes`, and how alert titles say them."""
PROBLEMS: tuple[str, ...] = tuple(LABELS)

MAX_REASON_CHARS = 200


def problem_name(value: int) -> str:
    """A problem's name: VIEW_PROBLEM_COVERED is "covered", UNSPECIFIED (a normal view) "", and a
    value this version does not know "view_problem_<n>"."""
    if value == ViewProblem.VIEW_PROBLEM_UNSPECIFIED:
        return ""
    if value in ViewProblem.values():
        return str(ViewProblem.Name(value)).removeprefix("VIEW_PROBLEM_").lower()
    return f"view_problem_{value}"


def evaluate_camera_health(rules: Sequence[Rule],
                           report: CameraHealthChanged) -> list[AlertRaised]:
    """The alerts a camera-health report raises, in rule_id order (see the module docstring)."""
    if report.reporter != DETECT:
        return []
    problem = problem_name(report.view_problem)
    if not problem or report.view_problem == report.previous_view_problem:
        return []  # back to normal, or no change of problem
    if not report.camera_id:
        raise ValueError("a detect camera-health report without camera_id")
    if not report.HasField("problem_since"):
        raise ValueError(f"camera {report.camera_id}: a view problem ({problem}) without "
                         "problem_since")
    began = report.problem_since.ToMilliseconds()
    confirmed = max(began, report.observed_at.ToMilliseconds()
                    if report.HasField("observed_at") else began)
    alerts = []
    for rule in sorted((r for r in rules if KIND.matches(r)), key=lambda r: r.rule_id):
        if rule.camera_id not in ("", report.camera_id) or not rule_active(rule, confirmed):
            continue
        if rule.class_names and problem not in rule.class_names:
            continue
        alerts.append(_alert(rule, report, problem, began, confirmed))
    return alerts


def _alert(rule: Rule, report: CameraHealthChanged, problem: str, began: int,
           confirmed: int) -> AlertRaised:
    attributes = {"view_problem": problem}
    if previous := problem_name(report.previous_view_problem):
        attributes["previous_view_problem"] = previous
    if report.reason:
        attributes["reason"] = report.reason[:MAX_REASON_CHARS]
    alert = AlertRaised(
        alert_id=view_alert_id(rule.rule_id, report.camera_id, problem, began),
        rule_id=rule.rule_id, rule_kind=KIND.enum, rule_kind_name=KIND.name,
        involves_persons=KIND.involves_persons, camera_id=report.camera_id,
        severity=rule.severity, frame_id=report.frame_id, attributes=attributes,
        title=f"{KIND.title}: {LABELS.get(problem, problem.replace('_', ' '))} - "
              f"{rule.name or rule.rule_id}")
    alert.started_at.FromMilliseconds(began)
    alert.raised_at.FromMilliseconds(confirmed)
    return alert


def spec_problems(spec: Mapping[str, Any]) -> list[str]:
    if spec["cooldown_s"] is not None:
        return ["cooldown_s: not used by camera_tampering rules (one alert each time a view "
                "problem begins; detect confirms a problem before reporting it)"]
    return []


KIND = Kind(
    name="camera_tampering", title="Camera tampering",
    description="A camera's view covered or sprayed, defocused, moved, too dark or too bright, "
                "as detect reports it; classes name the problems that alert (default all).",
    geometry="none", on_detections=False, camera_optional=True, class_choices=PROBLEMS,
    spec_problems=spec_problems,
    field_hints={"zone": " (the whole view is watched)"})
