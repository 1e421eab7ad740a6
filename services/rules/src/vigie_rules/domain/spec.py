"""Rule specs as operators write them (YAML) and as they travel (the `vigie.rules.v1.Rule` proto).

`RuleSpec` is the authoring model: one YAML mapping per rule, validated field by field with
messages that name the field path ("zone: self-intersecting edges 0-1 and 2-3",
"schedule.windows[0].end: ..."). `rule_to_proto` / `rule_from_proto` convert both ways, and
`rule_problems` applies the same checks to a Rule that arrives over gRPC or the topic.

A YAML document holds one rule (a mapping) or several under a `rules:` key. Only
`yaml.safe_load` reads it, after a size cap, a nesting cap and a refusal of aliases (no "billion
laughs", no stack overflow).

Units: seconds for durations (`*_s`), normalised image units (0..1 of the width/height, y
downwards) for geometry and speeds, degrees for angles. In the proto, a zero threshold means
"the kind's default", so thresholds here are either unset or strictly positive.
"""

from __future__ import annotations

import difflib
import math
import re
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from vigie.common.v1.common_pb2 import BoundingBox, GeoPoint
from vigie.common.v1.common_pb2 import Point as PointPb
from vigie.rules.v1.rule_pb2 import (
    ActiveWindow,
    Direction,
    Line,
    Rule,
    RuleGeometry,
    RuleKind,
    RuleSchedule,
    RuleThresholds,
    Severity,
    Weekday,
)
from vigie_core.labels import COCO_CLASSES as COCO_CLASSES

from vigie_rules.domain.classes import SCENE_CLASSES
from vigie_rules.domain.geometry import polygon_problems
from vigie_rules.domain.kind import KIND_FIELDS
from vigie_rules.domain.kinds import BY_NAME, KINDS

MAX_DOCUMENT_BYTES = 256 * 1024
"""Largest YAML rule document accepted."""

MAX_NESTING = 32
"""Deepest nesting of YAML collections accepted (a rule needs four or five; found by fuzzing:
deeper documents made the YAML loader overflow the stack)."""

MAX_ZONE_POINTS = 256
"""Most vertices in a zone (validation is quadratic in it; operators draw a handful)."""

MAX_DISTANCE_M = 100_000.0
"""Largest radius of a citizen_report rule (100 km: a whole metropolitan area)."""


SeverityName = Literal["info", "low", "medium", "high", "critical"]
DayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

KIND_NAMES: tuple[str, ...] = tuple(k.name for k in KINDS)
"""The registry's kinds (`kinds/`): built-in ones in RuleKind order, then plug-ins by name."""
SEVERITY_NAMES: tuple[str, ...] = get_args(SeverityName)
DAY_NAMES: tuple[str, ...] = get_args(DayName)
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# What each kind needs (required) and may use (optional) of KIND_FIELDS; anything else is a
# mistake. Declared by each kind's file.
REQUIRED: dict[str, frozenset[str]] = {k.name: frozenset(k.required) for k in KINDS}
OPTIONAL: dict[str, frozenset[str]] = {k.name: frozenset(k.optional) for k in KINDS}

_TIME = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_RULE_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


