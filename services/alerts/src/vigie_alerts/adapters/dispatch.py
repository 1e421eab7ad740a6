"""External dispatch: the outbox worker. The channels it sends through are plug-ins
(adapters/channels/), which it knows by their contract only.

Deliveries are rows of the outbox, planned by routing when an alert is raised or confirmed (one
per alert, route, channel and recipient, with a deterministic id, so planning twice never sends
twice). The dispatcher claims due rows with a lease, has their channel send them, and records the
outcome: delivered, retried later with exponential back-off (timeouts, connection errors,
408/425/429/5xx), or failed (other refusals, or max_attempts reached); for a channel that tracks
doubt (SMS), a last attempt that may have gone out ends `unknown`, and the send intent goes with
the outcome that settles it. Delivered, failed and unknown deliveries are audited
(AUDIT_ACTION_DISPATCH) with the route, channel and outcome, never the recipient.

While dispatch is suspended (the console's switch), nothing leaves: every delivery that comes due
is cancelled, not queued, so that lifting the suspension does not release a backlog at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

import aiohttp
from vigie.audit.v1.audit_pb2 import AuditAction
from vigie_alerts import metrics
from vigie_alerts.adapters.channels.base import Channel, Context, Kit, Outcome
from vigie_alerts.adapters.store import Database, Delivery, StoredAlert, now_utc
from vigie_alerts.domain.cap import CapIdentity
from vigie_alerts.domain.signing import retry_delay_s
from vigie_core.audit import AuditLog
from vigie_core.bus.base import Bus

log = logging.getLogger(__name__)

USER_AGENT = "vigie-alerts/0.1"
LEASE = timedelta(seconds=180)
FINAL = ("delivered", "failed", "cancelled", "unknown")


class Dispatcher:
    def __init__(self, db: Database, channels: Mapping[str, Channel], bus: Bus,
                 audit: AuditLog, *, owner: str, concurrency: int, interval_s: float,
                 retry_base_s: float, retry_cap_s: float, public_url: str,
                 cap_identity: CapIdentity, suspended: Callable[[], Awaitable[bool]],
                 camera: Callable[[str], tuple[str, float | None, float | None]],
                 settled: Callable[[int, StoredAlert | None], Awaitable[None]] | None = None
                 ) -> None:
        self.db, self.outbox = db, db.store.outbox
        self.channels, self.bus, self.audit = channels, bus, audit
        self.owner = owner
        self.concurrency = concurrency
        self.interval_s = interval_s
        self.retry_base_s, self.retry_cap_s = retry_base_s, retry_cap_s
        self.public_url, self.cap_identity = public_url, cap_identity
        self.suspended = suspended
        self.camera = camera
        # told (feed sequence, alert) when a delivery is delivered, failed or cancelled
        self.settled = settled
        self._wake = asyncio.Event()
        self._http: aiohttp.ClientSession | None = None
        self.sent = 0

    async def start(self) -> None:
        if released := await self.db.bg(self.outbox.release_leases, self.owner):
            log.warning("%d deliveries leased by a previous process named %s (it died "
                        "mid-delivery) are due again", released, self.owner)
        self._http = aiohttp.ClientSession(
            headers={"User-Agent": USER_AGENT},
            connector=aiohttp.TCPConnector(limit=max(4, self.concurrency * 2)))
        kit = Kit(self._http, self.bus, self.cap_identity, self.public_url, self._mark_sending)
        for channel in self.channels.values():
            await channel.start(kit)

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
        claimed = await self.db.bg(self.outbox.claim_due, self.owner, now_utc(), LEASE,
                                   self.concurrency)
        if not claimed:
            return False
        suspended = await self.suspended()
        await asyncio.gather(*(self._handle(d, a, suspended) for d, a in claimed))
        return True

    async def _mark_sending(self, delivery: Delivery) -> bool:
        return await self.db.bg(self.outbox.mark_sending, delivery.delivery_id, self.owner,
                                delivery.attempts + 1)

    async def _finish(self, delivery: Delivery, *, status: str, attempts: int,
                      next_attempt_at: datetime | None = None, error: str = "",
                      reason: str | None = None, settled: bool = False) -> None:
        final = status in FINAL
        seq, stored = await self.db.bg(self.outbox.finish_attempt, delivery.delivery_id,
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
        channel = self.channels.get(delivery.channel)
        if stored is None or channel is None:
            await self._finish(delivery, status="failed", attempts=delivery.attempts,
                               error="alert or channel no longer exists")
            return
        ready = channel.not_before(delivery)
        if ready is not None and now_utc() < ready:
            await self._finish(delivery, status="pending", attempts=delivery.attempts,
                               next_attempt_at=ready, error=delivery.last_error)
            return
        name, lat, lon = self.camera(stored.alert.camera_id)
        started = time.perf_counter()
        try:
            outcome = await channel.send(Context(delivery, stored, name, lat, lon))
        except Exception as exc:  # a bug in a channel must not stop the dispatcher
            log.exception("channel %s raised", delivery.channel)
            outcome = Outcome(False, True, f"internal error: {type(exc).__name__}")
        metrics.DISPATCH_SECONDS.labels(delivery.kind).observe(time.perf_counter() - started)
        attempts = delivery.attempts + 1
        doubt = channel.tracks_doubt and outcome.doubt
        if outcome.ok:
            status, next_at = "delivered", None
        elif outcome.held:
            status, next_at = "unknown", None
        elif outcome.retryable and attempts < channel.config.max_attempts:
            delay = retry_delay_s(attempts, self.retry_base_s, self.retry_cap_s,
                                  random.uniform(-0.2, 0.2))  # noqa: S311 - jitter only
            status, next_at = "pending", now_utc() + timedelta(seconds=delay)
        elif doubt:  # no attempt left, and the last one may have gone out
            status, next_at = "unknown", None
            outcome = replace(outcome, note=outcome.note or "the last attempt's outcome is "
                              "unknown: the message may or may not have been sent")
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
        # the send intent goes with an outcome that says whether the message went out
        settled = channel.tracks_doubt and (status != "pending" or not doubt)
        await self._finish(delivery, status=status, attempts=attempts, next_attempt_at=next_at,
                           error=outcome.error, reason=outcome.note or None, settled=settled)
        log.info("delivery %s on %s/%s: %s (attempt %d)", delivery.delivery_id, delivery.route,
                 delivery.channel, status, attempts, extra={"event_id": delivery.alert_id})
