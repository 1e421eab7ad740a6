"""Ingest replicas on real Kafka share the cameras through the consumer group's partition
assignment, with no coordinator of ours, and take over the cameras of a replica that dies."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import aiohttp
import grpc
from process_helpers import VIGIE, free_port
from vigie.camera.v1.camera_pb2 import Camera
from vigie.ingest.v1 import ingest_service_pb2 as pb
from vigie.ingest.v1 import ingest_service_pb2_grpc as pb_grpc
from vigie_core.auth.rpc import bearer_metadata, metadata_interceptors
from vigie_core.auth.tokens import TokenStore
from vigie_core.bus.base import murmur2_partition
from vigie_core.bus.kafka import KafkaBus
from vigie_core.topics import CAMERAS, REGISTRY


def camera_ids(run: str, per_partition: int = 2) -> list[str]:
    """Camera ids covering every partition of the cameras topic, `per_partition` each."""
    chosen: dict[int, list[str]] = {p: [] for p in range(CAMERAS.partitions)}
    i = 0
    while any(len(v) < per_partition for v in chosen.values()):
        cid = f"{run}-cam{i}"
        bucket = chosen[murmur2_partition(cid.encode(), CAMERAS.partitions)]
        if len(bucket) < per_partition:
            bucket.append(cid)
        i += 1
    return sorted(c for ids in chosen.values() for c in ids)


# The replicas share one token store; the test is an administrator (cameras, /status).
TOKENS = Path(tempfile.mkdtemp(prefix="vigie-tokens-")) / "tokens.json"
TOKEN = TokenStore(TOKENS).create("replica-test", ["admin"], None, "test")[0]


class Replica:
    def __init__(self, name: str, bootstrap: str, media: Path) -> None:
        self.http, self.grpc = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
        env.update(VIGIE_KAFKA_BOOTSTRAP=bootstrap, VIGIE_INSTANCE=name,
                   VIGIE_AUTH_TOKENS_FILE=str(TOKENS),
                   VIGIE_HTTP_PORT=str(self.http), VIGIE_GRPC_PORT=str(self.grpc),
                   VIGIE_INGEST_MEDIA_ROOT=str(media), VIGIE_INGEST_LOOP_FILES="true",
                   VIGIE_INGEST_SAMPLE_FPS="1")
        self.proc = subprocess.Popen([VIGIE, "ingest"], env=env, stdout=subprocess.DEVNULL)

    async def running(self) -> set[str]:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            try:
                async with http.get(f"http://127.0.0.1:{self.http}/status") as r:
                    return set((await r.json())["services"]["ingest"]["running"])
            except aiohttp.ClientError:
                return set()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(timeout=30)


async def until(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.5)


async def test_replicas_split_the_cameras_and_a_survivor_takes_over(kafka, clips):
    bus = KafkaBus(kafka.bootstrap, "replica-test")
    await bus.ensure_topics(REGISTRY)
    await bus.close()
    run = f"r{int(time.time())}"
    a, b = Replica(f"{run}-a", kafka.bootstrap, clips), Replica(f"{run}-b", kafka.bootstrap, clips)
    try:
        ours = camera_ids(run)
        async with grpc.aio.insecure_channel(
                f"127.0.0.1:{a.grpc}",
                interceptors=metadata_interceptors(bearer_metadata(TOKEN))) as channel:
            await channel.channel_ready()
            api = pb_grpc.IngestServiceStub(channel)
            for i, cid in enumerate(ours):
                clip = sorted(clips.glob("*.mp4"))[i % 4]
                await api.RegisterCamera(pb.RegisterCameraRequest(camera=Camera(
                    camera_id=cid, name=cid, source_url=clip.as_uri(), sample_fps=1,
                    enabled=True)), timeout=10)

        async def split() -> bool:
            on_a, on_b = (await a.running()) & set(ours), (await b.running()) & set(ours)
            return bool(on_a and on_b and not on_a & on_b and on_a | on_b == set(ours))

        await until(split, 60)  # each camera runs on exactly one replica
        assert await split()

        b.stop(signal.SIGKILL)

        async def taken_over() -> bool:
            return (await a.running()) >= set(ours)

        await until(taken_over, 60)  # session timeout, rebalance, replay of the partitions
        assert set(ours) <= await a.running()
    finally:
        a.stop()
        b.stop()
