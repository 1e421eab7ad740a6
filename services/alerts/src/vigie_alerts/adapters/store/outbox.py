"""The dispatch outbox: one delivery per alert, route, channel and recipient (a deterministic id,
so planning twice never sends twice), claimed with a lease so that replicas never send the same
delivery at once; and the send intents of channels that track doubt (SMS): an attempt that may
have reached the provider, written before the request and removed with its outcome, so what is
left says "in doubt"."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie_alerts.adapters.store.stored import StoredAlert, stored_alert
from vigie_alerts.adapters.store.tables import (
    AlertRow,
    DeliveryRow,
    FeedRow,
    SendIntentRow,
    now_utc,
    utc,
)


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    alert_id: str
    route: str
    channel: str
    kind: str
    recipient: int
    trigger: str
    status: str
    reason: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str
    created_at: datetime
    delivered_at: datetime | None
    camera_id: str
    rule_id: str
    raised_at: datetime
    # set by claim_due: since when an earlier attempt's outcome is unknown (a send intent left)
    in_doubt_since: datetime | None = None
    in_doubt_at: datetime | None = None  # the start of the latest such attempt


@dataclass
class NewDelivery:
    delivery_id: str
    route: str
    channel: str
    kind: str
    recipient: int
    trigger: str
    status: str
    reason: str = ""
    next_attempt_at: datetime | None = None


def delivery_id(alert_id: str, route: str, channel: str, recipient: int) -> str:
    """Deterministic: the same alert, route, channel and recipient is one delivery, however many
    times the confirmation is processed. Also the Idempotency-Key of webhooks and SMS requests,
    and (its first 6 characters) the tag in an SMS's reference."""
    return hashlib.sha256(f"{alert_id}|{route}|{channel}|{recipient}".encode()).hexdigest()[:32]


def delivery_row(alert: AlertRaised, item: NewDelivery, at: datetime) -> DeliveryRow:
    return DeliveryRow(
        delivery_id=item.delivery_id, alert_id=alert.alert_id, route=item.route,
        channel=item.channel, kind=item.kind, recipient=item.recipient,
        trigger=item.trigger, status=item.status, reason=item.reason[:500],
        attempts=0, next_attempt_at=item.next_attempt_at, lease_owner="",
        lease_until=None, last_error="", created_at=at, delivered_at=None,
        camera_id=alert.camera_id, rule_id=alert.rule_id,
        raised_at=alert.raised_at.ToDatetime(UTC))


def _delivery(row: DeliveryRow) -> Delivery:
    return Delivery(row.delivery_id, row.alert_id, row.route, row.channel, row.kind,
                    row.recipient, row.trigger, row.status, row.reason, row.attempts,
                    utc(row.next_attempt_at), row.last_error, utc(row.created_at) or now_utc(),
                    utc(row.delivered_at), row.camera_id, row.rule_id,
                    utc(row.raised_at) or now_utc())


