"""Rule specs: YAML validation messages (field paths), schedules, the proto round trip, rule
problems of protos, and every example under services/rules/examples."""

from __future__ import annotations

import importlib.util
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from vigie.common.v1.common_pb2 import Point
from vigie.rules.v1.rule_pb2 import Rule, RuleKind, Severity
from vigie_rules.domain.spec import (
    COCO_CLASSES,
    KIND_NAMES,
    MAX_DOCUMENT_BYTES,
    SEVERITY_NAMES,
    RuleSpec,
    RuleSpecError,
    load_rules,
    parse_duration_s,
    rule_from_proto,
    rule_problems,
    rule_to_proto,
    validate_rule_yaml,
)

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml"))
NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)

LOITERING = """\
rule_id: door-loitering
name: Door loitering
camera_id: cam-1
kind: loitering
zone: [[0.2, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8]]
max_dwell_s: 120
"""


UNKNOWN_KIND = ("kind: Input should be " + ", ".join(repr(k) for k in KIND_NAMES[:-1])
                + f" or {KIND_NAMES[-1]!r}")


def rule_yaml(extra: str = "", base: str = LOITERING) -> str:
    return base + textwrap.dedent(extra)


# --- contract -----------------------------------------------------------------------------------


def test_kind_names_are_the_built_in_rule_kinds_then_the_plug_ins() -> None:
    built_in = tuple(n.removeprefix("RULE_KIND_").lower()
                     for n in RuleKind.keys() if n != "RULE_KIND_UNSPECIFIED")
    assert KIND_NAMES[:len(built_in)] == built_in
    plug_ins = KIND_NAMES[len(built_in):]
    assert "zone_occupancy" in plug_ins and list(plug_ins) == sorted(plug_ins)


def test_an_unknown_kind_is_answered_with_every_known_one() -> None:
    """The message pydantic gives for a Literal, with the registry's kinds in its order."""
    assert UNKNOWN_KIND.startswith("kind: Input should be 'zone_intrusion', 'loitering', ")
    assert "'weapon_visible', 'face_match', 'citizen_report'" in UNKNOWN_KIND
    assert UNKNOWN_KIND.endswith(f"' or {KIND_NAMES[-1]!r}")


def test_severity_names_are_the_severities_of_the_proto() -> None:
    assert SEVERITY_NAMES == tuple(n.removeprefix("SEVERITY_").lower()
                                   for n in Severity.keys() if n != "SEVERITY_UNSPECIFIED")


def test_coco_classes_match_the_detector_copy() -> None:
    if importlib.util.find_spec("vigie_detect") is None:
        pytest.skip("vigie_detect not installed")
    from vigie_detect.domain.detections import COCO_CLASSES as DETECT_CLASSES

    assert COCO_CLASSES == DETECT_CLASSES
    assert len(COCO_CLASSES) == 80


def test_every_field_has_a_description() -> None:
    from vigie_rules.domain.spec import ScheduleSpec, WindowSpec

    for model in (RuleSpec, ScheduleSpec, WindowSpec):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name}"


# --- examples -----------------------------------------------------------------------------------


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_is_valid_and_round_trips(path: Path) -> None:
    text = path.read_text()
    assert validate_rule_yaml(text, NOW) == []
    rules = load_rules(text, NOW, created_by="tester")
    assert rules
    for rule in rules:
        assert rule_problems(rule) == []
        assert rule.created_by == "tester"
        assert rule_to_proto(rule_from_proto(rule), NOW, "tester") == rule


