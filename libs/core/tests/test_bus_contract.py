"""The Bus contract: what every service relies on, checked on MemoryBus and on real Kafka."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest
from harness import drain, unique
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie.stats.v1.stats_pb2 import Count, CountsAggregated
from vigie_core.bus.base import murmur2_partition
from vigie_core.codec import Event, header
from vigie_core.processing import StreamProcessor, Subscription
from vigie_core.topics import Topic


def counts_topic(name: str, partitions: int) -> Topic:
    return Topic(name, CountsAggregated, "camera_id", "contract test", partitions=partitions)


def counts(camera: str, seq: int) -> CountsAggregated:
    return CountsAggregated(camera_id=camera, counts=[Count(key="seq", value=seq)])


async def test_keyed_records_keep_their_order_on_the_key_partition(harness):
    topic = counts_topic(await harness.topic(partitions=4), 4)
    producer = harness.bus()
    cameras = [f"cam-{i}" for i in range(8)]
    for seq in range(25):
        for camera in cameras:
            await producer.publish(topic, camera, counts(camera, seq))
    await producer.flush()

    records = await drain(harness.bus().consumer(unique("g"), [topic.name]), 200)

    assert len(records) == 200
    by_camera = defaultdict(list)
    for r in records:
        by_camera[r.key.decode()].append(r)
    for camera, recs in by_camera.items():
        # Kafka's murmur2: the same partition whichever bus or client wrote the key.
        assert {r.partition for r in recs} == {murmur2_partition(camera.encode(), 4)}
        seqs = [CountsAggregated.FromString(r.value).counts[0].value for r in recs]
        assert seqs == list(range(25))
        offsets = [r.offset for r in recs]
        assert offsets == sorted(offsets)


async def test_a_group_shares_partitions_and_another_group_gets_everything(harness):
    name = await harness.topic(partitions=4)
    topic = counts_topic(name, 4)
    group = unique("shared")
    first, second = harness.bus().consumer(group, [name]), harness.bus().consumer(group, [name])
    for _ in range(120):  # let both members join and split the four partitions
        await asyncio.gather(first.poll(0.25), second.poll(0.25))
        a, b = set(first.assignment()), set(second.assignment())
        if a and b and not a & b and len(a | b) == 4:
            break
    assert a and b and not a & b and len(a | b) == 4, (a, b)

    producer = harness.bus()
    for seq in range(100):
        await producer.publish(topic, f"cam-{seq % 10}", counts(f"cam-{seq % 10}", seq))
    await producer.flush()

    got_first, got_second = [], []

    async def consume(consumer, into):
        while len(got_first) + len(got_second) < 100:
            record = await consumer.poll(0.25)
            if record is not None:
                into.append((record.partition, record.offset))
                consumer.store(record)

    await asyncio.wait_for(asyncio.gather(consume(first, got_first), consume(second, got_second)),
                           60)
    assert got_first and got_second
    assert not set(got_first) & set(got_second)
    assert len(set(got_first) | set(got_second)) == 100

    other = await drain(harness.bus().consumer(unique("other"), [name]), 100)
    assert len(other) == 100


async def test_records_not_committed_before_a_crash_are_redelivered(harness):
    name = await harness.topic(partitions=1)
    topic = counts_topic(name, 1)
    producer = harness.bus()
    for seq in range(20):
        await producer.publish(topic, "cam-1", counts("cam-1", seq))
    await producer.flush()
    group = unique("crash")

    polled = await harness.crash_consumer(group, name, polled_n=20, stored_k=8)
    assert [offset for _, offset in polled] == list(range(20))

    again = await drain(harness.bus().consumer(group, [name]), 12, timeout=60)
    seqs = [CountsAggregated.FromString(r.value).counts[0].value for r in again]
    assert seqs == list(range(8, 20))  # nothing lost, nothing stored redelivered


async def test_garbage_and_poison_go_to_the_dlq_and_the_stream_goes_on(harness):
    name = await harness.topic(partitions=1)
    topic = counts_topic(name, 1)
    bus = harness.bus()
    await bus.publish(topic, "cam-1", counts("cam-1", 1))
    await bus.produce(name, b"cam-1", b"\x00\xffnot protobuf at all")  # no CloudEvents headers
    await bus.publish(Topic(name, FrameSampled, "camera_id", "wrong type"), "cam-1",
                      FrameSampled(camera_id="cam-1"))  # valid bytes, wrong ce_type
    await bus.publish(topic, "poison", counts("poison", 2))
    await bus.publish(topic, "cam-1", counts("cam-1", 3))
    await bus.flush()

    handled: list[int] = []

    async def handler(event: Event[CountsAggregated]) -> None:
        if event.key == "poison":
            raise ValueError("cannot handle this one")
        handled.append(event.message.counts[0].value)

    stop = asyncio.Event()
    group = unique("dlq")
    processor = StreamProcessor(harness.bus(), group, [Subscription(topic, handler)],
                                retry_backoff_s=0.01)
    task = asyncio.create_task(processor.run(stop))
    for _ in range(240):
        if len(handled) == 2:
            break
        await asyncio.sleep(0.25)
    stop.set()
    await asyncio.wait_for(task, 30)

    assert handled == [1, 3]
    dead = await drain(harness.bus().consumer(unique("dlq-reader"), [topic.dlq]), 3)
    assert [header(r.headers, "dlq_stage") for r in dead] == ["decode", "decode", "handler"]
    assert dead[0].value == b"\x00\xffnot protobuf at all"
    assert "missing ce_type" in header(dead[0].headers, "dlq_error")
    assert "does not match" in header(dead[1].headers, "dlq_error")
    assert "cannot handle this one" in header(dead[2].headers, "dlq_error")
    assert [header(r.headers, "dlq_offset") for r in dead] == ["1", "2", "3"]
    # Every record is accounted for: the group's offset is past all five.
    assert await harness.committed(group, name) == [5]


async def test_tombstones_reach_consumers_of_compacted_topics(harness):
    name = await harness.topic(partitions=1)
    from vigie.camera.v1.camera_pb2 import Camera
    from vigie_core.topics import Cleanup

    topic = Topic(name, Camera, "camera_id", "cameras", partitions=1, cleanup=Cleanup.COMPACT,
                  retention=None)
    bus = harness.bus()
    await bus.publish(topic, "cam-1", Camera(camera_id="cam-1", name="Gare"))
    await bus.publish(topic, "cam-1", None)
    await bus.flush()
    seen = []
    stop = asyncio.Event()

    async def handler(event):
        seen.append((event.key, event.message))
        if len(seen) == 2:
            stop.set()

    await asyncio.wait_for(StreamProcessor(harness.bus(), unique("view"),
                                           [Subscription(topic, handler)]).run(stop), 60)
    assert seen[0][1].name == "Gare"
    assert seen[1] == ("cam-1", None)


async def test_publishing_the_wrong_message_type_is_refused(harness):
    topic = counts_topic(await harness.topic(partitions=1), 1)
    with pytest.raises(TypeError, match=r"carries vigie\.stats\.v1\.CountsAggregated"):
        await harness.bus().publish(topic, "cam-1", FrameSampled())
    with pytest.raises(ValueError, match="tombstones only belong on compacted topics"):
        await harness.bus().publish(topic, "cam-1", None)


async def test_concurrent_handlers_finish_out_of_order_but_offsets_are_stored_in_order(harness):
    name = await harness.topic(partitions=1)
    topic = counts_topic(name, 1)
    bus = harness.bus()
    for seq in range(12):
        await bus.publish(topic, "cam-1", counts("cam-1", seq))
    await bus.flush()
    finished: list[int] = []
    release = asyncio.Event()

    async def handler(event):
        seq = event.message.counts[0].value
        if seq == 0:
            await release.wait()  # the first record is the slowest
        finished.append(seq)
        if len(finished) == 11:
            release.set()

    group = unique("concurrent")
    stop = asyncio.Event()
    processor = StreamProcessor(harness.bus(), group, [Subscription(topic, handler)],
                                concurrency=4)
    task = asyncio.create_task(processor.run(stop))
    for _ in range(240):
        if len(finished) == 12:
            break
        await asyncio.sleep(0.25)
    stop.set()
    await asyncio.wait_for(task, 30)
    assert finished[-1] == 0 and sorted(finished) == list(range(12))
    assert await harness.committed(group, name) == [12]


async def test_read_tail_walks_a_partition_backwards_to_the_latest_record_of_a_key(harness):
    topic = counts_topic(await harness.topic(partitions=2), 2)
    producer = harness.bus()
    for seq in range(30):
        for camera in ("cam-a", "cam-b", "cam-c"):
            await producer.publish(topic, camera, counts(camera, seq))
    await producer.flush()
    reader = harness.bus()
    partition = murmur2_partition(b"cam-a", 2)
    tail = await reader.read_tail(topic.name, partition, 7)
    assert len(tail) == 7 and [r.offset for r in tail] == sorted(r.offset for r in tail)
    end = tail[-1].offset + 1
    # chunk by chunk, back to the start: every record of the partition once, in order
    seen, before = [], None
    while chunk := await reader.read_tail(topic.name, partition, 7, before=before):
        seen = chunk + seen
        before = chunk[0].offset
    assert [r.offset for r in seen] == list(range(end))
    latest_a = next(r for r in reversed(seen) if r.key == b"cam-a")
    assert CountsAggregated.FromString(latest_a.value).counts[0].value == 29
    assert await reader.read_tail(topic.name, partition, 5, before=0) == []
    assert await reader.read_tail(topic.name, partition, 0) == []