class RuleSpecError(ValueError):
    """A rule (or a rule document) is invalid; `problems` lists one message per problem, each
    starting with the field path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _minutes(text: str) -> int:
    return 1440 if text == "24:00" else int(text[:2]) * 60 + int(text[3:])


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _time_text(value: Any, *, end: bool) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 18:00 as the base-60 number 1080.
        raise ValueError(f'write the time in quotes, e.g. "{_hhmm(value % 1440)}" (unquoted, '
                         f"YAML reads HH:MM as a number: {value})")
    if isinstance(value, str):
        if not (_TIME.match(value) or (end and value == "24:00")):
            raise ValueError(f'{value!r} is not a time of day "HH:MM" (00:00..23:59'
                             f'{", or 24:00" if end else ""})')
    return value


class WindowSpec(_Model):
    """A recurring active period, in the schedule's time zone."""

    days: list[DayName] = Field(
        default_factory=list,
        description="Days on which the window starts (mon..sun); empty means every day.")
    start: str = Field(description='Local start time "HH:MM" (00:00..23:59).')
    end: str = Field(description='Local end time "HH:MM" (00:00..24:00; "00:00" means midnight); '
                                 "an end before the start spans midnight.")

    @field_validator("days", mode="before")
    @classmethod
    def _day_names(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            out = []
            for day in value:
                if isinstance(day, str) and day.lower() in _FULL_DAYS:
                    day = day.lower()[:3]
                elif isinstance(day, str):
                    day = day.lower()
                out.append(day)
            return out
        return value

    @field_validator("days")
    @classmethod
    def _days_once(cls, value: list[DayName]) -> list[DayName]:
        if len(set(value)) != len(value):
            raise ValueError("a day is listed twice")
        return value

    @field_validator("start", mode="before")
    @classmethod
    def _start_time(cls, value: Any) -> Any:
        return _time_text(value, end=False)

    @field_validator("end", mode="before")
    @classmethod
    def _end_time(cls, value: Any) -> Any:
        return _time_text(value, end=True)

    @model_validator(mode="after")
    def _not_empty(self) -> WindowSpec:
        if self.start == self.end:
            raise ValueError(f"end {self.end} equals start {self.start}: an empty window "
                             "(for all day use 00:00-24:00, or no window)")
        return self

    @property
    def start_minute(self) -> int:
        return _minutes(self.start)

    @property
    def end_minute(self) -> int:
        """1..1440: an end at "00:00" is midnight at the end of the day (1440)."""
        return _minutes(self.end) or 1440


def parse_duration_s(value: str | float) -> float | None:
    """Seconds of a schedule duration: "1h", "2h", "90m", "1h30m", "45s", "1d", a number of
    seconds, or "permanent" (None). Raises ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like 1h, 2h, permanent")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip().lower().replace(" ", "")
        if text in ("permanent", "permanently", "forever"):
            return None
        match = _DURATION.match(text)
        if not text or match is None:
            raise ValueError(f"{value!r} is not a duration: use e.g. 1h, 2h, 30m, 1h30m, a "
                             "number of seconds, or permanent")
        d, h, m, s = (int(g) if g else 0 for g in match.groups())
        seconds = float(((d * 24 + h) * 60 + m) * 60 + s)
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"a duration must be positive, got {seconds:g} s")
    return seconds


class ScheduleSpec(_Model):
    """When a rule is active: validity period and recurring windows."""

    time_zone: str = Field("UTC", description='IANA time zone of the windows and of naive times, '
                                              'e.g. "Europe/Paris".')
    windows: list[WindowSpec] = Field(
        default_factory=list,
        description="Recurring active windows; empty means always (within the validity period).")
    duration: str | float | None = Field(
        None, description='How long the rule runs from valid_from (or from when it is added): '
                          '"1h", "2h", "30m", "permanent", or a number of seconds.')
    valid_from: datetime | None = Field(
        None, description="Start of validity (ISO 8601; naive times are in time_zone); "
                          "unset means immediately.")
    valid_until: datetime | None = Field(
        None, description="End of validity (ISO 8601; naive times are in time_zone); unset "
                          "means permanently. Exclusive with duration.")

    @field_validator("time_zone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. Europe/Paris, UTC)") from None
        return value

    @field_validator("duration")
    @classmethod
    def _duration_parses(cls, value: str | float | None) -> str | float | None:
        if value is not None:
            parse_duration_s(value)
        return value

    @field_validator("valid_from", "valid_until")
    @classmethod
    def _aware(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is not None and value.tzinfo is None:
            zone = info.data.get("time_zone")
            return value.replace(tzinfo=ZoneInfo(zone) if zone else UTC)
        return value

    @model_validator(mode="after")
    def _period(self) -> ScheduleSpec:
        if self.duration is not None and self.valid_until is not None:
            raise ValueError("give either duration or valid_until, not both")
        if (self.valid_from is not None and self.valid_until is not None
                and self.valid_until <= self.valid_from):
            raise ValueError(f"valid_until {self.valid_until.isoformat()} is not after "
                             f"valid_from {self.valid_from.isoformat()}")
        return self

    def period(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        """(valid_from, valid_until) with a duration resolved against `valid_from` or `now`."""
        until = self.valid_until
        if self.duration is not None:
            seconds = parse_duration_s(self.duration)
            if seconds is not None:
                until = (self.valid_from or now) + timedelta(seconds=seconds)
        return self.valid_from, until


XYPair = tuple[float, float]


class RuleSpec(_Model):
    """One detection rule as an operator writes it (YAML) — see `vigie.rules.v1.Rule`."""

    rule_id: str = Field(pattern=_RULE_ID, description="Unique id, the key on vigie.rules.v1 "
                                                       "(letters, digits, . _ : -; max 128).")
    name: str = Field(min_length=1, max_length=200, description="Human-readable name shown in "
                                                                "alerts.")
    camera_id: str = Field("", max_length=128, description="Camera the rule applies to; empty only "
                                                           "for citizen_report (all reports).")
    kind: str = Field(description="What the rule detects: a kind of the rules service's "
                                  "registry (ListRuleKinds; for built-in kinds, RuleKind "
                                  "without its prefix, lower case).")
    enabled: bool = Field(True, description="Disabled rules are kept but raise nothing.")
    severity: SeverityName = Field("medium", description="Severity of the alerts raised.")
    zone: list[XYPair] | None = Field(
        None, max_length=MAX_ZONE_POINTS,
        description="Polygon [[x, y], ...] in normalised image coordinates (0..1, y downwards), "
                    "at least 3 points, not self-intersecting.")
    line: tuple[XYPair, XYPair] | None = Field(
        None, description="Directed segment [[x, y], [x, y]] to cross (line_crossing) or stop "
                          "line (red_light), normalised image coordinates.")
    direction: XYPair | None = Field(
        None, description="Expected direction of travel [dx, dy] (wrong_way) or counted "
                          "direction (line_crossing), normalised image units, y downwards.")
    signal_region: tuple[float, float, float, float] | None = Field(
        None, description="Box [x_min, y_min, x_max, y_max] around the traffic signal's head "
                          "(or just its red lamp), normalised image coordinates: red_light "
                          "reads the signal state from its colour.")
    signal_id: str | None = Field(
        None, min_length=1, max_length=128,
        description="External traffic-signal controller signal whose state red_light uses "
                    "(instead of signal_region's colour), as in SignalObserved.signal_id.")
    geo_centre: tuple[float, float] | None = Field(
        None, description="[lat_deg, lon_deg] (WGS 84) of the area a citizen_report rule "
                          "without camera_id covers; unset means every report.")
    classes: list[str] = Field(
        default_factory=list,
        description="COCO class names the rule considers, e.g. [person] or [car, truck, bus]; "
                    "empty means the kind's default. camera_tampering: the view problems that "
                    "alert (covered, defocused, moved, too_dark, too_bright); empty means all.")
    min_confidence: float | None = Field(
        None, gt=0, le=1, description="Ignore detections below this confidence (0..1].")
    max_dwell_s: float | None = Field(
        None, gt=0, description="Seconds in the zone before loitering / abandoned_object / "
                                "illegal_dumping / person_on_ground fire.")
    max_stop_s: float | None = Field(
        None, gt=0, description="Seconds stopped before stationary_vehicle (or illegal_dumping's "
                                "vehicle stop) counts.")
    min_count: int | None = Field(
        None, gt=0, description="Objects in the zone for crowd_density; crossings per window "
                                "for line_crossing counts.")
    tolerance_deg: float | None = Field(
        None, gt=0, le=180, description="Angular tolerance around direction, degrees (0, 180].")
    min_speed_per_s: float | None = Field(
        None, gt=0, description="Speed, normalised image units per second: above it "
                                "crowd_movement fires; below it wrong_way ignores a track.")
    min_match_score: float | None = Field(
        None, gt=0, le=1, description="Minimum face match score (0..1] for face_match, on top "
                                      "of the face service's threshold.")
    max_distance_m: float | None = Field(
        None, gt=0, le=MAX_DISTANCE_M,
        description="citizen_report: metres (great-circle) from the camera, or from geo_centre, "
                    "within which a report counts (default 200).")
    cooldown_s: float | None = Field(
        None, gt=0, description="Minimum seconds between two alerts of this rule for the same "
                                "track (face_match: the same watchlist subject).")
    schedule: ScheduleSpec | None = Field(
        None, description="When the rule is active; unset means always, permanently.")

    @field_validator("kind", mode="before")
    @classmethod
    def _kind_known(cls, value: Any) -> Any:
        if not isinstance(value, str) or value not in BY_NAME:
            choices = [repr(name) for name in KIND_NAMES]
            raise ValueError(f"Input should be {', '.join(choices[:-1])} or {choices[-1]}")
        return value

    @field_validator("zone")
    @classmethod
    def _zone_ok(cls, value: list[XYPair] | None) -> list[XYPair] | None:
        return _checked(value, lambda v: [f"zone: {p}" for p in polygon_problems(v)])

    @field_validator("line")
    @classmethod
    def _line_ok(cls, value: tuple[XYPair, XYPair] | None) -> tuple[XYPair, XYPair] | None:
        return _checked(value, _line_problems)

    @field_validator("direction")
    @classmethod
    def _direction_ok(cls, value: XYPair | None) -> XYPair | None:
        return _checked(value, _direction_problems)

    @field_validator("signal_region")
    @classmethod
    def _region_ok(
        cls, value: tuple[float, float, float, float] | None
    ) -> tuple[float, float, float, float] | None:
        return _checked(value, _region_problems)

    @field_validator("geo_centre")
    @classmethod
    def _geo_ok(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        return _checked(value, _geo_problems)

    @field_validator("classes")
    @classmethod
    def _classes_ok(cls, value: list[str], info: ValidationInfo) -> list[str]:
        kind = BY_NAME.get(info.data.get("kind", ""))
        choices = kind.class_choices if kind is not None else None
        problems = _class_problems(value, choices or DETECTED_CLASSES,
                                   "class" if choices is None else "choice")
        if problems:
            raise RuleSpecError(problems)
        return value

    @model_validator(mode="after")
    def _fits_kind(self) -> RuleSpec:
        problems = _kind_problems(self)
        if problems:
            raise RuleSpecError(problems)
        return self


T = TypeVar("T")


def _checked(value: T | None, problems_of: Callable[[T], list[str]]) -> T | None:
    """`value` if it has no problems (None has none); else raise them, field paths included."""
    if value is not None and (problems := problems_of(value)):
        raise RuleSpecError(problems)
    return value


def _point_problems(field: str, p: XYPair) -> list[str]:
    if not (math.isfinite(p[0]) and math.isfinite(p[1])):
        return [f"{field}: ({p[0]:g}, {p[1]:g}) is not a finite number"]
    if not (0 <= p[0] <= 1 and 0 <= p[1] <= 1):
        return [f"{field}: ({p[0]:g}, {p[1]:g}) is outside the image (0..1)"]
    return []


def _kind_problems(spec: RuleSpec) -> list[str]:
    problems: list[str] = []
    kind = BY_NAME[spec.kind]
    if not spec.camera_id and not kind.camera_optional:
        problems.append(f"camera_id: required for {kind.name} rules")
    required, optional = REQUIRED[kind.name], OPTIONAL[kind.name]
    for field in KIND_FIELDS:
        present = getattr(spec, field) is not None
        if field in required and not present:
            problems.append(f"{field}: required for {kind.name} rules")
        elif present and field not in required | optional:
            problems.append(f"{field}: not used by {kind.name} rules"
                            f"{kind.field_hints.get(field, '')}")
    if not kind.on_detections:
        for field in ("classes", "min_confidence"):
            if field == "classes" and kind.class_choices is not None:
                continue  # the kind's own categories
            if getattr(spec, field):
                problems.append(f"{field}: not used by {kind.name} rules")
    if kind.spec_problems is not None:
        problems += kind.spec_problems({name: getattr(spec, name)
                                        for name in RuleSpec.model_fields})
    return problems


def _line_problems(line: tuple[XYPair, XYPair]) -> list[str]:
    start, end = line
    found = _point_problems("line[0]", start) + _point_problems("line[1]", end)
    if not found and start == end:
        found.append("line: start and end are the same point")
    return found


def _direction_problems(direction: XYPair) -> list[str]:
    dx, dy = direction
    if not (math.isfinite(dx) and math.isfinite(dy)):
        return ["direction: not a finite vector"]
    if dx == 0 and dy == 0:
        return ["direction: the zero vector has no direction"]
    return []


def _region_problems(region: tuple[float, float, float, float]) -> list[str]:
    x0, y0, x1, y1 = region
    if not all(math.isfinite(v) for v in region):
        return ["signal_region: not finite numbers"]
    if not all(0 <= v <= 1 for v in region):
        return ["signal_region: outside the image (0..1)"]
    if not (x0 < x1 and y0 < y1):
        return ["signal_region: needs x_min < x_max and y_min < y_max"]
    return []


def _geo_problems(geo: tuple[float, float]) -> list[str]:
    lat, lon = geo
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return ["geo_centre: not finite numbers"]
    problems = []
    if not -90 <= lat <= 90:
        problems.append(f"geo_centre: latitude {lat:g} is outside -90..90 (write [lat, lon])")
    if not -180 <= lon <= 180:
        problems.append(f"geo_centre: longitude {lon:g} is outside -180..180")
    return problems


DETECTED_CLASSES = (*COCO_CLASSES, *sorted(SCENE_CLASSES))
"""What detections are of: the model's COCO classes and detect's scene stage's regions."""


def _class_problems(classes: list[str], known: Sequence[str] = DETECTED_CLASSES,
                    what: str = "class") -> list[str]:
    """Unknown or repeated names; `known`: the detector's classes, or the kind's own choices."""
    problems: list[str] = []
    seen: set[str] = set()
    for i, name in enumerate(classes):
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = (f" (did you mean {close[0]!r}?)" if close
                    else "" if what == "class" else f" (one of {', '.join(known)})")
            problems.append(f"classes[{i}]: unknown {what} {name!r}{hint}")
        elif name in seen:
            problems.append(f"classes[{i}]: {name!r} is listed twice")
        seen.add(name)
    return problems


def _path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _messages(exc: ValidationError, prefix: str = "") -> list[str]:
    """One message per problem: "field.path: what is wrong"."""
    out: list[str] = []
    for error in exc.errors():
        path = _path(error["loc"])
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, RuleSpecError):
            out += [f"{prefix}{p}" for p in cause.problems]
            continue
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        elif error["type"] == "missing":
            message = "required"
        elif isinstance(cause, Exception):
            message = str(cause)
        else:
            message = error["msg"]
        out.append(f"{prefix}{path}: {message}" if path else f"{prefix}{message}")
    return out