# --- validation messages ------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "text", "problems"), [
    ("valid loitering", rule_yaml(), []),
    ("self-intersecting zone", rule_yaml(base=LOITERING.replace(
        "[[0.2, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8]]",
        "[[0.2, 0.2], [0.8, 0.8], [0.8, 0.2], [0.2, 0.8]]")),
     ["zone: self-intersecting edges 0-1 and 2-3"]),
    ("zone out of the image", rule_yaml(base=LOITERING.replace("[0.8, 0.2]", "[1.5, 0.2]")),
     ["zone: point 1 (1.5, 0.2) is outside the image (0..1)"]),
    ("zone with NaN", rule_yaml(base=LOITERING.replace("[0.8, 0.2]", "[.nan, 0.2]")),
     ["zone: point 1 (nan, 0.2) is not a finite number"]),
    ("zone of two points", rule_yaml(base=LOITERING.replace(
        "[[0.2, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8]]", "[[0.2, 0.2], [0.8, 0.2]]")),
     ["zone: needs at least 3 points, got 2"]),
    ("zone point with three numbers", rule_yaml(base=LOITERING.replace("[0.8, 0.2]",
                                                                       "[0.8, 0.2, 0.1]")),
     ["zone[1]: Tuple should have at most 2 items after validation, not 3"]),
    ("unknown field", rule_yaml("max_dwell: 3\n"), ["max_dwell: unknown field"]),
    ("missing name", rule_yaml(base=LOITERING.replace("name: Door loitering\n", "")),
     ["name: required"]),
    ("unknown kind", rule_yaml(base=LOITERING.replace("kind: loitering", "kind: loiter")),
     [UNKNOWN_KIND]),
    ("bad rule id", rule_yaml(base=LOITERING.replace("door-loitering", "door loitering")),
     ["rule_id: String should match pattern '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'"]),
    ("unknown class with a hint", rule_yaml("classes: [persn]\n"),
     ["classes[0]: unknown class 'persn' (did you mean 'person'?)"]),
    ("class listed twice", rule_yaml("classes: [person, person]\n"),
     ["classes[1]: 'person' is listed twice"]),
    ("confidence above 1", rule_yaml("min_confidence: 1.5\n"),
     ["min_confidence: Input should be less than or equal to 1"]),
    ("zero dwell", rule_yaml(base=LOITERING.replace("max_dwell_s: 120", "max_dwell_s: 0")),
     ["max_dwell_s: Input should be greater than 0"]),
    ("missing dwell", rule_yaml(base=LOITERING.replace("max_dwell_s: 120\n", "")),
     ["max_dwell_s: required for loitering rules"]),
    ("threshold of another kind", rule_yaml("max_stop_s: 60\n"),
     ["max_stop_s: not used by loitering rules"]),
    ("geometry of another kind", rule_yaml("line: [[0.1, 0.5], [0.9, 0.5]]\n"),
     ["line: not used by loitering rules"]),
    ("missing camera", rule_yaml(base=LOITERING.replace("camera_id: cam-1\n", "")),
     ["camera_id: required for loitering rules"]),
    ("several problems at once", rule_yaml("classes: [dog, kat]\nseverity: urgent\n"),
     ["severity: Input should be 'info', 'low', 'medium', 'high' or 'critical'",
      "classes[1]: unknown class 'kat' (did you mean 'cat'?)"]),
])
def test_rule_problems_name_the_field(name: str, text: str, problems: list[str]) -> None:
    assert validate_rule_yaml(text) == problems, name


LINE = """\
rule_id: count
name: Count
camera_id: cam-2
kind: line_crossing
line: [[0.1, 0.5], [0.9, 0.5]]
"""
RED_LIGHT = """\
rule_id: red
name: Red light
camera_id: cam-3
kind: red_light
line: [[0.1, 0.7], [0.9, 0.7]]
signal_region: [0.45, 0.05, 0.5, 0.15]
"""


