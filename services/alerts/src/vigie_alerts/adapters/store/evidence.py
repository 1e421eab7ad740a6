"""Evidence in the history: each alert's snapshot reference, its further evidence (the "before"
image of a camera_tampering alert), their retention deadlines, the alert's evidence lock (which
holds all of it), and the deletions retention makes (the files themselves:
adapters/snapshots.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie_alerts.adapters.store.stored import (
    EvidenceItem,
    StoredAlert,
    evidence_item,
    stored_alert,
    stored_alerts,
)
from vigie_alerts.adapters.store.tables import (
    AlertRow,
    DecisionRow,
    DeliveryRow,
    EvidenceItemRow,
    FeedRow,
    SendIntentRow,
    now_utc,
)


class EvidenceIndex:
    """Synchronous; every method is one transaction."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def set_snapshot(self, alert_id: str, payload: AlertRaised, path: str, sha256: str,
                     size: int, captured_at: datetime, expires: datetime) -> int:
        """Record the alert's snapshot (and the alert as it now reads, with its reference);
        returns the feed sequence number of the change."""
        with self.sessions() as s, s.begin():
            s.execute(update(AlertRow).where(AlertRow.alert_id == alert_id).values(
                payload=payload.SerializeToString(deterministic=True), snapshot_path=path,
                snapshot_sha256=sha256, snapshot_bytes=size, snapshot_captured_at=captured_at,
                evidence_expires_at=expires))
            feed = FeedRow(kind="snapshot", alert_id=alert_id, ref="", at=now_utc())
            s.add(feed)
            s.flush()
            return int(feed.seq)

    def set_item(self, alert_id: str, name: str, camera_id: str, path: str, sha256: str,
                 size: int, captured_at: datetime, expires: datetime) -> int:
        """Record further evidence of the alert (e.g. "before"), replacing one of that name;
        returns the feed sequence number of the change (feed kind "evidence")."""
        with self.sessions() as s, s.begin():
            row = s.get(EvidenceItemRow, (alert_id, name))
            if row is None:
                row = EvidenceItemRow(alert_id=alert_id, name=name)
                s.add(row)
            row.camera_id, row.path, row.sha256, row.size_bytes = camera_id, path, sha256, size
            row.captured_at, row.expires_at, row.deleted_at = captured_at, expires, None
            feed = FeedRow(kind="evidence", alert_id=alert_id, ref=name, at=now_utc())
            s.add(feed)
            s.flush()
            return int(feed.seq)

    def items_due(self, now: datetime, limit: int = 500) -> list[EvidenceItem]:
        """Further evidence past its retention that no evidence lock of its alert holds."""
        with self.sessions() as s:
            rows = s.scalars(select(EvidenceItemRow).join(
                AlertRow, AlertRow.alert_id == EvidenceItemRow.alert_id).where(
                EvidenceItemRow.expires_at <= now, AlertRow.evidence_locked.is_(False),
                EvidenceItemRow.deleted_at.is_(None), EvidenceItemRow.path != "")
                .limit(limit)).all()
            return [evidence_item(r) for r in rows]

    def mark_item_deleted(self, alert_id: str, name: str, at: datetime) -> None:
        with self.sessions() as s, s.begin():
            s.execute(update(EvidenceItemRow).where(EvidenceItemRow.alert_id == alert_id,
                                                    EvidenceItemRow.name == name)
                      .values(deleted_at=at, path=""))

    def evidence_due(self, now: datetime, limit: int = 500) -> list[StoredAlert]:
        with self.sessions() as s:
            rows = s.scalars(select(AlertRow).where(
                AlertRow.evidence_expires_at <= now, AlertRow.evidence_locked.is_(False),
                AlertRow.evidence_deleted_at.is_(None), AlertRow.snapshot_path != "")
                .limit(limit)).all()
            return [stored_alert(r) for r in rows]

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
        """Alerts raised before `cutoff` that no evidence lock holds: history retention's (with
        their further evidence, whose files go too)."""
        with self.sessions() as s:
            rows = s.scalars(select(AlertRow).where(AlertRow.raised_at < cutoff,
                                                    AlertRow.evidence_locked.is_(False))
                             .limit(limit)).all()
            return stored_alerts(s, rows)

    def delete_alerts(self, alert_ids: Sequence[str]) -> int:
        """The alerts leave the history, with their decisions, deliveries, further evidence
        rows and feed rows."""
        if not alert_ids:
            return 0
        ids = list(alert_ids)
        with self.sessions() as s, s.begin():
            s.execute(delete(DecisionRow).where(DecisionRow.alert_id.in_(ids)))
            s.execute(delete(DeliveryRow).where(DeliveryRow.alert_id.in_(ids)))
            s.execute(delete(SendIntentRow).where(SendIntentRow.alert_id.in_(ids)))
            s.execute(delete(EvidenceItemRow).where(EvidenceItemRow.alert_id.in_(ids)))
            s.execute(delete(FeedRow).where(FeedRow.alert_id.in_(ids)))
            result = s.execute(delete(AlertRow).where(AlertRow.alert_id.in_(ids)))
            return int(result.rowcount)  # type: ignore[attr-defined]
