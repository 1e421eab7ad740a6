"""The rules service in the embedded runtime: RulesService over real gRPC on 127.0.0.1, rule
changes audited, and detections turned into the alerts a clean run of the pure engine gives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from PIL import Image
from rules_scenarios import (
    cameras,
    car_frame,
    clean_run,
    lamp_frame,
    red_light_rule,
    rules_for,
    walkers,
)
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.audit.v1.audit_pb2 import AuditAction
from vigie.camera.v1.camera_pb2 import Camera
from vigie.common.v1.common_pb2 import GeoPoint, Point
from vigie.face.v1.face_match_pb2 import FaceMatched
from vigie.ingest.v1.report_pb2 import ReportReceived
from vigie.rules.v1 import rules_service_pb2 as pb
from vigie.rules.v1 import rules_service_pb2_grpc as pb_grpc
from vigie.rules.v1.rule_pb2 import Rule, RuleGeometry, RuleKind, RuleThresholds
from vigie.rules.v1.signal_pb2 import SignalState
from vigie_core.audit import read_audit, verify_records
from vigie_core.bus.memory import MemoryBus
from vigie_core.runtime import Running, start
from vigie_core.settings import CoreSettings
from vigie_core.topics import (
    ALERTS,
    CAMERAS,
    DETECTIONS,
    FACES,
    FRAMES,
    REPORTS,
    RULES,
    SIGNALS,
    STATS,
)
from vigie_rules.adapters import grpc_api
from vigie_rules.domain.spec import KIND_NAMES


@pytest.fixture
async def rules(tmp_path) -> AsyncIterator[Running]:
    running = await start(["rules"], CoreSettings(http_port=0, grpc_port=0, data_dir=tmp_path),
                          MemoryBus("test"))
    yield running
    await running.stop()


def stub(running: Running) -> pb_grpc.RulesServiceStub:
    # a Vigie service's token, as the console's zone editor has
    return pb_grpc.RulesServiceStub(running.channel("service", name="zone-editor"))


def zone_rule(**fields) -> Rule:
    base = dict(rule_id="gare-zone", name="Quai 1", camera_id="cam-gare", enabled=True,
                kind=RuleKind.RULE_KIND_ZONE_INTRUSION,
                geometry=RuleGeometry(zone=[Point(x=0.1, y=0.1), Point(x=0.6, y=0.1),
                                            Point(x=0.6, y=0.7)]))
    base.update(fields)
    return Rule(**base)


async def records_of(bus: MemoryBus, topic) -> list:
    from vigie_core.codec import decode

    return [decode(topic, r.key, r.value, r.headers) for r in await bus.read_all(topic.name)]


async def test_put_list_delete_publish_to_the_rules_topic_and_are_audited(rules):
    api = stub(rules)
    put = await api.PutRule(pb.PutRuleRequest(rule=zone_rule()), timeout=10,
                            metadata=[("x-vigie-operator", "alice")])
    assert put.rule.rule_id == "gare-zone" and put.rule.created_by == "alice"
    assert put.rule.HasField("updated_at")
    unnamed = await api.PutRule(pb.PutRuleRequest(rule=zone_rule(rule_id="")), timeout=10)
    assert unnamed.rule.rule_id.startswith("cam-gare-zone-intrusion-")

    listed = await api.ListRules(pb.ListRulesRequest(camera_id="cam-gare"), timeout=10)
    assert sorted(r.rule_id for r in listed.rules) == sorted(["gare-zone", unnamed.rule.rule_id])
    assert not (await api.ListRules(pb.ListRulesRequest(camera_id="elsewhere"))).rules

    await api.DeleteRule(pb.DeleteRuleRequest(rule_id="gare-zone"), timeout=10,
                         metadata=[("x-vigie-operator", "bob")])
    listed = await api.ListRules(pb.ListRulesRequest(), timeout=10)
    assert [r.rule_id for r in listed.rules] == [unnamed.rule.rule_id]

    on_topic = await records_of(rules.bus, RULES)
    by_key: dict[str, list[bool]] = {}
    for e in on_topic:  # order holds per key (partition), not across the topic
        by_key.setdefault(e.key, []).append(e.message is None)
    assert by_key == {"gare-zone": [False, True], unnamed.rule.rule_id: [False]}
    audit = [r for r in await read_audit(rules.bus) if r.chain == "rules/0"]
    assert [(r.action, r.subject_ref, r.actor, r.details["change"]) for r in audit] == [
        (AuditAction.AUDIT_ACTION_RULE_CHANGE, "rule:gare-zone", "operator:alice", "created"),
        # without x-vigie-operator the change is the authenticated caller's own
        (AuditAction.AUDIT_ACTION_RULE_CHANGE, f"rule:{unnamed.rule.rule_id}",
         "operator:client:zone-editor",
         "created"),
        (AuditAction.AUDIT_ACTION_RULE_CHANGE, "rule:gare-zone", "operator:bob", "deleted"),
    ]
    assert verify_records(audit)["rules/0"].valid


@pytest.mark.parametrize(("rule", "path", "words"), [
    (zone_rule(geometry=RuleGeometry(zone=[Point(x=0.1, y=0.1), Point(x=0.2, y=0.2)])),
     "zone", "at least 3"),
    (zone_rule(geometry=RuleGeometry(zone=[Point(x=0, y=0), Point(x=1, y=1), Point(x=1, y=0),
                                           Point(x=0, y=1)])), "zone", "self-intersecting"),
    (zone_rule(geometry=RuleGeometry(zone=[Point(x=0, y=0), Point(x=1.5, y=0),
                                           Point(x=0, y=1)])), "zone", "outside"),
    (zone_rule(class_names=["persn"]), "classes[0]", "did you mean 'person'"),
    (zone_rule(camera_id=""), "camera_id", "required"),
    (zone_rule(rule_id="bad id with spaces"), "rule_id", ""),
])
async def test_invalid_rules_are_refused_with_the_field_named(rules, rule, path, words):
    api = stub(rules)
    checked = await api.ValidateRule(pb.ValidateRuleRequest(rule=rule), timeout=10)
    assert any(e.field_path == path and words in e.message for e in checked.errors), checked
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await api.PutRule(pb.PutRuleRequest(rule=rule), timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert path in refused.value.details()
    assert not await rules.bus.read_all(RULES.name)  # nothing published


async def test_an_expired_validity_is_refused_and_unknown_rules_are_not_found(rules):
    api = stub(rules)
    rule = zone_rule()
    rule.schedule.valid_until.FromDatetime(datetime.now(UTC) - timedelta(minutes=1))
    checked = await api.ValidateRule(pb.ValidateRuleRequest(rule=rule), timeout=10)
    assert [e.field_path for e in checked.errors] == ["schedule.valid_until"]
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await api.DeleteRule(pb.DeleteRuleRequest(rule_id="nope"), timeout=10)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as bad_page:
        await api.ListRules(pb.ListRulesRequest(page_size=-1), timeout=10)
    assert bad_page.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_list_rules_pages_through_every_rule_once(rules):
    api = stub(rules)
    for i in range(7):
        await api.PutRule(pb.PutRuleRequest(rule=zone_rule(rule_id=f"r{i}")), timeout=10)
    seen, token = [], ""
    for _ in range(10):
        page = await api.ListRules(pb.ListRulesRequest(page_size=3, page_token=token), timeout=10)
        seen += [r.rule_id for r in page.rules]
        token = page.next_page_token
        if not token:
            break
    assert seen == [f"r{i}" for i in range(7)]


async def test_detections_become_the_alerts_and_counts_of_a_clean_run(rules):
    bus = rules.bus
    cams = cameras(2)
    all_rules = [r for c in cams for r in rules_for(c)]
    for rule in all_rules:
        await bus.publish(RULES, rule.rule_id, rule)
    frames = [f for c in cams for f in walkers(c, 700)]  # 70 s: the first window closes
    expected = clean_run(frames, all_rules)
    assert len(expected) > 2 * 20  # zone entries and count alerts on both cameras
    await asyncio.sleep(0.2)  # the rules view takes the new rules
    for frame in frames:
        await bus.publish(DETECTIONS, frame.camera_id, frame, event_id=frame.frame_id)

    raised: dict[str, AlertRaised] = {}
    for _ in range(100):
        raised = {e.message.alert_id: e.message for e in await records_of(bus, ALERTS)}
        if len(raised) >= len(expected):
            break
        await asyncio.sleep(0.1)
    assert raised.keys() == expected.keys()
    assert all(raised[k] == expected[k] for k in expected)
    windows = [e.message for e in await records_of(bus, STATS)]
    crossings = [(w.camera_id, c.key, c.value) for w in windows if w.rule_id.endswith("-line")
                 for c in w.counts if c.key.endswith(":person")]
    # 60 s of a walker every 1.2 s, all crossing left to right: 48 or so per camera.
    assert sorted(cam for cam, _, _ in crossings) == sorted(cams)
    assert all(key == "out:person" and 45 <= n <= 50 for _, key, n in crossings), crossings


# --- the other inputs: signal lamps read off frames, face matches, citizen reports ---------------

async def alerts_of(bus: MemoryBus, camera_id: str, count: int,
                    polls: int = 100) -> list[AlertRaised]:
    """The camera's alerts once there are `count` (or after `polls` x 50 ms)."""
    found: list[AlertRaised] = []
    for _ in range(polls):
        found = [e.message for e in await records_of(bus, ALERTS) if e.key == camera_id]
        if len(found) >= count:
            break
        await asyncio.sleep(0.05)
    return found


