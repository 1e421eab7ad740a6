"""The 3-broker cluster the reliability work runs on: replication 3, min.insync.replicas 2,
acks=all. A broker SIGKILLed mid-stream loses nothing that KafkaBus reported delivered."""

from __future__ import annotations

import asyncio
import uuid

from kafka_broker import KafkaCluster
from vigie.stats.v1.stats_pb2 import Count, CountsAggregated
from vigie_core.bus.base import TopicSpec
from vigie_core.bus.kafka import KafkaBus
from vigie_core.topics import Topic


async def test_a_broker_killed_mid_stream_loses_no_delivered_record():
    cluster = await asyncio.to_thread(KafkaCluster.start, brokers=3)
    try:
        name = f"replicated-{uuid.uuid4().hex[:8]}"
        topic = Topic(name, CountsAggregated, "camera_id", "replicated", partitions=3)
        bus = KafkaBus(cluster.bootstrap, "fault-test", replication_factor=3,
                       producer_config={"message.timeout.ms": 60000})
        await bus.create_topics([TopicSpec(name, 3, {"min.insync.replicas": "2"})])

        async def publish(start: int, stop: int) -> None:
            deliveries = [await bus.publish(topic, f"cam-{i % 7}", CountsAggregated(
                camera_id=f"cam-{i % 7}", counts=[Count(key="seq", value=i)]))
                for i in range(start, stop)]
            await asyncio.gather(*deliveries)

        await publish(0, 100)
        await asyncio.to_thread(cluster.kill_broker, 1)
        await publish(100, 200)  # acks=all still succeeds with 2 of 3 replicas in sync
        await bus.close()

        reader = KafkaBus(cluster.bootstrap, "fault-reader")
        consumer = reader.consumer("fault-reader", [name])
        seen: set[int] = set()
        deadline = asyncio.get_running_loop().time() + 60
        while len(seen) < 200 and asyncio.get_running_loop().time() < deadline:
            record = await consumer.poll(0.5)
            if record is not None:
                seen.add(CountsAggregated.FromString(record.value).counts[0].value)
        await reader.close()
        assert seen == set(range(200))
    finally:
        await asyncio.to_thread(cluster.stop, 0)
