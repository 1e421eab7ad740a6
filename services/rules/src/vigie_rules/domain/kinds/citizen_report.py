"""Citizen report: a geolocated citizen report (vigie.reports.v1) -> alerts.

Stateless: `evaluate_report(rules, cameras, report) -> alerts`, one alert per matching rule.

Which reports a rule takes
    - with a camera_id: reports within `thresholds.max_distance_m` (default
      `DEFAULT_MAX_DISTANCE_M`) of that camera's `geo` (great-circle distance); none while the
      camera is unknown or has no position, or the report has none;
    - without a camera_id and with `geometry.geo_centre`: reports within the radius of it;
    - without either: every report.
    The rule must be enabled and active (schedule) at the report's `received_at`.

The alert
    id = sha256(rule_id, report_id) (`alert_ids.report_alert_id`): a redelivered report raises the
    same id. `geo` is the report's position; `started_at` and `raised_at` its `received_at`; the
    attributes carry `report_id`, the media reference (`media_uri`, `media_sha256`,
    `media_type`), `channel` and `distance_m` when measured. The media is deliberately not put
    in `snapshot` or `clip`: those are shown to operators with non-matching faces blurred
    (DESIGN invariant 7), and the citizen's media is raw; whoever renders the alert derives a
    blurred snapshot from the reference. The camera is the rule's, else the report's nearest
    camera (may be empty). The citizen's text and pseudonym are not copied: the report itself
    is the record.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.camera.v1.camera_pb2 import Camera
from vigie.common.v1.common_pb2 import GeoPoint
from vigie.ingest.v1.report_pb2 import ReportChannel, ReportReceived
from vigie.rules.v1.rule_pb2 import Rule, RuleKind

from vigie_rules.domain.alert_ids import report_alert_id
from vigie_rules.domain.kind import Kind
from vigie_rules.domain.schedule import rule_active

__all__ = ["DEFAULT_MAX_DISTANCE_M", "EARTH_RADIUS_M", "KIND", "evaluate_report", "haversine_m"]

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG), metres."""
DEFAULT_MAX_DISTANCE_M = 200.0
"""How near a camera (or a rule's centre) a report must be when the rule gives no radius."""


def haversine_m(a: GeoPoint, b: GeoPoint) -> float:
    """Great-circle distance between two WGS 84 points, in metres (spherical Earth; within
    0.5 % of the ellipsoid, which is far below a phone's position error)."""
    lat1, lat2 = math.radians(a.lat_deg), math.radians(b.lat_deg)
    dlat = lat2 - lat1
    dlon = math.radians(b.lon_deg - a.lon_deg)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def evaluate_report(rules: Sequence[Rule], cameras: Mapping[str, Camera],
                    report: ReportReceived) -> list[AlertRaised]:
    """The alerts a citizen report raises, in rule_id order (see the module docstring)."""
    t = report.received_at.ToMilliseconds()
    alerts = []
    for rule in sorted((r for r in rules if KIND.matches(r)), key=lambda r: r.rule_id):
        if not rule_active(rule, t):
            continue
        centre: GeoPoint | None = None
        if rule.camera_id:
            camera = cameras.get(rule.camera_id)
            if camera is None or not camera.HasField("geo"):
                continue
            centre = camera.geo
        elif rule.geometry.HasField("geo_centre"):
            centre = rule.geometry.geo_centre
        distance: float | None = None
        if centre is not None:
            if not report.HasField("geo"):
                continue
            distance = haversine_m(report.geo, centre)
            if distance > (rule.thresholds.max_distance_m or DEFAULT_MAX_DISTANCE_M):
                continue
        alerts.append(_alert(rule, report, distance))
    return alerts


def _alert(rule: Rule, report: ReportReceived, distance: float | None) -> AlertRaised:
    channel = (ReportChannel.Name(report.channel) if report.channel in ReportChannel.values()
               else str(report.channel))
    attributes = {"report_id": report.report_id, "media_uri": report.media.uri,
                  "media_sha256": report.media.sha256, "media_type": report.media.media_type,
                  "channel": channel.removeprefix("REPORT_CHANNEL_").lower()}
    if distance is not None:
        attributes["distance_m"] = f"{distance:.0f}"
    alert = AlertRaised(
        alert_id=report_alert_id(rule.rule_id, report.report_id), rule_id=rule.rule_id,
        rule_kind=KIND.enum, rule_kind_name=KIND.name, involves_persons=KIND.involves_persons,
        camera_id=rule.camera_id or report.nearest_camera_id,
        severity=rule.severity, title=f"{KIND.title} - {rule.name or rule.rule_id}",
        attributes=attributes)
    if report.HasField("geo"):
        alert.geo.CopyFrom(report.geo)
    alert.started_at.CopyFrom(report.received_at)
    alert.raised_at.CopyFrom(report.received_at)
    return alert


def spec_problems(spec: Mapping[str, Any]) -> list[str]:
    problems = []
    if spec["cooldown_s"] is not None:
        problems.append("cooldown_s: not used by citizen_report rules (one alert per report)")
    if spec["camera_id"] and spec["geo_centre"] is not None:
        problems.append("geo_centre: not used with camera_id (the camera's position is the "
                        "centre)")
    if (spec["max_distance_m"] is not None and not spec["camera_id"]
            and spec["geo_centre"] is None):
        problems.append("max_distance_m: needs camera_id or geo_centre to measure from")
    return problems


KIND = Kind(
    name="citizen_report", enum=RuleKind.RULE_KIND_CITIZEN_REPORT, title="Citizen report",
    description="A citizen report near the camera, near geo_centre, or anywhere.",
    geometry="none", optional=("max_distance_m", "geo_centre"), on_detections=False,
    camera_optional=True, spec_problems=spec_problems,
    field_hints={"zone": " (reports have a geo position, not an image one); use geo_centre"})