@pytest.mark.parametrize(("lit", "alerts"), [("red", 1), ("green", 0)])
async def test_a_car_over_the_stop_line_alerts_only_while_the_lamp_on_the_image_is_red(
        rules, lit, alerts):
    bus = rules.bus
    camera = cameras(1, "crossroads")[0]
    rule = red_light_rule(camera)
    await bus.publish(RULES, rule.rule_id, rule)
    await asyncio.sleep(0.1)
    t0 = 1_767_225_600_000
    for i in range(60):  # 6 s: the car drives up the image over the line at y = 0.6 at 3 s; a
        # crossing is decided once the signal is known 2 s past it
        t = t0 + i * 100
        await bus.publish(FRAMES, camera, lamp_frame(camera, t, lit))
        await bus.publish(DETECTIONS, camera, car_frame(camera, t, 0.9 - 0.01 * i))
    await asyncio.sleep(0.5)
    signals = [e.message for e in await records_of(bus, SIGNALS) if e.key == camera]
    expected_state = {"red": SignalState.SIGNAL_STATE_RED,
                      "green": SignalState.SIGNAL_STATE_GREEN}[lit]
    assert len(signals) == 60 and {s.state for s in signals} == {expected_state}
    assert {s.signal_id for s in signals} == {rule.rule_id}
    found = await alerts_of(bus, camera, alerts or 1, polls=100 if alerts else 10)
    assert len(found) == alerts
    if alerts:
        assert found[0].rule_kind == RuleKind.RULE_KIND_RED_LIGHT
        assert found[0].track_ids == [7]