@pytest.mark.parametrize(("name", "text", "problems"), [
    ("line crossing without direction", LINE, []),
    ("line crossing with direction", LINE + "direction: [0, 1]\ntolerance_deg: 45\n", []),
    ("line of one point", LINE.replace("[0.9, 0.5]", "[0.1, 0.5]"),
     ["line: start and end are the same point"]),
    ("line out of the image", LINE.replace("[0.9, 0.5]", "[0.9, -0.5]"),
     ["line[1]: (0.9, -0.5) is outside the image (0..1)"]),
    ("line with three points", LINE.replace("[0.9, 0.5]]", "[0.9, 0.5], [0.5, 0.5]]"),
     ["line: Tuple should have at most 2 items after validation, not 3"]),
    ("zero direction", LINE + "direction: [0, 0]\n",
     ["direction: the zero vector has no direction"]),
    ("tolerance above 180", LINE + "tolerance_deg: 270\n",
     ["tolerance_deg: Input should be less than or equal to 180"]),
    ("wrong way with speed", LINE.replace("line_crossing", "wrong_way").replace(
        "line: [[0.1, 0.5], [0.9, 0.5]]", "direction: [1, 0]\nmin_speed_per_s: 0.05"), []),
    ("wrong way without direction", LINE.replace("line_crossing", "wrong_way"),
     ["line: not used by wrong_way rules", "direction: required for wrong_way rules"]),
    ("valid red light", RED_LIGHT, []),
    ("red light with a direction", RED_LIGHT + "direction: [0, -1]\nclasses: [car, bus]\n", []),
    ("red light on a controller signal", RED_LIGHT.replace(
        "signal_region: [0.45, 0.05, 0.5, 0.15]", "signal_id: ctrl-4/sg-2"), []),
    ("red light without a signal source", RED_LIGHT.replace(
        "signal_region: [0.45, 0.05, 0.5, 0.15]\n", ""),
     ["signal_region: red_light rules need a signal source: signal_region (the signal's "
      "colour on the image) or signal_id (an external controller)"]),
    ("red light with two signal sources", RED_LIGHT + "signal_id: ctrl-4/sg-2\n",
     ["signal_id: give either signal_region or signal_id, not both"]),
    ("red light without a stop line", RED_LIGHT.replace("line: [[0.1, 0.7], [0.9, 0.7]]\n", ""),
     ["line: required for red_light rules"]),
    ("red light with an empty signal id", RED_LIGHT.replace(
        "signal_region: [0.45, 0.05, 0.5, 0.15]", 'signal_id: ""'),
     ["signal_id: String should have at least 1 character"]),
    ("signal id on another kind", LINE + "signal_id: ctrl-4/sg-2\n",
     ["signal_id: not used by line_crossing rules"]),
    ("crowd movement with its thresholds", "rule_id: m\nname: M\ncamera_id: k\n"
                                           "kind: crowd_movement\nmin_count: 8\n"
                                           "min_speed_per_s: 0.2\ncooldown_s: 300\n"
                                           "zone: [[0, 0], [1, 0], [1, 1]]\n", []),
    ("illegal dumping with its objects", "rule_id: d\nname: D\ncamera_id: k\n"
                                         "kind: illegal_dumping\nmax_stop_s: 10\n"
                                         "max_dwell_s: 120\nclasses: [suitcase, couch]\n"
                                         "zone: [[0, 0], [1, 0], [1, 1]]\n", []),
    ("illegal dumping of a vehicle", "rule_id: d\nname: D\ncamera_id: k\n"
                                     "kind: illegal_dumping\nclasses: [couch, car, person]\n"
                                     "zone: [[0, 0], [1, 0], [1, 1]]\n",
     ["classes[1]: 'car' is not a dumped object (illegal_dumping watches for vehicles and "
      "lists the objects they leave)",
      "classes[2]: 'person' is not a dumped object (illegal_dumping watches for vehicles and "
      "lists the objects they leave)"]),
    ("illegal dumping without a zone", "rule_id: d\nname: D\ncamera_id: k\n"
                                       "kind: illegal_dumping\n",
     ["zone: required for illegal_dumping rules"]),
    ("inverted signal region", RED_LIGHT.replace("[0.45, 0.05, 0.5, 0.15]",
                                                 "[0.5, 0.05, 0.45, 0.15]"),
     ["signal_region: needs x_min < x_max and y_min < y_max"]),
    ("crowd density without count", "rule_id: c\nname: C\ncamera_id: k\nkind: crowd_density\n"
                                    "zone: [[0, 0], [1, 0], [1, 1]]\n",
     ["min_count: required for crowd_density rules"]),
    ("stationary vehicle without stop time", "rule_id: s\nname: S\ncamera_id: k\n"
                                             "kind: stationary_vehicle\n"
                                             "zone: [[0, 0], [1, 0], [1, 1]]\n",
     ["max_stop_s: required for stationary_vehicle rules"]),
    ("abandoned object timed with max_stop_s", "rule_id: a\nname: A\ncamera_id: k\n"
                                               "kind: abandoned_object\nmax_stop_s: 60\n"
                                               "zone: [[0, 0], [1, 0], [1, 1]]\n",
     ["max_dwell_s: required for abandoned_object rules",
      "max_stop_s: not used by abandoned_object rules; use max_dwell_s"]),
    ("weapon visible anywhere", "rule_id: w\nname: W\ncamera_id: k\nkind: weapon_visible\n"
                                "classes: [knife, scissors]\nmin_confidence: 0.6\n", []),
    ("citizen report on every camera", "rule_id: r\nname: R\nkind: citizen_report\n", []),
    ("citizen report near a camera", "rule_id: r\nname: R\ncamera_id: k\n"
                                     "kind: citizen_report\nmax_distance_m: 300\n", []),
    ("citizen report around a point", "rule_id: r\nname: R\nkind: citizen_report\n"
                                      "geo_centre: [45.7578, 4.8320]\nmax_distance_m: 1500\n",
     []),
    ("citizen report with an image zone", "rule_id: r\nname: R\nkind: citizen_report\n"
                                          "zone: [[0, 0], [1, 0], [1, 1]]\n",
     ["zone: not used by citizen_report rules (reports have a geo position, not an image "
      "one); use geo_centre"]),
    ("citizen report: a centre and a camera", "rule_id: r\nname: R\ncamera_id: k\n"
                                              "kind: citizen_report\n"
                                              "geo_centre: [45.7578, 4.8320]\n",
     ["geo_centre: not used with camera_id (the camera's position is the centre)"]),
    ("citizen report: a radius from nowhere", "rule_id: r\nname: R\nkind: citizen_report\n"
                                              "max_distance_m: 500\n",
     ["max_distance_m: needs camera_id or geo_centre to measure from"]),
    ("citizen report: latitude out of range", "rule_id: r\nname: R\nkind: citizen_report\n"
                                              "geo_centre: [95, 4.83]\n",
     ["geo_centre: latitude 95 is outside -90..90 (write [lat, lon])"]),
    ("citizen report: radius beyond 100 km", "rule_id: r\nname: R\ncamera_id: k\n"
                                             "kind: citizen_report\n"
                                             "max_distance_m: 250000\n",
     ["max_distance_m: Input should be less than or equal to 100000"]),
    ("citizen report: no cooldown, no classes", "rule_id: r\nname: R\nkind: citizen_report\n"
                                                "cooldown_s: 60\nclasses: [person]\n",
     ["classes: not used by citizen_report rules",
      "cooldown_s: not used by citizen_report rules (one alert per report)"]),
    ("face match score", "rule_id: f\nname: F\ncamera_id: k\nkind: face_match\n"
                         "min_match_score: 0.8\ncooldown_s: 600\n", []),
    ("face match score of 0", "rule_id: f\nname: F\ncamera_id: k\nkind: face_match\n"
                              "min_match_score: 0\n",
     ["min_match_score: Input should be greater than 0"]),
    ("face match score above 1", "rule_id: f\nname: F\ncamera_id: k\nkind: face_match\n"
                                 "min_match_score: 1.5\n",
     ["min_match_score: Input should be less than or equal to 1"]),
    ("face match with detector filters", "rule_id: f\nname: F\ncamera_id: k\n"
                                         "kind: face_match\nclasses: [person]\n"
                                         "min_confidence: 0.5\n",
     ["classes: not used by face_match rules", "min_confidence: not used by face_match rules"]),
    ("face match without a camera", "rule_id: f\nname: F\nkind: face_match\n",
     ["camera_id: required for face_match rules"]),
])
def test_kind_requirements(name: str, text: str, problems: list[str]) -> None:
    assert validate_rule_yaml(text) == problems, name


