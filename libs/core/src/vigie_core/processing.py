"""The consume loop every service uses: decode, handle, dead-letter, store offsets.

At-least-once from input to outputs: a record's offset is stored only after its handler returned
and every event the handler published is durable. A record that cannot be decoded, or whose handler
keeps failing, goes to `<topic>.dlq` with the error in headers, and the stream goes on. Handlers
must be idempotent on the event id (redelivery after a crash repeats them).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vigie_core import telemetry
from vigie_core.bus.base import (
    Bus,
    Consumer,
    Deliveries,
    Record,
    track_deliveries,
    untrack_deliveries,
)
from vigie_core.codec import DecodeError, Event, Headers, decode
from vigie_core.topics import Topic

log = logging.getLogger(__name__)

Handler = Callable[[Event[Any]], Awaitable[None]]


class PoisonError(Exception):
    """Raised by a handler for a record it can never process (an undecodable image, a value
    out of contract): the record goes to the DLQ at once, without retries."""


@dataclass(frozen=True)
class Subscription:
    topic: Topic
    handler: Handler


class _Counters:
    """A subscription's metric children, resolved once rather than per record."""

    def __init__(self, group: str, topic: str) -> None:
        self.consumed = telemetry.BUS_CONSUMED.labels(group, topic)
        self.errors = telemetry.BUS_HANDLER_ERRORS.labels(group, topic)
        self.seconds = telemetry.BUS_HANDLER_SECONDS.labels(group, topic)


def dlq_headers(record: Record, group: str, stage: str, error: str) -> Headers:
    """The original headers plus where the record came from and why it was dead-lettered."""
    return (*record.headers,
            ("dlq_error", error[:1000].encode()),
            ("dlq_stage", stage.encode()),
            ("dlq_group", group.encode()),
            ("dlq_topic", record.topic.encode()),
            ("dlq_partition", str(record.partition).encode()),
            ("dlq_offset", str(record.offset).encode()))


class StreamProcessor:
    """Runs `subscriptions` as one member of consumer group `group` until `stop` is set."""

    def __init__(
        self,
        bus: Bus,
        group: str,
        subscriptions: Sequence[Subscription],
        *,
        max_attempts: int = 3,
        retry_backoff_s: float = 0.2,
        poll_timeout_s: float = 0.2,
        store_offsets: bool = True,
        concurrency: int = 1,
    ) -> None:
        self.bus, self.group = bus, group
        # False: nothing is ever committed, so every (re)assignment replays the partition from
        # its start; how a replica rebuilds the full state of a compacted topic it owns.
        self.store_offsets = store_offsets
        self.consumer: Consumer | None = None
        # Records handled at once. Above 1, handlers of one partition overlap: only for
        # handlers that keep their own order (detect's batcher does).
        self.concurrency = max(1, concurrency)
        self.handlers = {s.topic.name: s for s in subscriptions}
        self.counters = {s.topic.name: _Counters(group, s.topic.name) for s in subscriptions}
        self.max_attempts = max_attempts
        self.retry_backoff_s = retry_backoff_s
        self.poll_timeout_s = poll_timeout_s

    async def run(self, stop: asyncio.Event) -> None:
        consumer = self.consumer = self.bus.consumer(self.group, list(self.handlers))
        store = consumer.store if self.store_offsets else (lambda record: None)
        # Records in arrival order with their handling; offsets are stored strictly in order.
        pending: deque[tuple[Record, asyncio.Future[Deliveries]]] = deque()
        in_flight: set[asyncio.Future[Deliveries]] = set()
        loop = asyncio.get_running_loop()
        try:
            while not stop.is_set():
                record = await consumer.poll(self.poll_timeout_s)
                if record is not None:
                    if self.concurrency == 1:  # no task per record on the common path
                        handled: asyncio.Future[Deliveries] = loop.create_future()
                        handled.set_result(await self._process(record))
                    else:
                        handled = asyncio.ensure_future(self._process(record))
                        in_flight.add(handled)
                        handled.add_done_callback(in_flight.discard)
                    pending.append((record, handled))
                    if len(in_flight) >= self.concurrency:
                        await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                while pending and pending[0][1].done() and all(
                        f.done() for f in pending[0][1].result()):
                    done, handled = pending.popleft()
                    for f in handled.result():
                        f.result()  # a failed delivery stops the loop: nothing is stored past it
                    store(done)
            if pending:  # drain: finish handling, deliver the outputs, then store in order
                await asyncio.gather(*(handled for _, handled in pending))
                await self.bus.flush()
                for record, handled in pending:
                    await asyncio.gather(*handled.result())
                    store(record)
                pending.clear()
        finally:
            for _, handled in pending:
                handled.cancel()
            await consumer.close()

    async def _process(self, record: Record) -> Deliveries:
        subscription, counters = self.handlers[record.topic], self.counters[record.topic]
        try:
            event = decode(subscription.topic, record.key, record.value, record.headers)
        except DecodeError as exc:
            log.warning("undecodable record %s[%d]@%d to DLQ: %s", record.topic,
                        record.partition, record.offset, exc)
            return [await self._dead_letter(record, "decode", str(exc))]
        for attempt in range(1, self.max_attempts + 1):
            outputs, token = track_deliveries()
            started = time.perf_counter()
            try:
                await subscription.handler(event)
            except PoisonError as exc:  # retrying cannot help: dead-letter at once
                counters.errors.inc()
                log.warning("poison record on %s to DLQ: %s", record.topic, exc,
                            extra={"event_id": event.envelope.id})
                return [await self._dead_letter(record, "handler", str(exc))]
            except Exception as exc:
                counters.errors.inc()
                log.warning("handler failed (attempt %d/%d) on %s: %r", attempt,
                            self.max_attempts, record.topic, exc,
                            extra={"event_id": event.envelope.id})
                if attempt == self.max_attempts:
                    return [await self._dead_letter(record, "handler", repr(exc))]
                await asyncio.sleep(self.retry_backoff_s * 2 ** (attempt - 1))
            else:
                counters.seconds.observe(time.perf_counter() - started)
                counters.consumed.inc()
                return outputs
            finally:
                untrack_deliveries(token)
        raise AssertionError("unreachable")

    async def _dead_letter(self, record: Record, stage: str, error: str) -> asyncio.Future[Record]:
        telemetry.BUS_DLQ.labels(self.group, record.topic, stage).inc()
        return await self.bus.produce(self.handlers[record.topic].topic.dlq, record.key,
                                      record.value, dlq_headers(record, self.group, stage, error))
