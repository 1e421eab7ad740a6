"""camera_tampering, a kind driven by detect's reports on vigie.camera-health.v1: one alert when a
view problem begins (covered, defocused, moved, too dark, too bright), with the time it began,
the confirming frame and a deterministic id; nothing for ingest's source reports or a return to
normal; the rule's `classes` choose the problems. Then the embedded runtime end to end, with a
malformed report dead-lettered."""

from __future__ import annotations

import asyncio
import textwrap
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from vigie.camera.v1.camera_health_pb2 import CameraHealthChanged, CameraState, ViewProblem
from vigie.rules.v1 import rules_service_pb2 as pb
from vigie.rules.v1 import rules_service_pb2_grpc as pb_grpc
from vigie.rules.v1.rule_pb2 import Rule, RuleKind, Severity
from vigie_core.bus.memory import MemoryBus
from vigie_core.codec import decode
from vigie_core.runtime import Running, start
from vigie_core.settings import CoreSettings
from vigie_core.topics import ALERTS, CAMERA_HEALTH, RULES
from vigie_rules.domain.alert_ids import view_alert_id
from vigie_rules.domain.kinds.camera_tampering import PROBLEMS, evaluate_camera_health
from vigie_rules.domain.spec import load_rules, rule_problems, validate_rule_yaml

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
CAM = "cam-quai"
NORMAL = ViewProblem.VIEW_PROBLEM_UNSPECIFIED
COVERED = ViewProblem.VIEW_PROBLEM_COVERED
MOVED = ViewProblem.VIEW_PROBLEM_MOVED


def tamper_rule(rule_id: str = "tamper", *, camera_id: str = "",
                problems: tuple[str, ...] = (), enabled: bool = True) -> Rule:
    return Rule(rule_id=rule_id, name="Quai cameras", camera_id=camera_id,
                kind_name="camera_tampering", class_names=list(problems),
                severity=Severity.SEVERITY_HIGH, enabled=enabled)


def detect_report(problem: int, previous: int = NORMAL, *, camera_id: str = CAM,
                  since_ms: int = T0, confirmed_ms: int = T0 + 3_000,
                  frame_id: str = "") -> CameraHealthChanged:
    report = CameraHealthChanged(camera_id=camera_id, reporter="detect", view_problem=problem,
                                 previous_view_problem=previous,
                                 frame_id=frame_id or f"{camera_id}:{confirmed_ms}",
                                 reason="detail collapsed", reference_jpeg=b"\xff\xd8before",
                                 current_jpeg=b"\xff\xd8after")
    report.problem_since.FromMilliseconds(since_ms)
    report.observed_at.FromMilliseconds(confirmed_ms)
    return report


def ingest_report(state: int, previous: int, reporter: str = "ingest") -> CameraHealthChanged:
    report = CameraHealthChanged(camera_id=CAM, state=state, previous_state=previous,
                                 reporter=reporter, reason="no frame for 10s", attempt=1)
    report.observed_at.FromMilliseconds(T0)
    return report


# --- the pure step -------------------------------------------------------------------------------

def test_a_covered_camera_raises_one_alert_with_when_it_began_and_the_confirming_frame():
    report = detect_report(COVERED, since_ms=T0, confirmed_ms=T0 + 3_000)
    [alert] = evaluate_camera_health([tamper_rule()], report)
    assert alert.rule_kind_name == "camera_tampering"
    assert alert.rule_kind == RuleKind.RULE_KIND_UNSPECIFIED  # a plug-in, known by name
    assert alert.camera_id == CAM and alert.rule_id == "tamper"
    assert alert.started_at.ToMilliseconds() == T0  # when the problem began
    assert alert.raised_at.ToMilliseconds() == T0 + 3_000  # when detect confirmed it
    assert alert.frame_id == f"{CAM}:{T0 + 3_000}"  # the alerts service's "after" snapshot
    assert alert.title == "Camera tampering: covered or sprayed - Quai cameras"
    assert dict(alert.attributes) == {"view_problem": "covered", "reason": "detail collapsed"}
    assert alert.severity == Severity.SEVERITY_HIGH and not alert.involves_persons
    assert alert.alert_id == view_alert_id("tamper", CAM, "covered", T0)
    assert not alert.HasField("snapshot")  # the images stay on the camera-health topic