async def test_a_watchlist_match_raises_one_alert_needing_two_confirmations(rules):
    bus = rules.bus
    camera = cameras(1, "station")[0]
    rule = Rule(rule_id=f"{camera}-watch", name="entrance", camera_id=camera, enabled=True,
                kind=RuleKind.RULE_KIND_FACE_MATCH)
    await bus.publish(RULES, rule.rule_id, rule)
    await asyncio.sleep(0.1)
    for i in range(5):  # one person walking past: five matches, one episode
        match = FaceMatched(match_id=f"m{i}", frame_id=f"{camera}:{i}", camera_id=camera,
                            subject_id="subj-1", score=0.6, threshold=0.42)
        match.captured_at.FromMilliseconds(1_767_225_600_000 + i * 400)
        await bus.publish(FACES, camera, match)
    [alert] = await alerts_of(bus, camera, 1)
    assert len(await alerts_of(bus, camera, 2, polls=6)) == 1
    assert alert.subject_id == "subj-1" and alert.requires_confirmations == 2
    assert alert.rule_kind == RuleKind.RULE_KIND_FACE_MATCH


async def test_a_citizen_report_near_a_camera_alerts_on_that_camera(rules):
    bus = rules.bus
    camera_id = cameras(1, "square")[0]
    camera = Camera(camera_id=camera_id, name="square", enabled=True,
                    geo=GeoPoint(lat_deg=45.7578, lon_deg=4.8320))
    await bus.publish(CAMERAS, camera_id, camera)
    rule = Rule(rule_id=f"{camera_id}-reports", name="reports", camera_id=camera_id,
                enabled=True, kind=RuleKind.RULE_KIND_CITIZEN_REPORT,
                thresholds=RuleThresholds(max_distance_m=250))
    await bus.publish(RULES, rule.rule_id, rule)
    await asyncio.sleep(0.1)
    for report_id, lat in (("near", 45.7590), ("far", 45.7700)):  # 130 m and 1.4 km north
        report = ReportReceived(report_id=f"{camera_id}-{report_id}",
                                geo=GeoPoint(lat_deg=lat, lon_deg=4.8320), text="fight")
        report.received_at.FromMilliseconds(1_767_225_600_000)
        await bus.publish(REPORTS, report.report_id, report)
    [alert] = await alerts_of(bus, camera_id, 1)
    assert len(await alerts_of(bus, camera_id, 2, polls=6)) == 1
    assert alert.attributes["report_id"] == f"{camera_id}-near"
    assert alert.rule_kind == RuleKind.RULE_KIND_CITIZEN_REPORT


