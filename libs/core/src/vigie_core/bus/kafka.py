"""KafkaBus: the Bus on Apache Kafka through confluent-kafka (librdkafka).

Producer: idempotent (acks=all), murmur2 partitioning like Java clients and Faust, delivery reports
served by a background poll thread and resolved as asyncio futures, BufferError waited out
(back-pressure), flushed on close. Consumers: offsets stored only after processing
(enable.auto.offset.store=false) and auto-committed, committed again on close.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

from confluent_kafka import Consumer as _KafkaConsumer
from confluent_kafka import KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from vigie_core.bus.base import Bus, Consumer, Record, TopicSpec
from vigie_core.codec import Headers

log = logging.getLogger(__name__)

BATCH = 500  # records fetched per consume() call


def _resolve(future: asyncio.Future[Record], error: KafkaError | None, record: Record) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(KafkaException(error))
    else:
        future.set_result(record)


class KafkaBus(Bus):
    def __init__(
        self,
        bootstrap: str,
        source: str = "vigie",
        *,
        replication_factor: int = 1,
        producer_config: dict[str, Any] | None = None,
        consumer_config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(source)
        self.bootstrap = bootstrap
        self.replication_factor = replication_factor
        self._producer_config = {
            "bootstrap.servers": bootstrap,
            "client.id": source,
            "enable.idempotence": True,  # implies acks=all and safe retries
            "acks": "all",
            "partitioner": "murmur2_random",  # same partitions as Java clients and Faust
            "linger.ms": 5,
            "compression.type": "lz4",
            **(producer_config or {}),
        }
        self._consumer_config = {
            "bootstrap.servers": bootstrap,
            "client.id": source,
            "enable.auto.commit": True,
            "enable.auto.offset.store": False,  # offsets are stored after processing only
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 10000,
            **(consumer_config or {}),
        }
        self._producer: Producer | None = None
        self._poller: threading.Thread | None = None
        self._stopping = threading.Event()
        self._consumers: list[KafkaConsumer] = []

    async def start(self) -> None:
        if self._producer is not None:
            return
        self._producer = Producer(self._producer_config, logger=log)
        self._poller = threading.Thread(target=self._serve_deliveries, name="kafka-deliveries",
                                        daemon=True)
        self._poller.start()

    def _serve_deliveries(self) -> None:
        assert self._producer is not None
        while not self._stopping.is_set():
            self._producer.poll(0.1)

    async def produce(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers = ()
    ) -> asyncio.Future[Record]:
        if self._producer is None:
            await self.start()
        assert self._producer is not None
        loop = asyncio.get_running_loop()
        delivered: asyncio.Future[Record] = loop.create_future()

        def on_delivery(error: KafkaError | None, msg: Message) -> None:
            record = Record(topic, msg.partition() or 0, msg.offset() or 0, key, value,
                            tuple(headers), (msg.timestamp() or (0, 0))[1])
            try:
                loop.call_soon_threadsafe(_resolve, delivered, error, record)
            except RuntimeError:
                pass  # the loop is gone: nobody awaits this delivery any more

        while True:
            try:
                self._producer.produce(topic, value=value, key=key, headers=list(headers),
                                       on_delivery=on_delivery)
                return delivered
            except BufferError:  # local queue full: wait for deliveries to drain it
                await asyncio.sleep(0.01)

    async def flush(self, timeout: float = 30.0) -> None:
        if self._producer is None:
            return
        remaining = await asyncio.to_thread(self._producer.flush, timeout)
        if remaining:
            raise TimeoutError(f"{remaining} records not delivered within {timeout}s")

    def consumer(self, group: str, topics: Sequence[str]) -> KafkaConsumer:
        consumer = KafkaConsumer({**self._consumer_config, "group.id": group}, list(topics))
        self._consumers.append(consumer)
        return consumer

    def _admin(self) -> AdminClient:
        return AdminClient({"bootstrap.servers": self.bootstrap}, logger=log)

    async def create_topics(self, specs: Sequence[TopicSpec]) -> list[str]:
        admin = self._admin()
        existing = set((await asyncio.to_thread(admin.list_topics, timeout=10)).topics)
        new = [
            NewTopic(s.name, num_partitions=s.partitions,
                     replication_factor=self.replication_factor, config=dict(s.config))
            for s in specs if s.name not in existing
        ]
        if not new:
            return []
        created = []
        for name, future in admin.create_topics(new, operation_timeout=30).items():
            try:
                await asyncio.wrap_future(future)
                created.append(name)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
        return created

    async def ping(self, timeout: float = 5.0) -> None:
        try:
            await asyncio.to_thread(self._admin().list_topics, timeout=timeout)
        except KafkaException as exc:
            raise ConnectionError(f"Kafka at {self.bootstrap} is unreachable: {exc}") from None

    async def close(self) -> None:
        for consumer in self._consumers:
            await consumer.close()
        self._consumers.clear()
        if self._producer is not None:
            try:
                await self.flush()
            finally:
                self._stopping.set()
                if self._poller is not None:
                    await asyncio.to_thread(self._poller.join, 5)
                self._producer = None


class KafkaConsumer(Consumer):
    def __init__(self, config: dict[str, Any], topics: list[str]) -> None:
        self._consumer = _KafkaConsumer(config, logger=log)
        self._consumer.subscribe(topics)
        self._closed = False
        self._buffer: deque[Message] = deque()  # fetched in batches: one thread hop per batch

    async def poll(self, timeout: float) -> Record | None:
        if self._closed:
            raise RuntimeError("consumer is closed")
        if not self._buffer:
            self._buffer.extend(await asyncio.to_thread(self._consumer.consume, BATCH, timeout))
        if not self._buffer:
            return None
        msg = self._buffer.popleft()
        error = msg.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                return None
            if error.fatal():
                raise KafkaException(error)
            log.warning("consumer error: %s", error)
            return None
        headers: Headers = tuple(msg.headers() or ())  # type: ignore[arg-type]
        return Record(msg.topic() or "", msg.partition() or 0, msg.offset() or 0, msg.key(),
                      msg.value(), headers, (msg.timestamp() or (0, 0))[1])

    def store(self, record: Record) -> None:
        try:
            self._consumer.store_offsets(
                offsets=[TopicPartition(record.topic, record.partition, record.offset + 1)])
        except KafkaException as exc:
            # The partition moved to another member meanwhile: it will process the record
            # again (at-least-once), so there is nothing to store here.
            log.info("offset not stored for %s[%d]: %s", record.topic, record.partition, exc)

    async def commit(self) -> None:
        def commit() -> None:
            try:
                self._consumer.commit(asynchronous=False)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError._NO_OFFSET:
                    raise
        await asyncio.to_thread(commit)

    def assignment(self) -> list[tuple[str, int]]:
        return [(tp.topic, tp.partition) for tp in self._consumer.assignment()]

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.commit()

        await asyncio.to_thread(self._consumer.close)