def test_the_same_report_again_raises_the_same_alert_id():
    report = detect_report(COVERED)
    again = CameraHealthChanged.FromString(report.SerializeToString())
    first = evaluate_camera_health([tamper_rule()], report)
    second = evaluate_camera_health([tamper_rule()], again)
    assert [a.alert_id for a in first] == [a.alert_id for a in second]
    assert first == second
    # another episode (the problem began at another time) is another alert
    later = evaluate_camera_health([tamper_rule()], detect_report(COVERED, since_ms=T0 + 60_000,
                                                                  confirmed_ms=T0 + 63_000))
    assert later[0].alert_id != first[0].alert_id


@pytest.mark.parametrize("report", [
    ingest_report(CameraState.CAMERA_STATE_STALLED, CameraState.CAMERA_STATE_UP),
    ingest_report(CameraState.CAMERA_STATE_FAILED, CameraState.CAMERA_STATE_RECONNECTING),
    ingest_report(CameraState.CAMERA_STATE_DOWN, CameraState.CAMERA_STATE_UP, reporter=""),
    detect_report(NORMAL, COVERED),  # back to normal
    detect_report(COVERED, COVERED),  # no change of problem
], ids=["stalled", "failed", "down-older-record", "back-to-normal", "unchanged"])
def test_source_states_and_returns_to_normal_raise_nothing(report):
    assert evaluate_camera_health([tamper_rule()], report) == []


def test_one_problem_turning_into_another_is_a_new_alert_naming_both():
    [alert] = evaluate_camera_health([tamper_rule()], detect_report(
        MOVED, COVERED, since_ms=T0 + 20_000, confirmed_ms=T0 + 22_000))
    assert alert.attributes["view_problem"] == "moved"
    assert alert.attributes["previous_view_problem"] == "covered"
    assert alert.title.startswith("Camera tampering: moved - ")
    assert alert.started_at.ToMilliseconds() == T0 + 20_000


@pytest.mark.parametrize(("problem", "name"), [
    (ViewProblem.VIEW_PROBLEM_COVERED, "covered"),
    (ViewProblem.VIEW_PROBLEM_DEFOCUSED, "defocused"),
    (ViewProblem.VIEW_PROBLEM_MOVED, "moved"),
    (ViewProblem.VIEW_PROBLEM_TOO_DARK, "too_dark"),
    (ViewProblem.VIEW_PROBLEM_TOO_BRIGHT, "too_bright"),
])
def test_every_problem_alerts_by_default_and_only_the_chosen_ones_otherwise(problem, name):
    report = detect_report(problem)
    [alert] = evaluate_camera_health([tamper_rule()], report)
    assert alert.attributes["view_problem"] == name
    chosen = tamper_rule(problems=("covered", "moved"))
    assert len(evaluate_camera_health([chosen], report)) == (name in ("covered", "moved"))


def test_which_rules_apply_camera_enabled_schedule():
    rules = [tamper_rule("all-cameras"), tamper_rule("this-one", camera_id=CAM),
             tamper_rule("other", camera_id="cam-other"),
             tamper_rule("off", enabled=False),
             Rule(rule_id="not-tampering", camera_id=CAM, kind=RuleKind.RULE_KIND_LOITERING,
                  enabled=True)]
    expired = tamper_rule("expired")
    expired.schedule.valid_until.FromMilliseconds(T0 + 1_000)  # before detect confirmed it
    rules.append(expired)
    alerts = evaluate_camera_health(rules, detect_report(COVERED))
    assert [a.rule_id for a in alerts] == ["all-cameras", "this-one"]
    assert len({a.alert_id for a in alerts}) == 2


def test_a_problem_from_a_newer_detect_alerts_on_rules_taking_every_problem():
    report = detect_report(COVERED)
    report.view_problem = 42  # type: ignore[assignment]  # unknown here: proto3 keeps it
    [alert] = evaluate_camera_health([tamper_rule(), tamper_rule("c", problems=("covered",))],
                                     report)
    assert alert.rule_id == "tamper" and alert.attributes["view_problem"] == "view_problem_42"


@pytest.mark.parametrize("field", ["camera_id", "problem_since"])
def test_a_malformed_detect_report_is_refused(field):
    report = detect_report(COVERED)
    report.ClearField(field)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=field):
        evaluate_camera_health([tamper_rule()], report)


# --- the rule spec --------------------------------------------------------------------------------

NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
YAML = textwrap.dedent("""\
    rule_id: all-cameras-tampering
    name: Every camera - tampering
    kind: camera_tampering
    severity: high
    {extra}""")


def test_one_rule_covers_every_camera_and_classes_choose_the_problems():
    [rule] = load_rules(YAML.format(extra="classes: [covered, moved]"), NOW)
    assert rule.kind_name == "camera_tampering" and rule.camera_id == ""
    assert list(rule.class_names) == ["covered", "moved"]
    assert rule_problems(rule) == []
    [every] = load_rules(YAML.format(extra=""), NOW)
    assert list(every.class_names) == []
    assert set(PROBLEMS) == {"covered", "defocused", "moved", "too_dark", "too_bright"}


@pytest.mark.parametrize(("extra", "problem"), [
    ("classes: [coverd]", "classes[0]: unknown choice 'coverd' (did you mean 'covered'?)"),
    ("classes: [person]", "classes[0]: unknown choice 'person' (one of covered, defocused, "
                          "moved, too_dark, too_bright)"),
    ("classes: [moved, moved]", "classes[1]: 'moved' is listed twice"),
    ("min_confidence: 0.5", "min_confidence: not used by camera_tampering rules"),
    ("cooldown_s: 60", "cooldown_s: not used by camera_tampering rules"),
    ("zone: [[0, 0], [1, 0], [1, 1]]", "zone: not used by camera_tampering rules (the whole "
                                       "view is watched)"),
])
def test_spec_mistakes_are_named(extra, problem):
    problems = validate_rule_yaml(YAML.format(extra=extra))
    assert any(p.startswith(problem) for p in problems), problems


def test_detection_kinds_still_take_coco_classes_only():
    loitering = textwrap.dedent("""\
        rule_id: door
        name: Door
        camera_id: cam-1
        kind: loitering
        zone: [[0.2, 0.2], [0.8, 0.2], [0.8, 0.8]]
        max_dwell_s: 60
        classes: [covered]
        """)
    assert validate_rule_yaml(loitering) == ["classes[0]: unknown class 'covered'"]


# --- the embedded runtime -------------------------------------------------------------------------

@pytest.fixture
async def rules(tmp_path) -> AsyncIterator[Running]:
    running = await start(["rules"], CoreSettings(http_port=0, grpc_port=0, data_dir=tmp_path),
                          MemoryBus("test"))
    yield running
    await running.stop()


async def alert_records(bus: MemoryBus) -> list:
    return [decode(ALERTS, r.key, r.value, r.headers).message
            for r in await bus.read_all(ALERTS.name)]


async def settled(bus: MemoryBus, count: int, polls: int = 60) -> list:
    """The alert records once there are `count` (or after `polls` x 50 ms)."""
    found: list = []
    for _ in range(polls):
        found = await alert_records(bus)
        if len(found) >= count:
            break
        await asyncio.sleep(0.05)
    return found


async def test_the_builtin_runtime_alerts_once_per_problem_and_dead_letters_malformed_reports(
        rules):
    bus = rules.bus
    rule = tamper_rule()
    await bus.publish(RULES, rule.rule_id, rule)
    await asyncio.sleep(0.1)
    covered = detect_report(COVERED)
    await bus.publish(CAMERA_HEALTH, CAM, covered)
    [alert] = await settled(bus, 1)
    assert alert.rule_kind_name == "camera_tampering" and alert.camera_id == CAM
    assert alert.started_at.ToMilliseconds() == T0
    assert alert.alert_id == view_alert_id("tamper", CAM, "covered", T0)

    # a redelivery of the same report: the same alert id again, which consumers de-duplicate
    await bus.publish(CAMERA_HEALTH, CAM, covered)
    # ingest's source reports, a return to normal, then a malformed report: no alert
    for report in (ingest_report(CameraState.CAMERA_STATE_STALLED, CameraState.CAMERA_STATE_UP),
                   ingest_report(CameraState.CAMERA_STATE_UP, CameraState.CAMERA_STATE_STALLED,
                                 reporter=""),
                   detect_report(NORMAL, COVERED, since_ms=T0 + 30_000,
                                 confirmed_ms=T0 + 31_000)):
        await bus.publish(CAMERA_HEALTH, CAM, report)
    malformed = detect_report(MOVED)
    malformed.ClearField("problem_since")
    await bus.publish(CAMERA_HEALTH, CAM, malformed)
    # and the stream goes on: the camera is moved a minute later
    moved = detect_report(MOVED, since_ms=T0 + 60_000, confirmed_ms=T0 + 62_000)
    await bus.publish(CAMERA_HEALTH, CAM, moved)
    records = await settled(bus, 3)
    assert len(records) == 3
    assert [a.alert_id for a in records] == [alert.alert_id, alert.alert_id,
                                             view_alert_id("tamper", CAM, "moved", T0 + 60_000)]
    assert records[1] == alert  # the replay is the very same alert
    dead = await bus.read_all(CAMERA_HEALTH.dlq)
    assert len(dead) == 1 and b"problem_since" in dict(dead[0].headers)["dlq_error"]
    assert rules.services[0].app.counts["camera_health_reports"] >= 6


