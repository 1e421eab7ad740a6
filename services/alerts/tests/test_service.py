"""The alerts service on the in-memory bus with its gRPC server: history, live stream, decisions,
the two-operator rule, routing to a local SMS provider, signed webhooks with retries, CAP, Kafka,
the suspend switch, retention and the audit trail."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import grpc
import pytest
from alerts_fakes import (
    T0,
    CapReceiver,
    SmsProvider,
    WebhookReceiver,
    jpeg,
    make_alert,
    until,
)
from alerts_fakes import make_frame as frame
from vigie.alerts.v1 import alerts_service_pb2 as pb
from vigie.alerts.v1 import alerts_service_pb2_grpc as pb_grpc
from vigie.alerts.v1.decision_pb2 import AlertDecided, AlertDecision
from vigie.audit.v1 import audit_service_pb2 as audit_pb
from vigie.audit.v1 import audit_service_pb2_grpc as audit_grpc
from vigie.audit.v1.audit_pb2 import AuditAction, AuditRecorded
from vigie.camera.v1.camera_pb2 import Camera
from vigie.rules.v1.rule_pb2 import RuleKind
from vigie_alerts.adapters import auth
from vigie_alerts.service import AlertsService
from vigie_core.audit import read_audit
from vigie_core.bus.memory import MemoryBus
from vigie_core.runtime import Running, start
from vigie_core.settings import CoreSettings
from vigie_core.topics import ALERT_DECISIONS, ALERTS, AUDIT, CAMERAS, FRAMES

WEBHOOK_SECRET = b"webhook-secret-0123456789"
CONFIRMED = AlertDecision.ALERT_DECISION_CONFIRMED
DISMISSED = AlertDecision.ALERT_DECISION_DISMISSED


@dataclass
class World:
    running: Running
    bus: MemoryBus
    service: AlertsService
    sms: SmsProvider
    hook: WebhookReceiver
    cap: CapReceiver
    tokens: dict[str, str]
    channel: grpc.aio.Channel

    @property
    def alerts(self) -> pb_grpc.AlertsServiceStub:
        return pb_grpc.AlertsServiceStub(self.channel)

    @property
    def audit(self) -> audit_grpc.AuditServiceStub:
        return audit_grpc.AuditServiceStub(self.channel)

    def auth(self, who: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.tokens[who]}"),)

    async def decide(self, who: str, alert_id: str, decision: int, reason: str = "",
                     **extra: Any) -> pb.DecideAlertResponse:
        return await self.alerts.DecideAlert(
            pb.DecideAlertRequest(alert_id=alert_id, decision=decision, reason=reason, **extra),
            metadata=self.auth(who), timeout=10)


def policy(sms_url: str, hook_url: str, cap_url: str, **route: Any) -> dict[str, Any]:
    return {
        "cap": {"sender": "vigie@csu.example.org"},
        "channels": {
            "duty-sms": {"kind": "sms", "base_url": sms_url, "account_sid": "AC0123",
                         "auth_token_env": "TEST_SMS_TOKEN", "from_number": "+33600000000",
                         "to_numbers": ["+33611111111"], "max_attempts": 4,
                         "timeout_s": 2},
            "vms": {"kind": "webhook", "url": f"{hook_url}/hook", "secret_env": "TEST_HOOK_KEY",
                    "max_attempts": 6, "timeout_s": 0.5},
            "prefecture": {"kind": "cap", "url": f"{cap_url}/cap"},
            "city-bus": {"kind": "kafka", "topic": "city.alerts.cap", "format": "cap"},
        },
        "routes": [{"name": "incidents", "channels": ["duty-sms", "vms", "prefecture",
                                                      "city-bus"], **route}],
    }


async def start_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str,
                      route: dict[str, Any] | None = None,
                      bus: MemoryBus | None = None, **settings: Any) -> World:
    monkeypatch.setenv("TEST_SMS_TOKEN", "sms-token")
    monkeypatch.setenv("TEST_HOOK_KEY", WEBHOOK_SECRET.decode())
    sms, hook, cap = SmsProvider(), WebhookReceiver(WEBHOOK_SECRET), CapReceiver()
    urls = [await sms.start(), await hook.start(), await cap.start()]
    tmp_path.mkdir(parents=True, exist_ok=True)
    routes = tmp_path / "routes.yaml"
    routes.write_text(json.dumps(policy(*urls, **(route or {}))))
    bus = bus or MemoryBus("alerts-test")
    overrides = {"routes_file": routes, "database_url": database_url, "retry_base_s": 0.05,
                 "retry_cap_s": 0.2, "dispatch_interval_s": 0.05, "snapshot_wait_s": 2.0,
                 "live_poll_interval_s": 0.2, **settings}
    running = await start(["alerts"], CoreSettings(http_port=0, grpc_port=0, data_dir=tmp_path),
                          bus, {"alerts": overrides})
    service = running.services[0]
    assert isinstance(service, AlertsService)
    tokens = {}
    for login, role in (("ann", "operator"), ("bob", "operator"), ("sue", "supervisor"),
                        ("aud", "auditor"), ("adm", "admin")):
        if service.store.accounts.get_user(login) is None:
            auth.create_user(service.store.accounts, login, role, f"{login}-password-long",
                             "test", 12)
        tokens[login] = auth.new_token(auth.TOKEN_PREFIX)
        service.store.accounts.create_token(tokens[login], login, "test")
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.grpc_port}")
    return World(running, bus, service, sms, hook, cap, tokens, channel)


@pytest.fixture
async def world(tmp_path, monkeypatch) -> AsyncIterator[World]:
    w = await start_world(tmp_path, monkeypatch, f"sqlite:///{tmp_path / 'alerts.db'}")
    try:
        yield w
    finally:
        await stop_world(w)


async def stop_world(w: World) -> None:
    await w.channel.close()
    await w.running.stop()
    for server in (w.sms, w.hook, w.cap):
        await server.stop()


async def publish_alert(w: World, alert: Any) -> None:
    await (await w.bus.publish(ALERTS, alert.camera_id, alert, event_id=alert.alert_id))


async def stored(w: World, alert_id: str) -> Any:
    async def check() -> Any:
        return await w.service.db(w.service.store.history.get_alert, alert_id)
    assert await until(check), f"alert {alert_id} never stored"
    return await check()


async def deliveries(w: World, alert_id: str) -> list[Any]:
    return await w.service.db(w.service.store.outbox.deliveries_of, alert_id)


async def audit_of(w: World, action: int) -> list[AuditRecorded]:
    return [r for r in await read_audit(w.bus) if r.action == action]


# -- history, live stream, permissions ----------------------------------------------------------
async def test_alerts_are_stored_once_listed_and_streamed_live(world: World):
    stream = world.alerts.StreamAlerts(pb.StreamAlertsRequest(), metadata=world.auth("ann"))
    first = asyncio.ensure_future(stream.read())
    assert await until(lambda: world.service.hub.subscribers, 5)
    alert = make_alert("s1")
    await publish_alert(world, alert)
    await publish_alert(world, alert)  # redelivered: stored and streamed once
    got = await asyncio.wait_for(first, 10)
    assert got.alert.alert_id == "s1"
    await publish_alert(world, make_alert("s2", camera_id="cam-2"))
    second = await asyncio.wait_for(stream.read(), 10)
    assert second.alert.alert_id == "s2"  # not s1 again
    stream.cancel()
    reply = await world.alerts.ListAlerts(pb.ListAlertsRequest(page_size=1),
                                          metadata=world.auth("aud"), timeout=5)
    assert [r.alert.alert_id for r in reply.alerts] == ["s2"] and reply.next_page_token
    nxt = await world.alerts.ListAlerts(pb.ListAlertsRequest(page_size=5,
                                                             page_token=reply.next_page_token),
                                        metadata=world.auth("aud"), timeout=5)
    assert [r.alert.alert_id for r in nxt.alerts] == ["s1"]
    assert nxt.alerts[0].status == pb.ALERT_STATUS_OPEN
    assert world.service.status()["duplicate_alerts"] == 1


async def test_stream_alerts_replays_since_then_goes_live_with_filters(world: World):
    for i, camera in enumerate(["cam-a", "cam-b", "cam-a"]):
        await publish_alert(world, make_alert(f"p{i}", camera_id=camera,
                                              at=T0 + timedelta(minutes=i)))
    await stored(world, "p2")
    await world.decide("ann", "p0", AlertDecision.ALERT_DECISION_ACKNOWLEDGED)
    request = pb.StreamAlertsRequest(filter=pb.AlertFilter(camera_ids=["cam-a"]))
    request.filter.since.FromDatetime(T0)
    stream = world.alerts.StreamAlerts(request, metadata=world.auth("ann"))
    replay = [await asyncio.wait_for(stream.read(), 5) for _ in range(3)]
    assert [(m.WhichOneof("event"), m.alert.alert_id or m.decision.alert_id)
            for m in replay] == [("alert", "p0"), ("decision", "p0"), ("alert", "p2")]
    await publish_alert(world, make_alert("p3", camera_id="cam-b", at=T0 + timedelta(hours=1)))
    await publish_alert(world, make_alert("p4", camera_id="cam-a", at=T0 + timedelta(hours=1)))
    live = await asyncio.wait_for(stream.read(), 10)
    assert live.alert.alert_id == "p4"  # cam-b filtered out
    stream.cancel()


@pytest.mark.parametrize(("who", "call", "code"), [
    (None, "list", grpc.StatusCode.UNAUTHENTICATED),
    ("forged", "list", grpc.StatusCode.UNAUTHENTICATED),
    ("aud", "decide", grpc.StatusCode.PERMISSION_DENIED),  # auditors never decide
    ("adm", "decide", grpc.StatusCode.PERMISSION_DENIED),
    ("ann", "decide-as-bob", grpc.StatusCode.PERMISSION_DENIED),
    ("ann", "decide-as-admin", grpc.StatusCode.PERMISSION_DENIED),
    ("ann", "decide-unknown", grpc.StatusCode.NOT_FOUND),
    ("ann", "bad-token", grpc.StatusCode.INVALID_ARGUMENT),
    ("ann", "audit", grpc.StatusCode.PERMISSION_DENIED),  # operators do not read the audit
    ("aud", "stream", grpc.StatusCode.PERMISSION_DENIED),  # nor auditors the live feed
])
async def test_every_rpc_checks_the_caller(world: World, who, call, code):
    metadata = () if who is None else (
        (("authorization", "Bearer vgt_forged"),) if who == "forged" else world.auth(who))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        if call == "list":
            await world.alerts.ListAlerts(pb.ListAlertsRequest(), metadata=metadata, timeout=5)
        elif call == "bad-token":
            await world.alerts.ListAlerts(pb.ListAlertsRequest(page_token="zz"),
                                          metadata=metadata, timeout=5)
        elif call == "audit":
            await world.audit.VerifyChain(audit_pb.VerifyChainRequest(), metadata=metadata,
                                          timeout=5)
        elif call == "stream":
            await world.alerts.StreamAlerts(pb.StreamAlertsRequest(), metadata=metadata,
                                            timeout=5).read()
        else:
            extra = {"decide-as-bob": {"operator": "bob"},
                     "decide-as-admin": {"role": "admin"}}.get(call, {})
            await world.alerts.DecideAlert(pb.DecideAlertRequest(
                alert_id="nope", decision=CONFIRMED, **extra), metadata=metadata, timeout=5)
    assert info.value.code() == code


# -- the two-operator rule and dispatch ---------------------------------------------------------
async def test_a_face_match_is_dispatched_only_after_two_distinct_confirmations(
        tmp_path, monkeypatch, database_url):  # on SQLite and on PostgreSQL
    w = await start_world(tmp_path, monkeypatch, database_url, route={"trigger": "confirmed"})
    raised_route = {"name": "notify", "channels": ["vms"], "trigger": "raised"}
    w.service.policy.routes.append(type(w.service.policy.routes[0]).model_validate(raised_route))
    try:
        face = make_alert("fm1", kind=RuleKind.RULE_KIND_FACE_MATCH, requires=1,
                          subject_id="subject-9", title="Watchlist match")
        await publish_alert(w, face)
        record = await stored(w, "fm1")
        assert record.required == 2  # the alert asked for 1: a face match needs 2
        await asyncio.sleep(0.5)
        assert w.sms.requests == [] and w.hook.requests == []  # nothing on raise
        one = await w.decide("ann", "fm1", CONFIRMED, "looks like the subject")
        assert (one.status, one.confirmations) == (pb.ALERT_STATUS_PARTIALLY_CONFIRMED, 1)
        with pytest.raises(grpc.aio.AioRpcError) as again:
            await w.decide("ann", "fm1", CONFIRMED)
        assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "different operator" in again.value.details()
        await asyncio.sleep(0.5)
        assert w.sms.requests == [] and w.hook.accepted == {}  # still nothing dispatched
        two = await w.decide("bob", "fm1", CONFIRMED, "confirmed on the second camera")
        assert (two.status, two.confirmations) == (pb.ALERT_STATUS_CONFIRMED, 2)
        assert await until(lambda: len(w.sms.messages) == 1 and len(w.hook.accepted) == 1)
        await asyncio.sleep(0.5)
        assert len(w.sms.messages) == 1  # exactly one SMS
        (sms,) = w.sms.messages
        assert sms["To"] == "+33611111111" and sms["From"] == "+33600000000"
        assert "subject-9" not in sms["Body"] and "confirmed by 2" in sms["Body"]
        assert next(iter(w.hook.accepted.values()))["type"] == "alert.confirmed"
        with pytest.raises(grpc.aio.AioRpcError) as late:
            await w.decide("sue", "fm1", DISMISSED, "too late")
        assert late.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        decided = [AlertDecided.FromString(r.value)
                   for r in await w.bus.read_all(ALERT_DECISIONS.name)]
        assert [(d.operator, d.decision) for d in decided] == [("ann", CONFIRMED),
                                                              ("bob", CONFIRMED)]
        decisions = await audit_of(w, AuditAction.AUDIT_ACTION_DECISION)
        assert [(r.actor, r.subject_ref, r.event_id) for r in decisions] == [
            ("operator:ann", "alert:fm1", decided[0].decision_id),
            ("operator:bob", "alert:fm1", decided[1].decision_id)]
        assert decisions[1].details["confirmations"] == "2/2"
        assert await until(lambda: len(w.cap.requests) == 1)
        dispatched = await until(lambda: _count(w, AuditAction.AUDIT_ACTION_DISPATCH, 4))
        assert dispatched, "every delivered channel is audited"
        (record,) = [r for r in (await w.alerts.ListAlerts(pb.ListAlertsRequest(),
                                                           metadata=w.auth("ann"), timeout=5)
                                 ).alerts]
        assert record.status == pb.ALERT_STATUS_CONFIRMED and len(record.decisions) == 2
    finally:
        await stop_world(w)


async def _count(w: World, action: int, n: int) -> bool:
    return len(await audit_of(w, action)) >= n


@pytest.fixture
async def any_world(tmp_path, monkeypatch, database_url) -> AsyncIterator[World]:
    w = await start_world(tmp_path, monkeypatch, database_url)
    try:
        yield w
    finally:
        await stop_world(w)


async def test_a_webhook_that_fails_then_recovers_receives_each_alert_exactly_once(
        any_world: World):  # on SQLite and on PostgreSQL
    world = any_world
    # down twice, then one request processed whose answer is lost (client timeout 0.5 s)
    world.hook.plan = [500, 503]
    world.hook.delays = [0.0, 0.0, 2.0]
    ids = [f"w{i}" for i in range(3)]
    for i, alert_id in enumerate(ids):
        await publish_alert(world, make_alert(alert_id, camera_id=f"cam-{i}"))
    for alert_id in ids:
        await stored(world, alert_id)
        await world.decide("ann", alert_id, CONFIRMED)

    async def all_delivered() -> bool:
        hooks = [d for a in ids for d in await deliveries(world, a) if d.channel == "vms"]
        return len(hooks) == 3 and all(d.status == "delivered" for d in hooks)
    assert await until(all_delivered, 20)
    await asyncio.sleep(0.5)
    assert len(world.hook.requests) > 3  # failures were retried...
    assert sorted(b["alert"]["alert_id"] for b in world.hook.accepted.values()) == ids  # once
    keys = [r.headers["Idempotency-Key"] for r in world.hook.requests]
    assert len(set(keys)) == 3  # one key per alert, the same on every retry
    assert world.hook.bad_signatures == 0
    for key in set(keys):
        bodies = {r.body for r in world.hook.requests if r.headers["Idempotency-Key"] == key}
        assert len(bodies) == 1  # retries send the very same bytes
    attempts = sorted([d.attempts for a in ids for d in await deliveries(world, a)
                       if d.channel == "vms"])
    assert attempts[-1] >= 2


async def test_the_suspend_switch_stops_all_dispatch(world: World):
    await world.service.switch.set_suspended(True, "operator:sue", "storm drill")
    await publish_alert(world, make_alert("x1"))
    await stored(world, "x1")
    await world.decide("ann", "x1", CONFIRMED)

    async def cancelled() -> bool:
        items = await deliveries(world, "x1")
        return bool(items) and all(d.status == "cancelled" for d in items)
    assert await until(cancelled)
    assert world.sms.requests == [] and world.hook.requests == [] and world.cap.requests == []
    assert await world.bus.read_all("city.alerts.cap") == []
    await world.service.switch.set_suspended(False, "operator:sue", "")
    await publish_alert(world, make_alert("x2", camera_id="cam-9"))
    await stored(world, "x2")
    await world.decide("ann", "x2", CONFIRMED)
    assert await until(lambda: len(world.sms.messages) == 1)
    changes = await audit_of(world, AuditAction.AUDIT_ACTION_DISPATCH_SUSPENSION)
    assert [r.details["suspended"] for r in changes] == ["true", "false"]
    assert changes[0].details["reason"] == "storm drill"


async def test_cap_and_kafka_channels_carry_cap_1_2(world: World):
    camera = Camera(camera_id="cam-1", name="Depot gate", enabled=True)
    camera.geo.lat_deg, camera.geo.lon_deg = 45.75, 4.85
    await world.bus.publish(CAMERAS, "cam-1", camera)
    assert await until(lambda: world.service.cameras.get("cam-1") is not None)
    await publish_alert(world, make_alert("c1"))
    await stored(world, "c1")
    await world.decide("ann", "c1", CONFIRMED)
    assert await until(lambda: world.cap.requests)
    (cap,) = world.cap.requests
    root = ET.fromstring(cap.body)
    ns = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
    assert root.findtext("cap:identifier", namespaces=ns) == "vigie-c1"
    assert root.findtext("cap:info/cap:certainty", namespaces=ns) == "Observed"
    assert root.findtext("cap:info/cap:area/cap:areaDesc", namespaces=ns) == "Depot gate"
    assert root.findtext("cap:info/cap:area/cap:circle", namespaces=ns).startswith("45.75")
    assert await until(lambda: _topic(world, "city.alerts.cap"))
    (record,) = await world.bus.read_all("city.alerts.cap")
    assert record.key == b"cam-1" and ET.fromstring(record.value).tag.endswith("alert")
    assert dict(record.headers)["content-type"] == b"application/xml"


async def _topic(w: World, name: str) -> bool:
    return bool(await w.bus.read_all(name))


async def test_cooldown_suppresses_a_repeat_and_says_why(tmp_path, monkeypatch):
    w = await start_world(tmp_path, monkeypatch, f"sqlite:///{tmp_path / 'c.db'}",
                          route={"cooldown_s": 300})
    try:
        await publish_alert(w, make_alert("k1", at=T0))
        await publish_alert(w, make_alert("k2", at=T0 + timedelta(seconds=60)))
        for a in ("k1", "k2"):
            await stored(w, a)
            await w.decide("ann", a, CONFIRMED)
        assert await until(lambda: len(w.sms.messages) == 1)
        await asyncio.sleep(0.5)
        assert len(w.sms.messages) == 1
        suppressed = await deliveries(w, "k2")
        assert {d.status for d in suppressed} == {"suppressed"}
        assert "cooldown" in suppressed[0].reason
    finally:
        await stop_world(w)


async def test_dismissing_needs_a_reason_and_dispatches_nothing(world: World):
    await publish_alert(world, make_alert("n1"))
    await stored(world, "n1")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await world.decide("ann", "n1", DISMISSED)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    reply = await world.decide("ann", "n1", DISMISSED, "a shadow")
    assert reply.status == pb.ALERT_STATUS_DISMISSED
    await asyncio.sleep(0.3)
    assert await deliveries(world, "n1") == [] and world.sms.requests == []


# -- snapshots, retention, audit ----------------------------------------------------------------
async def test_snapshots_are_stored_from_the_buffered_frame(world: World, tmp_path):
    camera = Camera(camera_id="cam-1", name="Gate", enabled=True)
    camera.evidence_retention.FromTimedelta(timedelta(days=2))
    await world.bus.publish(CAMERAS, "cam-1", camera)
    assert await until(lambda: world.service.cameras.get("cam-1") is not None)
    image = jpeg(320, 240, (200, 30, 30))
    await world.bus.publish(FRAMES, "cam-1", frame("cam-1", 1_000_000, image))
    await publish_alert(world, make_alert("v1", frame_id="cam-1:1000000",
                                          boxes=[(0.1, 0.1, 0.4, 0.9)]))

    async def written() -> Any:
        s = await world.service.db(world.service.store.history.get_alert, "v1")
        return s if s and s.snapshot_path else None
    assert await until(written)
    s = await written()
    path = world.service.evidence.resolve(s.snapshot_path)
    assert path is not None and path.read_bytes()[:2] == b"\xff\xd8"
    assert (path.stat().st_mode & 0o777) == 0o600
    import hashlib

    assert hashlib.sha256(path.read_bytes()).hexdigest() == s.snapshot_sha256
    assert s.alert.snapshot.uri.startswith("vigie-evidence:snapshots/")
    assert s.alert.snapshot.sha256 == s.snapshot_sha256
    assert s.evidence_expires_at - s.snapshot_captured_at == timedelta(days=2)
    # a frame that never comes: the alert goes without snapshot, after snapshot_wait_s
    await publish_alert(world, make_alert("v2", frame_id="cam-1:999"))
    assert await until(lambda: world.service.snapshots.counts["snapshots_without_frame"] == 1, 10)


async def test_retention_deletes_expired_evidence_unless_locked_and_audits_it(world: World):
    store = world.service.store
    for alert_id in ("r1", "r2"):
        await world.bus.publish(FRAMES, "cam-1", frame("cam-1", 5_000_000, jpeg()))
        await publish_alert(world, make_alert(alert_id, frame_id="cam-1:5000000"))

    async def both() -> bool:
        rows = [await world.service.db(store.history.get_alert, a) for a in ("r1", "r2")]
        return all(r and r.snapshot_path for r in rows)
    assert await until(both)
    # captured at t=5 s (1970): far past the default 30 days
    await world.service.db(store.evidence.set_evidence_lock, "r2", True, "court order 2026-17")
    r1 = await world.service.db(store.history.get_alert, "r1")
    deleted, _ = await world.service.housekeeping.retention()
    assert deleted == 1
    assert world.service.evidence.resolve(r1.snapshot_path) is None  # the file is gone
    r2 = await world.service.db(store.history.get_alert, "r2")
    assert world.service.evidence.resolve(r2.snapshot_path) is not None  # held
    (proof,) = await audit_of(world, AuditAction.AUDIT_ACTION_RETENTION_DELETION)
    assert proof.subject_ref == "alert:r1" and proof.details["sha256"] == r1.snapshot_sha256
    assert proof.details["file_found"] == "true"


async def test_command_line_audit_records_are_sealed_into_the_chain(world: World):
    store = world.service.store
    store.audit_outbox.add_pending_audit(AuditAction.AUDIT_ACTION_ACCOUNT_CHANGE, "account:zoe",
                                         "command-line:root",
                                         {"change": "created", "role": "admin"}, "cli-1")
    assert await until(lambda: _count(world, AuditAction.AUDIT_ACTION_ACCOUNT_CHANGE, 1), 10)
    (record,) = await audit_of(world, AuditAction.AUDIT_ACTION_ACCOUNT_CHANGE)
    assert (record.actor, record.chain, record.event_id) == ("command-line:root", "alerts/0",
                                                             "cli-1")
    # removed from the pending table once on the chain (just after, in a background thread)
    assert await until(lambda: store.audit_outbox.pending_audit() == [], 10)


async def test_audit_service_lists_and_verifies_and_detects_tampering(world: World):
    await publish_alert(world, make_alert("t1"))
    await stored(world, "t1")
    await world.decide("ann", "t1", AlertDecision.ALERT_DECISION_ACKNOWLEDGED)
    await world.decide("bob", "t1", DISMISSED, "cat")
    listed = await world.audit.ListAuditRecords(audit_pb.ListAuditRecordsRequest(
        actions=[AuditAction.AUDIT_ACTION_DECISION], page_size=1), metadata=world.auth("aud"),
        timeout=5)
    assert [r.actor for r in listed.records] == ["operator:ann"] and listed.next_page_token
    rest = await world.audit.ListAuditRecords(audit_pb.ListAuditRecordsRequest(
        actions=[AuditAction.AUDIT_ACTION_DECISION], page_token=listed.next_page_token),
        metadata=world.auth("aud"), timeout=5)
    assert [r.actor for r in rest.records] == ["operator:bob"] and not rest.next_page_token
    ok = await world.audit.VerifyChain(audit_pb.VerifyChainRequest(chain="alerts/0"),
                                       metadata=world.auth("aud"), timeout=5)
    assert ok.valid and ok.records_checked == 2 and len(ok.head_hash) == 32
    forged = AuditRecorded()
    forged.CopyFrom(rest.records[0])
    forged.sequence = 3
    forged.prev_hash = ok.head_hash
    forged.details["reason"] = "edited"  # hash no longer matches the content
    await world.bus.publish(AUDIT, "alerts/0", forged, event_id="forged")
    bad = await world.audit.VerifyChain(audit_pb.VerifyChainRequest(),
                                        metadata=world.auth("aud"), timeout=5)
    assert not bad.valid and bad.first_invalid_sequence == 3 and "altered" in bad.error
    assert [c.chain for c in bad.chains] == ["alerts/0"]


async def test_a_restart_on_the_same_database_never_dispatches_twice(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    bus = MemoryBus("restart-test")
    w = await start_world(tmp_path, monkeypatch, url, bus=bus)
    await publish_alert(w, make_alert("z1"))
    await stored(w, "z1")
    await w.decide("ann", "z1", CONFIRMED)
    assert await until(lambda: len(w.sms.messages) == 1)
    await stop_world(w)
    # the same topics replayed into a fresh process (e.g. committed offsets lost)
    bus2 = MemoryBus("restart-test-2")
    for topic in (ALERTS.name, ALERT_DECISIONS.name, AUDIT.name):
        for record in await bus.read_all(topic):
            await bus2.produce(topic, record.key, record.value, record.headers)
    w2 = await start_world(tmp_path, monkeypatch, url, bus=bus2)
    try:
        assert await until(lambda: _consumed(w2), 10)
        await asyncio.sleep(0.5)
        assert w2.sms.messages == []  # delivered before the restart: never again
        assert w2.service.audit.head is not None and w2.service.audit.head.sequence >= 2
    finally:
        await stop_world(w2)


def _consumed(w: World) -> bool:
    processor = w.service.processors.get("vigie-alerts")
    return bool(processor and processor.consumer and w.service.desk.counts["duplicate_alerts"])


async def test_a_second_replica_on_the_same_database_streams_what_the_first_stored(
        tmp_path, monkeypatch):
    """Replicas share the history database: each one's live feed tails it, so an operator
    connected to replica B sees alerts that replica A consumed."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    a = await start_world(tmp_path / "a", monkeypatch, url, bus=MemoryBus("replica-a"))
    b = await start_world(tmp_path / "b", monkeypatch, url, bus=MemoryBus("replica-b"))
    try:
        stream = b.alerts.StreamAlerts(pb.StreamAlertsRequest(), metadata=b.auth("ann"))
        first = asyncio.ensure_future(stream.read())
        assert await until(lambda: b.service.hub.subscribers, 5)
        await publish_alert(a, make_alert("shared-1"))  # only replica A consumes it
        got = await asyncio.wait_for(first, 10)
        assert got.alert.alert_id == "shared-1"
        stream.cancel()
        assert b.service.desk.counts["alerts"] == 0  # B never consumed it itself
    finally:
        await stop_world(b)
        await stop_world(a)
