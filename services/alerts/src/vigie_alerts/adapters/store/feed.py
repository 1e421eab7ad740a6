"""The feed: every stored alert, decision, snapshot and delivery outcome with a sequence number,
written in the transaction of the change itself, which the live feed of every replica tails."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from vigie_alerts.adapters.store.tables import FeedRow


@dataclass(frozen=True)
class FeedItem:
    seq: int
    kind: str
    alert_id: str
    ref: str


class Feed:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def feed_after(self, seq: int, limit: int = 500) -> list[FeedItem]:
        with self.sessions() as s:
            rows = s.scalars(select(FeedRow).where(FeedRow.seq > seq).order_by(FeedRow.seq)
                             .limit(limit)).all()
            return [FeedItem(r.seq, r.kind, r.alert_id, r.ref) for r in rows]

    def feed_head(self) -> int:
        with self.sessions() as s:
            return int(s.scalar(select(func.max(FeedRow.seq))) or 0)
