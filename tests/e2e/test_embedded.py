"""The embedded runtime: every installed service in one process on the in-memory bus, the same
code that runs as separate pods on Kafka."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta

import aiohttp
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image
from vigie.camera.v1.camera_pb2 import PURPOSE_TRAFFIC, Camera
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie.stats.v1.stats_pb2 import CountsAggregated
from vigie_core.bus.memory import MemoryBus
from vigie_core.runtime import start
from vigie_core.service import installed_services
from vigie_core.settings import CoreSettings
from vigie_core.topics import CAMERAS, FRAMES, STATS

SERVICES = ["alerts", "detect", "face", "ingest", "rules"]


def grey_jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height), 128).save(out, format="JPEG")
    return out.getvalue()
CAPTURED = datetime(2026, 11, 22, 8, 30, 5, tzinfo=UTC)


def settings(**overrides) -> CoreSettings:
    return CoreSettings(http_port=0, grpc_port=0, **overrides)


def test_every_service_of_the_design_is_installed_and_registered():
    assert sorted(installed_services()) == SERVICES


async def test_a_frame_travels_from_the_frames_topic_to_the_stats_topic():
    bus = MemoryBus("e2e")
    running = await start(SERVICES, settings(), bus)
    try:
        await bus.publish(CAMERAS, "cam-1", Camera(camera_id="cam-1", name="Place Masséna",
                                                   enabled=True, purposes=[PURPOSE_TRAFFIC]))
        face = next(s for s in running.services if s.name == "face")
        for _ in range(50):  # the camera view is its own stream: let it catch up first
            if len(face.cameras):
                break
            await asyncio.sleep(0.02)
        # A frame, then two a minute later: once the engine's reorder buffer releases the second
        # (the third is 0.5 s+ newer), it closes the first one's window.
        for seq, offset_s in ((1, 0), (2, 61), (3, 62)):
            frame = FrameSampled(frame_id=f"cam-1:{seq}", camera_id="cam-1", sequence=seq,
                                 width=64, height=48, jpeg=grey_jpeg(64, 48))
            frame.captured_at.FromDatetime(CAPTURED + timedelta(seconds=offset_s))
            await bus.publish(FRAMES, "cam-1", frame, event_id=frame.frame_id)

        reader = bus.consumer("e2e-reader", [STATS.name])
        record = await reader.poll(30)
        assert record is not None
        stats = CountsAggregated.FromString(record.value)
        assert stats.camera_id == "cam-1"
        assert {c.key: c.value for c in stats.counts}["frames"] == 1  # grey: no object either
        window = stats.window.start.ToDatetime(UTC), stats.window.end.ToDatetime(UTC)
        assert window == (CAPTURED.replace(second=0), CAPTURED.replace(second=0)
                          + timedelta(minutes=1))  # event time, not wall time

        status = running.status()
        assert status["services"]["ingest"]["cameras"] == 1
        # face processing refused: the camera is not authorised for it (privacy invariant 1)
        assert status["services"]["face"]["frames"] == {
            "skipped: camera not authorised for face matching": 3}
    finally:
        await running.stop()


async def test_health_metrics_and_status_are_served_and_grpc_health_follows_readiness(
        tmp_path):
    running = await start(SERVICES, settings(no_biometrics=True, data_dir=tmp_path),
                          MemoryBus("e2e"))
    try:
        scraper = {"Authorization": f"Bearer {running.issue_token('metrics', name='scraper')}"}
        async with aiohttp.ClientSession(f"http://127.0.0.1:{running.http_port}") as http:
            async with http.get("/readyz") as r:  # probes need no credential...
                assert r.status == 200 and (await r.json())["ready"] is True
            async with http.get("/healthz") as r:
                assert r.status == 200
            async with http.get("/metrics") as r:  # ...metrics and status do
                assert r.status == 401
            async with http.get("/metrics", headers=scraper) as r:
                assert "vigie_bus_consumed_records_total" in await r.text()
            async with http.get("/status", headers=scraper) as r:
                status = await r.json()
                assert status["no_biometrics"] is True  # visible, as DESIGN asks
                assert status["auth"]["active_client_tokens"] == 1
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            for service in running.services:
                await service.stop()
            await asyncio.sleep(0.1)
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
    finally:
        await running.stop()


async def test_listening_beyond_loopback_without_tls_is_refused():
    with pytest.raises(PermissionError, match="without TLS"):
        await start(SERVICES, settings(grpc_host="0.0.0.0"), MemoryBus("e2e"))
