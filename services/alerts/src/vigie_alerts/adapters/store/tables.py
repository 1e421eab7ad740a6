"""The tables of the alert history read model (SQLAlchemy, the same on SQLite and PostgreSQL).

The schema is created with `create_all` (no migrations yet: a new column means a new table).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

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


class EvidenceItemRow(Base):
    """Evidence of an alert beside its snapshot (a table of its own: the schema has no migrations
    yet), e.g. the camera's reference view before a camera_tampering alert ("before"). Kept and
    deleted like the snapshot: the camera's evidence retention, the alert's evidence lock, a
    RETENTION_DELETION audit record with its SHA-256."""

    __tablename__ = "alert_evidence"
    alert_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(128))
    path: Mapped[str] = mapped_column(String(500), default="")
    sha256: Mapped[str] = mapped_column(String(64), default="")
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    captured_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


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
    kind: Mapped[str] = mapped_column(String(16))  # alert, decision, snapshot, evidence, delivery
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
    """An attempt that may have reached the provider (channels that track doubt: SMS):
    committed before the request, deleted in the transaction that records an outcome settling
    it (sent, or certainly not sent). A row that outlives its attempt (a crash, a timeout) puts
    the delivery in doubt."""

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
