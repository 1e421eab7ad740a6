"""An alert as the history holds it: the AlertRaised as stored, its status and its evidence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie_alerts.adapters.store.tables import AlertRow, EvidenceItemRow, now_utc, utc


@dataclass(frozen=True)
class EvidenceItem:
    """Evidence of an alert beside its snapshot (table alert_evidence), e.g. "before"."""

    alert_id: str
    name: str
    camera_id: str
    path: str
    sha256: str
    size_bytes: int
    captured_at: datetime | None
    expires_at: datetime | None
    deleted_at: datetime | None

    @property
    def available(self) -> bool:
        return bool(self.path) and self.deleted_at is None


def evidence_item(row: EvidenceItemRow) -> EvidenceItem:
    return EvidenceItem(row.alert_id, row.name, row.camera_id, row.path, row.sha256,
                        row.size_bytes, utc(row.captured_at), utc(row.expires_at),
                        utc(row.deleted_at))


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
    extra_evidence: tuple[EvidenceItem, ...] = ()

    def evidence(self, name: str) -> EvidenceItem | None:
        """The alert's evidence of that name beside its snapshot, e.g. "before"."""
        return next((e for e in self.extra_evidence if e.name == name), None)


def stored_alert(row: AlertRow, extra: Sequence[EvidenceItem] = ()) -> StoredAlert:
    alert = AlertRaised.FromString(row.payload)
    return StoredAlert(alert, row.status, row.required, row.confirmations, row.released,
                       utc(row.stored_at) or now_utc(), row.snapshot_path, row.snapshot_sha256,
                       row.snapshot_bytes, utc(row.snapshot_captured_at),
                       utc(row.evidence_expires_at), row.evidence_locked,
                       row.evidence_lock_reason, utc(row.evidence_deleted_at), tuple(extra))


def stored_alerts(s: Session, rows: Sequence[AlertRow]) -> list[StoredAlert]:
    """The rows as StoredAlerts with their further evidence (one more query, in session `s`)."""
    if not rows:
        return []
    items: dict[str, list[EvidenceItem]] = {}
    for item in s.scalars(select(EvidenceItemRow).where(
            EvidenceItemRow.alert_id.in_([r.alert_id for r in rows]))
            .order_by(EvidenceItemRow.alert_id, EvidenceItemRow.name)):
        items.setdefault(item.alert_id, []).append(evidence_item(item))
    return [stored_alert(r, items.get(r.alert_id, ())) for r in rows]