# --- YAML -------------------------------------------------------------------------------------


def _documents(text: str) -> tuple[list[Any], list[str], bool]:
    """The rule mappings of a YAML document (one rule, or a list under `rules:`), or problems."""
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_DOCUMENT_BYTES:
        return [], [f"document: {size} bytes is more than the {MAX_DOCUMENT_BYTES // 1024} KiB "
                    "allowed for a rule file; split it"], False
    try:
        depth = 0
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                mark = event.start_mark
                where = f"line {mark.line + 1}" if mark is not None else "somewhere"
                return [], [f"document: YAML aliases (*name) are not allowed ({where})"], False
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_NESTING:  # the loader recurses: refuse before it overflows
                    mark = event.start_mark
                    where = f"line {mark.line + 1}" if mark is not None else "somewhere"
                    return [], [f"document: nested more than {MAX_NESTING} levels deep "
                                f"({where})"], False
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return [], [f"document: invalid YAML: {where}{problem}"], False
    if data is None:
        return [], ["document: empty (expected a rule, or a list of rules under `rules:`)"], \
            False
    if isinstance(data, dict) and "rules" in data:
        extra = sorted(str(k) for k in data if k != "rules")
        if extra:
            return [], ["document: unknown top-level key(s) next to rules: "
                        + ", ".join(extra)], False
        rules = data["rules"]
        if not isinstance(rules, list) or not rules:
            return [], ["rules: expected a non-empty list of rules"], False
        return rules, [], True
    if isinstance(data, dict):
        return [data], [], False
    return [], ["document: expected a rule (a mapping) or `rules:` with a list of rules"], False