# --- schedules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "schedule", "problems"), [
    ("office hours", 'windows: [{days: [mon, Tuesday, FRI], start: "08:00", end: "18:00"}]', []),
    ("over midnight", 'windows: [{start: "22:00", end: "06:00"}]', []),
    ("until midnight", 'windows: [{start: "22:00", end: "00:00"}]', []),
    ("all day", 'windows: [{start: "00:00", end: "24:00"}]', []),
    ("empty window", 'windows: [{start: "08:00", end: "08:00"}]',
     ["schedule.windows[0]: end 08:00 equals start 08:00: an empty window (for all day use "
      "00:00-24:00, or no window)"]),
    ("midnight to midnight", 'windows: [{start: "00:00", end: "00:00"}]',
     ["schedule.windows[0]: end 00:00 equals start 00:00: an empty window (for all day use "
      "00:00-24:00, or no window)"]),
    ("impossible hour", 'windows: [{start: "25:00", end: "08:00"}]',
     ["schedule.windows[0].start: '25:00' is not a time of day \"HH:MM\" (00:00..23:59)"]),
    ("impossible minute", 'windows: [{start: "07:00", end: "08:60"}]',
     ["schedule.windows[0].end: '08:60' is not a time of day \"HH:MM\" (00:00..23:59, or "
      "24:00)"]),
    ("start at 24:00", 'windows: [{start: "24:00", end: "08:00"}]',
     ["schedule.windows[0].start: '24:00' is not a time of day \"HH:MM\" (00:00..23:59)"]),
    ("unquoted time read as a number", "windows: [{start: 18:00, end: '20:00'}]",
     ['schedule.windows[0].start: write the time in quotes, e.g. "18:00" (unquoted, YAML reads '
      "HH:MM as a number: 1080)"]),
    ("unknown day", 'windows: [{days: [mon, funday], start: "08:00", end: "09:00"}]',
     ["schedule.windows[0].days[1]: Input should be 'mon', 'tue', 'wed', 'thu', 'fri', 'sat' "
      "or 'sun'"]),
    ("day twice", 'windows: [{days: [mon, monday], start: "08:00", end: "09:00"}]',
     ["schedule.windows[0].days: a day is listed twice"]),
    ("unknown time zone", "time_zone: Europe/Lutece",
     ["schedule.time_zone: unknown IANA time zone 'Europe/Lutece' (e.g. Europe/Paris, UTC)"]),
    ("duration and until", "{duration: 1h, valid_until: 2026-03-14T12:00:00Z}",
     ["schedule: give either duration or valid_until, not both"]),
    ("until before from", "{valid_from: 2026-03-14T12:00:00Z, valid_until: 2026-03-14T11:00:00Z}",
     ["schedule: valid_until 2026-03-14T11:00:00+00:00 is not after valid_from "
      "2026-03-14T12:00:00+00:00"]),
    ("bad duration", "duration: soon",
     ["schedule.duration: 'soon' is not a duration: use e.g. 1h, 2h, 30m, 1h30m, a number of "
      "seconds, or permanent"]),
    ("negative duration", "duration: -60", ["schedule.duration: a duration must be positive, "
                                            "got -60 s"]),
    ("already over", "valid_until: 2026-03-14T09:00:00Z",
     ["schedule.valid_until: 2026-03-14T09:00:00+00:00 has already passed"]),
])
def test_schedule_problems(name: str, schedule: str, problems: list[str]) -> None:
    text = rule_yaml(f"schedule: {schedule}\n" if schedule.startswith("{")
                     else "schedule:\n  " + schedule + "\n")
    assert validate_rule_yaml(text, NOW) == problems, name


