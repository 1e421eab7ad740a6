"""MemoryBus: Kafka's semantics in one process, for the embedded runtime and fast tests.

Partitions are append-only logs with offsets; keys map to partitions with Kafka's murmur2; groups
share partitions among their members and restart a partition from the committed offset when its
owner changes. Back-pressure: a producer waits while the member reading the partition it writes
to is `max_backlog` records behind. Retention keeps the last `retain_records` per partition
(compacted topics keep the latest record of every key instead).
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import time
from collections.abc import Sequence

from vigie_core.bus.base import Bus, Consumer, Record, TopicSpec, murmur2_partition
from vigie_core.codec import Headers


class _Partition:
    def __init__(self) -> None:
        self.records: list[Record] = []
        self.offsets: list[int] = []  # parallel to records, for bisect (sparse once compacted)
        self.end = 0  # next offset

    @property
    def start(self) -> int:
        return self.offsets[0] if self.offsets else self.end

    def append(self, record: Record) -> None:
        self.records.append(record)
        self.offsets.append(record.offset)
        self.end = record.offset + 1

    def at_or_after(self, offset: int) -> Record | None:
        i = bisect.bisect_left(self.offsets, offset)
        return self.records[i] if i < len(self.records) else None

    def trim(self, keep: int, compacted: bool) -> None:
        if len(self.records) <= keep:
            return
        if compacted:
            latest = {r.key: r.offset for r in self.records}
            kept = [r for r in self.records if latest[r.key] == r.offset]
        else:
            kept = self.records[-keep:]
        self.records = kept
        self.offsets = [r.offset for r in kept]


class _Topic:
    def __init__(self, spec: TopicSpec) -> None:
        self.spec = spec
        self.partitions = [_Partition() for _ in range(spec.partitions)]
        self.round_robin = itertools.count()


class _Group:
    def __init__(self) -> None:
        self.members: list[MemoryConsumer] = []
        self.committed: dict[tuple[str, int], int] = {}


class MemoryBus(Bus):
    def __init__(
        self,
        source: str = "vigie",
        *,
        default_partitions: int = 1,
        max_backlog: int = 1000,
        retain_records: int = 2000,
    ) -> None:
        super().__init__(source)
        self.default_partitions = default_partitions
        self.max_backlog = max_backlog
        self.retain_records = max(retain_records, max_backlog)
        self._topics: dict[str, _Topic] = {}
        self._groups: dict[str, _Group] = {}
        self._changed = asyncio.Condition()
        self._member_ids = itertools.count()
        self._closed = False

    # -- topics ---------------------------------------------------------------------------------
    async def create_topics(self, specs: Sequence[TopicSpec]) -> list[str]:
        created = []
        for spec in specs:
            if spec.name not in self._topics:
                self._topics[spec.name] = _Topic(spec)
                created.append(spec.name)
        if created:
            self._rebalance_all()
        return created

    def _topic(self, name: str) -> _Topic:
        if name not in self._topics:
            self._topics[name] = _Topic(TopicSpec(name, self.default_partitions))
            self._rebalance_all()
        return self._topics[name]

    def end_offsets(self, name: str) -> list[int]:
        return [p.end for p in self._topic(name).partitions]

    def committed(self, group: str, name: str) -> list[int | None]:
        g = self._groups.get(group, _Group())
        return [g.committed.get((name, i)) for i in range(len(self._topic(name).partitions))]

    async def ping(self, timeout: float = 5.0) -> None:
        if self._closed:
            raise ConnectionError("memory bus is closed")

    async def read_all(self, topic: str) -> list[Record]:
        return [r for p in self._topic(topic).partitions for r in p.records]

    async def read_tail(self, topic: str, partition: int, count: int, *,
                        before: int | None = None) -> list[Record]:
        part = self._topic(topic).partitions[partition]
        end = part.end if before is None else min(before, part.end)
        first = bisect.bisect_left(part.offsets, max(0, end - max(count, 0)))
        last = bisect.bisect_left(part.offsets, end)
        return part.records[first:last]

    # -- producing ------------------------------------------------------------------------------
    async def produce(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers = ()
    ) -> asyncio.Future[Record]:
        if self._closed:
            raise RuntimeError("bus is closed")
        t = self._topic(topic)
        n = len(t.partitions)
        index = murmur2_partition(key, n) if key is not None else next(t.round_robin) % n
        async with self._changed:
            await self._changed.wait_for(lambda: self._backlog(topic, index) < self.max_backlog)
            part = t.partitions[index]
            record = Record(topic, index, part.end, key, value, tuple(headers),
                            int(time.time() * 1000))
            part.append(record)
            part.trim(self.retain_records, t.spec.compacted)
            self._changed.notify_all()
        delivered: asyncio.Future[Record] = asyncio.get_running_loop().create_future()
        delivered.set_result(record)
        return delivered

    def _backlog(self, topic: str, partition: int) -> int:
        """Records of the partition not yet read by the slowest member that owns it."""
        end = self._topics[topic].partitions[partition].end
        lags = [end - m.positions[(topic, partition)]
                for g in self._groups.values() for m in g.members
                if (topic, partition) in m.positions]
        return max(lags, default=0)

    async def flush(self, timeout: float = 30.0) -> None:
        return None  # appended records are already durable for this process

    # -- consuming ------------------------------------------------------------------------------
    def consumer(self, group: str, topics: Sequence[str]) -> MemoryConsumer:
        for name in topics:
            self._topic(name)
        member = MemoryConsumer(self, group, list(topics), next(self._member_ids))
        self._groups.setdefault(group, _Group()).members.append(member)
        self._rebalance(group)
        return member

    def _leave(self, member: MemoryConsumer) -> None:
        group = self._groups[member.group]
        if member in group.members:
            group.members.remove(member)
            self._rebalance(member.group)

    def _rebalance_all(self) -> None:
        for name in self._groups:
            self._rebalance(name)

    def _rebalance(self, group_name: str) -> None:
        """Range-style assignment per topic; a member keeps its position on partitions it
        keeps, and starts from the committed offset on partitions it gains."""
        group = self._groups[group_name]
        wanted: dict[MemoryConsumer, set[tuple[str, int]]] = {m: set() for m in group.members}
        for name, topic in self._topics.items():
            members = [m for m in group.members if name in m.topics]
            for p in range(len(topic.partitions)):
                if members:
                    wanted[members[p % len(members)]].add((name, p))
        for member, owned in wanted.items():
            if not owned <= set(member.positions):
                member.generations += 1  # it gains partitions others may have processed
            member.positions = {
                tp: member.positions.get(tp, self._start(group, tp)) for tp in sorted(owned)
            }
        self._notify()

    def _start(self, group: _Group, tp: tuple[str, int]) -> int:
        part = self._topics[tp[0]].partitions[tp[1]]
        return max(group.committed.get(tp, part.start), part.start)

    def _commit(self, member: MemoryConsumer, tp: tuple[str, int], offset: int) -> None:
        committed = self._groups[member.group].committed
        if tp in member.positions and offset > committed.get(tp, -1):
            committed[tp] = offset

    def _notify(self) -> None:
        async def wake() -> None:
            async with self._changed:
                self._changed.notify_all()
        try:
            asyncio.get_running_loop().create_task(wake())
        except RuntimeError:
            pass  # no loop yet: nobody is waiting

    async def close(self) -> None:
        for group in list(self._groups.values()):
            for member in list(group.members):
                await member.close()
        self._closed = True


class MemoryConsumer(Consumer):
    def __init__(self, bus: MemoryBus, group: str, topics: list[str], member_id: int) -> None:
        self.bus, self.group, self.topics, self.member_id = bus, group, topics, member_id
        self.positions: dict[tuple[str, int], int] = {}
        self.generations = 0
        self._next = 0
        self._closed = False

    @property
    def generation(self) -> int:
        return self.generations

    def _take(self) -> Record | None:
        owned = list(self.positions)
        for i in range(len(owned)):  # round-robin over owned partitions for fairness
            tp = owned[(self._next + i) % len(owned)]
            part = self.bus._topics[tp[0]].partitions[tp[1]]
            record = part.at_or_after(self.positions[tp])
            if record is not None:
                self.positions[tp] = record.offset + 1
                self._next = (self._next + i + 1) % len(owned)
                self.bus._changed.notify_all()  # a producer may wait for this progress
                return record
        return None

    async def poll(self, timeout: float) -> Record | None:
        if self._closed:
            raise RuntimeError("consumer is closed")
        deadline = asyncio.get_running_loop().time() + timeout
        async with self.bus._changed:
            while (record := self._take()) is None:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    return None
                try:
                    await asyncio.wait_for(self.bus._changed.wait(), remaining)
                except TimeoutError:
                    return None
            return record

    def store(self, record: Record) -> None:
        # Memory has no crash window between store and commit: storing commits.
        self.bus._commit(self, (record.topic, record.partition), record.offset + 1)

    async def commit(self) -> None:
        return None

    def assignment(self) -> list[tuple[str, int]]:
        return list(self.positions)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.bus._leave(self)

    def abandon(self) -> None:
        """Leave the group as a crashed member would: nothing more is committed."""
        self._closed = True
        self.bus._leave(self)
