"""External dispatch: the outbox worker and the channel adapters (SMS, webhook, CAP, Kafka).

Deliveries are rows of the `deliveries` table, planned by routing when an alert is raised or
confirmed (one per alert, route, channel and recipient, with a deterministic id, so planning twice
never sends twice). The dispatcher claims due rows with a lease, sends, and records the outcome:
delivered, retried later with exponential back-off (timeouts, connection errors, 408/425/429/5xx),
or failed (other refusals, or max_attempts reached). Delivered and failed deliveries are audited
(AUDIT_ACTION_DISPATCH) with the route, channel and outcome, never the recipient.

Webhooks carry `Idempotency-Key: <delivery id>`, the same on every retry, so a receiver that
processed a request whose answer was lost recognises the retry. Bodies do not change between
retries either (their `sent_at` is the time the delivery was planned), so signatures of one
delivery all sign the same bytes.

While dispatch is suspended (the console's switch), nothing leaves: every delivery that comes due
is cancelled, not queued, so that lifting the suspension does not release a backlog at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.audit.v1.audit_pb2 import AuditAction
from vigie_alerts import metrics
from vigie_alerts.adapters.store import Database, Delivery, StoredAlert, now_utc
from vigie_alerts.domain.cap import CapAlert, CapIdentity, render_cap
from vigie_alerts.domain.messages import alert_payload, sms_text
from vigie_alerts.domain.policy import (
    CapChannel,
    KafkaChannel,
    Policy,
    SmsChannel,
    WebhookChannel,
)
from vigie_alerts.domain.signing import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    retry_delay_s,
    retryable_status,
    signature,
)
from vigie_core.audit import AuditLog
from vigie_core.bus.base import Bus, TopicSpec

log = logging.getLogger(__name__)

USER_AGENT = "vigie-alerts/0.1"
LEASE = timedelta(seconds=180)
MAX_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Outcome:
    ok: bool
    retryable: bool = False
    error: str = ""


@dataclass(frozen=True)
class Context:
    """What a channel needs to render a delivery."""

    delivery: Delivery
    alert: StoredAlert
    camera_name: str
    lat_deg: float | None
    lon_deg: float | None


def read_secret(env: str | None, file: Any) -> bytes | None:
    if env:
        value = os.environ.get(env)
        if value:
            return value.encode()
    if file:
        try:
            data = Path(file).read_bytes()[:4096].strip()
        except OSError:
            return None
        return data or None
    return None


def cap_document(ctx: Context, identity: CapIdentity) -> bytes:
    alert = ctx.alert.alert
    return render_cap(CapAlert(
        alert_id=alert.alert_id, title=alert.title, rule_kind=alert.rule_kind,
        severity=alert.severity, raised_at=alert.raised_at.ToDatetime(UTC),
        camera_id=alert.camera_id, camera_name=ctx.camera_name, lat_deg=ctx.lat_deg,
        lon_deg=ctx.lon_deg, confirmed=ctx.delivery.trigger == "confirmed",
        confirmations=ctx.alert.confirmations), identity, ctx.delivery.created_at)


def json_document(ctx: Context) -> bytes:
    event = "alert.confirmed" if ctx.delivery.trigger == "confirmed" else "alert.raised"
    body = alert_payload(ctx.alert.alert, event=event, status=ctx.alert.status,
                         confirmations=ctx.alert.confirmations, required=ctx.alert.required,
                         camera_name=ctx.camera_name, sent_at=ctx.delivery.created_at)
    body["delivery_id"] = ctx.delivery.delivery_id
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


class Dispatcher:
    def __init__(self, db: Database, policy: Policy, bus: Bus, audit: AuditLog, *,
                 owner: str, concurrency: int, interval_s: float, retry_base_s: float,
                 retry_cap_s: float, public_url: str, suspended: Callable[[], Awaitable[bool]],
                 camera: Callable[[str], tuple[str, float | None, float | None]],
                 settled: Callable[[int, StoredAlert | None], Awaitable[None]] | None = None
                 ) -> None:
        self.db, self.policy, self.bus, self.audit = db, policy, bus, audit
        self.owner = owner
        self.concurrency = concurrency
        self.interval_s = interval_s
        self.retry_base_s, self.retry_cap_s = retry_base_s, retry_cap_s
        self.public_url = public_url
        self.suspended = suspended
        self.camera = camera
        # told (feed sequence, alert) when a delivery is delivered, failed or cancelled
        self.settled = settled
        self._wake = asyncio.Event()
        self._http: aiohttp.ClientSession | None = None
        self.secrets: dict[str, bytes | None] = {}
        self.identity = CapIdentity(
            sender=policy.cap.sender, sender_name=policy.cap.sender_name,
            status=policy.cap.status, scope=policy.cap.scope,
            restriction=policy.cap.restriction, language=policy.cap.language,
            web=f"{public_url.rstrip('/')}/alerts/console" if public_url else "")
        self.sent = 0

    async def start(self) -> None:
        if released := await self.db.bg(self.db.store.release_leases, self.owner):
            log.warning("%d deliveries leased by a previous process named %s (it died "
                        "mid-delivery) are due again", released, self.owner)
        for name, channel in self.policy.channels.items():
            if isinstance(channel, SmsChannel):
                self.secrets[name] = read_secret(channel.auth_token_env, channel.auth_token_file)
            elif isinstance(channel, WebhookChannel | CapChannel):
                self.secrets[name] = read_secret(channel.secret_env, channel.secret_file)
            if self.secrets.get(name, b"") is None and not isinstance(channel, CapChannel):
                log.error("channel %s: its secret is not set; its deliveries will fail", name)
        kafka_topics = {c.topic: c.partitions for c in self.policy.channels.values()
                        if isinstance(c, KafkaChannel)}
        if kafka_topics:
            await self.bus.create_topics([
                TopicSpec(t, n, {"cleanup.policy": "delete",
                                 "retention.ms": str(400 * 86400 * 1000)})
                for t, n in sorted(kafka_topics.items())])
        self._http = aiohttp.ClientSession(
            headers={"User-Agent": USER_AGENT},
            connector=aiohttp.TCPConnector(limit=max(4, self.concurrency * 2)))

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                busy = await self.once()
            except Exception:
                log.exception("dispatch round failed")
                busy = False
            if busy:
                continue
            self._wake.clear()
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait([waiter, stopper], timeout=self.interval_s,
                               return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()

    async def once(self) -> bool:
        """One round: claim due deliveries and send them. True if any was claimed."""
        claimed = await self.db.bg(self.db.store.claim_due, self.owner, now_utc(), LEASE,
                                   self.concurrency)
        if not claimed:
            return False
        suspended = await self.suspended()
        await asyncio.gather(*(self._handle(d, a, suspended) for d, a in claimed))
        return True

    async def _finish(self, delivery: Delivery, *, status: str, attempts: int,
                      next_attempt_at: datetime | None = None, error: str = "",
                      reason: str | None = None) -> None:
        final = status in ("delivered", "failed", "cancelled")
        seq, stored = await self.db.bg(self.db.store.finish_attempt, delivery.delivery_id,
                                       self.owner, status=status, attempts=attempts,
                                       next_attempt_at=next_attempt_at, error=error,
                                       reason=reason, feed=final)
        if final and seq and self.settled is not None:
            try:
                await self.settled(seq, stored)
            except Exception:
                log.exception("delivery outcome not pushed to the live feed")

    async def _handle(self, delivery: Delivery, stored: StoredAlert | None,
                      suspended: bool) -> None:
        if suspended:
            await self._finish(delivery, status="cancelled", attempts=delivery.attempts,
                               reason="dispatch suspended")
            metrics.DISPATCHES.labels(delivery.kind, "cancelled").inc()
            return
        channel = self.policy.channels.get(delivery.channel)
        if stored is None or channel is None:
            await self._finish(delivery, status="failed", attempts=delivery.attempts,
                               error="alert or channel no longer exists")
            return
        name, lat, lon = self.camera(stored.alert.camera_id)
        ctx = Context(delivery, stored, name, lat, lon)
        started = time.perf_counter()
        try:
            outcome = await self._send(channel, ctx)
        except Exception as exc:  # a bug in a channel must not stop the dispatcher
            log.exception("channel %s raised", delivery.channel)
            outcome = Outcome(False, True, f"internal error: {type(exc).__name__}")
        metrics.DISPATCH_SECONDS.labels(delivery.kind).observe(time.perf_counter() - started)
        attempts = delivery.attempts + 1
        max_attempts = channel.max_attempts
        if outcome.ok:
            status, next_at = "delivered", None
        elif outcome.retryable and attempts < max_attempts:
            delay = retry_delay_s(attempts, self.retry_base_s, self.retry_cap_s,
                                  random.uniform(-0.2, 0.2))  # noqa: S311 - jitter only
            status, next_at = "pending", now_utc() + timedelta(seconds=delay)
        else:
            status, next_at = "failed", None
        metrics.DISPATCHES.labels(delivery.kind, "delivered" if outcome.ok else
                                  ("retry" if status == "pending" else "failed")).inc()
        if status in ("delivered", "failed"):
            if outcome.ok:
                self.sent += 1
            await self.audit.record(
                AuditAction.AUDIT_ACTION_DISPATCH, f"alert:{delivery.alert_id}",
                event_id=f"dispatch:{delivery.delivery_id}",
                details={"route": delivery.route, "channel": delivery.channel,
                         "kind": delivery.kind, "outcome": status, "attempts": str(attempts),
                         "trigger": delivery.trigger, "recipient_index": str(delivery.recipient),
                         **({"error": outcome.error[:200]} if outcome.error else {})})
        await self._finish(delivery, status=status, attempts=attempts, next_attempt_at=next_at,
                           error=outcome.error)
        log.info("delivery %s on %s/%s: %s (attempt %d)", delivery.delivery_id, delivery.route,
                 delivery.channel, status, attempts, extra={"event_id": delivery.alert_id})

    async def _send(self, channel: Any, ctx: Context) -> Outcome:
        if isinstance(channel, SmsChannel):
            return await self._sms(channel, ctx)
        if isinstance(channel, WebhookChannel):
            return await self._post(channel, ctx, json_document(ctx), "application/json",
                                    signed=True)
        if isinstance(channel, CapChannel):
            return await self._post(channel, ctx, cap_document(ctx, self.identity),
                                    "application/xml; charset=utf-8",
                                    signed=self.secrets.get(ctx.delivery.channel) is not None)
        if isinstance(channel, KafkaChannel):
            return await self._kafka(channel, ctx)
        return Outcome(False, False, f"unknown channel kind {ctx.delivery.kind}")

    async def _http_call(self, method: str, url: str, *, timeout_s: float, **kwargs: Any
                         ) -> Outcome:
        assert self._http is not None, "dispatcher not started"
        try:
            async with self._http.request(method, url, allow_redirects=False,
                                          timeout=aiohttp.ClientTimeout(total=timeout_s),
                                          **kwargs) as response:
                await response.content.read(MAX_RESPONSE_BYTES)
                if 200 <= response.status < 300:
                    return Outcome(True)
                return Outcome(False, retryable_status(response.status),
                               f"HTTP {response.status}")
        except TimeoutError:
            return Outcome(False, True, f"no answer within {timeout_s:g} s")
        except aiohttp.ClientError as exc:
            return Outcome(False, True, f"{type(exc).__name__}")

    async def _post(self, channel: WebhookChannel | CapChannel, ctx: Context, body: bytes,
                    content_type: str, signed: bool) -> Outcome:
        headers = {"Content-Type": content_type,
                   IDEMPOTENCY_HEADER: ctx.delivery.delivery_id,
                   "X-Vigie-Alert-Id": ctx.delivery.alert_id,
                   "X-Vigie-Event": ("alert.confirmed" if ctx.delivery.trigger == "confirmed"
                                     else "alert.raised")}
        if signed:
            key = self.secrets.get(ctx.delivery.channel)
            if key is None:
                return Outcome(False, False, "signing secret not set")
            headers[SIGNATURE_HEADER] = signature(key, int(time.time()), body)
        return await self._http_call("POST", channel.url, timeout_s=channel.timeout_s,
                                     data=body, headers=headers)

    async def _sms(self, channel: SmsChannel, ctx: Context) -> Outcome:
        token = self.secrets.get(ctx.delivery.channel)
        if token is None:
            return Outcome(False, False, "provider token not set")
        if ctx.delivery.recipient >= len(channel.to_numbers):
            return Outcome(False, False, "recipient no longer configured")
        url = (f"{channel.base_url.rstrip('/')}/2010-04-01/Accounts/{channel.account_sid}"
               "/Messages.json")
        form = {"To": channel.to_numbers[ctx.delivery.recipient], "From": channel.from_number,
                "Body": sms_text(ctx.alert.alert, ctx.camera_name, ctx.alert.confirmations,
                                 self.public_url)}
        return await self._http_call(
            "POST", url, timeout_s=channel.timeout_s, data=form,
            headers={IDEMPOTENCY_HEADER: ctx.delivery.delivery_id,
                     "Authorization": aiohttp.encode_basic_auth(channel.account_sid,
                                                                token.decode())})

    async def _kafka(self, channel: KafkaChannel, ctx: Context) -> Outcome:
        if channel.format == "cap":
            value, ctype, ce_type = (cap_document(ctx, self.identity), "application/xml",
                                     "org.oasis.cap.1.2")
        elif channel.format == "json":
            value, ctype, ce_type = json_document(ctx), "application/json", "vigie.alert.json"
        else:
            alert = AlertRaised()
            alert.CopyFrom(ctx.alert.alert)
            alert.subject_id = ""  # data minimisation downstream
            value, ctype = alert.SerializeToString(deterministic=True), "application/protobuf"
            ce_type = "vigie.alerts.v1.AlertRaised"
        headers = (("ce_specversion", b"1.0"), ("ce_id", ctx.delivery.delivery_id.encode()),
                   ("ce_type", ce_type.encode()), ("ce_source", self.bus.source.encode()),
                   ("ce_time", datetime.now(UTC).isoformat().encode()),
                   ("content-type", ctype.encode()))
        try:
            delivery = await self.bus.produce(channel.topic, ctx.alert.alert.camera_id.encode(),
                                              value, headers)
            await asyncio.wait_for(delivery, 30)
        except Exception as exc:
            return Outcome(False, True, f"kafka: {type(exc).__name__}")
        return Outcome(True)
