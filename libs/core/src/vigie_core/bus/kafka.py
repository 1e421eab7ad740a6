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
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from confluent_kafka import Consumer as _KafkaConsumer
from confluent_kafka import KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from vigie_core.bus.base import Bus, Consumer, Record, TopicDrift, TopicSpec, topic_drift
from vigie_core.codec import Headers

log = logging.getLogger(__name__)

BATCH = 500  # records fetched per consume() call


Delivery = tuple[asyncio.Future[Record], KafkaError | None, Record]


def _resolve(deliveries: list[Delivery]) -> None:
    for future, error, record in deliveries:
        if future.done():
            continue
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
        client_config: dict[str, Any] | None = None,
    ) -> None:
        """`client_config`: settings of every client (producer, consumers, admin), e.g. the
        security ones of `CoreSettings.kafka_client_config()` (TLS, SASL)."""
        super().__init__(source)
        self.bootstrap = bootstrap
        self.replication_factor = replication_factor
        self._client_config = dict(client_config or {})
        self._producer_config = {
            **self._client_config,
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
            **self._client_config,
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
        # Delivery reports gathered by the poll thread, handed to the event loop in batches:
        # one loop wake-up per poll, not one per record.
        self._delivered: list[Delivery] = []
        self._delivered_lock = threading.Lock()

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
            self._hand_over()

    def _hand_over(self) -> None:
        with self._delivered_lock:
            batch, self._delivered = self._delivered, []
        by_loop: dict[asyncio.AbstractEventLoop, list[Delivery]] = {}
        for delivery in batch:
            by_loop.setdefault(delivery[0].get_loop(), []).append(delivery)
        for loop, deliveries in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, deliveries)
            except RuntimeError:
                pass  # the loop is gone: nobody awaits these deliveries any more

    async def produce(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers = ()
    ) -> asyncio.Future[Record]:
        if self._producer is None:
            await self.start()
        assert self._producer is not None
        delivered: asyncio.Future[Record] = asyncio.get_running_loop().create_future()

        def on_delivery(error: KafkaError | None, msg: Message) -> None:
            record = Record(topic, msg.partition() or 0, msg.offset() or 0, key, value,
                            tuple(headers), (msg.timestamp() or (0, 0))[1])
            with self._delivered_lock:
                self._delivered.append((delivered, error, record))

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
        self._hand_over()
        await asyncio.sleep(0)  # let the deliveries just handed over resolve
        if remaining:
            raise TimeoutError(f"{remaining} records not delivered within {timeout}s")

    def consumer(self, group: str, topics: Sequence[str]) -> KafkaConsumer:
        consumer = KafkaConsumer({**self._consumer_config, "group.id": group}, list(topics))
        self._consumers.append(consumer)
        return consumer

    def _admin(self) -> AdminClient:
        return AdminClient({**self._client_config, "bootstrap.servers": self.bootstrap},
                           logger=log)

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

    async def topic_drift(self, specs: Sequence[TopicSpec]) -> list[TopicDrift]:
        from vigie_core.topics import REGISTRY, retention_ms_problem

        admin = self._admin()
        metadata = (await asyncio.to_thread(admin.list_topics, timeout=10)).topics
        existing = [s for s in specs if s.name in metadata]
        if not existing:
            return []
        resources = [ConfigResource(ConfigResource.Type.TOPIC, s.name) for s in existing]
        described = admin.describe_configs(resources, request_timeout=30)
        out = []
        for spec, resource in zip(existing, resources, strict=True):
            entries = await asyncio.wrap_future(described[resource])
            config = {k: str(e.value) for k, e in entries.items() if e.value is not None}
            problem = ""
            if spec.name in REGISTRY and "retention.ms" in config:
                problem = retention_ms_problem(REGISTRY.get(spec.name),
                                               int(config["retention.ms"]))
            drift = topic_drift(spec, len(metadata[spec.name].partitions), config, problem)
            if drift:
                out.append(drift)
        return out

    async def alter_topic_configs(self, name: str, configs: dict[str, str]) -> None:
        resource = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=[
            ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
            for k, v in sorted(configs.items())])
        admin = self._admin()  # kept until the answer: a collected client cancels its requests
        futures = admin.incremental_alter_configs([resource], request_timeout=30)
        await asyncio.wrap_future(futures[resource])

    async def ping(self, timeout: float = 5.0) -> None:
        try:
            await asyncio.to_thread(self._admin().list_topics, timeout=timeout)
        except KafkaException as exc:
            raise ConnectionError(f"Kafka at {self.bootstrap} is unreachable: {exc}") from None

    async def read_all(self, topic: str) -> list[Record]:
        return await asyncio.to_thread(self._read_all, topic)

    def _read_all(self, topic: str, timeout: float = 30.0) -> list[Record]:
        reader = _KafkaConsumer({**self._consumer_config, "group.id": f"vigie-reader-{id(self)}",
                                 "enable.auto.commit": False}, logger=log)
        try:
            metadata = reader.list_topics(topic, timeout=10).topics.get(topic)
            if metadata is None or metadata.error is not None:
                return []
            ends: dict[int, int] = {}
            starts = []
            for partition in sorted(metadata.partitions):
                low, high = _watermarks(reader, TopicPartition(topic, partition))
                if high > low:
                    ends[partition] = high
                    starts.append(TopicPartition(topic, partition, low))
            reader.assign(starts)
            by_partition: dict[int, list[Record]] = {p: [] for p in ends}
            deadline = time.monotonic() + timeout
            while ends:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"reading {topic} took more than {timeout}s")
                for msg in reader.consume(BATCH, 0.5):
                    if msg.error() is not None:
                        continue
                    partition, offset = msg.partition() or 0, msg.offset() or 0
                    if partition in ends and offset < ends[partition]:
                        by_partition[partition].append(Record(
                            topic, partition, offset, msg.key(), msg.value(),
                            tuple(msg.headers() or ()),  # type: ignore[arg-type]
                            (msg.timestamp() or (0, 0))[1]))
                # Positions, not offsets seen: compaction and transaction markers leave gaps.
                for tp in reader.position([TopicPartition(topic, p) for p in list(ends)]):
                    if tp.offset >= ends[tp.partition]:
                        del ends[tp.partition]
            return [r for p in sorted(by_partition) for r in by_partition[p]]
        finally:
            reader.close()

    async def read_tail(self, topic: str, partition: int, count: int, *,
                        before: int | None = None) -> list[Record]:
        return await asyncio.to_thread(self._read_tail, topic, partition, count, before)

    def _read_tail(self, topic: str, partition: int, count: int, before: int | None,
                   timeout: float = 30.0) -> list[Record]:
        reader = _KafkaConsumer({**self._consumer_config, "group.id": f"vigie-reader-{id(self)}",
                                 "enable.auto.commit": False}, logger=log)
        try:
            tp = TopicPartition(topic, partition)
            try:
                low, high = _watermarks(reader, tp)
            except KafkaException as exc:
                if exc.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    return []
                raise
            end = high if before is None else min(before, high)
            start = max(low, end - max(count, 0))
            if end <= start:
                return []
            reader.assign([TopicPartition(topic, partition, start)])
            out: list[Record] = []
            deadline = time.monotonic() + timeout
            while True:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"reading {topic}[{partition}] took more than {timeout}s")
                for msg in reader.consume(BATCH, 0.5):
                    if msg.error() is not None:
                        continue
                    offset = msg.offset() or 0
                    if start <= offset < end:
                        out.append(Record(topic, partition, offset, msg.key(), msg.value(),
                                          tuple(msg.headers() or ()),  # type: ignore[arg-type]
                                          (msg.timestamp() or (0, 0))[1]))
                [position] = reader.position([TopicPartition(topic, partition)])
                if position.offset >= end:  # compaction leaves gaps: positions, not offsets
                    return out
        finally:
            reader.close()

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


