"""The alert history read model: one SQLAlchemy model on SQLite (embedded) or PostgreSQL.

Tables: alerts (one row per alert_id, the AlertRaised as stored plus status and evidence), the
decisions on them (in the order consumed from vigie.alert-decisions.v1), a feed (every change, with
a sequence number, which the live feed of every replica tails), deliveries (the dispatch outbox:
one row per alert, route, channel and recipient, claimed with a lease so replicas never send the
same delivery at once), send intents (an SMS attempt that may have reached the provider, written
before the request and removed with its outcome: what is left says "in doubt"), console users,
sessions and API tokens (hashes only), service state (the suspend switch), and audit records
written by the command line, waiting for the service to seal them into its chain.

Everything here is synchronous; `Database` runs it on worker threads (one for SQLite).
The schema is created with `create_all` (no migrations yet: a new column means a new table).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    create_engine,
    delete,
    event,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from sqlalchemy.pool import StaticPool
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.alerts.v1.decision_pb2 import AlertDecided

log = logging.getLogger(__name__)
T = TypeVar("T")

SEQ = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER keys only


def utc(at: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive: they were stored in UTC."""
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def now_utc() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class AlertRow(Base):
    __tablename__ = "alerts"
    alert_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(128), index=True)
    rule_kind: Mapped[int] = mapped_column(Integer)
    camera_id: Mapped[str] = mapped_column(String(128), index=True)
    severity: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    subject_id: Mapped[str] = mapped_column(String(128), default="")
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    required: Mapped[int] = mapped_column(Integer)
    status: Mapped[int] = mapped_column(Integer, index=True)
    confirmations: Mapped[int] = mapped_column(Integer, default=0)
    released: Mapped[bool] = mapped_column(Boolean, default=False)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    snapshot_path: Mapped[str] = mapped_column(String(500), default="")
    snapshot_sha256: Mapped[str] = mapped_column(String(64), default="")
    snapshot_bytes: Mapped[int] = mapped_column(Integer, default=0)
    snapshot_captured_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    evidence_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                                 index=True)
    evidence_locked: Mapped[bool] = mapped_column(Boolean, default=False)
    evidence_lock_reason: Mapped[str] = mapped_column(String(1000), default="")
    evidence_deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_alerts_raised_id", "raised_at", "alert_id"),)


class DecisionRow(Base):
    __tablename__ = "decisions"
    seq: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    decision_id: Mapped[str] = mapped_column(String(128), unique=True)
    alert_id: Mapped[str] = mapped_column(String(64), index=True)
    operator: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(32))
    decision: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(1000))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class FeedRow(Base):
    __tablename__ = "feed"
    seq: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # alert, decision, snapshot
    alert_id: Mapped[str] = mapped_column(String(64))
    ref: Mapped[str] = mapped_column(String(128), default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DeliveryRow(Base):
    __tablename__ = "deliveries"
    delivery_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    alert_id: Mapped[str] = mapped_column(String(64), index=True)
    route: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[int] = mapped_column(Integer, default=0)
    trigger: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str] = mapped_column(String(500), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    lease_owner: Mapped[str] = mapped_column(String(128), default="")
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    camera_id: Mapped[str] = mapped_column(String(128))
    rule_id: Mapped[str] = mapped_column(String(128))
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SendIntentRow(Base):
    """An SMS attempt that may have reached the provider: committed before the request, deleted
    in the transaction that records an outcome settling it (sent, or certainly not sent). A row
    that outlives its attempt (a crash, a timeout) puts the delivery in doubt."""

    __tablename__ = "send_intents"
    delivery_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    alert_id: Mapped[str] = mapped_column(String(64), index=True)
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # first attempt in doubt
    attempt: Mapped[int] = mapped_column(Integer)  # latest attempt (1-based)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # latest attempt's start


class UserRow(Base):
    __tablename__ = "users"
    login: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(80))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SessionRow(Base):
    __tablename__ = "sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    login: Mapped[str] = mapped_column(String(64), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TokenRow(Base):
    __tablename__ = "api_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    login: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class StateRow(Base):
    __tablename__ = "service_state"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class PendingAuditRow(Base):
    __tablename__ = "pending_audit"
    id: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    action: Mapped[int] = mapped_column(Integer)
    subject_ref: Mapped[str] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(128))
    details: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event_id: Mapped[str] = mapped_column(String(128))


