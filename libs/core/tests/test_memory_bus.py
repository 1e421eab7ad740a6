"""What only the in-memory bus has to prove itself: bounded memory and back-pressure."""

from __future__ import annotations

import asyncio

from vigie_core.bus.base import TopicSpec
from vigie_core.bus.memory import MemoryBus


async def test_a_producer_waits_while_a_reader_lags_and_resumes_when_it_reads_on():
    bus = MemoryBus(max_backlog=5)
    await bus.create_topics([TopicSpec("frames", 1)])
    consumer = bus.consumer("detect", ["frames"])
    for i in range(5):
        await bus.produce("frames", b"cam", b"%d" % i)

    blocked = asyncio.create_task(bus.produce("frames", b"cam", b"5"))
    await asyncio.sleep(0.1)
    assert not blocked.done()  # the sixth record waits: the reader is 5 behind

    record = await consumer.poll(1)
    consumer.store(record)
    await asyncio.wait_for(blocked, 1)
    assert bus.end_offsets("frames") == [6]


async def test_groups_without_members_do_not_hold_producers_back():
    bus = MemoryBus(max_backlog=2)
    await bus.create_topics([TopicSpec("frames", 1)])
    consumer = bus.consumer("detect", ["frames"])
    await consumer.close()
    for i in range(10):
        await asyncio.wait_for(bus.produce("frames", b"cam", b"%d" % i), 1)
    assert bus.end_offsets("frames") == [10]


async def test_retention_keeps_the_newest_records_and_compaction_the_latest_per_key():
    bus = MemoryBus(max_backlog=1, retain_records=3)
    await bus.create_topics([TopicSpec("frames", 1),
                             TopicSpec("cameras", 1, {"cleanup.policy": "compact"})])
    for i in range(10):
        await bus.produce("frames", b"cam", b"%d" % i)
        await bus.produce("cameras", b"cam-%d" % (i % 2), b"v%d" % i)

    frames = await _all(bus, "frames")
    cameras = await _all(bus, "cameras")
    assert [r.value for r in frames] == [b"7", b"8", b"9"]
    assert [r.offset for r in frames] == [7, 8, 9]
    assert {r.key: r.value for r in cameras} == {b"cam-0": b"v8", b"cam-1": b"v9"}


async def test_a_partition_left_by_a_member_resumes_from_the_committed_offset():
    bus = MemoryBus()
    await bus.create_topics([TopicSpec("t", 2)])
    first = bus.consumer("g", ["t"])
    second = bus.consumer("g", ["t"])
    assert set(first.assignment()) == {("t", 0)} and set(second.assignment()) == {("t", 1)}
    for i in range(4):
        await bus.produce("t", None, b"%d" % i)  # round-robin over both partitions
    record = await second.poll(1)
    second.store(record)
    second.abandon()
    assert set(first.assignment()) == {("t", 0), ("t", 1)}
    rest = [await first.poll(1) for _ in range(3)]
    assert sorted((r.partition, r.offset) for r in rest) == [(0, 0), (0, 1), (1, 1)]


async def _all(bus: MemoryBus, topic: str):
    consumer = bus.consumer("reader-" + topic, [topic])
    records = []
    while (record := await consumer.poll(0.05)) is not None:
        records.append(record)
    await consumer.close()
    return records