@pytest.mark.parametrize(("text", "seconds"), [
    ("1h", 3600.0), ("2h", 7200.0), ("30m", 1800.0), ("1h30m", 5400.0), ("45s", 45.0),
    ("1d", 86400.0), ("2 h", 7200.0), ("permanent", None), (600, 600.0), (90.5, 90.5),
])
def test_parse_duration(text: str | float, seconds: float | None) -> None:
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1x", "1m1h", "-1h", "0s", 0, True])
def test_parse_duration_rejects(text: str | float) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration_s(text)


@pytest.mark.parametrize(("schedule", "valid_from", "valid_until"), [
    ("duration: 1h", None, NOW + timedelta(hours=1)),
    ("duration: 2h", None, NOW + timedelta(hours=2)),
    ("duration: 5400", None, NOW + timedelta(minutes=90)),
    ("duration: permanent", None, None),
    ("time_zone: Europe/Paris", None, None),
    ("{valid_from: 2026-03-15T08:00:00, duration: 2h, time_zone: Europe/Paris}",
     datetime(2026, 3, 15, 7, 0, tzinfo=UTC), datetime(2026, 3, 15, 9, 0, tzinfo=UTC)),
    ("{valid_from: 2026-03-15T08:00:00Z, valid_until: 2026-03-16T08:00:00+01:00}",
     datetime(2026, 3, 15, 8, 0, tzinfo=UTC), datetime(2026, 3, 16, 7, 0, tzinfo=UTC)),
])
def test_schedule_validity_period(schedule: str, valid_from: datetime | None,
                                  valid_until: datetime | None) -> None:
    text = rule_yaml(f"schedule: {schedule}\n" if schedule.startswith("{")
                     else f"schedule:\n  {schedule}\n")
    (rule,) = load_rules(text, NOW)
    s = rule.schedule
    assert (s.valid_from.ToDatetime(tzinfo=UTC) if s.HasField("valid_from") else None) == \
        valid_from
    assert (s.valid_until.ToDatetime(tzinfo=UTC) if s.HasField("valid_until") else None) == \
        valid_until


