"""Evidence retention (DESIGN invariant 6): how long a snapshot is kept, and whether it goes now.

A snapshot (and any further evidence of its alert, such as the "before" image of a camera
tampering alert) is kept for its camera's `evidence_retention` (30 days when the camera sets
none) from the time it was captured (never from later than when it was written: a file played
faster than real time, or a camera whose clock runs ahead, stamps frames in the future), then
deleted, unless an evidence lock holds it (a legal hold set by a supervisor, audited). Deletion
is recorded in the audit trail with the evidence's SHA-256, which is the proof that what was
kept is gone.
"""

from __future__ import annotations

from datetime import datetime, timedelta

DEFAULT_EVIDENCE_RETENTION = timedelta(days=30)
MAX_EVIDENCE_RETENTION = timedelta(days=3650)


def evidence_retention(camera_retention_s: float | None,
                       default: timedelta = DEFAULT_EVIDENCE_RETENTION) -> timedelta:
    """The camera's retention, or `default` when unset or non-positive; capped at 10 years."""
    if camera_retention_s is None or camera_retention_s <= 0:
        return default
    return min(timedelta(seconds=camera_retention_s), MAX_EVIDENCE_RETENTION)


def expires_at(captured_at: datetime, retention: timedelta, written_at: datetime) -> datetime:
    return min(captured_at, written_at) + retention


def due_for_deletion(expires: datetime | None, locked: bool, deleted: bool,
                     now: datetime) -> bool:
    return expires is not None and not locked and not deleted and expires <= now