async def test_list_rule_kinds_offers_camera_tampering_for_every_camera(rules):
    stub = pb_grpc.RulesServiceStub(rules.channel("service", name="zone-editor"))
    listed = await stub.ListRuleKinds(pb.ListRuleKindsRequest(), timeout=10)
    [kind] = [k for k in listed.kinds if k.name == "camera_tampering"]
    assert kind.geometry == "none" and kind.kind == RuleKind.RULE_KIND_UNSPECIFIED
    assert "covered" in kind.description and not kind.default_classes


# --- the Faust runtime, on real Kafka -------------------------------------------------------------

async def test_the_faust_worker_alerts_on_detect_reports_and_dead_letters_malformed_ones(
        kafka, tmp_path):
    from vigie_core.bus.kafka import KafkaBus
    from vigie_core.codec import header
    from vigie_core.topics import REGISTRY

    run = uuid.uuid4().hex[:6]
    cam, app_id = f"cam-faust-{run}", f"rules-tamper-{run}"
    bus = KafkaBus(kafka.bootstrap, "tamper-scenario")
    try:
        await bus.ensure_topics(REGISTRY)
        rule = tamper_rule(f"tamper-{run}", camera_id=cam)
        await bus.publish(RULES, rule.rule_id, rule)
        stalled = ingest_report(CameraState.CAMERA_STATE_STALLED, CameraState.CAMERA_STATE_UP)
        stalled.camera_id = cam
        malformed = detect_report(COVERED, camera_id=cam)
        malformed.ClearField("problem_since")
        for report in (stalled, detect_report(COVERED, camera_id=cam), malformed,
                       detect_report(COVERED, camera_id=cam),  # redelivered
                       detect_report(NORMAL, COVERED, camera_id=cam, since_ms=T0 + 30_000),
                       detect_report(MOVED, camera_id=cam, since_ms=T0 + 60_000,
                                     confirmed_ms=T0 + 61_000)):
            await bus.publish(CAMERA_HEALTH, cam, report)
        await bus.flush()
    finally:
        await bus.close()

    core = CoreSettings(kafka_bootstrap=kafka.bootstrap, http_port=0, grpc_port=0,
                        data_dir=tmp_path, audit_replica=run)
    running = await start(["rules"], core, KafkaBus(kafka.bootstrap, f"rules-{app_id}"),
                          {"rules": {"faust_app_id": app_id}})
    expected = {view_alert_id(rule.rule_id, cam, "covered", T0),
                view_alert_id(rule.rule_id, cam, "moved", T0 + 60_000)}
    reader = KafkaBus(kafka.bootstrap, "tamper-reader")
    try:
        assert running.status()["services"]["rules"]["runtime"] == "faust"
        found: list = []
        dead: list = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = [decode(ALERTS, r.key, r.value, r.headers).message
                     for r in await reader.read_all(ALERTS.name) if r.key == cam.encode()]
            dead = [r for r in await reader.read_all(CAMERA_HEALTH.dlq)
                    if header(r.headers, "dlq_group") == app_id]
            if {a.alert_id for a in found} >= expected and dead:
                break
            await asyncio.sleep(1)
    finally:
        await reader.close()
        await running.stop()
    assert {a.alert_id for a in found} == expected
    assert all(a.rule_kind_name == "camera_tampering" for a in found)
    assert header(dead[0].headers, "dlq_stage") == "handler"
    assert "problem_since" in (header(dead[0].headers, "dlq_error") or "")
