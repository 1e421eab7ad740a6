"""Two ways to run the bus contract: one process on a MemoryBus, or processes on real Kafka."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path

from confluent_kafka import Consumer as RawConsumer
from confluent_kafka import TopicPartition
from vigie_core.bus.base import Bus, Consumer, Record, TopicSpec
from vigie_core.bus.kafka import KafkaBus
from vigie_core.bus.memory import MemoryBus, MemoryConsumer


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def drain(consumer: Consumer, count: int, timeout: float = 60.0) -> list[Record]:
    """Poll until `count` records arrived or `timeout` passed."""
    records: list[Record] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(records) < count and asyncio.get_running_loop().time() < deadline:
        record = await consumer.poll(0.5)
        if record is not None:
            records.append(record)
    return records


class MemoryHarness:
    name = "memory"

    def __init__(self) -> None:
        self._bus = MemoryBus("contract")

    def bus(self) -> Bus:
        return self._bus  # one process: every "service" shares the in-memory log

    async def topic(self, partitions: int = 4) -> str:
        name = unique("contract")
        await self._bus.create_topics([TopicSpec(name, partitions), TopicSpec(name + ".dlq", 1)])
        return name

    async def crash_consumer(self, group: str, topic: str, polled_n: int,
                             stored_k: int) -> list[tuple[int, int]]:
        consumer = self._bus.consumer(group, [topic])
        assert isinstance(consumer, MemoryConsumer)
        records = await drain(consumer, polled_n)
        for record in records[:stored_k]:
            consumer.store(record)
        consumer.abandon()
        return [(r.partition, r.offset) for r in records]

    async def committed(self, group: str, topic: str) -> list[int | None]:
        return self._bus.committed(group, topic)

    async def end_offsets(self, topic: str) -> list[int]:
        return self._bus.end_offsets(topic)

    async def close(self) -> None:
        await self._bus.close()


class KafkaHarness:
    name = "kafka"

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._buses: list[KafkaBus] = []

    def bus(self) -> Bus:
        bus = KafkaBus(self.bootstrap, "contract")  # a separate client, as another process has
        self._buses.append(bus)
        return bus

    async def topic(self, partitions: int = 4) -> str:
        name = unique("contract")
        await self.bus().create_topics([TopicSpec(name, partitions), TopicSpec(name + ".dlq", 1)])
        return name

    async def crash_consumer(self, group: str, topic: str, polled_n: int,
                             stored_k: int) -> list[tuple[int, int]]:
        script = Path(__file__).with_name("crash_consumer.py")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(script), self.bootstrap, group, topic, str(polled_n),
            str(stored_k), stdout=subprocess.PIPE)
        try:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 90)
        finally:
            proc.kill()  # SIGKILL: no close, no commit beyond what it did explicitly
            await proc.wait()
        return [tuple(x) for x in json.loads(line)]

    def _raw(self, group: str) -> RawConsumer:
        return RawConsumer({"bootstrap.servers": self.bootstrap, "group.id": group})

    async def committed(self, group: str, topic: str) -> list[int | None]:
        partitions = await self._partitions(topic)
        raw = self._raw(group)
        try:
            tps = await asyncio.to_thread(
                raw.committed, [TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        finally:
            raw.close()
        return [tp.offset if tp.offset >= 0 else None for tp in tps]

    async def end_offsets(self, topic: str) -> list[int]:
        raw = self._raw(unique("probe"))
        try:
            partitions = await self._partitions(topic)
            return [(await asyncio.to_thread(raw.get_watermark_offsets,
                                             TopicPartition(topic, p), 10))[1]
                    for p in range(partitions)]
        finally:
            raw.close()

    async def _partitions(self, topic: str) -> int:
        raw = self._raw(unique("probe"))
        try:
            meta = await asyncio.to_thread(raw.list_topics, topic, 10)
            return len(meta.topics[topic].partitions)
        finally:
            raw.close()

    async def close(self) -> None:
        for bus in self._buses:
            await bus.close()
