"""An SMS in doubt: the alerts process killed (SIGKILL, a real process) between the SMS provider's
answer and the record of it, or between the send intent and the request; then a new process of
the same instance on the same database finishes the delivery. What reaches the recipient depends
on what the provider can tell (see the alerts README): once with a provider that lists its
messages or honours Idempotency-Key; without either, twice marked as a possible repeat
(in_doubt: resend, the default) or once and the delivery `unknown` (in_doubt: hold)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alerts_fakes import SmsProvider, make_alert
from vigie.audit.v1.audit_pb2 import AuditAction
from vigie_alerts.adapters.store import Delivery, NewDelivery, delivery_id, now_utc, open_store
from vigie_core.audit import read_audit
from vigie_core.bus.memory import MemoryBus
from vigie_core.runtime import Running, start
from vigie_core.settings import CoreSettings

CHILD = Path(__file__).with_name("sms_crash_child.py")
TO = "+33611111111"
INSTANCE = "alerts-0"  # a restarted pod keeps its name: its leases are freed at start
FINAL = ("delivered", "failed", "unknown", "cancelled")


def routes_file(tmp_path: Path, sms_url: str, **channel: Any) -> Path:
    path = tmp_path / "routes.json"
    path.write_text(json.dumps({
        "channels": {"duty-sms": {"kind": "sms", "base_url": sms_url, "account_sid": "AC0123",
                                  "auth_token_env": "TEST_SMS_TOKEN",
                                  "from_number": "+33600000000", "to_numbers": [TO],
                                  "timeout_s": 1, **channel}},
        "routes": [{"name": "incidents", "channels": ["duty-sms"]}]}))
    return path


def plan_sms(url: str, alert_id: str) -> str:
    """An alert with one SMS delivery due now, as the desk stores it on confirmation."""
    store = open_store(url, 1)
    item = NewDelivery(delivery_id(alert_id, "incidents", "duty-sms", 0), "incidents",
                       "duty-sms", "sms", 0, "confirmed", "pending", next_attempt_at=now_utc())
    store.history.add_alert(make_alert(alert_id), 1, [item])
    store.engine.dispose()
    return item.delivery_id


def the_delivery(url: str, alert_id: str) -> Delivery:
    store = open_store(url, 1)
    try:
        (delivery,) = store.outbox.deliveries_of(alert_id)
        return delivery
    finally:
        store.engine.dispose()


async def crash(tmp_path: Path, url: str, routes: Path, point: str) -> None:
    """Run the service in a child process until `point` of its first SMS attempt, SIGKILL it."""
    log = (tmp_path / "child.log").open("wb")
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), str(tmp_path), url, str(routes), INSTANCE, point,
        stdout=asyncio.subprocess.PIPE, stderr=log,
        env={**os.environ, "TEST_SMS_TOKEN": "sms-token"})
    want = b"ANSWERED" if point == "after-answer" else b"INTENT"
    try:
        assert child.stdout is not None
        while not (line := await asyncio.wait_for(child.stdout.readline(), 60)).startswith(want):
            assert line, f"child ended early: {(tmp_path / 'child.log').read_text()[-2000:]}"
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
        log.close()


async def restart(tmp_path: Path, url: str, routes: Path) -> Running:
    core = CoreSettings(http_port=0, grpc_port=0, data_dir=tmp_path, instance=INSTANCE)
    return await start(["alerts"], core, MemoryBus("sms-after-crash"),
                       {"alerts": {"routes_file": routes, "database_url": url,
                                   "dispatch_interval_s": 0.05, "retry_base_s": 0.05}})


async def settled(url: str, alert_id: str, timeout: float = 20) -> Delivery:
    deadline = time.monotonic() + timeout
    while (d := await asyncio.to_thread(the_delivery, url, alert_id)).status not in FINAL:
        assert time.monotonic() < deadline, f"still {d.status}: {d.last_error}"
        await asyncio.sleep(0.05)
    return d


@pytest.fixture
async def provider(request) -> AsyncIterator[SmsProvider]:
    sms = SmsProvider(**getattr(request, "param", {}))
    await sms.start()
    yield sms
    await sms.stop()


# (provider, channel settings, where the crash lands, SMS received, delivery status, note)
CASES = {
    "lookup-after-answer": ({"lists": True}, {}, "after-answer", 1, "delivered",
                            "found at the provider"),
    "lookup-before-request": ({"lists": True}, {}, "before-request", 1, "delivered",
                              "not found at the provider, sent"),
    "key-after-answer": ({"lists": False, "honours_keys": True},
                         {"honours_idempotency_key": True}, "after-answer", 1, "delivered",
                         "same Idempotency-Key"),
    "cannot-tell-resend": ({"lists": False}, {}, "after-answer", 2, "delivered",
                           "resent as a possible repeat"),
    "cannot-tell-hold": ({"lists": False}, {"in_doubt": "hold"}, "after-answer", 1, "unknown",
                         "not resent (in_doubt: hold)"),
}


@pytest.mark.parametrize(("provider", "channel", "point", "received", "status", "note"),
                         list(CASES.values()), ids=list(CASES), indirect=["provider"])
async def test_an_sms_in_doubt_after_a_sigkill_reaches_its_recipient_as_documented(
        tmp_path, monkeypatch, provider: SmsProvider, channel, point, received, status, note):
    monkeypatch.setenv("TEST_SMS_TOKEN", "sms-token")
    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    routes = routes_file(tmp_path, f"http://127.0.0.1:{provider.port}", **channel)
    key = await asyncio.to_thread(plan_sms, url, "crash-1")
    await crash(tmp_path, url, routes, point)
    assert len(provider.messages) == (1 if point == "after-answer" else 0)
    before = await asyncio.to_thread(the_delivery, url, "crash-1")
    assert (before.status, before.attempts) == ("pending", 0)  # the answer was never recorded
    running = await restart(tmp_path, url, routes)
    try:
        done = await settled(url, "crash-1")
        await asyncio.sleep(0.5)  # nothing more comes
        assert [m["To"] for m in provider.messages] == [TO] * received
        assert (done.status, done.attempts) == (status, 1)
        assert note in done.reason
        (audited,) = [r for r in await read_audit(running.bus)
                      if r.action == AuditAction.AUDIT_ACTION_DISPATCH]
        assert audited.details["outcome"] == status and note in audited.details["in_doubt"]
    finally:
        await running.stop()
    reference = f"Ref crash-1-{key[:6]}"  # per alert and recipient, in every copy
    assert all(reference in m["Body"] for m in provider.messages)
    assert {r.headers["Idempotency-Key"] for r in provider.requests} == {key}
    if received == 2:  # the recipient is told the second may be a repeat
        assert not provider.messages[0]["Body"].startswith("POSSIBLE REPEAT")
        assert provider.messages[1]["Body"].startswith("POSSIBLE REPEAT")


@pytest.mark.parametrize("provider", [{"lists": True}], indirect=True)
async def test_a_timed_out_sms_that_went_out_is_found_not_sent_again(
        tmp_path, monkeypatch, provider: SmsProvider, database_url):  # SQLite and PostgreSQL
    """No crash: the provider takes the message but answers after the client's timeout."""
    monkeypatch.setenv("TEST_SMS_TOKEN", "sms-token")
    provider.late_answers = [2.0]
    routes = routes_file(tmp_path, f"http://127.0.0.1:{provider.port}")
    await asyncio.to_thread(plan_sms, database_url, "late-1")
    running = await restart(tmp_path, database_url, routes)
    try:
        done = await settled(database_url, "late-1")
        await asyncio.sleep(0.5)
    finally:
        await running.stop()
    assert len(provider.requests) == 1 and len(provider.messages) == 1
    assert (done.status, done.attempts) == ("delivered", 2)
    assert "found at the provider (SM" in done.reason
