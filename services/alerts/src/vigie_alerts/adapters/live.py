"""The live feed: every stored alert, decision, snapshot and further evidence, pushed to console
WebSockets and gRPC StreamAlerts subscribers of this process (StreamAlerts sends alerts again for
their snapshot, not for further evidence, which AlertRaised cannot carry).

Changes this process stores are pushed at once. Changes other replicas store (they share the
PostgreSQL read model) are found by tailing the feed table every `poll_interval_s`; sequence
numbers already pushed are skipped, and a look-back of a few hundred rows catches transactions
that committed out of sequence order. Each subscriber has a bounded queue: one that falls behind by
more than `queue_max` events is dropped (its connection closed) rather than slowing the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vigie.alerts.v1.decision_pb2 import AlertDecided
from vigie_alerts import metrics
from vigie_alerts.adapters.store import Database, FeedItem, StoredAlert

log = logging.getLogger(__name__)

LOOKBACK = 200
SEEN_MAX = 20000


@dataclass(frozen=True)
class LiveEvent:
    seq: int  # feed sequence number; 0 for events not in the feed (dispatch state)
    kind: str  # alert, decision, snapshot, evidence (a further image), delivery (an outcome),
    # dispatch (the switch)
    alert: StoredAlert | None
    decision: AlertDecided | None = None
    state: dict[str, Any] | None = None


class Subscriber:
    def __init__(self, accept: Callable[[LiveEvent], bool], queue_max: int) -> None:
        self.accept = accept
        self.queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue(queue_max)
        self.dropped = False

    def offer(self, event: LiveEvent) -> None:
        if self.dropped or not self.accept(event):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped = True
            metrics.LIVE_DROPPED.inc()
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.queue.put_nowait(None)  # tells the reader it was dropped

    async def next(self) -> LiveEvent | None:
        return await self.queue.get()


class LiveHub:
    def __init__(self, db: Database, poll_interval_s: float, queue_max: int) -> None:
        self.db, self.feed, self.history = db, db.store.feed, db.store.history
        self.poll_interval_s = poll_interval_s
        self.queue_max = queue_max
        self.subscribers: set[Subscriber] = set()
        self._seen: set[int] = set()
        self._seen_order: deque[int] = deque()
        self._cursor = 0
        self.pushed = 0

    def subscribe(self, accept: Callable[[LiveEvent], bool]) -> Subscriber:
        subscriber = Subscriber(accept, self.queue_max)
        self.subscribers.add(subscriber)
        metrics.LIVE_CLIENTS.set(len(self.subscribers))
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        metrics.LIVE_CLIENTS.set(len(self.subscribers))

    def _mark(self, seq: int) -> bool:
        """True the first time `seq` is seen."""
        if seq in self._seen:
            return False
        self._seen.add(seq)
        self._seen_order.append(seq)
        while len(self._seen_order) > SEEN_MAX:
            self._seen.discard(self._seen_order.popleft())
        self._cursor = max(self._cursor, seq)
        return True

    def publish(self, event: LiveEvent) -> None:
        if event.seq and not self._mark(event.seq):
            return
        self.pushed += 1
        for subscriber in list(self.subscribers):
            subscriber.offer(event)

    async def start(self) -> None:
        self._cursor = await self.db(self.feed.feed_head)

    async def run(self, stop: asyncio.Event) -> None:
        """Tail the feed for what other replicas stored."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_interval_s)
            if stop.is_set():
                return
            try:
                await self.poll()
            except Exception:
                log.exception("live feed poll failed")

    async def poll(self) -> int:
        items = await self.db.bg(self.feed.feed_after, max(0, self._cursor - LOOKBACK), 1000)
        fresh = [i for i in items if i.seq not in self._seen]
        if not fresh:
            return 0
        alerts = await self.db.bg(self.history.get_alerts, {i.alert_id for i in fresh})
        for item in fresh:
            event = await self._event(item, alerts.get(item.alert_id))
            if event is not None:
                self.publish(event)
            else:
                self._mark(item.seq)
        return len(fresh)

    async def _event(self, item: FeedItem, alert: StoredAlert | None) -> LiveEvent | None:
        if alert is None:
            return None
        decision = None
        if item.kind == "decision":
            decision = await self.db.bg(self.history.get_decision, item.ref)
            if decision is None:
                return None
        return LiveEvent(item.seq, item.kind, alert, decision)

    def close(self) -> None:
        for subscriber in list(self.subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                subscriber.queue.put_nowait(None)