def _prefix(index: int, raw: Any, many: bool) -> str:
    if not many:
        return ""
    rule_id = raw.get("rule_id") if isinstance(raw, Mapping) else None
    return f"rules[{index}] ({rule_id}): " if isinstance(rule_id, str) else f"rules[{index}]: "


def _parse(text: str, now: datetime | None) -> tuple[list[RuleSpec], list[str]]:
    raws, problems, many = _documents(text)
    specs: list[RuleSpec] = []
    ids: dict[str, int] = {}
    for i, raw in enumerate(raws):
        prefix = _prefix(i, raw, many)
        if not isinstance(raw, Mapping):
            problems.append(f"{prefix}expected a mapping of rule fields")
            continue
        try:
            spec = RuleSpec.model_validate(raw)
        except ValidationError as exc:
            problems += _messages(exc, prefix)
            continue
        if spec.rule_id in ids:
            problems.append(f"{prefix}rule_id: {spec.rule_id!r} already used by "
                            f"rules[{ids[spec.rule_id]}]")
        ids.setdefault(spec.rule_id, i)
        if now is not None and spec.schedule is not None:
            _, until = spec.schedule.period(now)
            if until is not None and until <= now:
                problems.append(f"{prefix}schedule.valid_until: {until.isoformat()} has already "
                                "passed")
        specs.append(spec)
    return specs, problems