def test_windows_become_minutes_and_iso_weekdays() -> None:
    (rule,) = load_rules(rule_yaml('schedule:\n  time_zone: Europe/Paris\n  windows:\n'
                                   '    - {days: [fri, sat], start: "20:00", end: "04:00"}\n'
                                   '    - {start: "22:00", end: "00:00"}\n'), NOW)
    first, second = rule.schedule.windows
    assert (list(first.days), first.start_minute, first.end_minute) == ([5, 6], 1200, 240)
    assert (list(second.days), second.start_minute, second.end_minute) == ([], 1320, 1440)
    assert rule.schedule.time_zone == "Europe/Paris"


# --- documents ----------------------------------------------------------------------------------


def test_a_document_may_hold_a_list_of_rules_and_problems_say_which() -> None:
    second = LINE.replace("rule_id: count", "rule_id: door-loitering").replace(
        "[0.9, 0.5]", "[0.1, 0.5]")
    text = "rules:\n" + textwrap.indent(LOITERING, "    ").replace("    rule_id", "  - rule_id") \
        + textwrap.indent(second, "    ").replace("    rule_id", "  - rule_id")
    assert validate_rule_yaml(text) == [
        "rules[1] (door-loitering): line: start and end are the same point"]
    fixed = text.replace("[[0.1, 0.5], [0.1, 0.5]]", "[[0.1, 0.5], [0.9, 0.5]]")
    assert validate_rule_yaml(fixed) == [
        "rules[1] (door-loitering): rule_id: 'door-loitering' already used by rules[0]"]
    renamed = fixed.replace("- rule_id: door-loitering\n    name: Count", "- rule_id: count\n"
                                                                          "    name: Count")
    assert [r.rule_id for r in load_rules(renamed, NOW)] == ["door-loitering", "count"]


@pytest.mark.parametrize(("name", "text", "problems"), [
    ("empty", "", ["document: empty (expected a rule, or a list of rules under `rules:`)"]),
    ("a list", "- 1\n", ["document: expected a rule (a mapping) or `rules:` with a list of rules"]),
    ("rules not a list", "rules: 3\n", ["rules: expected a non-empty list of rules"]),
    ("rules beside other keys", "rules: []\nversion: 1\n",
     ["document: unknown top-level key(s) next to rules: version"]),
    ("a rule that is not a mapping", "rules: [3]\n",
     ["rules[0]: expected a mapping of rule fields"]),
    ("invalid YAML", "rule_id: [a\n",
     ["document: invalid YAML: line 2, column 1: expected ',' or ']', but got '<stream end>'"]),
    ("aliases", "a: &x [1]\nb: *x\n", ["document: YAML aliases (*name) are not allowed (line 2)"]),
    ("python tags are not loaded", "rule_id: !!python/object:os.system x\n",
     ["document: invalid YAML: line 1, column 10: could not determine a constructor for the tag "
      "'tag:yaml.org,2002:python/object:os.system'"]),
    ("too big", "#" * (MAX_DOCUMENT_BYTES + 1),
     [f"document: {MAX_DOCUMENT_BYTES + 1} bytes is more than the 256 KiB allowed for a rule "
      "file; split it"]),
])
def test_document_problems(name: str, text: str, problems: list[str]) -> None:
    assert validate_rule_yaml(text) == problems, name


