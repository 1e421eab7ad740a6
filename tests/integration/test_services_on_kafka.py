"""Services as separate processes on a real Kafka broker, as pods run them."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from confluent_kafka import Consumer, KafkaException, TopicPartition
from PIL import Image
from process_helpers import VIGIE, free_port
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie.stats.v1.stats_pb2 import CountsAggregated
from vigie_core.auth.tokens import TokenStore
from vigie_core.bus.kafka import KafkaBus
from vigie_core.topics import DETECTIONS, FRAMES, REGISTRY, STATS

FRAMES_SENT = 30
START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def _grey_jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height), 128).save(out, format="JPEG")
    return out.getvalue()


GREY_JPEG = _grey_jpeg(64, 48)



# One token store for the processes of this module, and a scraper's token (/metrics).
TOKENS = Path(tempfile.mkdtemp(prefix="vigie-tokens-")) / "tokens.json"
SCRAPE = {"Authorization": "Bearer " + TokenStore(TOKENS).create("scraper", ["metrics"], None,
                                                                  "test")[0]}


def start_service(name: str, bootstrap: str, http_port: int, **extra: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    env.update(VIGIE_KAFKA_BOOTSTRAP=bootstrap, VIGIE_HTTP_PORT=str(http_port),
               VIGIE_GRPC_PORT="0", VIGIE_AUTH_TOKENS_FILE=str(TOKENS), **extra)
    return subprocess.Popen([VIGIE, "serve", name], env=env, stdout=subprocess.DEVNULL)


async def wait_ready(http_port: int, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    async with aiohttp.ClientSession() as http:
        while asyncio.get_running_loop().time() < deadline:
            try:
                async with http.get(f"http://127.0.0.1:{http_port}/readyz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError("service not ready")


async def consumed(http_port: int, group: str, topic: str) -> float:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{http_port}/metrics", headers=SCRAPE) as r:
            text = await r.text()
    pattern = (rf'vigie_bus_consumed_records_total{{group="{re.escape(group)}",'
               rf'topic="{re.escape(topic)}"}} ([0-9.e+]+)')
    match = re.search(pattern, text)
    return float(match.group(1)) if match else 0.0


def offsets(bootstrap: str, group: str, topic: str) -> tuple[int, int]:
    """(sum of committed offsets of `group`, sum of end offsets) over the topic's partitions."""
    client = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        parts = [TopicPartition(topic, p)
                 for p in client.list_topics(topic, timeout=10).topics[topic].partitions]
        for attempt in range(20):  # the group's coordinator may still be loading
            try:
                committed = sum(max(tp.offset, 0) for tp in client.committed(parts, timeout=10))
                break
            except KafkaException:
                if attempt == 19:
                    raise
                time.sleep(0.5)
        end = sum(client.get_watermark_offsets(tp, timeout=10)[1] for tp in parts)
    finally:
        client.close()
    return committed, end


def skip_to_end(bootstrap: str, group: str, topic: str) -> None:
    """Commit `group` at the end of `topic`, as an operator resetting offsets would."""
    client = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        parts = [TopicPartition(topic, p, client.get_watermark_offsets(
            TopicPartition(topic, p), timeout=10)[1])
            for p in client.list_topics(topic, timeout=10).topics[topic].partitions]
        if not any(tp.offset > 0 for tp in parts):
            return  # nothing left behind
        for attempt in range(20):  # the group's coordinator may still be loading
            try:
                client.commit(offsets=parts, asynchronous=False)
                return
            except KafkaException:
                if attempt == 19:
                    raise
                time.sleep(0.5)
    finally:
        client.close()


async def publish_frames(bootstrap: str, camera: str) -> None:
    bus = KafkaBus(bootstrap, "test-camera")
    await bus.ensure_topics(REGISTRY)
    for seq in range(FRAMES_SENT):
        frame = FrameSampled(frame_id=f"{camera}:{seq}", camera_id=camera, sequence=seq,
                             width=64, height=48, jpeg=GREY_JPEG)
        # one frame every 3 s of event time: 20 in the first minute, 10 in the next
        frame.captured_at.FromDatetime(START + timedelta(seconds=3 * seq))
        await bus.publish(FRAMES, camera, frame, event_id=frame.frame_id)
    await bus.close()


async def read_for_camera(bootstrap: str, topic, camera: str, count: int, timeout: float = 60):
    bus = KafkaBus(bootstrap, "test-reader")
    consumer = bus.consumer(f"reader-{uuid.uuid4().hex}", [topic.name])
    found = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(found) < count and asyncio.get_running_loop().time() < deadline:
        record = await consumer.poll(0.5)
        if record is not None and record.key == camera.encode():
            found.append(topic.message_type.FromString(record.value))
    await asyncio.sleep(2)  # anything beyond `count` would be a duplicate
    while (record := await consumer.poll(0.5)) is not None:
        if record.key == camera.encode():
            found.append(topic.message_type.FromString(record.value))
    await bus.close()
    return found


async def test_sigterm_delivers_buffered_outputs_and_commits_what_was_processed(kafka):
    camera = f"cam-{uuid.uuid4().hex[:8]}"
    skip_to_end(kafka.bootstrap, "vigie-detect", FRAMES.name)  # frames other tests left behind
    await publish_frames(kafka.bootstrap, camera)
    committed_before, end = offsets(kafka.bootstrap, "vigie-detect", FRAMES.name)
    port = free_port()
    # Outputs linger 4 s in the producer buffer: only a flush on SIGTERM delivers them in time.
    detect = start_service("detect", kafka.bootstrap, port, VIGIE_KAFKA_LINGER_MS="4000")
    try:
        await wait_ready(port)
        for _ in range(300):
            if await consumed(port, "vigie-detect", FRAMES.name) >= end - committed_before:
                break
            await asyncio.sleep(0.1)
        detect.send_signal(signal.SIGTERM)
        assert detect.wait(timeout=30) == 0
    finally:
        detect.kill()

    detections = await read_for_camera(kafka.bootstrap, DETECTIONS, camera, FRAMES_SENT)
    assert sorted(d.frame_id for d in detections) == sorted(
        f"{camera}:{seq}" for seq in range(FRAMES_SENT))  # none lost, none twice
    assert offsets(kafka.bootstrap, "vigie-detect", FRAMES.name) == (end, end)


async def test_frames_flow_through_detect_and_rules_processes_to_stats(kafka):
    camera = f"cam-{uuid.uuid4().hex[:8]}"
    ports = free_port(), free_port()
    procs = [start_service("detect", kafka.bootstrap, ports[0]),
             start_service("rules", kafka.bootstrap, ports[1])]
    try:
        await asyncio.gather(*(wait_ready(p) for p in ports))
        await publish_frames(kafka.bootstrap, camera)
        stats = await read_for_camera(kafka.bootstrap, STATS, camera, 1)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        assert [proc.wait(timeout=30) for proc in procs] == [0, 0]
    # The first minute closed (the second is still open): its 20 frames counted once each.
    (window,) = stats
    assert isinstance(window, CountsAggregated)
    assert {c.key: c.value for c in window.counts}["frames"] == 20
    assert window.window.start.ToDatetime(UTC) == START
