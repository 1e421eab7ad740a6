"""From what an operator drew on a camera image to a Rule for the rules service.

Which rule kinds can be drawn, and as what, is the rules service's to say (ListRuleKinds): a kind
whose geometry is a zone or a line and whose other required fields are among those the editor
asks (EDITOR_FIELDS). Zones are polygons (two clicks make a rectangle from opposite corners; more
clicks a polygon), lines are two points. Points are normalised image coordinates (0..1, origin
top-left). The duration chooses the schedule: "1h" and "2h" end the rule's validity that long
after `now`, "permanent" leaves it open; validity starts at once (valid_from unset, so that
frames already on their way, stamped a moment before `now`, count). The rules service validates
the rest (ValidateRule).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from vigie.common.v1.common_pb2 import Point
from vigie.rules.v1.rule_pb2 import Rule, RuleKind, Severity

DURATIONS: dict[str, timedelta | None] = {"1h": timedelta(hours=1), "2h": timedelta(hours=2),
                                          "permanent": None}
SEVERITIES = {"info": Severity.SEVERITY_INFO, "low": Severity.SEVERITY_LOW,
              "medium": Severity.SEVERITY_MEDIUM, "high": Severity.SEVERITY_HIGH,
              "critical": Severity.SEVERITY_CRITICAL}
GEOMETRIES = ("zone", "line")
EDITOR_FIELDS = ("max_dwell_s", "max_stop_s", "min_count")
"""Rule fields (the rules service's names) the editor asks for, besides the drawing."""
MAX_POINTS = 32
MAX_NAME_CHARS = 120
CLASS_NAME = re.compile(r"^[a-z][a-z ]{0,39}$")


@dataclass(frozen=True)
class RuleKindInfo:
    """A rule kind as the rules service declares it (ListRuleKinds)."""

    name: str
    kind: int  # the RuleKind of a built-in kind; RULE_KIND_UNSPECIFIED for a plug-in
    title: str
    geometry: str  # zone, line or none
    required_fields: Collection[str] = ()
    optional_fields: Collection[str] = ()
    description: str = ""

    @property
    def drawable(self) -> bool:
        """The editor can make a complete rule of this kind."""
        return self.geometry in GEOMETRIES and all(
            f in (self.geometry, *EDITOR_FIELDS) for f in self.required_fields)

    @property
    def editor_fields(self) -> list[str]:
        """The fields the editor asks for this kind, required ones first."""
        return ([f for f in EDITOR_FIELDS if f in self.required_fields]
                + [f for f in EDITOR_FIELDS if f in self.optional_fields
                   and f not in self.required_fields])


def editor_kinds(kinds: Sequence[RuleKindInfo]) -> list[RuleKindInfo]:
    """The kinds the editor offers: built-in ones in their enum order, then plug-ins by name."""
    return sorted((k for k in kinds if k.drawable),
                  key=lambda k: (k.kind == RuleKind.RULE_KIND_UNSPECIFIED, k.kind, k.name))


class DrawingError(ValueError):
    """What is wrong with a drawing, for the operator."""


@dataclass(frozen=True)
class Drawing:
    camera_id: str
    kind: str
    points: Sequence[tuple[float, float]]
    duration: str
    name: str = ""
    severity: str = "medium"
    class_names: Sequence[str] = field(default_factory=tuple)
    max_dwell_s: float = 0.0
    max_stop_s: float = 0.0
    min_count: int = 0


def _check_point(x: float, y: float) -> tuple[float, float]:
    if not (math.isfinite(x) and math.isfinite(y) and 0 <= x <= 1 and 0 <= y <= 1):
        raise DrawingError("points must lie on the image (coordinates 0..1)")
    return round(x, 4), round(y, 4)


def zone_polygon(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Two points: the rectangle they span; three or more: the polygon as drawn."""
    pts = [_check_point(x, y) for x, y in points]
    if len(pts) == 2:
        (x0, y0), (x1, y1) = pts
        if abs(x1 - x0) < 0.01 or abs(y1 - y0) < 0.01:
            raise DrawingError("the rectangle is too thin: click two opposite corners")
        left, right, top, bottom = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
        return [(left, top), (right, top), (right, bottom), (left, bottom)]
    if len(pts) < 3:
        raise DrawingError("a zone needs two corners or at least three points")
    if len(pts) > MAX_POINTS:
        raise DrawingError(f"a zone has at most {MAX_POINTS} points")
    area = 0.5 * abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1)
                         in zip(pts, pts[1:] + pts[:1], strict=True)))
    if area < 1e-4:
        raise DrawingError("the zone has no area")
    return pts


def rule_from_drawing(drawing: Drawing, kinds: Mapping[str, RuleKindInfo], rule_id: str,
                      operator: str, now: datetime) -> Rule:
    """The Rule for `drawing`, whose kind must be one of `kinds` the editor can draw."""
    if drawing.duration not in DURATIONS:
        raise DrawingError("duration must be 1h, 2h or permanent")
    if drawing.severity not in SEVERITIES:
        raise DrawingError(f"severity must be one of {', '.join(SEVERITIES)}")
    if len(drawing.name) > MAX_NAME_CHARS:
        raise DrawingError(f"name longer than {MAX_NAME_CHARS} characters")
    for name in drawing.class_names:
        if not CLASS_NAME.match(name):
            raise DrawingError(f"unknown class name {name!r}")
    info = kinds.get(drawing.kind)
    if info is None or not info.drawable:
        raise DrawingError(f"unknown rule kind {drawing.kind!r}")
    rule = Rule(rule_id=rule_id, camera_id=drawing.camera_id, enabled=True, created_by=operator,
                severity=SEVERITIES[drawing.severity], class_names=list(drawing.class_names))
    if info.kind != RuleKind.RULE_KIND_UNSPECIFIED:
        rule.kind = info.kind  # type: ignore[assignment]
    else:
        rule.kind_name = info.name
    uses = {*info.required_fields, *info.optional_fields}
    if info.geometry == "zone":
        rule.geometry.zone.extend(Point(x=x, y=y) for x, y in zone_polygon(drawing.points))
    else:
        if len(drawing.points) != 2:
            raise DrawingError("a line is drawn with exactly two clicks")
        (x0, y0), (x1, y1) = (_check_point(x, y) for x, y in drawing.points)
        if math.hypot(x1 - x0, y1 - y0) < 0.02:
            raise DrawingError("the line is too short")
        rule.geometry.line.start.CopyFrom(Point(x=x0, y=y0))
        rule.geometry.line.end.CopyFrom(Point(x=x1, y=y1))
        if "min_count" in uses:
            rule.thresholds.min_count = max(1, drawing.min_count)  # alert from the first crossing
    for value, limit, what in ((drawing.max_dwell_s, rule.thresholds.max_dwell, "max_dwell_s"),
                               (drawing.max_stop_s, rule.thresholds.max_stop, "max_stop_s")):
        if value:
            if not 0 < value <= 86400:
                raise DrawingError(f"{what} must be between 0 and 86400")
            limit.FromTimedelta(timedelta(seconds=value))
    if drawing.min_count and info.geometry != "line":
        if not 0 < drawing.min_count <= 10000:
            raise DrawingError("min_count must be between 1 and 10000")
        rule.thresholds.min_count = drawing.min_count
    shape = "Line" if info.geometry == "line" else "Zone"
    runs = {"1h": "1 h", "2h": "2 h"}.get(drawing.duration, "permanent")
    rule.name = drawing.name.strip() or f"{shape} drawn by {operator} ({runs})"
    rule.schedule.time_zone = "UTC"
    span = DURATIONS[drawing.duration]
    if span is not None:
        rule.schedule.valid_until.FromDatetime(now + span)
    return rule