def test_load_rules_raises_with_every_problem() -> None:
    with pytest.raises(RuleSpecError) as caught:
        load_rules(rule_yaml("classes: [kat]\nseverity: urgent\n"), NOW)
    assert len(caught.value.problems) == 2


# --- proto --------------------------------------------------------------------------------------


FULL = """\
rule_id: full
name: Full
camera_id: cam-9
kind: line_crossing
enabled: false
severity: critical
line: [[0.1, 0.3], [0.7, 0.9]]
direction: [0.3, -0.7]
tolerance_deg: 35.5
min_count: 12
classes: [car, bus]
min_confidence: 0.45
cooldown_s: 2.5
schedule:
  time_zone: America/New_York
  valid_from: 2026-04-01T08:00:00-04:00
  valid_until: 2026-05-01T08:00:00-04:00
  windows:
    - {days: [sat, sun], start: "09:15", end: "17:45"}
"""


def test_spec_to_proto_fields() -> None:
    (rule,) = load_rules(FULL, NOW, created_by="op-7")
    assert rule.kind == RuleKind.RULE_KIND_LINE_CROSSING
    assert rule.severity == Severity.SEVERITY_CRITICAL
    assert not rule.enabled
    assert rule.created_by == "op-7"
    assert rule.updated_at.ToDatetime(tzinfo=UTC) == NOW
    assert list(rule.class_names) == ["car", "bus"]
    assert rule.geometry.line.end.y == pytest.approx(0.9)
    assert rule.geometry.direction.dy == pytest.approx(-0.7)
    assert not rule.geometry.zone and not rule.geometry.HasField("signal_region")
    assert rule.thresholds.cooldown.ToTimedelta() == timedelta(seconds=2.5)
    assert not rule.thresholds.HasField("max_dwell")
    assert rule.thresholds.min_count == 12
    assert rule.schedule.valid_from.ToDatetime(tzinfo=UTC) == datetime(2026, 4, 1, 12,
                                                                       tzinfo=UTC)


@pytest.mark.parametrize("text", [
    LOITERING, LINE, RED_LIGHT, FULL,
    RED_LIGHT.replace("signal_region: [0.45, 0.05, 0.5, 0.15]", "signal_id: ctrl/sg-1"),
    "rule_id: r\nname: R\nkind: citizen_report\ngeo_centre: [45.757814, 4.832011]\n"
    "max_distance_m: 750.5\n",
    "rule_id: r\nname: R\ncamera_id: k\nkind: citizen_report\nmax_distance_m: 0.3\n",
    "rule_id: f\nname: F\ncamera_id: k\nkind: face_match\nmin_match_score: 0.83\n",
    "rule_id: m\nname: M\ncamera_id: k\nkind: crowd_movement\nmin_speed_per_s: 0.123\n"
    "min_count: 7\n",
], ids=["loitering", "line", "red_light", "full", "red_light_controller",
        "citizen_report_centre", "citizen_report_camera", "face_match", "crowd_movement"])
def test_spec_survives_the_proto_round_trip(text: str) -> None:
    (rule,) = load_rules(text, NOW)
    spec = rule_from_proto(rule)
    assert spec == RuleSpec.model_validate(__import__("yaml").safe_load(text))
    assert rule_to_proto(spec, NOW) == rule


