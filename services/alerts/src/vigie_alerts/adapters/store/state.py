"""Small shared state: the service's switches (e.g. dispatch suspended: every replica reads it
here) and the audit records written by the command line, queued until the running service seals
them into its chain (one writer per chain)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker
from vigie_alerts.adapters.store.tables import PendingAuditRow, StateRow, now_utc, utc

DISPATCH_STATE = "dispatch"
"""The suspend switch: {"suspended": bool, "by", "at", "reason"}."""


class ServiceState:
    """JSON values by key."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

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


@dataclass(frozen=True)
class PendingAudit:
    id: int
    action: int
    subject_ref: str
    actor: str
    details: dict[str, str]
    occurred_at: datetime
    event_id: str


class AuditOutbox:
    """Audit records waiting to be sealed into the running service's chain."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

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
