"""Periodic chores: retention with proof, audit records written by the command line, sessions.

- Evidence retention (invariant 6): snapshots past their camera's retention are deleted unless an
  evidence lock holds them; each deletion is an AUDIT_ACTION_RETENTION_DELETION record carrying
  the SHA-256 of what was deleted, the camera and when it was captured (`vigie_core.retention`,
  shared with the other services that delete evidence; `vigie retention report` lists them).
  An alert's further evidence (the "before" image of a camera_tampering alert) goes the same
  way, held by the same lock, its record naming the evidence (`evidence: before`).
- History retention: alerts raised before `history_retention` (with their decisions and
  deliveries) leave the read model, audited the same way. Locked alerts stay.
- Audit records queued in the database by `vigie alerts` commands (accounts, tokens, suspension)
  are sealed into this replica's chain: the command line never writes the chain itself, so the
  chain keeps a single writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, timedelta

from vigie_alerts import metrics
from vigie_alerts.adapters.snapshots import EvidenceStore
from vigie_alerts.adapters.store import Database, EvidenceItem, StoredAlert, now_utc
from vigie_core.audit import AuditLog
from vigie_core.retention import Deletion

log = logging.getLogger(__name__)


class Housekeeping:
    def __init__(self, db: Database, audit: AuditLog, evidence: EvidenceStore, *,
                 retention_interval_s: float, history_retention: timedelta,
                 session_idle: timedelta, session_max_age: timedelta) -> None:
        self.db, self.audit, self.evidence = db, audit, evidence
        self.index, self.outbox = db.store.evidence, db.store.audit_outbox
        self.retention_interval_s = retention_interval_s
        self.history_retention = history_retention
        self.session_idle, self.session_max_age = session_idle, session_max_age
        self.deleted_evidence = 0
        self.deleted_alerts = 0

    async def run(self, stop: asyncio.Event, audit_interval_s: float = 2.0) -> None:
        last_retention = -1e18
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                await self.drain_pending_audit()
                if loop.time() - last_retention >= self.retention_interval_s:
                    last_retention = loop.time()
                    await self.retention()
                    await self.db.bg(self.db.store.sessions.purge_sessions, self.session_idle,
                                     self.session_max_age)
            except Exception:
                log.exception("housekeeping round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), audit_interval_s)

    async def drain_pending_audit(self) -> int:
        pending = await self.db.bg(self.outbox.pending_audit, 100)
        for item in pending:
            await self.audit.record(item.action, item.subject_ref, event_id=item.event_id,
                                    actor=item.actor, details=item.details,
                                    occurred_at=item.occurred_at)
            await self.db.bg(self.outbox.delete_pending_audit, [item.id])
        return len(pending)

    async def retention(self) -> tuple[int, int]:
        now = now_utc()
        evidence = 0
        for stored in await self.db.bg(self.index.evidence_due, now):
            evidence += await self._delete_evidence(stored, "evidence retention")
        for item in await self.db.bg(self.index.items_due, now):
            evidence += await self._delete_item(item, "evidence retention")
        alerts = 0
        old = await self.db.bg(self.index.alerts_before, now - self.history_retention)
        for stored in old:
            if stored.snapshot_path:
                await self._delete_evidence(stored, "history retention")
            for item in stored.extra_evidence:
                if item.available:
                    await self._delete_item(item, "history retention")
            alert = stored.alert
            raised = alert.raised_at.ToDatetime(UTC)
            await Deletion("alert", alert.alert_id, f"alert:{alert.alert_id}", "alert history",
                           "history retention", camera_id=alert.camera_id, captured_at=raised,
                           expired_at=raised + self.history_retention,
                           retention=self.history_retention).record(self.audit)
        if old:
            alerts = await self.db.bg(self.index.delete_alerts, [s.alert.alert_id for s in old])
            metrics.RETENTION_DELETED.labels("alert").inc(alerts)
        self.deleted_evidence += evidence
        self.deleted_alerts += alerts
        if evidence or alerts:
            log.info("retention deleted %d evidence files and %d alerts", evidence, alerts)
        return evidence, alerts

    async def _delete_evidence(self, stored: StoredAlert, why: str) -> int:
        alert = stored.alert
        existed = await asyncio.to_thread(self.evidence.delete, stored.snapshot_path)
        await self.db.bg(self.index.mark_evidence_deleted, alert.alert_id, now_utc())
        await Deletion("snapshot", alert.alert_id, f"alert:{alert.alert_id}", "snapshot", why,
                       camera_id=alert.camera_id, sha256=stored.snapshot_sha256,
                       size_bytes=stored.snapshot_bytes, captured_at=stored.snapshot_captured_at,
                       expired_at=stored.evidence_expires_at,
                       file_found=existed).record(self.audit)
        metrics.RETENTION_DELETED.labels("snapshot").inc()
        return 1

    async def _delete_item(self, item: EvidenceItem, why: str) -> int:
        existed = await asyncio.to_thread(self.evidence.delete, item.path)
        await self.db.bg(self.index.mark_item_deleted, item.alert_id, item.name, now_utc())
        await Deletion("snapshot", f"{item.alert_id}:{item.name}", f"alert:{item.alert_id}",
                       f"snapshot ({item.name})", why, camera_id=item.camera_id,
                       sha256=item.sha256, size_bytes=item.size_bytes,
                       captured_at=item.captured_at, expired_at=item.expires_at,
                       file_found=existed, extra={"evidence": item.name}).record(self.audit)
        metrics.RETENTION_DELETED.labels(item.name).inc()
        return 1