def test_a_rule_carries_its_kind_by_enum_and_by_name() -> None:
    (rule,) = load_rules(LOITERING, NOW)
    assert (rule.kind, rule.kind_name) == (RuleKind.RULE_KIND_LOITERING, "loitering")
    by_name = Rule()
    by_name.CopyFrom(rule)
    by_name.kind = RuleKind.RULE_KIND_UNSPECIFIED
    assert rule_problems(by_name) == []
    assert rule_from_proto(by_name) == rule_from_proto(rule)
    by_enum = Rule()
    by_enum.CopyFrom(rule)
    by_enum.ClearField("kind_name")
    assert rule_problems(by_enum) == []


@pytest.mark.parametrize(("kind", "kind_name", "problems"), [
    (RuleKind.RULE_KIND_LOITERING, "zone_intrusion",
     ["kind_name: 'zone_intrusion' is not the kind RULE_KIND_LOITERING names"]),
    (RuleKind.RULE_KIND_LOITERING, "loiter",
     ["kind_name: 'loiter' is not the kind RULE_KIND_LOITERING names"]),
    (RuleKind.RULE_KIND_UNSPECIFIED, "loiter",
     ["kind: Input should be " + ", ".join(repr(k) for k in KIND_NAMES[:-1])
      + f" or {KIND_NAMES[-1]!r}"]),
])
def test_kind_and_kind_name_must_agree(kind: int, kind_name: str, problems: list[str]) -> None:
    (rule,) = load_rules(LOITERING, NOW)
    rule.kind, rule.kind_name = kind, kind_name  # type: ignore[assignment]
    assert rule_problems(rule) == problems
    with pytest.raises(RuleSpecError):
        rule_from_proto(rule)


def test_naive_times_are_in_the_schedule_time_zone() -> None:
    (rule,) = load_rules(rule_yaml("schedule:\n  time_zone: Europe/Paris\n"
                                   "  valid_until: 2026-07-01T12:00:00\n"), NOW)
    until = rule.schedule.valid_until.ToDatetime(tzinfo=UTC)
    assert until == datetime(2026, 7, 1, 12, tzinfo=ZoneInfo("Europe/Paris"))


def valid_rule() -> Rule:
    (rule,) = load_rules(LOITERING, NOW)
    return rule


def bow_tie(rule: Rule) -> None:
    del rule.geometry.zone[:]
    rule.geometry.zone.extend(Point(x=x, y=y) for x, y in
                              [(0.2, 0.2), (0.8, 0.8), (0.8, 0.2), (0.2, 0.8)])


@pytest.mark.parametrize(("name", "mutate", "problems"), [
    ("valid", lambda r: None, []),
    ("bow-tie zone", bow_tie, ["zone: self-intersecting edges 0-1 and 2-3"]),
    ("no kind", lambda r: (setattr(r, "kind", RuleKind.RULE_KIND_UNSPECIFIED),
                           r.ClearField("kind_name")),
     [UNKNOWN_KIND]),
    ("no severity", lambda r: setattr(r, "severity", Severity.SEVERITY_UNSPECIFIED),
     ["severity: Input should be 'info', 'low', 'medium', 'high' or 'critical'"]),
    ("no dwell", lambda r: r.thresholds.ClearField("max_dwell"),
     ["max_dwell_s: required for loitering rules"]),
    ("unknown class", lambda r: r.class_names.append("unicorn"),
     ["classes[0]: unknown class 'unicorn'"]),
    ("empty window", lambda r: r.schedule.windows.add(start_minute=60, end_minute=60),
     ["schedule.windows[0]: end 01:00 equals start 01:00: an empty window (for all day use "
      "00:00-24:00, or no window)"]),
    ("until before from", lambda r: (r.schedule.valid_from.FromSeconds(2000),
                                     r.schedule.valid_until.FromSeconds(1000)),
     ["schedule: valid_until 1970-01-01T00:16:40+00:00 is not after valid_from "
      "1970-01-01T00:33:20+00:00"]),
    ("no id", lambda r: setattr(r, "rule_id", ""),
     ["rule_id: String should match pattern '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'"]),
])
def test_problems_of_a_proto_rule(name: str, mutate: object, problems: list[str]) -> None:
    rule = valid_rule()
    mutate(rule)  # type: ignore[operator]
    assert rule_problems(rule) == problems, name
    if problems:
        with pytest.raises(RuleSpecError):
            rule_from_proto(rule)
