"""CITIZEN_REPORT rules: reports near a rule's camera or centre (haversine), reports anywhere,
deterministic ids, and what the alert carries (position, media reference, never raw media as
a snapshot)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vigie.camera.v1.camera_pb2 import Camera
from vigie.common.v1.common_pb2 import EvidenceRef, GeoPoint
from vigie.ingest.v1.report_pb2 import ReportChannel, ReportReceived
from vigie.rules.v1.rule_pb2 import Rule, RuleKind, Severity
from vigie_rules.domain.alert_ids import report_alert_id
from vigie_rules.domain.kinds.citizen_report import (
    DEFAULT_MAX_DISTANCE_M,
    evaluate_report,
    haversine_m,
)

T0 = 1_767_225_600_000
BELLECOUR = GeoPoint(lat_deg=45.757814, lon_deg=4.832011)
M_PER_DEG_LAT = math.pi * 6_371_008.8 / 180  # about 111.2 km


def north_of(point: GeoPoint, metres: float) -> GeoPoint:
    return GeoPoint(lat_deg=point.lat_deg + metres / M_PER_DEG_LAT, lon_deg=point.lon_deg)


CAMERAS = {
    "cam-bellecour": Camera(camera_id="cam-bellecour", geo=BELLECOUR),
    "cam-nowhere": Camera(camera_id="cam-nowhere"),  # no position yet
}


def report_rule(rule_id: str = "rep-1", *, camera: str = "cam-bellecour",
                max_distance_m: float = 0.0, centre: GeoPoint | None = None,
                enabled: bool = True) -> Rule:
    r = Rule(rule_id=rule_id, name="Reports near Bellecour", camera_id=camera,
             kind=RuleKind.RULE_KIND_CITIZEN_REPORT, severity=Severity.SEVERITY_MEDIUM,
             enabled=enabled)
    r.thresholds.max_distance_m = max_distance_m
    if centre is not None:
        r.geometry.geo_centre.CopyFrom(centre)
    return r


def report(geo: GeoPoint | None, report_id: str = "rep-0007", *, t_ms: int = 0,
           nearest: str = "cam-bellecour") -> ReportReceived:
    r = ReportReceived(report_id=report_id, text="Un homme est tombé", reporter="ctz-5b1f",
                       channel=ReportChannel.REPORT_CHANNEL_UPLOAD, nearest_camera_id=nearest,
                       media=EvidenceRef(uri="s3://vigie-evidence/reports/rep-0007.mp4",
                                         sha256="ab" * 32, media_type="video/mp4"))
    if geo is not None:
        r.geo.CopyFrom(geo)
    r.received_at.FromMilliseconds(T0 + t_ms)
    return r


@pytest.mark.parametrize(("a", "b", "metres"), [
    (BELLECOUR, BELLECOUR, 0.0),
    (BELLECOUR, north_of(BELLECOUR, 150), 150.0),
    # Lyon Bellecour - Paris Notre-Dame: 392 km as the crow flies.
    (BELLECOUR, GeoPoint(lat_deg=48.852968, lon_deg=2.349902), 392_000),
    (GeoPoint(lat_deg=0, lon_deg=179.9), GeoPoint(lat_deg=0, lon_deg=-179.9),
     0.2 * M_PER_DEG_LAT),  # across the antimeridian
])
def test_haversine(a: GeoPoint, b: GeoPoint, metres: float) -> None:
    assert haversine_m(a, b) == pytest.approx(metres, rel=2e-3, abs=0.5)


@given(st.floats(-89, 89), st.floats(-180, 180), st.floats(-89, 89), st.floats(-180, 180))
def test_haversine_is_symmetric_and_bounded(lat1: float, lon1: float, lat2: float,
                                            lon2: float) -> None:
    a, b = GeoPoint(lat_deg=lat1, lon_deg=lon1), GeoPoint(lat_deg=lat2, lon_deg=lon2)
    assert haversine_m(a, b) == pytest.approx(haversine_m(b, a), abs=1e-6)
    assert 0 <= haversine_m(a, b) <= math.pi * 6_371_008.8 + 1e-6


@pytest.mark.parametrize(("name", "rules", "geo", "fired"), [
    (f"150 m from the camera (default radius {DEFAULT_MAX_DISTANCE_M:g} m)", [report_rule()],
     north_of(BELLECOUR, 150), ["rep-1"]),
    ("250 m from the camera", [report_rule()], north_of(BELLECOUR, 250), []),
    ("250 m with a 300 m radius", [report_rule(max_distance_m=300)],
     north_of(BELLECOUR, 250), ["rep-1"]),
    ("the camera has no position", [report_rule(camera="cam-nowhere")],
     north_of(BELLECOUR, 10), []),
    ("the camera is unknown", [report_rule(camera="cam-unknown")], BELLECOUR, []),
    ("the report has no position: a camera rule cannot place it", [report_rule()], None, []),
    ("a rule without camera takes every report, placed or not",
     [report_rule("all", camera="")], None, ["all"]),
    ("a rule without camera, around a centre: inside",
     [report_rule("centre", camera="", centre=BELLECOUR, max_distance_m=1000)],
     north_of(BELLECOUR, 900), ["centre"]),
    ("a rule without camera, around a centre: outside",
     [report_rule("centre", camera="", centre=BELLECOUR, max_distance_m=1000)],
     north_of(BELLECOUR, 1100), []),
    ("several rules fire in rule_id order",
     [report_rule("b"), report_rule("a", camera=""), report_rule("off", enabled=False)],
     north_of(BELLECOUR, 20), ["a", "b"]),
])
def test_which_rules_fire(name: str, rules: list[Rule], geo: GeoPoint | None,
                          fired: list[str]) -> None:
    assert [a.rule_id for a in evaluate_report(rules, CAMERAS, report(geo))] == fired, name


def test_alert_content() -> None:
    where = north_of(BELLECOUR, 120)
    (alert,) = evaluate_report([report_rule()], CAMERAS, report(where, t_ms=5000))
    assert alert.alert_id == report_alert_id("rep-1", "rep-0007")
    assert alert.rule_kind == RuleKind.RULE_KIND_CITIZEN_REPORT
    assert alert.rule_kind_name == "citizen_report" and not alert.involves_persons
    assert alert.camera_id == "cam-bellecour" and alert.geo == where
    assert alert.started_at.ToMilliseconds() == alert.raised_at.ToMilliseconds() == T0 + 5000
    assert dict(alert.attributes) == {
        "report_id": "rep-0007", "media_uri": "s3://vigie-evidence/reports/rep-0007.mp4",
        "media_sha256": "ab" * 32, "media_type": "video/mp4", "channel": "upload",
        "distance_m": "120"}
    # Raw citizen media is not an operator snapshot (those have faces blurred): reference only.
    assert not alert.HasField("snapshot") and not alert.HasField("clip")
    assert "text" not in alert.attributes and "reporter" not in alert.attributes
    assert alert.title == "Citizen report - Reports near Bellecour"


def test_a_rule_without_camera_alerts_on_the_nearest_camera() -> None:
    (alert,) = evaluate_report([report_rule(camera="")], CAMERAS,
                               report(BELLECOUR, nearest="cam-x"))
    assert alert.camera_id == "cam-x" and "distance_m" not in alert.attributes


def test_the_same_report_twice_raises_the_same_id_and_other_reports_others() -> None:
    rules = [report_rule()]
    first = evaluate_report(rules, CAMERAS, report(BELLECOUR))
    again = evaluate_report(rules, CAMERAS, report(BELLECOUR))
    other = evaluate_report(rules, CAMERAS, report(BELLECOUR, "rep-0008"))
    assert [a.SerializeToString(deterministic=True) for a in first] == \
        [a.SerializeToString(deterministic=True) for a in again]
    assert first[0].alert_id != other[0].alert_id


def test_schedule_applies_at_the_report_time() -> None:
    r = report_rule()
    r.schedule.valid_until.FromMilliseconds(T0 + 3_600_000)  # "for 1 h"
    assert evaluate_report([r], CAMERAS, report(BELLECOUR, t_ms=3_599_000))
    assert evaluate_report([r], CAMERAS, report(BELLECOUR, t_ms=3_600_000)) == []
