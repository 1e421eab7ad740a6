"""The alert history: one row per alert_id (the AlertRaised as stored plus its status), the
decisions on it in the order consumed from vigie.alert-decisions.v1, folded into the status in
the same transaction; every change also goes to the feed (feed.py) that live feeds tail."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.alerts.v1.decision_pb2 import AlertDecided
from vigie_alerts.adapters.store.outbox import NewDelivery, delivery_row
from vigie_alerts.adapters.store.stored import StoredAlert, stored_alerts
from vigie_alerts.adapters.store.tables import AlertRow, DecisionRow, FeedRow, now_utc
from vigie_alerts.domain.lifecycle import fold_decided


@dataclass(frozen=True)
class AlertQuery:
    camera_ids: Sequence[str] = ()
    severities: Sequence[int] = ()
    rule_kinds: Sequence[int] = ()
    statuses: Sequence[int] = ()
    since: datetime | None = None
    until: datetime | None = None
    text: str = ""


@dataclass(frozen=True)
class Recorded:
    seq: int  # feed sequence number; 0: nothing new was stored
    status: int
    confirmations: int
    released: bool


NOTHING = Recorded(0, 0, 0, False)


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


class AlertHistory:
    """Alerts and the decisions on them. Synchronous; every method is one transaction."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    # -- alerts -------------------------------------------------------------------------------
    def add_alert(self, alert: AlertRaised, required: int,
                  deliveries: Sequence[NewDelivery] = ()) -> Recorded:
        """Store a new alert, folding any decision that arrived before it, with `deliveries`
        planned for it, in one transaction. `seq` is 0 when alert_id is already stored (a
        redelivery: nothing is written)."""
        at = now_utc()
        try:
            with self.sessions() as s, s.begin():
                if s.get(AlertRow, alert.alert_id) is not None:
                    return NOTHING
                row = _alert_row(alert, required, at)
                early = [AlertDecided.FromString(p) for p in s.scalars(
                    select(DecisionRow.payload).where(DecisionRow.alert_id == alert.alert_id)
                    .order_by(DecisionRow.seq))]
                state = fold_decided(required, early)
                row.status, row.confirmations = state.status, state.confirmations
                row.released = state.released
                s.add(row)
                feed = FeedRow(kind="alert", alert_id=alert.alert_id, ref="", at=at)
                s.add(feed)
                for item in deliveries:
                    s.add(delivery_row(alert, item, at))
                s.flush()
                return Recorded(int(feed.seq), row.status, row.confirmations, row.released)
        except IntegrityError:  # stored meanwhile by another replica
            return NOTHING

    def get_alert(self, alert_id: str) -> StoredAlert | None:
        with self.sessions() as s:
            row = s.get(AlertRow, alert_id)
            return stored_alerts(s, [row])[0] if row is not None else None

    def get_alerts(self, alert_ids: Iterable[str]) -> dict[str, StoredAlert]:
        ids = list(set(alert_ids))
        if not ids:
            return {}
        with self.sessions() as s:
            rows = s.scalars(select(AlertRow).where(AlertRow.alert_id.in_(ids))).all()
            return {a.alert.alert_id: a for a in stored_alerts(s, rows)}

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
            values = stored_alerts(s, rows[:limit])
        next_cursor = ""
        if len(rows) > limit and values:
            last = values[-1]
            next_cursor = encode_cursor(last.alert.raised_at.ToDatetime(UTC),
                                        last.alert.alert_id)
        return values, next_cursor

    def open_counts_by_camera(self, statuses: Sequence[int]) -> dict[str, int]:
        stmt = (select(AlertRow.camera_id, func.count()).where(AlertRow.status.in_(list(statuses)))
                .group_by(AlertRow.camera_id))
        with self.sessions() as s:
            return {camera: int(n) for camera, n in s.execute(stmt).all()}

    # -- decisions ----------------------------------------------------------------------------
    def add_decision(self, decision: AlertDecided) -> Recorded:
        """Store a decision and fold the alert's status in the same transaction. `seq` is 0
        when the decision is already stored; `released` is True only for the call that
        released dispatch (the one that must plan the confirmed deliveries)."""
        at = now_utc()
        try:
            with self.sessions() as s, s.begin():
                exists = s.scalar(select(DecisionRow.seq).where(
                    DecisionRow.decision_id == decision.decision_id))
                if exists is not None:
                    return NOTHING
                s.add(_decision_row(decision))
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
                state = fold_decided(row.required, decisions)
                released_now = state.released and not row.released
                row.status, row.confirmations = state.status, state.confirmations
                row.released = row.released or state.released
                return Recorded(int(feed.seq), state.status, state.confirmations, released_now)
        except IntegrityError:
            return NOTHING

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


def _alert_row(alert: AlertRaised, required: int, at: datetime) -> AlertRow:
    return AlertRow(
        alert_id=alert.alert_id, rule_id=alert.rule_id, rule_kind=alert.rule_kind,
        camera_id=alert.camera_id, severity=alert.severity, title=alert.title[:300],
        subject_id=alert.subject_id, raised_at=alert.raised_at.ToDatetime(UTC),
        started_at=(alert.started_at.ToDatetime(UTC) if alert.HasField("started_at")
                    else None),
        required=required, status=0, confirmations=0, released=False,
        payload=alert.SerializeToString(deterministic=True), stored_at=at)


def _decision_row(decision: AlertDecided) -> DecisionRow:
    return DecisionRow(
        decision_id=decision.decision_id, alert_id=decision.alert_id,
        operator=decision.operator[:128], role=decision.role[:32],
        decision=decision.decision, reason=decision.reason[:1000],
        decided_at=decision.decided_at.ToDatetime(UTC),
        payload=decision.SerializeToString(deterministic=True))