def _watermarks(reader: _KafkaConsumer, tp: TopicPartition, timeout: float = 30.0,
                ) -> tuple[int, int]:
    """Low and high watermarks, waiting out a leader election (a topic just created)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            low, high = reader.get_watermark_offsets(tp, timeout=5)
            return int(low), int(high)
        except KafkaException as exc:
            # A leader election (a topic just created, a broker that died) or a connection
            # torn down with its broker: ask again, the client finds the new leader.
            error = exc.args[0]
            retriable = error.retriable() or error.code() in (
                KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
                KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._DESTROY_BROKER,
                KafkaError._TRANSPORT, KafkaError._TIMED_OUT, KafkaError._ALL_BROKERS_DOWN)
            if not retriable or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class KafkaConsumer(Consumer):
    def __init__(self, config: dict[str, Any], topics: list[str]) -> None:
        self._consumer = _KafkaConsumer(config, logger=log)
        # Kept from the rebalance callbacks: asking librdkafka would wait for a poll in flight.
        self._assignment: frozenset[tuple[str, int]] = frozenset()
        self._consumer.subscribe(topics, on_assign=self._assigned, on_revoke=self._revoked,
                                 on_lost=self._revoked)
        self._closed = False
        self._buffer: deque[Message] = deque()
        self._generation = 0

    @property
    def generation(self) -> int:
        return self._generation

    def _assigned(self, _: Any, partitions: list[TopicPartition]) -> None:
        self._assignment = frozenset((tp.topic, tp.partition) for tp in partitions)
        self._generation += 1

    def _revoked(self, _: Any, partitions: list[TopicPartition]) -> None:
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self._assignment -= gone
        # Records fetched before the revocation are not ours to process any more: whoever gets
        # the partitions starts again from the committed offset (and so do we if we get them
        # back), so handing them out would process them out of order.
        self._buffer = deque(m for m in self._buffer if (m.topic(), m.partition()) not in gone)

    async def poll(self, timeout: float) -> Record | None:
        if self._closed:
            raise RuntimeError("consumer is closed")
        if not self._buffer:
            # What librdkafka already fetched, without waiting; else wait for one record only.
            self._buffer.extend(self._consumer.consume(BATCH, 0))
            if not self._buffer and (msg := await asyncio.to_thread(self._consumer.poll,
                                                                    timeout)) is not None:
                self._buffer.append(msg)
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
        return sorted(self._assignment)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.commit()

        await asyncio.to_thread(self._consumer.close)
