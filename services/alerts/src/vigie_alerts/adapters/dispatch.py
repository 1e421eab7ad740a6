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

SMS: the API (Twilio's) takes no idempotency key, so an attempt that may have reached the provider
without its answer being recorded (a crash during the request, a timeout, a dropped connection)
leaves the delivery *in doubt*: a send intent is committed before every request and removed with
an outcome that settles it. The next attempt of a delivery in doubt waits out the request's
timeout, then: resends with the same Idempotency-Key if the channel's provider honours it; else
looks the message up (the provider's list of messages to that number, searched for the
delivery's reference) and sends only if it is not there; else, when the provider cannot tell,
follows the channel's `in_doubt`: `resend` (the default: at-least-once, the text says "POSSIBLE
REPEAT") or `hold` (at-most-once: the delivery ends `unknown`). For a signal meant to make an
on-call person act, a lost SMS costs more than a recognisable double, hence the default.

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
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import aiohttp
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.audit.v1.audit_pb2 import AuditAction
from vigie_alerts import metrics
from vigie_alerts.adapters.store import Database, Delivery, StoredAlert, now_utc
from vigie_alerts.domain.cap import CapAlert, CapIdentity, render_cap
from vigie_alerts.domain.messages import alert_payload, sms_reference, sms_text
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
LOOKUP_MAX_BYTES = 2 * 1024 * 1024
LOOKUP_PAGES = 4  # of 50 messages to one number, newest first
LOOKUP_SKEW = timedelta(minutes=10)  # the provider's clock against ours
DOUBTFUL_STATUSES = (500, 502, 504)  # a gateway may have lost the answer of a processed request


@dataclass(frozen=True)
class Outcome:
    ok: bool
    retryable: bool = False
    error: str = ""
    doubt: bool = False  # the request may have been processed though no answer came back
    held: bool = False  # an SMS in doubt not resent (in_doubt: hold): the delivery ends unknown
    note: str = ""  # how a delivery in doubt was settled (shown on it, audited)


@dataclass(frozen=True)
class Lookup:
    state: Literal["sent", "absent", "unknown"]
    detail: str = ""


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
                      reason: str | None = None, settled: bool = False) -> None:
        final = status in ("delivered", "failed", "cancelled", "unknown")
        seq, stored = await self.db.bg(self.db.store.finish_attempt, delivery.delivery_id,
                                       self.owner, status=status, attempts=attempts,
                                       next_attempt_at=next_attempt_at, error=error,
                                       reason=reason, feed=final, settled=settled)
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
        if (isinstance(channel, SmsChannel) and delivery.in_doubt_at is not None
                and not channel.honours_idempotency_key):
            # the earlier request may still be on its way: ask once it would have timed out
            ready = delivery.in_doubt_at + timedelta(seconds=channel.timeout_s)
            if now_utc() < ready:
                await self._finish(delivery, status="pending", attempts=delivery.attempts,
                                   next_attempt_at=ready, error=delivery.last_error)
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
        sms = isinstance(channel, SmsChannel)
        if outcome.ok:
            status, next_at = "delivered", None
        elif outcome.held:
            status, next_at = "unknown", None
        elif outcome.retryable and attempts < max_attempts:
            delay = retry_delay_s(attempts, self.retry_base_s, self.retry_cap_s,
                                  random.uniform(-0.2, 0.2))  # noqa: S311 - jitter only
            status, next_at = "pending", now_utc() + timedelta(seconds=delay)
        elif sms and outcome.doubt:  # no attempt left, and the last one may have gone out
            status, next_at = "unknown", None
            outcome = replace(outcome, note=outcome.note or "the last attempt's outcome is "
                              "unknown: the SMS may or may not have been sent")
        else:
            status, next_at = "failed", None
        metrics.DISPATCHES.labels(delivery.kind, "retry" if status == "pending" else
                                  status).inc()
        if status in ("delivered", "failed", "unknown"):
            if outcome.ok:
                self.sent += 1
            await self.audit.record(
                AuditAction.AUDIT_ACTION_DISPATCH, f"alert:{delivery.alert_id}",
                event_id=f"dispatch:{delivery.delivery_id}",
                details={"route": delivery.route, "channel": delivery.channel,
                         "kind": delivery.kind, "outcome": status, "attempts": str(attempts),
                         "trigger": delivery.trigger, "recipient_index": str(delivery.recipient),
                         **({"error": outcome.error[:200]} if outcome.error else {}),
                         **({"in_doubt": outcome.note[:200]} if outcome.note else {})})
        # the send intent goes with an outcome that says whether the SMS went out
        settled = sms and (status != "pending" or not outcome.doubt)
        await self._finish(delivery, status=status, attempts=attempts, next_attempt_at=next_at,
                           error=outcome.error, reason=outcome.note or None, settled=settled)
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
                               f"HTTP {response.status}",
                               doubt=response.status in DOUBTFUL_STATUSES)
        except TimeoutError:
            return Outcome(False, True, f"no answer within {timeout_s:g} s", doubt=True)
        except aiohttp.ClientConnectorError as exc:  # never connected: nothing was sent
            return Outcome(False, True, f"{type(exc).__name__}")
        except aiohttp.ClientError as exc:  # e.g. dropped after the request went out
            return Outcome(False, True, f"{type(exc).__name__}", doubt=True)

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
        delivery = ctx.delivery
        auth = aiohttp.encode_basic_auth(channel.account_sid, token.decode())
        reference = sms_reference(delivery.alert_id, delivery.delivery_id)
        repeat, note = False, ""
        if delivery.in_doubt_since is not None:
            if channel.honours_idempotency_key:
                note = "in doubt: sent again with the same Idempotency-Key"
            else:
                found = (await self._sms_lookup(channel, ctx, reference, auth) if channel.lookup
                         else Lookup("unknown", "no lookup on this channel"))
                if found.state == "sent":
                    return Outcome(True, note=f"in doubt: found at the provider ({found.detail}),"
                                              " not resent")
                if found.state == "absent":
                    note = "in doubt: not found at the provider, sent"
                elif channel.in_doubt == "hold":
                    return Outcome(False, False, found.detail, held=True,
                                   note="in doubt, the provider cannot tell: not resent "
                                        "(in_doubt: hold); it may or may not have arrived")
                else:
                    repeat = True
                    note = (f"in doubt, the provider cannot tell ({found.detail}): resent "
                            "as a possible repeat")
        if not await self.db.bg(self.db.store.mark_sending, delivery.delivery_id, self.owner,
                                delivery.attempts + 1):
            return Outcome(False, True, "lease lost before sending")
        url = (f"{channel.base_url.rstrip('/')}/2010-04-01/Accounts/{channel.account_sid}"
               "/Messages.json")
        form = {"To": channel.to_numbers[delivery.recipient], "From": channel.from_number,
                "Body": sms_text(ctx.alert.alert, ctx.camera_name, ctx.alert.confirmations,
                                 self.public_url, reference, repeat)}
        outcome = await self._http_call(
            "POST", url, timeout_s=channel.timeout_s, data=form,
            headers={IDEMPOTENCY_HEADER: delivery.delivery_id, "Authorization": auth})
        return replace(outcome, note=note) if note else outcome

    async def _sms_lookup(self, channel: SmsChannel, ctx: Context, reference: str,
                          auth: str) -> Lookup:
        """Did the provider take this SMS? Twilio's message list to the recipient from our
        number, newest first, searched for `reference` back to the first attempt in doubt."""
        assert self._http is not None and ctx.delivery.in_doubt_since is not None
        since = ctx.delivery.in_doubt_since - LOOKUP_SKEW
        origin = urlsplit(channel.base_url)
        url: str | None = (f"{channel.base_url.rstrip('/')}/2010-04-01/Accounts/"
                           f"{channel.account_sid}/Messages.json")
        params: dict[str, str] | None = {
            "To": channel.to_numbers[ctx.delivery.recipient], "From": channel.from_number,
            "PageSize": "50"}
        blank = False
        for _ in range(LOOKUP_PAGES):
            assert url is not None
            try:
                async with self._http.get(
                        url, params=params, headers={"Authorization": auth},
                        allow_redirects=False,
                        timeout=aiohttp.ClientTimeout(total=channel.timeout_s)) as response:
                    raw = await response.content.read(LOOKUP_MAX_BYTES)
                    if response.status != 200:
                        return Lookup("unknown", f"lookup: HTTP {response.status}")
                page = json.loads(raw)
                messages = page.get("messages") if isinstance(page, dict) else None
            except TimeoutError:
                return Lookup("unknown", "lookup: no answer")
            except (aiohttp.ClientError, ValueError) as exc:
                return Lookup("unknown", f"lookup: {type(exc).__name__}")
            if not isinstance(messages, list):
                return Lookup("unknown", "lookup: not a message list")
            older = False
            for message in filter(lambda m: isinstance(m, dict), messages):
                body = str(message.get("body") or "")
                if reference in body:
                    return Lookup("sent", str(message.get("sid", ""))[:64])
                try:
                    created = parsedate_to_datetime(str(message.get("date_created")))
                except (TypeError, ValueError):
                    created = None
                if created is not None and created.tzinfo is not None and created < since:
                    older = True
                elif not body:
                    blank = True  # a message of the window whose text we cannot see
            following = page.get("next_page_uri")
            if older or not following:
                break
            url, params = urljoin(channel.base_url, str(following)), None
            if urlsplit(url)[:2] != origin[:2]:
                return Lookup("unknown", "lookup: next page elsewhere")
        else:
            return Lookup("unknown", "lookup: too many messages to that number to read")
        if blank:
            return Lookup("unknown", "lookup: message bodies hidden")
        return Lookup("absent")

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
