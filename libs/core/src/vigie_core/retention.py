"""Retention with proof (DESIGN invariant 6): what every service that keeps evidence or read
models uses to delete what outlived its retention and to prove it.

A deletion is recorded *before* the data is gone for good only in the sense that matters: the
service computes what identifies the data (its SHA-256, size, camera, capture time, expiry) while
it still exists, deletes it, then appends an AUDIT_ACTION_RETENTION_DELETION record with those
facts to its signed, hash-chained audit trail (`Deletion.record`). The retention report
(`report`, `vigie retention report`) lists those records from the audit topic, with whether the
chain each comes from verifies, so that a data-protection officer can show what was deleted,
when and why, without having to trust the service's word alone.

Who deletes what (each one's module says more):
- alerts: operator snapshots after their camera's `evidence_retention` (default 30 days) unless
  an evidence lock holds them; alert history rows (with decisions and deliveries) after
  `VIGIE_ALERTS_HISTORY_RETENTION_DAYS` (vigie_alerts.adapters.housekeeping);
- ingest: citizen uploads under `<data_dir>/evidence/citizen` after
  `VIGIE_INGEST_CITIZEN_EVIDENCE_RETENTION_DAYS` (vigie_ingest.adapters.citizen);
- Kafka: every topic's `retention.ms` from the registry (frames 1 h), applied by `vigie topics
  create` (which also corrects topics that drifted); the audit topic never below 183 days.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from vigie.audit.v1.audit_pb2 import AuditAction, AuditRecorded

from vigie_core.audit import AuditLog, Verification

RETENTION_DELETION = AuditAction.AUDIT_ACTION_RETENTION_DELETION


def due(captured_at: datetime, retention: timedelta, now: datetime) -> bool:
    """Has something captured at `captured_at` outlived `retention` at `now`?"""
    return captured_at + retention <= now


def _iso(at: datetime | None) -> str:
    return at.astimezone(UTC).isoformat() if at is not None else ""


@dataclass(frozen=True)
class Deletion:
    """What was deleted and why: the facts a RETENTION_DELETION record carries.

    `kind` and `item_id` make the record's event id (`retention:<kind>:<item_id>`, so that a
    sweep interrupted and run again records the same event); `subject_ref` is what the audit
    trail files it under (e.g. "alert:<id>", "report:<id>")."""

    kind: str  # e.g. "snapshot", "alert", "citizen-upload"
    item_id: str
    subject_ref: str
    what: str  # for people: "snapshot", "alert history", "citizen upload"
    reason: str  # which retention: "evidence retention", "history retention"
    camera_id: str = ""
    sha256: str = ""
    size_bytes: int | None = None
    captured_at: datetime | None = None
    expired_at: datetime | None = None
    retention: timedelta | None = None
    file_found: bool | None = None  # for files: was it still there to delete
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def event_id(self) -> str:
        return f"retention:{self.kind}:{self.item_id}"

    def details(self) -> dict[str, str]:
        out = {"what": self.what, "reason": self.reason, "camera_id": self.camera_id,
               "sha256": self.sha256, "captured_at": _iso(self.captured_at),
               "expired_at": _iso(self.expired_at), **self.extra}
        if self.size_bytes is not None:
            out["size_bytes"] = str(self.size_bytes)
        if self.retention is not None:
            out["retention_days"] = f"{self.retention.total_seconds() / 86400:g}"
        if self.file_found is not None:
            out["file_found"] = str(self.file_found).lower()
        return {k: v for k, v in out.items() if v}

    async def record(self, audit: AuditLog, *, actor: str | None = None) -> AuditRecorded:
        """Append the RETENTION_DELETION record (durable when this returns)."""
        return await audit.record(RETENTION_DELETION, self.subject_ref, event_id=self.event_id,
                                  actor=actor, details=self.details())


# -- the report ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReportRow:
    """One deletion as the audit trail proves it."""

    deleted_at: str  # when the deletion was recorded (ISO 8601, UTC)
    chain: str
    sequence: int
    actor: str
    subject_ref: str
    what: str
    reason: str
    camera_id: str
    sha256: str
    size_bytes: str
    captured_at: str
    expired_at: str
    file_found: str
    chain_verified: bool  # False: the chain it comes from does not verify (do not rely on it)


def report(records: Iterable[AuditRecorded], verification: Mapping[str, Verification], *,
           since: datetime | None = None, until: datetime | None = None) -> list[ReportRow]:
    """Every RETENTION_DELETION record, oldest first, between `since` and `until`."""
    rows = []
    for r in records:
        if r.action != RETENTION_DELETION:
            continue
        at = r.occurred_at.ToDatetime(UTC)
        if (since is not None and at < since) or (until is not None and at >= until):
            continue
        checked = verification.get(r.chain)
        verified = bool(checked and (checked.valid or 0 < r.sequence
                                     < checked.first_invalid_sequence))
        d = r.details
        rows.append(ReportRow(at.isoformat(), r.chain, r.sequence, r.actor, r.subject_ref,
                              d.get("what", ""), d.get("reason", ""), d.get("camera_id", ""),
                              d.get("sha256", ""), d.get("size_bytes", ""),
                              d.get("captured_at", d.get("raised_at", "")),
                              d.get("expired_at", ""), d.get("file_found", ""), verified))
    rows.sort(key=lambda row: (row.deleted_at, row.chain, row.sequence))
    return rows


def render(rows: list[ReportRow], fmt: str = "text") -> str:
    """The report as text (a table), JSON (a list of objects) or CSV."""
    if fmt == "json":
        return json.dumps([asdict(row) for row in rows], indent=2)
    if fmt == "csv":
        out = io.StringIO()
        names = list(ReportRow.__dataclass_fields__)
        writer = csv.writer(out)
        writer.writerow(names)
        for row in rows:
            writer.writerow([getattr(row, n) for n in names])
        return out.getvalue()
    lines = [f"{len(rows)} deletions recorded in the audit trail"]
    for row in rows:
        proof = "verified" if row.chain_verified else "CHAIN DOES NOT VERIFY"
        size = f" {row.size_bytes} B" if row.size_bytes else ""
        lines.append(f"{row.deleted_at}  {row.what:15} {row.subject_ref:45} "
                     f"camera={row.camera_id or '-'} captured={row.captured_at or '-'} "
                     f"expired={row.expired_at or '-'} sha256={row.sha256 or '-'}{size} "
                     f"[{row.reason}; {row.chain}#{row.sequence} {proof}]")
    return "\n".join(lines)
