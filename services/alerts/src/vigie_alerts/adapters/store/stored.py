"""An alert as the history holds it: the AlertRaised as stored, its status and its evidence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie_alerts.adapters.store.tables import AlertRow, now_utc, utc


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


def stored_alert(row: AlertRow) -> StoredAlert:
    alert = AlertRaised.FromString(row.payload)
    return StoredAlert(alert, row.status, row.required, row.confirmations, row.released,
                       utc(row.stored_at) or now_utc(), row.snapshot_path, row.snapshot_sha256,
                       row.snapshot_bytes, utc(row.snapshot_captured_at),
                       utc(row.evidence_expires_at), row.evidence_locked,
                       row.evidence_lock_reason, utc(row.evidence_deleted_at))