async def test_an_undecodable_frame_on_a_red_light_camera_is_dead_lettered_not_fatal(
        rules, monkeypatch):
    # As in a process that imported Ultralytics: its Image.open patch, on an unidentified
    # image, imports a HEIF plugin that is not installed. The lamp decoder must not depend on it.
    def hijacked_open(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'pi_heif'")
    monkeypatch.setattr(Image, "open", hijacked_open)
    bus = rules.bus
    camera = cameras(1, "crossroads")[0]
    rule = red_light_rule(camera)
    await bus.publish(RULES, rule.rule_id, rule)
    await asyncio.sleep(0.1)
    bad = lamp_frame(camera, 1_767_225_600_000, "red")
    bad.jpeg = b"\xff\xd8 truncated"
    await bus.publish(FRAMES, camera, bad)
    await bus.publish(FRAMES, camera, lamp_frame(camera, 1_767_225_600_100, "red"))
    for _ in range(50):
        dead = await bus.read_all(FRAMES.dlq)
        signals = [e for e in await records_of(bus, SIGNALS) if e.key == camera]
        if dead and signals:
            break
        await asyncio.sleep(0.05)
    assert len(dead) == 1 and b"undecodable frame image" in dict(dead[0].headers)["dlq_error"]
    assert len(signals) == 1  # the next frame was read


async def test_list_rule_kinds_answers_the_registry_to_readers(rules):
    listed = await stub(rules).ListRuleKinds(pb.ListRuleKindsRequest(), timeout=10)
    by_name = {k.name: k for k in listed.kinds}
    assert list(by_name) == list(KIND_NAMES)
    loitering = by_name["loitering"]
    assert (loitering.kind, loitering.title, loitering.geometry) == (
        RuleKind.RULE_KIND_LOITERING, "Loitering", "zone")
    assert list(loitering.required_fields) == ["zone", "max_dwell_s"]
    assert list(loitering.default_classes) == ["person"] and loitering.involves_persons
    line = by_name["line_crossing"]
    assert line.geometry == "line" and not line.default_classes and not line.involves_persons
    assert list(line.optional_fields) == ["direction", "tolerance_deg", "min_count"]
    assert by_name["crowd_movement"].involves_persons  # the head-area blur applies to it too
    assert by_name["citizen_report"].geometry == "none"
    occupancy = by_name["zone_occupancy"]  # a plug-in: known by name only
    assert occupancy.kind == RuleKind.RULE_KIND_UNSPECIFIED and occupancy.description
    auditor = pb_grpc.RulesServiceStub(rules.channel("auditor"))
    assert (await auditor.ListRuleKinds(pb.ListRuleKindsRequest(), timeout=10)).kinds
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await pb_grpc.RulesServiceStub(rules.channel("reporter")).ListRuleKinds(
            pb.ListRuleKindsRequest(), timeout=10)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_every_rules_rpc_declares_who_may_call_it():
    methods = pb.DESCRIPTOR.services_by_name["RulesService"].methods_by_name
    assert set(grpc_api.ROLES) == set(methods)


async def test_a_rule_given_by_kind_name_is_stored_with_both(rules):
    api = stub(rules)
    by_name = zone_rule(kind=RuleKind.RULE_KIND_UNSPECIFIED, kind_name="zone_intrusion")
    put = await api.PutRule(pb.PutRuleRequest(rule=by_name), timeout=10)
    assert (put.rule.kind, put.rule.kind_name) == (RuleKind.RULE_KIND_ZONE_INTRUSION,
                                                   "zone_intrusion")
    by_enum = await api.PutRule(pb.PutRuleRequest(rule=zone_rule(rule_id="e")), timeout=10)
    assert by_enum.rule.kind_name == "zone_intrusion"
    both = zone_rule(rule_id="x", kind_name="loitering")
    checked = await api.ValidateRule(pb.ValidateRuleRequest(rule=both), timeout=10)
    assert [(e.field_path, e.message) for e in checked.errors] == [
        ("kind_name", "'loitering' is not the kind RULE_KIND_ZONE_INTRUSION names")]
