"""The Bus: what every service may assume about the log it talks over, whatever runs it.

Two implementations pass the same contract suite (libs/core/tests/test_bus_contract.py): KafkaBus
on a real Apache Kafka cluster, and MemoryBus for the embedded runtime. Both give keyed partitioning
(Kafka's murmur2, so a key lands on the same partition in either), order within a partition,
offsets, consumer groups sharing partitions, and redelivery of what was not stored before a
consumer died.
"""

from __future__ import annotations

import asyncio
import contextvars
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from google.protobuf.message import Message

from vigie_core.codec import Headers, encode, new_envelope
from vigie_core.topics import DLQ_RETENTION, Cleanup, Topic, TopicRegistry


@dataclass(frozen=True)
class Record:
    """One record as stored in a partition."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp_ms: int


@dataclass(frozen=True)
class TopicSpec:
    """What to create: a name, a partition count and Kafka topic configs."""

    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)

    @property
    def compacted(self) -> bool:
        return "compact" in self.config.get("cleanup.policy", "")


def topic_specs(registry: TopicRegistry | Iterable[Topic]) -> list[TopicSpec]:
    """Specs for every registry topic and its dead-letter topic."""
    specs = []
    dlq_config = {"cleanup.policy": str(Cleanup.DELETE),
                  "retention.ms": str(int(DLQ_RETENTION.total_seconds() * 1000))}
    for topic in registry:
        specs.append(TopicSpec(topic.name, topic.partitions, topic.kafka_config()))
        specs.append(TopicSpec(topic.dlq, 1, dict(dlq_config)))
    return specs


@dataclass(frozen=True)
class TopicDrift:
    """How an existing topic differs from its spec: configs to set (name -> (actual, wanted)),
    a partition count that differs (actual, wanted), and rules broken (the audit floor)."""

    name: str
    configs: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    partitions: tuple[int, int] | None = None
    problems: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.configs or self.partitions or self.problems)


def topic_drift(spec: TopicSpec, partitions: int, config: dict[str, str],
                problem: str = "") -> TopicDrift:
    """Compare a topic as the broker has it with its spec (only the configs the spec sets)."""
    changes = {k: (config.get(k), v) for k, v in spec.config.items() if config.get(k) != v}
    return TopicDrift(spec.name, changes,
                      (partitions, spec.partitions) if partitions != spec.partitions else None,
                      (problem,) if problem else ())


# Deliveries started while a handler runs, so the consume loop can store the input's offset only
# once every output it caused is durable (at-least-once across a chain of services).
Deliveries = list[asyncio.Future[Record]]
_deliveries: contextvars.ContextVar[Deliveries | None] = contextvars.ContextVar(
    "vigie_bus_deliveries", default=None
)


def track_deliveries() -> tuple[Deliveries, contextvars.Token[Deliveries | None]]:
    """Collect the deliveries of events published from here until `untrack_deliveries`."""
    pending: Deliveries = []
    return pending, _deliveries.set(pending)


def untrack_deliveries(token: contextvars.Token[Deliveries | None]) -> None:
    _deliveries.reset(token)


def hold_offset(until: asyncio.Future[Record]) -> None:
    """From inside a handler: the input's offset is not stored before `until` resolves, as if
    it were one more output (e.g. detect's tracker checkpoint that covers this frame). Outside
    a handler, does nothing."""
    pending = _deliveries.get()
    if pending is not None:
        pending.append(until)


class Consumer(ABC):
    """A member of a consumer group. Offsets are stored explicitly, after processing."""

    @abstractmethod
    async def poll(self, timeout: float) -> Record | None:
        """The next record of an assigned partition, or None after `timeout` seconds."""

    @abstractmethod
    def store(self, record: Record) -> None:
        """Mark `record` processed; it is committed with the next commit (or at close)."""

    @abstractmethod
    async def commit(self) -> None:
        """Commit stored offsets now."""

    @abstractmethod
    async def close(self) -> None:
        """Commit stored offsets and leave the group."""

    @abstractmethod
    def assignment(self) -> list[tuple[str, int]]:
        """The (topic, partition) pairs this member currently owns."""

    @property
    def generation(self) -> int:
        """Goes up every time partitions are (re)assigned to this member: state derived from
        what the member consumed before is stale once it changes (another member may have
        processed those partitions meanwhile)."""
        return 0


class Bus(ABC):
    """Publish protobuf events and consume them in groups."""

    def __init__(self, source: str) -> None:
        self.source = source  # CloudEvents source: which service instance publishes

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect; idempotent."""

    @abstractmethod
    async def close(self) -> None:
        """Deliver what is buffered, commit stored offsets, close every consumer."""

    @abstractmethod
    async def produce(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers = ()
    ) -> asyncio.Future[Record]:
        """Append a raw record. Returns once the record is accepted (waiting while buffers are
        full); the future resolves when the record is durable."""

    @abstractmethod
    async def flush(self, timeout: float = 30.0) -> None:
        """Wait until every accepted record is durable; raise TimeoutError otherwise."""

    @abstractmethod
    def consumer(self, group: str, topics: Sequence[str]) -> Consumer:
        """Join `group` subscribed to `topics`, starting from the committed offsets (earliest
        when the group has none)."""

    @abstractmethod
    async def create_topics(self, specs: Sequence[TopicSpec]) -> list[str]:
        """Create missing topics; return the names created."""

    @abstractmethod
    async def ping(self, timeout: float = 5.0) -> None:
        """Raise ConnectionError if the bus cannot be reached."""

    @abstractmethod
    async def read_all(self, topic: str) -> list[Record]:
        """Every record `topic` holds now, partition by partition in offset order, outside any
        consumer group (small topics only: the audit chains, verification, tools)."""

    @abstractmethod
    async def read_tail(self, topic: str, partition: int, count: int, *,
                        before: int | None = None) -> list[Record]:
        """Up to `count` records of one partition ending just before offset `before` (default:
        the partition's end), in offset order; empty when none. Reading backwards chunk by
        chunk (`before` = the first offset returned) finds the latest record of a key."""

    async def ensure_topics(self, registry: TopicRegistry | Iterable[Topic]) -> list[str]:
        return await self.create_topics(topic_specs(registry))

    async def topic_drift(self, specs: Sequence[TopicSpec]) -> list[TopicDrift]:
        """Existing topics of `specs` that differ from them (missing topics are not drift)."""
        return []

    async def alter_topic_configs(self, name: str, configs: dict[str, str]) -> None:
        """Set these configs of an existing topic (the others keep their values)."""
        raise NotImplementedError(f"{type(self).__name__} has no topic configs to alter")

    async def publish(
        self,
        topic: Topic,
        key: str | None,
        message: Message | None,
        *,
        event_id: str | None = None,
        time: datetime | None = None,
    ) -> asyncio.Future[Record]:
        """Publish an event (None = tombstone, only on compacted topics) keyed by `key`."""
        if message is None and topic.cleanup is not Cleanup.COMPACT:
            raise ValueError(f"tombstones only belong on compacted topics, not {topic.name}")
        if message is not None and message.DESCRIPTOR.full_name != topic.type_name:
            raise TypeError(f"{topic.name} carries {topic.type_name}, "
                            f"not {message.DESCRIPTOR.full_name}")
        value, headers = encode(message, new_envelope(topic, self.source, event_id, time))
        delivery = await self.produce(
            topic.name, None if key is None else key.encode(), value, headers
        )
        pending = _deliveries.get()
        if pending is not None:
            pending.append(delivery)
        return delivery


def murmur2_partition(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (Java clients, aiokafka and librdkafka's murmur2_random)."""
    length = len(key)
    m, r = 0x5BD1E995, 24
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(key[i:i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = key[length - length % 4:]
    if len(tail) >= 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h ^= tail[0]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return (h & 0x7FFFFFFF) % partitions