# -- plain values handed out of the store ---------------------------------------------------------
@dataclass(frozen=True)
class StoredAlert:
    alert: AlertRaised
    status: int
    required: int
    confirmations: int
    released: bool
    stored_at: datetime
    snapshot_path: str = ""
    snapshot_sha256: str = ""
    snapshot_bytes: int = 0
    snapshot_captured_at: datetime | None = None
    evidence_expires_at: datetime | None = None
    evidence_locked: bool = False
    evidence_lock_reason: str = ""
    evidence_deleted_at: datetime | None = None


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


@dataclass(frozen=True)
class User:
    login: str
    role: str
    password_hash: str
    created_at: datetime
    created_by: str
    disabled: bool
    failed_logins: int
    locked_until: datetime | None


@dataclass(frozen=True)
class SessionInfo:
    login: str
    role: str
    csrf: str
    created_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class FeedItem:
    seq: int
    kind: str
    alert_id: str
    ref: str


@dataclass(frozen=True)
class PendingAudit:
    id: int
    action: int
    subject_ref: str
    actor: str
    details: dict[str, str]
    occurred_at: datetime
    event_id: str


@dataclass(frozen=True)
class AlertQuery:
    camera_ids: Sequence[str] = ()
    severities: Sequence[int] = ()
    rule_kinds: Sequence[int] = ()
    statuses: Sequence[int] = ()
    since: datetime | None = None
    until: datetime | None = None
    text: str = ""


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
    extra: dict[str, Any] = field(default_factory=dict)


Fold = Callable[[int, list[AlertDecided]], tuple[int, int, bool]]
"""(required, decisions in order) -> (status, confirmations, dispatch released)."""


@dataclass(frozen=True)
class Recorded:
    seq: int  # feed sequence number; 0: nothing new was stored
    status: int
    confirmations: int
    released: bool