def validate_rule_yaml(text: str, now: datetime | None = None) -> list[str]:
    """Problems in a YAML rule document, one message each naming the field path (prefixed by
    "rules[i] (rule_id): " when the document holds a `rules:` list); empty when it is valid.
    With `now`, a validity period that has already ended is a problem too."""
    return _parse(text, now)[1]


def load_rules(text: str, now: datetime, created_by: str = "") -> list[Rule]:
    """The Rule protos of a YAML document, durations resolved against `now` (which is also each
    rule's updated_at). Raises RuleSpecError listing every problem."""
    specs, problems = _parse(text, now)
    if problems:
        raise RuleSpecError(problems)
    return [rule_to_proto(spec, now, created_by) for spec in specs]


# --- proto ------------------------------------------------------------------------------------


def _duration(seconds: float) -> Duration:
    d = Duration()
    d.FromNanoseconds(round(seconds * 1e9))
    return d


def _timestamp(value: datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(value.astimezone(UTC))
    return t


def rule_to_proto(spec: RuleSpec, now: datetime, created_by: str = "") -> Rule:
    """The Rule for `spec`: a schedule duration runs from valid_from, else from `now`; updated_at
    is `now`. Thresholds left unset stay zero (the kind's default)."""
    rule = Rule(
        rule_id=spec.rule_id, name=spec.name, camera_id=spec.camera_id,
        kind=BY_NAME[spec.kind].enum, kind_name=spec.kind,
        class_names=spec.classes, severity=Severity.Value(f"SEVERITY_{spec.severity.upper()}"),
        enabled=spec.enabled, created_by=created_by, updated_at=_timestamp(now),
    )
    geometry = RuleGeometry(zone=[PointPb(x=x, y=y) for x, y in spec.zone or ()])
    if spec.line is not None:
        (x0, y0), (x1, y1) = spec.line
        geometry.line.CopyFrom(Line(start=PointPb(x=x0, y=y0), end=PointPb(x=x1, y=y1)))
    if spec.direction is not None:
        geometry.direction.CopyFrom(Direction(dx=spec.direction[0], dy=spec.direction[1]))
    if spec.signal_region is not None:
        x_min, y_min, x_max, y_max = spec.signal_region
        geometry.signal_region.CopyFrom(
            BoundingBox(x_min=x_min, y_min=y_min, x_max=x_max, y_max=y_max))
    if spec.geo_centre is not None:
        geometry.geo_centre.CopyFrom(GeoPoint(lat_deg=spec.geo_centre[0],
                                              lon_deg=spec.geo_centre[1]))
    rule.geometry.CopyFrom(geometry)
    rule.signal_id = spec.signal_id or ""
    t = RuleThresholds(
        min_confidence=spec.min_confidence or 0.0, min_count=spec.min_count or 0,
        tolerance_deg=spec.tolerance_deg or 0.0, min_speed_per_s=spec.min_speed_per_s or 0.0,
        min_match_score=spec.min_match_score or 0.0, max_distance_m=spec.max_distance_m or 0.0,
    )
    if spec.max_dwell_s is not None:
        t.max_dwell.CopyFrom(_duration(spec.max_dwell_s))
    if spec.max_stop_s is not None:
        t.max_stop.CopyFrom(_duration(spec.max_stop_s))
    if spec.cooldown_s is not None:
        t.cooldown.CopyFrom(_duration(spec.cooldown_s))
    rule.thresholds.CopyFrom(t)
    if spec.schedule is not None:
        s = spec.schedule
        schedule = RuleSchedule(time_zone=s.time_zone, windows=[
            ActiveWindow(days=[Weekday.Value(f"WEEKDAY_{_FULL_DAYS[DAY_NAMES.index(d)].upper()}")
                               for d in w.days],
                         start_minute=w.start_minute, end_minute=w.end_minute)
            for w in s.windows])
        valid_from, valid_until = s.period(now)
        if valid_from is not None:
            schedule.valid_from.CopyFrom(_timestamp(valid_from))
        if valid_until is not None:
            schedule.valid_until.CopyFrom(_timestamp(valid_until))
        rule.schedule.CopyFrom(schedule)
    return rule


def _f32(value: float) -> float:
    """The shortest decimal that is the same float32 as `value` (proto floats are 32-bit: 0.1
    comes back as 0.10000000149...; this gives 0.1 again)."""
    if not math.isfinite(value):
        return value
    packed = struct.pack("<f", value)
    for digits in range(1, 10):
        candidate = float(f"{value:.{digits}g}")
        if struct.pack("<f", candidate) == packed:
            return candidate
    return value


def _seconds(d: Duration) -> float:
    return float(d.ToNanoseconds()) / 1e9


def _kind_name(rule: Rule) -> str:
    """The rule's kind name: kind_name, else the name of its RuleKind value."""
    if rule.kind_name:
        return rule.kind_name
    kind = RuleKind.Name(rule.kind) if rule.kind in RuleKind.values() else str(rule.kind)
    return kind.removeprefix("RULE_KIND_").lower()


def _kind_agreement(rule: Rule) -> list[str]:
    """A rule giving both kind and kind_name must give the same kind twice."""
    named = BY_NAME.get(rule.kind_name)
    if rule.kind_name and rule.kind and (named is None or named.enum != rule.kind):
        enum = RuleKind.Name(rule.kind) if rule.kind in RuleKind.values() else str(rule.kind)
        return [f"kind_name: {rule.kind_name!r} is not the kind {enum} names"]
    return []


def _rule_dict(rule: Rule) -> dict[str, Any]:
    """The RuleSpec fields of a Rule, unvalidated (unset fields left out)."""
    severity = (Severity.Name(rule.severity) if rule.severity in Severity.values()
                else str(rule.severity))
    data: dict[str, Any] = {
        "rule_id": rule.rule_id, "name": rule.name, "camera_id": rule.camera_id,
        "kind": _kind_name(rule),
        "enabled": rule.enabled,
        "severity": severity.removeprefix("SEVERITY_").lower(),
        "classes": list(rule.class_names),
    }
    g = rule.geometry
    if g.zone:
        data["zone"] = [(_f32(p.x), _f32(p.y)) for p in g.zone]
    if g.HasField("line"):
        data["line"] = ((_f32(g.line.start.x), _f32(g.line.start.y)),
                        (_f32(g.line.end.x), _f32(g.line.end.y)))
    if g.HasField("direction"):
        data["direction"] = (_f32(g.direction.dx), _f32(g.direction.dy))
    if g.HasField("signal_region"):
        b = g.signal_region
        data["signal_region"] = (_f32(b.x_min), _f32(b.y_min), _f32(b.x_max), _f32(b.y_max))
    if g.HasField("geo_centre"):
        data["geo_centre"] = (g.geo_centre.lat_deg, g.geo_centre.lon_deg)
    if rule.signal_id:
        data["signal_id"] = rule.signal_id
    t = rule.thresholds
    for name in ("min_confidence", "tolerance_deg", "min_speed_per_s", "min_match_score",
                 "max_distance_m"):
        if getattr(t, name) != 0:
            data[name] = _f32(getattr(t, name))
    if t.min_count != 0:
        data["min_count"] = t.min_count
    for proto_name, name in (("max_dwell", "max_dwell_s"), ("max_stop", "max_stop_s"),
                             ("cooldown", "cooldown_s")):
        if t.HasField(proto_name):
            data[name] = _seconds(getattr(t, proto_name))
    if rule.HasField("schedule"):
        s = rule.schedule
        schedule: dict[str, Any] = {"time_zone": s.time_zone or "UTC", "windows": [
            {"days": [(Weekday.Name(d) if d in Weekday.values() else str(d))
                      .removeprefix("WEEKDAY_").lower()[:3] for d in w.days],
             "start": _hhmm(w.start_minute) if w.start_minute < 1440 else str(w.start_minute),
             "end": _hhmm(w.end_minute) if 0 < w.end_minute <= 1440 else str(w.end_minute)}
            for w in s.windows]}
        if s.HasField("valid_from"):
            schedule["valid_from"] = s.valid_from.ToDatetime(tzinfo=UTC)
        if s.HasField("valid_until"):
            schedule["valid_until"] = s.valid_until.ToDatetime(tzinfo=UTC)
        data["schedule"] = schedule
    return data


def rule_from_proto(rule: Rule) -> RuleSpec:
    """The RuleSpec of a Rule (validity period as absolute times; created_by and updated_at are
    not part of the spec). Raises RuleSpecError if the Rule is invalid."""
    if problems := _kind_agreement(rule):
        raise RuleSpecError(problems)
    try:
        return RuleSpec.model_validate(_rule_dict(rule))
    except ValidationError as exc:
        raise RuleSpecError(_messages(exc)) from None


def rule_problems(rule: Rule) -> list[str]:
    """Problems of a Rule received over gRPC or the topic, with the same messages as the YAML
    checks (field paths of the YAML spec); empty when it is valid."""
    if problems := _kind_agreement(rule):
        return problems
    try:
        RuleSpec.model_validate(_rule_dict(rule))
    except ValidationError as exc:
        return _messages(exc)
    return []