class Outbox:
    """Synchronous; every method is one transaction."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def add_deliveries(self, alert: AlertRaised, items: Sequence[NewDelivery]) -> list[str]:
        """Insert the deliveries not already there; return the ids inserted."""
        at = now_utc()
        inserted = []
        with self.sessions() as s, s.begin():
            existing = set(s.scalars(select(DeliveryRow.delivery_id).where(
                DeliveryRow.delivery_id.in_([i.delivery_id for i in items]))).all()) \
                if items else set()
            for item in items:
                if item.delivery_id in existing:
                    continue
                existing.add(item.delivery_id)
                s.add(delivery_row(alert, item, at))
                inserted.append(item.delivery_id)
        return inserted

    def dispatch_history(self, routes: Sequence[str], around: datetime, span: timedelta,
                         camera_id: str | None = None, rule_id: str | None = None
                         ) -> list[tuple[str, str, str, str, datetime]]:
        """(route, alert_id, camera_id, rule_id, raised_at) of the deliveries that went (or are
        going) out on `routes`, raised within `span` of `around` (optionally of one camera and
        rule): what cooldowns and rate limits look at."""
        if not routes:
            return []
        stmt = select(DeliveryRow.route, DeliveryRow.alert_id, DeliveryRow.camera_id,
                      DeliveryRow.rule_id, DeliveryRow.raised_at).where(
            DeliveryRow.route.in_(list(routes)),
            DeliveryRow.status.in_(["pending", "delivered", "failed", "unknown"]),
            DeliveryRow.raised_at >= around - span, DeliveryRow.raised_at <= around + span)
        if camera_id is not None:
            stmt = stmt.where(DeliveryRow.camera_id == camera_id)
        if rule_id is not None:
            stmt = stmt.where(DeliveryRow.rule_id == rule_id)
        with self.sessions() as s:
            return [(r, a, c, ru, utc(at) or at) for r, a, c, ru, at in
                    s.execute(stmt.distinct()).all()]

    def deliveries_of(self, alert_id: str) -> list[Delivery]:
        with self.sessions() as s:
            rows = s.scalars(select(DeliveryRow).where(DeliveryRow.alert_id == alert_id)
                             .order_by(DeliveryRow.created_at, DeliveryRow.route,
                                       DeliveryRow.channel, DeliveryRow.recipient)).all()
            return [_delivery(r) for r in rows]

    def claim_due(self, owner: str, now: datetime, lease: timedelta, limit: int
                  ) -> list[tuple[Delivery, StoredAlert | None]]:
        """Lease up to `limit` due deliveries to `owner`; each with its alert."""
        until = now + lease
        with self.sessions() as s, s.begin():
            free = or_(DeliveryRow.lease_until.is_(None), DeliveryRow.lease_until < now)
            ids = s.scalars(select(DeliveryRow.delivery_id).where(
                DeliveryRow.status == "pending", DeliveryRow.next_attempt_at <= now, free)
                .order_by(DeliveryRow.next_attempt_at).limit(limit)).all()
            if not ids:
                return []
            s.execute(update(DeliveryRow).where(
                DeliveryRow.delivery_id.in_(list(ids)), DeliveryRow.status == "pending", free)
                .values(lease_owner=owner, lease_until=until))
            rows = s.scalars(select(DeliveryRow).where(
                DeliveryRow.delivery_id.in_(list(ids)), DeliveryRow.lease_owner == owner,
                DeliveryRow.lease_until == until)).all()
            alerts = {r.alert_id: r for r in s.scalars(select(AlertRow).where(
                AlertRow.alert_id.in_({r.alert_id for r in rows}))).all()} if rows else {}
            doubts = {i.delivery_id: i for i in s.scalars(select(SendIntentRow).where(
                SendIntentRow.delivery_id.in_([r.delivery_id for r in rows]))).all()} \
                if rows else {}
            out = []
            for r in rows:
                value = _delivery(r)
                if (intent := doubts.get(r.delivery_id)) is not None:
                    value = replace(value, in_doubt_since=utc(intent.since),
                                    in_doubt_at=utc(intent.at))
                out.append((value, stored_alert(alerts[r.alert_id])
                            if r.alert_id in alerts else None))
            return out

    def mark_sending(self, delivery: str, owner: str, attempt: int) -> bool:
        """Durably note, before the request, that attempt `attempt` may reach the provider
        (keeping `since` of an earlier attempt still in doubt). False if `owner` no longer holds
        the lease: then nothing may be sent."""
        at = now_utc()
        with self.sessions() as s, s.begin():
            row = s.scalar(select(DeliveryRow).where(DeliveryRow.delivery_id == delivery,
                                                     DeliveryRow.lease_owner == owner))
            if row is None:
                return False
            intent = s.get(SendIntentRow, delivery)
            if intent is None:
                s.add(SendIntentRow(delivery_id=delivery, alert_id=row.alert_id, since=at,
                                    attempt=attempt, at=at))
            else:
                intent.attempt, intent.at = attempt, at
            return True

    def release_leases(self, owner: str) -> int:
        """Free the leases `owner` holds. A process starts under an owner name (its
        VIGIE_INSTANCE) that no running process has, so leases held under it belong to a
        predecessor that died mid-delivery (a restarted pod keeps its name): without this they
        would wait out the lease. Returns how many were freed."""
        with self.sessions() as s, s.begin():
            done = s.execute(update(DeliveryRow).where(
                DeliveryRow.lease_owner == owner, DeliveryRow.status == "pending")
                .values(lease_owner="", lease_until=None))
            return int(done.rowcount)  # type: ignore[attr-defined]

    def finish_attempt(self, delivery: str, owner: str, *, status: str, attempts: int,
                       next_attempt_at: datetime | None, error: str = "",
                       reason: str | None = None, feed: bool = False,
                       settled: bool = False) -> tuple[int, StoredAlert | None]:
        """Record an attempt's outcome (ignored if `owner` lost the lease). With `settled`, the
        outcome says whether the message went out, and the send intent goes in the same
        transaction. With `feed`, also a "delivery" feed row, and hand back its sequence number
        and the alert."""
        values: dict[str, Any] = {"status": status, "attempts": attempts,
                                  "next_attempt_at": next_attempt_at, "lease_owner": "",
                                  "lease_until": None, "last_error": error[:500]}
        if reason is not None:
            values["reason"] = reason[:500]
        if status == "delivered":
            values["delivered_at"] = now_utc()
        with self.sessions() as s, s.begin():
            done = s.execute(update(DeliveryRow).where(DeliveryRow.delivery_id == delivery,
                                                       DeliveryRow.lease_owner == owner)
                             .values(**values))
            if settled and done.rowcount:  # type: ignore[attr-defined]
                s.execute(delete(SendIntentRow).where(SendIntentRow.delivery_id == delivery))
            if not feed or not done.rowcount:  # type: ignore[attr-defined]
                return 0, None
            alert_id = s.scalar(select(DeliveryRow.alert_id).where(
                DeliveryRow.delivery_id == delivery))
            row = FeedRow(kind="delivery", alert_id=alert_id or "", ref=delivery, at=now_utc())
            s.add(row)
            s.flush()
            alert = s.get(AlertRow, alert_id) if alert_id else None
            return int(row.seq), stored_alert(alert) if alert is not None else None