def delivery_id(alert_id: str, route: str, channel: str, recipient: int) -> str:
    """Deterministic: the same alert, route, channel and recipient is one delivery, however many
    times the confirmation is processed. Also the Idempotency-Key of webhooks and SMS requests,
    and (its first 6 characters) the tag in an SMS's reference."""
    return hashlib.sha256(f"{alert_id}|{route}|{channel}|{recipient}".encode()).hexdigest()[:32]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def encode_cursor(raised_at: datetime, alert_id: str) -> str:
    raw = json.dumps([raised_at.astimezone(UTC).isoformat(), alert_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[datetime, str]:
    """Raises ValueError on anything that is not a cursor of ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        at, alert_id = json.loads(raw)
        return datetime.fromisoformat(at), str(alert_id)
    except Exception as exc:
        raise ValueError("invalid page token") from exc


def default_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'alerts' / 'alerts.db'}"


def make_engine(url: str, pool_size: int = 4) -> Engine:
    if url.startswith("sqlite"):
        if url in ("sqlite://", "sqlite:///:memory:"):
            engine = create_engine(url, poolclass=StaticPool,
                                   connect_args={"check_same_thread": False})
        else:
            path = Path(url.removeprefix("sqlite:///"))
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            engine = create_engine(url, connect_args={"check_same_thread": False,
                                                      "timeout": 15})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=15000")
            cursor.close()
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def _alert_value(row: AlertRow) -> StoredAlert:
    alert = AlertRaised.FromString(row.payload)
    return StoredAlert(alert, row.status, row.required, row.confirmations, row.released,
                       utc(row.stored_at) or now_utc(), row.snapshot_path, row.snapshot_sha256,
                       row.snapshot_bytes, utc(row.snapshot_captured_at),
                       utc(row.evidence_expires_at), row.evidence_locked,
                       row.evidence_lock_reason, utc(row.evidence_deleted_at))


def _delivery_value(row: DeliveryRow) -> Delivery:
    return Delivery(row.delivery_id, row.alert_id, row.route, row.channel, row.kind,
                    row.recipient, row.trigger, row.status, row.reason, row.attempts,
                    utc(row.next_attempt_at), row.last_error, utc(row.created_at) or now_utc(),
                    utc(row.delivered_at), row.camera_id, row.rule_id,
                    utc(row.raised_at) or now_utc())


def _user_value(row: UserRow) -> User:
    return User(row.login, row.role, row.password_hash, utc(row.created_at) or now_utc(),
                row.created_by, row.disabled, row.failed_logins, utc(row.locked_until))


class Store:
    """Synchronous data access; every method is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def create_schema(self) -> None:
        Base.metadata.create_all(self.engine)

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(select(1))

    # -- alerts ---------------------------------------------------------------------------------
    def add_alert(self, alert: AlertRaised, required: int, fold: Fold,
                  deliveries: Sequence[NewDelivery] = ()) -> Recorded:
        """Store a new alert, folding any decision that arrived before it, with `deliveries`
        planned for it, in one transaction. `seq` is 0 when alert_id is already stored (a
        redelivery: nothing is written)."""
        at = now_utc()
        try:
            with self.sessions() as s, s.begin():
                if s.get(AlertRow, alert.alert_id) is not None:
                    return Recorded(0, 0, 0, False)
                row = self._alert_row(alert, required, 0, at)
                early = [AlertDecided.FromString(p) for p in s.scalars(
                    select(DecisionRow.payload).where(DecisionRow.alert_id == alert.alert_id)
                    .order_by(DecisionRow.seq))]
                row.status, row.confirmations, release = fold(required, early)
                row.released = release
                s.add(row)
                feed = FeedRow(kind="alert", alert_id=alert.alert_id, ref="", at=at)
                s.add(feed)
                for item in deliveries:
                    s.add(self._delivery_row(alert, item, at))
                s.flush()
                return Recorded(int(feed.seq), row.status, row.confirmations, release)
        except IntegrityError:  # stored meanwhile by another replica
            return Recorded(0, 0, 0, False)

    @staticmethod
    def _alert_row(alert: AlertRaised, required: int, status: int, at: datetime) -> AlertRow:
        return AlertRow(
                alert_id=alert.alert_id, rule_id=alert.rule_id, rule_kind=alert.rule_kind,
                camera_id=alert.camera_id, severity=alert.severity, title=alert.title[:300],
                subject_id=alert.subject_id, raised_at=alert.raised_at.ToDatetime(UTC),
                started_at=(alert.started_at.ToDatetime(UTC) if alert.HasField("started_at")
                            else None),
                required=required, status=status, confirmations=0, released=False,
                payload=alert.SerializeToString(deterministic=True), stored_at=at)

    def get_alert(self, alert_id: str) -> StoredAlert | None:
        with self.sessions() as s:
            row = s.get(AlertRow, alert_id)
            return _alert_value(row) if row is not None else None

    def get_alerts(self, alert_ids: Iterable[str]) -> dict[str, StoredAlert]:
        ids = list(set(alert_ids))
        if not ids:
            return {}
        with self.sessions() as s:
            rows = s.scalars(select(AlertRow).where(AlertRow.alert_id.in_(ids))).all()
            return {r.alert_id: _alert_value(r) for r in rows}

    def list_alerts(self, query: AlertQuery, limit: int, cursor: str = "",
                    newest_first: bool = True) -> tuple[list[StoredAlert], str]:
        stmt = select(AlertRow)
        if query.camera_ids:
            stmt = stmt.where(AlertRow.camera_id.in_(list(query.camera_ids)))
        if query.severities:
            stmt = stmt.where(AlertRow.severity.in_(list(query.severities)))
        if query.rule_kinds:
            stmt = stmt.where(AlertRow.rule_kind.in_(list(query.rule_kinds)))
        if query.statuses:
            stmt = stmt.where(AlertRow.status.in_(list(query.statuses)))
        if query.since is not None:
            stmt = stmt.where(AlertRow.raised_at >= query.since)
        if query.until is not None:
            stmt = stmt.where(AlertRow.raised_at < query.until)
        if query.text:
            pattern = "%" + query.text.replace("\\", "\\\\").replace("%", "\\%") \
                .replace("_", "\\_") + "%"
            stmt = stmt.where(or_(AlertRow.title.ilike(pattern, escape="\\"),
                                  AlertRow.camera_id.ilike(pattern, escape="\\")))
        if cursor:
            at, last_id = decode_cursor(cursor)
            if newest_first:
                stmt = stmt.where(or_(AlertRow.raised_at < at,
                                      (AlertRow.raised_at == at) & (AlertRow.alert_id < last_id)))
            else:
                stmt = stmt.where(or_(AlertRow.raised_at > at,
                                      (AlertRow.raised_at == at) & (AlertRow.alert_id > last_id)))
        if newest_first:
            stmt = stmt.order_by(AlertRow.raised_at.desc(), AlertRow.alert_id.desc())
        else:
            stmt = stmt.order_by(AlertRow.raised_at.asc(), AlertRow.alert_id.asc())
        with self.sessions() as s:
            rows = s.scalars(stmt.limit(limit + 1)).all()
            values = [_alert_value(r) for r in rows[:limit]]
        next_cursor = ""
        if len(rows) > limit and values:
            last = values[-1]
            next_cursor = encode_cursor(last.alert.raised_at.ToDatetime(UTC),
                                        last.alert.alert_id)
        return values, next_cursor

    def count_alerts(self, statuses: Sequence[int] = ()) -> int:
        stmt = select(func.count()).select_from(AlertRow)
        if statuses:
            stmt = stmt.where(AlertRow.status.in_(list(statuses)))
        with self.sessions() as s:
            return int(s.scalar(stmt) or 0)

    def open_counts_by_camera(self, statuses: Sequence[int]) -> dict[str, int]:
        stmt = (select(AlertRow.camera_id, func.count()).where(AlertRow.status.in_(list(statuses)))
                .group_by(AlertRow.camera_id))
        with self.sessions() as s:
            return {camera: int(n) for camera, n in s.execute(stmt).all()}

    # -- decisions ------------------------------------------------------------------------------
    def add_decision(self, decision: AlertDecided, fold: Fold) -> Recorded:
        """Store a decision and fold the alert's status in the same transaction. `seq` is 0
        when the decision is already stored; `released` is True only for the call that
        released dispatch (the one that must plan the confirmed deliveries)."""
        at = now_utc()
        try:
            with self.sessions() as s, s.begin():
                exists = s.scalar(select(DecisionRow.seq).where(
                    DecisionRow.decision_id == decision.decision_id))
                if exists is not None:
                    return Recorded(0, 0, 0, False)
                s.add(self._decision_row(decision))
                feed = FeedRow(kind="decision", alert_id=decision.alert_id,
                               ref=decision.decision_id, at=at)
                s.add(feed)
                s.flush()
                row = s.get(AlertRow, decision.alert_id, with_for_update=True)
                if row is None:  # decided before we stored the alert: folded when it comes
                    return Recorded(int(feed.seq), 0, 0, False)
                decisions = [AlertDecided.FromString(p) for p in s.scalars(
                    select(DecisionRow.payload).where(DecisionRow.alert_id == decision.alert_id)
                    .order_by(DecisionRow.seq))]
                status, confirmations, release = fold(row.required, decisions)
                released_now = release and not row.released
                row.status, row.confirmations = status, confirmations
                row.released = row.released or release
                return Recorded(int(feed.seq), status, confirmations, released_now)
        except IntegrityError:
            return Recorded(0, 0, 0, False)

    @staticmethod
    def _decision_row(decision: AlertDecided) -> DecisionRow:
        return DecisionRow(
                decision_id=decision.decision_id, alert_id=decision.alert_id,
                operator=decision.operator[:128], role=decision.role[:32],
                decision=decision.decision, reason=decision.reason[:1000],
                decided_at=decision.decided_at.ToDatetime(UTC),
                payload=decision.SerializeToString(deterministic=True))

    def decisions(self, alert_id: str) -> list[AlertDecided]:
        with self.sessions() as s:
            rows = s.scalars(select(DecisionRow).where(DecisionRow.alert_id == alert_id)
                             .order_by(DecisionRow.seq)).all()
            return [AlertDecided.FromString(r.payload) for r in rows]

    def decisions_for(self, alert_ids: Iterable[str]) -> dict[str, list[AlertDecided]]:
        ids = list(set(alert_ids))
        out: dict[str, list[AlertDecided]] = {i: [] for i in ids}
        if not ids:
            return out
        with self.sessions() as s:
            rows = s.scalars(select(DecisionRow).where(DecisionRow.alert_id.in_(ids))
                             .order_by(DecisionRow.seq)).all()
            for r in rows:
                out[r.alert_id].append(AlertDecided.FromString(r.payload))
        return out

    def get_decision(self, decision_id: str) -> AlertDecided | None:
        with self.sessions() as s:
            payload = s.scalar(select(DecisionRow.payload).where(
                DecisionRow.decision_id == decision_id))
            return AlertDecided.FromString(payload) if payload is not None else None

    # -- live feed ------------------------------------------------------------------------------
    def add_feed_get(self, kind: str, alert_id: str, ref: str = ""
                     ) -> tuple[int, StoredAlert | None]:
        """add_feed, then the alert as stored, in one round trip."""
        seq = self.add_feed(kind, alert_id, ref)
        return seq, self.get_alert(alert_id)

    def add_feed(self, kind: str, alert_id: str, ref: str = "") -> int:
        with self.sessions() as s, s.begin():
            row = FeedRow(kind=kind, alert_id=alert_id, ref=ref, at=now_utc())
            s.add(row)
            s.flush()
            return int(row.seq)

    def feed_after(self, seq: int, limit: int = 500) -> list[FeedItem]:
        with self.sessions() as s:
            rows = s.scalars(select(FeedRow).where(FeedRow.seq > seq).order_by(FeedRow.seq)
                             .limit(limit)).all()
            return [FeedItem(r.seq, r.kind, r.alert_id, r.ref) for r in rows]

    def feed_head(self) -> int:
        with self.sessions() as s:
            return int(s.scalar(select(func.max(FeedRow.seq))) or 0)

    def trim_feed(self, keep_after: datetime) -> int:
        with self.sessions() as s, s.begin():
            result = s.execute(delete(FeedRow).where(FeedRow.at < keep_after))
            return int(result.rowcount)  # type: ignore[attr-defined]

    # -- deliveries -----------------------------------------------------------------------------
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
                s.add(self._delivery_row(alert, item, at))
                inserted.append(item.delivery_id)
        return inserted

    @staticmethod
    def _delivery_row(alert: AlertRaised, item: NewDelivery, at: datetime) -> DeliveryRow:
        return DeliveryRow(
            delivery_id=item.delivery_id, alert_id=alert.alert_id, route=item.route,
            channel=item.channel, kind=item.kind, recipient=item.recipient,
            trigger=item.trigger, status=item.status, reason=item.reason[:500],
            attempts=0, next_attempt_at=item.next_attempt_at, lease_owner="",
            lease_until=None, last_error="", created_at=at, delivered_at=None,
            camera_id=alert.camera_id, rule_id=alert.rule_id,
            raised_at=alert.raised_at.ToDatetime(UTC))

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
            return [_delivery_value(r) for r in rows]

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
                value = _delivery_value(r)
                if (intent := doubts.get(r.delivery_id)) is not None:
                    value = replace(value, in_doubt_since=utc(intent.since),
                                    in_doubt_at=utc(intent.at))
                out.append((value, _alert_value(alerts[r.alert_id])
                            if r.alert_id in alerts else None))
            return out

    def mark_sending(self, delivery: str, owner: str, attempt: int) -> bool:
        """Durably note, before the request, that attempt `attempt` of an SMS may reach the
        provider (keeping `since` of an earlier attempt still in doubt). False if `owner` no
        longer holds the lease: then nothing may be sent."""
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
            return int(row.seq), _alert_value(alert) if alert is not None else None

    def next_due(self) -> datetime | None:
        with self.sessions() as s:
            return utc(s.scalar(select(func.min(DeliveryRow.next_attempt_at)).where(
                DeliveryRow.status == "pending")))

    def delivery_counts(self) -> dict[str, int]:
        with self.sessions() as s:
            rows = s.execute(select(DeliveryRow.status, func.count())
                             .group_by(DeliveryRow.status)).all()
            return {status: int(n) for status, n in rows}

    # -- evidence -------------------------------------------------------------------------------
    def set_snapshot(self, alert_id: str, payload: AlertRaised, path: str, sha256: str,
                     size: int, captured_at: datetime, expires: datetime) -> int:
        with self.sessions() as s, s.begin():
            s.execute(update(AlertRow).where(AlertRow.alert_id == alert_id).values(
                payload=payload.SerializeToString(deterministic=True), snapshot_path=path,
                snapshot_sha256=sha256, snapshot_bytes=size, snapshot_captured_at=captured_at,
                evidence_expires_at=expires))
            feed = FeedRow(kind="snapshot", alert_id=alert_id, ref="", at=now_utc())
            s.add(feed)
            s.flush()
            return int(feed.seq)

    def evidence_due(self, now: datetime, limit: int = 500) -> list[StoredAlert]:
        with self.sessions() as s:
            rows = s.scalars(select(AlertRow).where(
                AlertRow.evidence_expires_at <= now, AlertRow.evidence_locked.is_(False),
                AlertRow.evidence_deleted_at.is_(None), AlertRow.snapshot_path != "")
                .limit(limit)).all()
            return [_alert_value(r) for r in rows]

    def mark_evidence_deleted(self, alert_id: str, at: datetime) -> None:
        with self.sessions() as s, s.begin():
            s.execute(update(AlertRow).where(AlertRow.alert_id == alert_id)
                      .values(evidence_deleted_at=at, snapshot_path=""))

    def set_evidence_lock(self, alert_id: str, locked: bool, reason: str) -> bool:
        with self.sessions() as s, s.begin():
            result = s.execute(update(AlertRow).where(AlertRow.alert_id == alert_id)
                               .values(evidence_locked=locked, evidence_lock_reason=reason[:1000]))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def alerts_before(self, cutoff: datetime, limit: int = 1000) -> list[StoredAlert]:
        with self.sessions() as s:
            rows = s.scalars(select(AlertRow).where(AlertRow.raised_at < cutoff,
                                                    AlertRow.evidence_locked.is_(False))
                             .limit(limit)).all()
            return [_alert_value(r) for r in rows]

    def delete_alerts(self, alert_ids: Sequence[str]) -> int:
        if not alert_ids:
            return 0
        ids = list(alert_ids)
        with self.sessions() as s, s.begin():
            s.execute(delete(DecisionRow).where(DecisionRow.alert_id.in_(ids)))
            s.execute(delete(DeliveryRow).where(DeliveryRow.alert_id.in_(ids)))
            s.execute(delete(SendIntentRow).where(SendIntentRow.alert_id.in_(ids)))
            s.execute(delete(FeedRow).where(FeedRow.alert_id.in_(ids)))
            result = s.execute(delete(AlertRow).where(AlertRow.alert_id.in_(ids)))
            return int(result.rowcount)  # type: ignore[attr-defined]

    # -- users, sessions, tokens ----------------------------------------------------------------
    def create_user(self, login: str, role: str, password_hash: str, created_by: str) -> bool:
        with self.sessions() as s, s.begin():
            if s.get(UserRow, login) is not None:
                return False
            s.add(UserRow(login=login, role=role, password_hash=password_hash,
                          created_at=now_utc(), created_by=created_by, disabled=False,
                          failed_logins=0, locked_until=None))
        return True

    def get_user(self, login: str) -> User | None:
        with self.sessions() as s:
            row = s.get(UserRow, login)
            return _user_value(row) if row is not None else None

    def list_users(self) -> list[User]:
        with self.sessions() as s:
            return [_user_value(r) for r in s.scalars(select(UserRow).order_by(UserRow.login))]

    def count_users(self, role: str | None = None) -> int:
        stmt = select(func.count()).select_from(UserRow).where(UserRow.disabled.is_(False))
        if role:
            stmt = stmt.where(UserRow.role == role)
        with self.sessions() as s:
            return int(s.scalar(stmt) or 0)

    def update_user(self, login: str, **values: Any) -> bool:
        with self.sessions() as s, s.begin():
            result = s.execute(update(UserRow).where(UserRow.login == login).values(**values))
            if "disabled" in values or "password_hash" in values or "role" in values:
                s.execute(delete(SessionRow).where(SessionRow.login == login))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def login_failed(self, login: str, max_failures: int, lockout: timedelta) -> None:
        with self.sessions() as s, s.begin():
            row = s.get(UserRow, login)
            if row is None:
                return
            row.failed_logins += 1
            if row.failed_logins >= max_failures:
                row.locked_until = now_utc() + lockout
                row.failed_logins = 0

    def create_session(self, token: str, login: str, csrf: str) -> None:
        at = now_utc()
        with self.sessions() as s, s.begin():
            s.add(SessionRow(token_hash=token_hash(token), login=login, csrf=csrf, created_at=at,
                             last_seen_at=at))
            s.execute(update(UserRow).where(UserRow.login == login)
                      .values(failed_logins=0, locked_until=None))

    def session(self, token: str, idle: timedelta, max_age: timedelta,
                touch_after: timedelta = timedelta(seconds=30)) -> SessionInfo | None:
        """The live session of `token` (expired ones are deleted), last_seen refreshed."""
        now = now_utc()
        with self.sessions() as s, s.begin():
            row = s.get(SessionRow, token_hash(token))
            if row is None:
                return None
            user = s.get(UserRow, row.login)
            created, seen = utc(row.created_at) or now, utc(row.last_seen_at) or now
            if (user is None or user.disabled or now - seen > idle
                    or now - created > max_age):
                s.delete(row)
                return None
            if now - seen > touch_after:
                row.last_seen_at = now
            return SessionInfo(row.login, user.role, row.csrf, created, seen)

    def delete_session(self, token: str) -> None:
        with self.sessions() as s, s.begin():
            s.execute(delete(SessionRow).where(SessionRow.token_hash == token_hash(token)))

    def purge_sessions(self, idle: timedelta, max_age: timedelta) -> int:
        now = now_utc()
        with self.sessions() as s, s.begin():
            result = s.execute(delete(SessionRow).where(or_(
                SessionRow.last_seen_at < now - idle, SessionRow.created_at < now - max_age)))
            return int(result.rowcount)  # type: ignore[attr-defined]

    def create_token(self, token: str, login: str, name: str) -> None:
        with self.sessions() as s, s.begin():
            s.add(TokenRow(token_hash=token_hash(token), login=login, name=name,
                           created_at=now_utc(), revoked=False))

    def token_user(self, token: str) -> User | None:
        with self.sessions() as s:
            row = s.get(TokenRow, token_hash(token))
            if row is None or row.revoked:
                return None
            user = s.get(UserRow, row.login)
            return _user_value(user) if user is not None and not user.disabled else None

    def revoke_tokens(self, login: str, name: str | None = None) -> int:
        with self.sessions() as s, s.begin():
            stmt = update(TokenRow).where(TokenRow.login == login)
            if name:
                stmt = stmt.where(TokenRow.name == name)
            return int(s.execute(stmt.values(revoked=True)).rowcount)  # type: ignore[attr-defined]

    # -- service state and pending audit records ------------------------------------------------
    def get_state(self, key: str) -> dict[str, Any] | None:
        with self.sessions() as s:
            row = s.get(StateRow, key)
            return dict(json.loads(row.value)) if row is not None else None

    def set_state(self, key: str, value: dict[str, Any]) -> None:
        with self.sessions() as s, s.begin():
            row = s.get(StateRow, key)
            if row is None:
                s.add(StateRow(key=key, value=json.dumps(value, sort_keys=True)))
            else:
                row.value = json.dumps(value, sort_keys=True)

    def add_pending_audit(self, action: int, subject_ref: str, actor: str,
                          details: dict[str, str], event_id: str) -> None:
        with self.sessions() as s, s.begin():
            s.add(PendingAuditRow(action=action, subject_ref=subject_ref, actor=actor,
                                  details=json.dumps(details, sort_keys=True),
                                  occurred_at=now_utc(), event_id=event_id))

    def pending_audit(self, limit: int = 100) -> list[PendingAudit]:
        with self.sessions() as s:
            rows = s.scalars(select(PendingAuditRow).order_by(PendingAuditRow.id)
                             .limit(limit)).all()
            return [PendingAudit(r.id, r.action, r.subject_ref, r.actor, json.loads(r.details),
                                 utc(r.occurred_at) or now_utc(), r.event_id) for r in rows]

    def delete_pending_audit(self, ids: Sequence[int]) -> None:
        with self.sessions() as s, s.begin():
            s.execute(delete(PendingAuditRow).where(PendingAuditRow.id.in_(list(ids))))


class Database:
    """Runs Store calls on worker threads, so the event loop never waits on SQL. Two pools: the
    consume path (alerts, decisions, console reads) and the background (dispatcher, live tail,
    housekeeping), so that dispatch work never queues in front of an alert on its way to the
    operators. SQLite gets one thread each (its writes serialise on the database lock anyway)."""

    def __init__(self, store: Store, threads: int) -> None:
        self.store = store
        workers = 1 if store.dialect == "sqlite" else max(1, threads)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="alerts-db")
        self._background = ThreadPoolExecutor(max_workers=max(1, workers // 2),
                                              thread_name_prefix="alerts-db-bg")

    async def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    async def bg(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._background, lambda: fn(*args, **kwargs))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._background.shutdown(wait=True)
        self.store.engine.dispose()


def open_store(url: str, pool_size: int = 4) -> Store:
    store = Store(make_engine(url, pool_size))
    store.create_schema()
    return store
