"""CAP 1.2 rendering, webhook signatures and retry schedule, SMS text, drawings, roles, frames."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.rules.v1.rule_pb2 import RuleKind, Severity
from vigie_alerts.domain import signing
from vigie_alerts.domain.cap import CAP_NS, CapAlert, CapIdentity, cap_time, render_cap
from vigie_alerts.domain.drawing import (
    Drawing,
    DrawingError,
    RuleKindInfo,
    editor_kinds,
    rule_from_drawing,
    zone_polygon,
)
from vigie_alerts.domain.frames import BufferedFrame, FrameBuffer
from vigie_alerts.domain.messages import alert_payload, sms_reference, sms_text
from vigie_alerts.domain.privacy import Box, faces_to_blur, involves_persons, redact_phone
from vigie_alerts.domain.retention import due_for_deletion, evidence_retention, expires_at
from vigie_alerts.domain.roles import Permission, Role, allowed

T0 = datetime(2026, 3, 2, 12, 0, 5, 250000, tzinfo=UTC)
NS = {"cap": CAP_NS}

# Element order of the OASIS CAP 1.2 schema (CAP-v1.2.xsd), for the elements Vigie writes.
ALERT_ORDER = ["identifier", "sender", "sent", "status", "msgType", "source", "scope",
               "restriction", "addresses", "code", "note", "references", "incidents", "info"]
INFO_ORDER = ["language", "category", "event", "responseType", "urgency", "severity",
              "certainty", "audience", "eventCode", "effective", "onset", "expires",
              "senderName", "headline", "description", "instruction", "web", "contact",
              "parameter", "resource", "area"]
AREA_ORDER = ["areaDesc", "polygon", "circle", "geocode", "altitude", "ceiling"]


def local(element: ET.Element) -> list[str]:
    return [child.tag.split("}")[1] for child in element]


def in_schema_order(names: list[str], order: list[str]) -> bool:
    positions = [order.index(n) for n in names]
    return positions == sorted(positions)


@pytest.mark.parametrize(("confirmed", "certainty", "severity", "cap_severity", "urgency"), [
    (True, "Observed", Severity.SEVERITY_CRITICAL, "Extreme", "Immediate"),
    (False, "Possible", Severity.SEVERITY_MEDIUM, "Moderate", "Expected"),
    (True, "Observed", Severity.SEVERITY_UNSPECIFIED, "Unknown", "Unknown"),
])
def test_cap_document(confirmed, certainty, severity, cap_severity, urgency):
    xml = render_cap(CapAlert(
        alert_id="abc123", title="Intrusion - Depot gate", rule_kind=RuleKind.RULE_KIND_FACE_MATCH,
        severity=severity, raised_at=T0, camera_id="cam-depot", camera_name="Depot <gate> & co",
        lat_deg=45.7578, lon_deg=4.832, confirmed=confirmed, confirmations=2),
        CapIdentity(sender="vigie@csu.example.org", web="https://csu.example.org/alerts/console"),
        sent=T0 + timedelta(minutes=2))
    assert xml.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = ET.fromstring(xml)
    assert root.tag == f"{{{CAP_NS}}}alert"
    assert in_schema_order(local(root), ALERT_ORDER)
    info = root.find("cap:info", NS)
    assert info is not None and in_schema_order(local(info), INFO_ORDER)
    area = info.find("cap:area", NS)
    assert area is not None and in_schema_order(local(area), AREA_ORDER)
    text = {name: root.findtext(f"cap:{name}", namespaces=NS) for name in
            ("identifier", "sender", "sent", "status", "msgType", "scope")}
    assert text == {"identifier": "vigie-abc123", "sender": "vigie@csu.example.org",
                    "sent": "2026-03-02T12:02:05-00:00", "status": "Actual",
                    "msgType": "Alert", "scope": "Restricted"}
    assert info.findtext("cap:certainty", namespaces=NS) == certainty
    assert info.findtext("cap:severity", namespaces=NS) == cap_severity
    assert info.findtext("cap:urgency", namespaces=NS) == urgency
    assert info.findtext("cap:effective", namespaces=NS) == "2026-03-02T12:00:05-00:00"
    assert area.findtext("cap:areaDesc", namespaces=NS) == "Depot <gate> & co"  # escaped
    assert area.findtext("cap:circle", namespaces=NS) == "45.757800,4.832000 0.1"
    params = {p.findtext("cap:valueName", namespaces=NS): p.findtext("cap:value", namespaces=NS)
              for p in info.findall("cap:parameter", NS)}
    assert params["alert_id"] == "abc123"
    assert b"subject" not in xml  # a face match never names the watchlist subject


def test_cap_times_never_use_z():
    assert cap_time(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00-00:00"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d", cap_time(T0))


def test_signature_verifies_and_detects_tampering_and_replay():
    key, body = b"k" * 32, b'{"alert":1}'
    header = signing.signature(key, 1_700_000_000, body)
    assert signing.verify(key, header, body, now=1_700_000_010)
    assert not signing.verify(key, header, body + b" ", now=1_700_000_010)
    assert not signing.verify(b"other", header, body, now=1_700_000_010)
    assert not signing.verify(key, header, body, now=1_700_000_000 + 301)  # too old
    rotated = header + ",v1=" + "0" * 64
    assert signing.verify(key, rotated, body, now=1_700_000_010)
    assert not signing.verify(key, "v1=abc", body, now=0)


@given(attempt=st.integers(1, 60), jitter=st.floats(-1, 1))
def test_retry_delay_is_bounded_and_grows(attempt, jitter):
    delay = signing.retry_delay_s(attempt, 1.0, 300.0, jitter)
    assert 0 <= delay <= 300 * 1.5
    assert signing.retry_delay_s(attempt + 1, 1.0, 300.0) >= signing.retry_delay_s(attempt, 1.0,
                                                                                  300.0)


@pytest.mark.parametrize(("status", "retry"), [
    (500, True), (503, True), (429, True), (408, True), (400, False), (401, False),
    (404, False), (422, False)])
def test_retryable(status, retry):
    assert signing.retryable_status(status) == retry


def face_alert() -> AlertRaised:
    a = AlertRaised(alert_id="a" * 32, title="Watchlist match", camera_id="cam-1",
                    rule_kind=RuleKind.RULE_KIND_FACE_MATCH, severity=Severity.SEVERITY_HIGH,
                    subject_id="subject-42")
    a.raised_at.FromDatetime(T0)
    a.started_at.FromDatetime(T0)
    return a


def test_external_messages_never_name_the_subject():
    a = face_alert()
    text = sms_text(a, "Gare Part-Dieu", 2, "https://csu.example.org")
    assert "subject-42" not in text and "Gare Part-Dieu" in text and len(text) <= 320
    assert "https://csu.example.org/alerts/console#alert=" in text
    body = alert_payload(a, event="alert.confirmed", status=4, confirmations=2, required=2,
                         camera_name="Gare", sent_at=T0)
    assert "subject-42" not in str(body)
    assert body["alert"]["face_match"] is True and body["status"] == "confirmed"


def _outputs(alert: AlertRaised) -> tuple[dict, str, bytes]:
    payload = alert_payload(alert, event="alert.raised", status=1, confirmations=0, required=1,
                            camera_name="Gare", sent_at=T0)
    cap = render_cap(CapAlert(alert_id=alert.alert_id, title=alert.title,
                              rule_kind=alert.rule_kind, severity=alert.severity, raised_at=T0,
                              camera_id=alert.camera_id, kind_name=alert.rule_kind_name),
                     CapIdentity(), T0)
    return payload, sms_text(alert, "Gare", 0, ""), cap


def test_messages_name_the_rule_kind_a_plug_in_kind_included():
    old = AlertRaised(alert_id="k1", rule_kind=RuleKind.RULE_KIND_CROWD_MOVEMENT,
                      camera_id="c", severity=Severity.SEVERITY_HIGH)
    new = AlertRaised()
    new.CopyFrom(old)
    new.rule_kind_name = "crowd_movement"
    assert _outputs(old) == _outputs(new)  # the same bytes, with or without the name
    payload, text, cap = _outputs(new)
    assert payload["alert"]["rule_kind"] == "crowd_movement" and "crowd movement" in text
    plug_in = AlertRaised(alert_id="k2", rule_kind_name="zone_occupancy", camera_id="c",
                          severity=Severity.SEVERITY_HIGH)
    payload, text, cap = _outputs(plug_in)
    assert payload["alert"]["rule_kind"] == "zone_occupancy" and "zone occupancy" in text
    assert ET.fromstring(cap).findtext(f"{{{CAP_NS}}}info/{{{CAP_NS}}}event") == \
        "Zone Occupancy"


def test_the_sms_reference_survives_any_title_and_a_repeat_says_so():
    a = face_alert()
    a.title = "x" * 300
    reference = sms_reference(a.alert_id, "0123456789abcdef")
    assert reference == "Ref aaaaaaaaaaaa-012345"
    for repeat in (False, True):
        text = sms_text(a, "Gare", 2, "https://csu.example.org", reference, repeat)
        assert len(text) == 320 and reference in text and text.endswith(f"#alert={a.alert_id}")
        assert text.startswith("POSSIBLE REPEAT - ") == repeat


# Rule kinds as the rules service declares them (ListRuleKinds), a plug-in kind among them.
DECLARED = [
    RuleKindInfo("wrong_way", RuleKind.RULE_KIND_WRONG_WAY, "Wrong way", "line",
                 ["direction"], ["zone", "tolerance_deg"]),
    RuleKindInfo("zone_occupancy", RuleKind.RULE_KIND_UNSPECIFIED, "Zone occupancy", "zone",
                 ["zone"], ["min_count"]),
    RuleKindInfo("line_crossing", RuleKind.RULE_KIND_LINE_CROSSING, "Line crossing", "line",
                 ["line"], ["direction", "tolerance_deg", "min_count"]),
    RuleKindInfo("loitering", RuleKind.RULE_KIND_LOITERING, "Loitering", "zone",
                 ["zone", "max_dwell_s"]),
    RuleKindInfo("face_match", RuleKind.RULE_KIND_FACE_MATCH, "Face match", "none", [],
                 ["min_match_score"]),
    RuleKindInfo("stationary_vehicle", RuleKind.RULE_KIND_STATIONARY_VEHICLE,
                 "Stationary vehicle", "zone", ["zone", "max_stop_s"]),
    RuleKindInfo("zone_intrusion", RuleKind.RULE_KIND_ZONE_INTRUSION, "Intrusion", "zone",
                 ["zone"]),
]
KINDS = {k.name: k for k in DECLARED}


def test_the_editor_offers_the_kinds_it_can_draw_built_in_ones_first():
    offered = editor_kinds(DECLARED)
    assert [k.name for k in offered] == ["zone_intrusion", "loitering", "stationary_vehicle",
                                         "line_crossing", "zone_occupancy"]
    # wrong_way needs a direction and face_match no drawing: not offered
    assert KINDS["loitering"].editor_fields == ["max_dwell_s"]
    assert KINDS["line_crossing"].editor_fields == ["min_count"]
    assert KINDS["stationary_vehicle"].editor_fields == ["max_stop_s"]


def test_drawings_become_rules_with_a_duration():
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    zone = rule_from_drawing(Drawing("cam-1", "zone_intrusion", [(0.6, 0.7), (0.2, 0.3)], "1h"),
                             KINDS, "r1", "ann", now)
    assert zone.kind == RuleKind.RULE_KIND_ZONE_INTRUSION and not zone.kind_name
    assert [(round(p.x, 4), round(p.y, 4)) for p in zone.geometry.zone] == [
        (0.2, 0.3), (0.6, 0.3), (0.6, 0.7), (0.2, 0.7)]
    assert zone.schedule.valid_until.ToDatetime(UTC) == now + timedelta(hours=1)
    assert not zone.schedule.HasField("valid_from")
    assert zone.created_by == "ann" and zone.enabled and zone.camera_id == "cam-1"
    two = rule_from_drawing(Drawing("cam-1", "loitering", [(0.1, 0.1), (0.5, 0.1), (0.3, 0.6)],
                                    "2h", max_dwell_s=30), KINDS, "r2", "ann", now)
    assert two.kind == RuleKind.RULE_KIND_LOITERING and len(two.geometry.zone) == 3
    assert two.thresholds.max_dwell.ToTimedelta() == timedelta(seconds=30)
    assert two.schedule.valid_until.ToDatetime(UTC) == now + timedelta(hours=2)
    line = rule_from_drawing(Drawing("cam-1", "line_crossing", [(0.1, 0.5), (0.9, 0.5)],
                                     "permanent"), KINDS, "r3", "ann", now)
    assert line.kind == RuleKind.RULE_KIND_LINE_CROSSING and line.thresholds.min_count == 1
    assert not line.schedule.HasField("valid_until")  # permanently
    stop = rule_from_drawing(Drawing("cam-1", "stationary_vehicle", [(0.1, 0.1), (0.5, 0.5)],
                                     "1h", max_stop_s=90), KINDS, "r4", "ann", now)
    assert stop.thresholds.max_stop.ToTimedelta() == timedelta(seconds=90)


def test_a_plug_in_kind_is_drawn_by_its_name():
    rule = rule_from_drawing(Drawing("cam-1", "zone_occupancy", [(0.1, 0.1), (0.5, 0.5)], "1h",
                                     min_count=3), KINDS, "r5", "ann", T0)
    assert rule.kind == RuleKind.RULE_KIND_UNSPECIFIED and rule.kind_name == "zone_occupancy"
    assert len(rule.geometry.zone) == 4 and rule.thresholds.min_count == 3


@pytest.mark.parametrize(("drawing", "problem"), [
    (Drawing("c", "zone_intrusion", [(0.1, 0.1)], "1h"), "two corners"),
    (Drawing("c", "zone_intrusion", [(0.1, 0.1), (0.1, 0.9)], "1h"), "too thin"),
    (Drawing("c", "zone_intrusion", [(0.1, 0.1), (1.5, 0.9)], "1h"), "on the image"),
    (Drawing("c", "zone_intrusion", [(0.1, 0.1), (float("nan"), 0.9)], "1h"), "on the image"),
    (Drawing("c", "zone_intrusion", [(0.1, 0.1), (0.5, 0.5)], "3h"), "duration"),
    (Drawing("c", "line_crossing", [(0.1, 0.1), (0.5, 0.5), (0.6, 0.6)], "1h"), "two clicks"),
    (Drawing("c", "fire", [(0.1, 0.1), (0.5, 0.5)], "1h"), "unknown rule kind"),
    (Drawing("c", "wrong_way", [(0.1, 0.1), (0.5, 0.5)], "1h"), "unknown rule kind"),
    (Drawing("c", "zone_intrusion", [(0.1, 0.1), (0.2, 0.2), (0.3, 0.3)], "1h"), "no area"),
    (Drawing("c", "zone_intrusion", [(0.1, 0.1), (0.5, 0.5)], "1h", class_names=["<x>"]),
     "class name"),
    (Drawing("c", "loitering", [(0.1, 0.1), (0.5, 0.5)], "1h", max_dwell_s=-5), "max_dwell_s"),
])
def test_bad_drawings(drawing, problem):
    with pytest.raises(DrawingError, match=problem):
        rule_from_drawing(drawing, KINDS, "r", "ann", T0)


def test_zone_polygon_keeps_polygons():
    assert zone_polygon([(0.1, 0.1), (0.9, 0.1), (0.5, 0.9)]) == [(0.1, 0.1), (0.9, 0.1),
                                                                 (0.5, 0.9)]


@pytest.mark.parametrize(("role", "permission", "ok"), [
    (Role.OPERATOR, Permission.DECIDE, True), (Role.OPERATOR, Permission.VIEW_AUDIT, False),
    (Role.OPERATOR, Permission.SUSPEND_DISPATCH, False),
    (Role.SUPERVISOR, Permission.SUSPEND_DISPATCH, True),
    (Role.AUDITOR, Permission.VIEW_AUDIT, True), (Role.AUDITOR, Permission.VIEW_SNAPSHOT, False),
    (Role.AUDITOR, Permission.DECIDE, False), (Role.ADMIN, Permission.MANAGE_USERS, True),
    (Role.ADMIN, Permission.DECIDE, False), ("root", Permission.VIEW_FEED, False),
    (None, Permission.VIEW_FEED, False), ("operator", Permission.EDIT_RULES, True),
])
def test_roles(role, permission, ok):
    assert allowed(role, permission) == ok


def test_only_non_matching_faces_are_blurred():
    matched = [Box(0.40, 0.10, 0.50, 0.25)]
    target = Box(0.42, 0.12, 0.48, 0.20)
    bystander = Box(0.70, 0.10, 0.75, 0.18)
    assert faces_to_blur([target, bystander], matched, face_match=True) == [bystander]
    assert faces_to_blur([target, bystander], matched, face_match=False) == [target, bystander]
    straddling = Box(0.48, 0.12, 0.60, 0.20)  # centre outside the matched box
    assert faces_to_blur([straddling], matched, face_match=True) == [straddling]
    # a bystander right behind the matched person, inside the same box: only one face is kept
    behind = Box(0.41, 0.11, 0.44, 0.15)
    assert faces_to_blur([behind, target], matched, face_match=True) == [behind]
    # two detections of the matched face (whole frame and enlarged crop): neither is blurred
    twin = Box(0.421, 0.121, 0.481, 0.201)
    assert faces_to_blur([target, twin, bystander], matched, face_match=True) == [bystander]


def test_heads_of_people_are_obscured_even_without_a_detected_face():
    from vigie_alerts.domain.privacy import head_regions

    standing, lying = Box(0.5, 0.2, 0.6, 0.7), Box(0.1, 0.8, 0.5, 0.9)
    assert head_regions([standing, lying], person=True, face_match=False) == [
        Box(0.5, 0.2, 0.6, pytest.approx(0.3))]
    assert head_regions([standing], person=False, face_match=False) == []  # a car
    assert head_regions([standing], person=True, face_match=True) == []  # the matched face


K = RuleKind


@pytest.mark.parametrize(("kind", "kind_name", "flag", "class_name", "persons"), [
    (K.RULE_KIND_CROWD_MOVEMENT, "crowd_movement", True, "", True),  # the kind says so
    (K.RULE_KIND_UNSPECIFIED, "queue_length", True, "", True),  # a plug-in kind too
    (K.RULE_KIND_LOITERING, "loitering", False, "", False),  # the field is trusted
    (K.RULE_KIND_ZONE_INTRUSION, "zone_intrusion", False, "person", True),  # fired on a person
    (K.RULE_KIND_ZONE_INTRUSION, "zone_intrusion", False, "car", False),
    # alerts from before involves_persons (no rule_kind_name either): the legacy kinds
    (K.RULE_KIND_CROWD_MOVEMENT, "", False, "", True),
    (K.RULE_KIND_CROWD_DENSITY, "", False, "", True),
    (K.RULE_KIND_LOITERING, "", False, "", True),
    (K.RULE_KIND_PERSON_ON_GROUND, "", False, "", True),
    (K.RULE_KIND_STATIONARY_VEHICLE, "", False, "", False),
])
def test_which_alerts_are_about_people(kind, kind_name, flag, class_name, persons):
    alert = AlertRaised(rule_kind=kind, rule_kind_name=kind_name, involves_persons=flag)
    if class_name:
        alert.attributes["class_name"] = class_name
    assert involves_persons(alert) == persons


def test_phone_numbers_are_redacted():
    assert redact_phone("+33612345678") == "+33*******78"


def test_frame_buffer_is_bounded_by_bytes_and_age_and_shared_fairly():
    buf = FrameBuffer(max_bytes=10_000, max_age_ms=2_000)
    for i in range(10):
        buf.add(BufferedFrame(f"cam:{i}", "cam", i * 100, b"x" * 1500, 4, 3))
    assert buf.bytes <= 10_000 and len(buf) == 6  # the byte budget binds
    assert buf.get("cam:9") is not None and buf.get("cam:3") is None
    assert buf.latest("cam").frame_id == "cam:9"  # type: ignore[union-attr]
    buf.add(BufferedFrame("cam:10", "cam", 4_000, b"x" * 10, 4, 3))  # 2 s newer than cam:9
    assert [f for f in (f"cam:{i}" for i in range(11)) if buf.get(f)] == ["cam:10"]  # age
    for i in range(5):  # a busy camera takes the budget from its own frames first
        buf.add(BufferedFrame(f"busy:{i}", "busy", i, b"y" * 2500, 4, 3))
    buf.add(BufferedFrame("quiet:0", "quiet", 0, b"z" * 1000, 4, 3))
    assert buf.get("quiet:0") is not None and buf.get("cam:10") is not None
    assert buf.bytes <= 10_000 and buf.get("busy:0") is None
    buf.add(BufferedFrame("big", "big", 0, b"z" * 20_000, 4, 3))  # larger than the budget
    assert buf.get("big") is None and buf.cameras() == ["busy", "cam", "quiet"]


@pytest.mark.parametrize(("retention_s", "days"), [(None, 30), (0, 30), (86400, 1),
                                                   (10**12, 3650)])
def test_evidence_retention(retention_s, days):
    assert evidence_retention(retention_s) == timedelta(days=days)


def test_retention_never_counts_from_a_capture_time_in_the_future():
    day = timedelta(days=1)
    assert expires_at(T0 - day, day, T0) == T0  # counted from capture
    # a file played faster than real time stamps its last frames ahead of the clock
    assert expires_at(T0 + timedelta(minutes=5), day, T0) == T0 + day


def test_due_for_deletion_respects_locks():
    now = T0
    assert due_for_deletion(now - timedelta(seconds=1), False, False, now)
    assert not due_for_deletion(now - timedelta(seconds=1), True, False, now)
    assert not due_for_deletion(now + timedelta(seconds=1), False, False, now)
    assert not due_for_deletion(None, False, False, now)
