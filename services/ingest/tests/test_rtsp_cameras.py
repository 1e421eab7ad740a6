"""Cameras on a real RTSP server (GStreamer's, on 127.0.0.1) streaming a real clip: frames flow,
a killed server is seen stalled then reconnecting then up again, a server that accepts but never
sends is caught within the watchdog bound, and one bad camera does not slow a good one."""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from vigie.camera.v1.camera_health_pb2 import CameraHealthChanged, CameraState
from vigie.camera.v1.camera_pb2 import Camera
from vigie.ingest.v1 import ingest_service_pb2 as pb
from vigie.ingest.v1 import ingest_service_pb2_grpc as pb_grpc
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie_core.bus.memory import MemoryBus
from vigie_core.runtime import Running, start
from vigie_core.settings import CoreSettings
from vigie_core.topics import CAMERA_HEALTH, FRAMES

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
from rtsp_server import BlackHoleServer, RtspServer, available

OPEN_S, READ_S, STALL_S = 2.0, 1.0, 3.0
UP, STALLED, RECONNECTING = (CameraState.CAMERA_STATE_UP, CameraState.CAMERA_STATE_STALLED,
                             CameraState.CAMERA_STATE_RECONNECTING)


@pytest.fixture(scope="module")
def rtsp(clips) -> RtspServer:
    if reason := available():
        pytest.skip(reason)
    server = RtspServer().start()
    server.publish("carpark", clips / "carpark_topdown.mp4")
    yield server
    server.stop()


class Watch:
    """Everything published on the frames and camera-health topics, as it arrives."""

    def __init__(self, bus: MemoryBus) -> None:
        self.frames: list[FrameSampled] = []
        self.health: list[CameraHealthChanged] = []
        self._consumer = bus.consumer("watch", [FRAMES.name, CAMERA_HEALTH.name])
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            record = await self._consumer.poll(0.2)
            if record is None:
                continue
            if record.topic == FRAMES.name:
                self.frames.append(FrameSampled.FromString(record.value))
            else:
                self.health.append(CameraHealthChanged.FromString(record.value))

    def states(self, camera_id: str) -> list[int]:
        return [h.state for h in self.health if h.camera_id == camera_id]

    def frames_of(self, camera_id: str) -> list[FrameSampled]:
        return [f for f in self.frames if f.camera_id == camera_id]

    async def until(self, condition, timeout: float) -> float:
        """Wait for `condition()`; return the seconds it took, or fail with what was seen."""
        started = time.monotonic()
        while not condition():
            if time.monotonic() - started > timeout:
                states = [(h.camera_id, CameraState.Name(h.state), h.reason) for h in self.health]
                raise AssertionError(f"timed out after {timeout}s; health seen: {states}")
            await asyncio.sleep(0.05)
        return time.monotonic() - started

    def stop(self) -> None:
        self._task.cancel()


@pytest.fixture
async def ingest(tmp_path, monkeypatch) -> AsyncIterator[tuple[Running, Watch]]:
    for name, value in {"OPEN_TIMEOUT_S": OPEN_S, "READ_TIMEOUT_S": READ_S,
                        "STALL_TIMEOUT_S": STALL_S, "BACKOFF_BASE_S": 0.3,
                        "BACKOFF_CAP_S": 1.5, "SAMPLE_FPS": 5, "MIN_MOTION": 0}.items():
        monkeypatch.setenv(f"VIGIE_INGEST_{name}", str(value))
    bus = MemoryBus("rtsp-test")
    running = await start(["ingest"], CoreSettings(http_port=0, grpc_port=0, data_dir=tmp_path),
                          bus)
    watch = Watch(bus)
    yield running, watch
    watch.stop()
    await running.stop()


async def register(running: Running, camera_id: str, url: str) -> None:
    api = pb_grpc.IngestServiceStub(running.channel("admin"))
    await api.RegisterCamera(pb.RegisterCameraRequest(camera=Camera(
        camera_id=camera_id, name=camera_id, source_url=url, sample_fps=5, enabled=True)))


async def test_frames_flow_and_a_killed_server_goes_stalled_reconnecting_up(ingest, rtsp):
    running, watch = ingest
    await register(running, "carpark", rtsp.url("carpark"))
    await watch.until(lambda: len(watch.frames_of("carpark")) >= 10, 30)
    assert watch.states("carpark") == [UP]
    first = watch.frames_of("carpark")[0]
    assert (first.width, first.height) == (768, 432) and first.jpeg[:2] == b"\xff\xd8"

    rtsp.kill()
    await watch.until(lambda: RECONNECTING in watch.states("carpark"), 15)
    await asyncio.sleep(2 * 1.5)  # a few failed attempts while the server is down
    before_restart = len(watch.frames_of("carpark"))
    rtsp.restart()
    await watch.until(lambda: watch.states("carpark")[-1] == UP, 30)
    await watch.until(lambda: len(watch.frames_of("carpark")) >= before_restart + 10, 30)

    states = watch.states("carpark")
    assert states[:3] == [UP, STALLED, RECONNECTING]
    assert set(states[3:-1]) == {RECONNECTING} and states[-1] == UP
    attempts = [h.attempt for h in watch.health if h.state == RECONNECTING]
    assert attempts == list(range(1, len(attempts) + 1))  # counted, with growing back-off
    assert watch.health[-1].previous_state == RECONNECTING


async def test_a_server_that_accepts_but_never_sends_is_caught_within_the_bound(ingest):
    running, watch = ingest
    with BlackHoleServer().start() as hole:
        started = time.monotonic()
        await register(running, "mute", hole.url("cam"))
        waited = await watch.until(lambda: RECONNECTING in watch.states("mute"), 20)
        assert hole.accepted >= 1
    assert waited <= OPEN_S + STALL_S + 1.0  # the watchdog bound (open + stall), plus slack
    assert UP not in watch.states("mute")
    reason = next(h.reason for h in watch.health if h.camera_id == "mute")
    assert "cannot open source" in reason
    assert time.monotonic() - started < 20


async def test_a_frozen_publisher_is_seen_stalled_and_comes_back(ingest, rtsp, clips):
    running, watch = ingest
    publisher = rtsp.publish("frozen-cam", clips / "motorway_overpass.mp4")
    try:
        await register(running, "frozen", rtsp.url("frozen-cam"))
        await watch.until(lambda: len(watch.frames_of("frozen")) >= 5, 30)
        publisher.pause()
        waited = await watch.until(lambda: STALLED in watch.states("frozen"), 20)
        assert waited <= 2 * READ_S + STALL_S + 1.0
        publisher.resume()
        await watch.until(lambda: watch.states("frozen")[-1] == UP and len(
            watch.states("frozen")) > 2, 30)
    finally:
        rtsp.unpublish("frozen-cam")


async def test_a_bad_camera_does_not_slow_a_good_one(ingest, rtsp):
    running, watch = ingest
    with BlackHoleServer().start() as hole:
        await register(running, "good", rtsp.url("carpark"))
        await watch.until(lambda: len(watch.frames_of("good")) >= 5, 30)
        for i in range(3):
            await register(running, f"mute-{i}", hole.url(f"cam{i}"))
        start_count, started = len(watch.frames_of("good")), time.monotonic()
        await asyncio.sleep(6)
        rate = (len(watch.frames_of("good")) - start_count) / (time.monotonic() - started)
    # 5 frames/s sampled from a 12.5 fps live stream: the mute cameras cost it nothing
    assert rate >= 4.0, rate
    assert watch.states("good") == [UP]


CORRUPT_BOUND_S = OPEN_S + STALL_S + 1.5 + 1.0  # open + stall + longest back-off, plus slack
LIGHT = "noise=amount=300:drop=not(mod(n\\,9))"  # a byte in 300 damaged, a packet in 9 lost
HEAVY = "noise=amount=20:drop=not(mod(n\\,5))"  # unreadable: nothing decodes


async def test_a_camera_sending_corrupt_packets_keeps_delivering_and_others_are_unaffected(
        ingest, rtsp, clips):
    """Damaged and dropped H.264 packets (ffmpeg's noise bitstream filter on the publisher):
    the decoder conceals them and the camera never goes longer than CORRUPT_BOUND_S without a
    frame; a clean camera beside it keeps its rate."""
    running, watch = ingest
    rtsp.publish("noisy-cam", clips / "carpark_topdown.mp4", bsf=LIGHT)
    try:
        await register(running, "good", rtsp.url("carpark"))
        await register(running, "noisy", rtsp.url("noisy-cam"))
        await watch.until(lambda: len(watch.frames_of("noisy")) >= 3, 30)
        await watch.until(lambda: len(watch.frames_of("good")) >= 3, 30)
        good_start, started = len(watch.frames_of("good")), time.monotonic()
        await asyncio.sleep(15)
        took = time.monotonic() - started
        rate = (len(watch.frames_of("good")) - good_start) / took
        noisy = [f for f in watch.frames_of("noisy")
                 if f.ingested_at.ToNanoseconds() / 1e9 >= time.time() - took]
    finally:
        rtsp.unpublish("noisy-cam")
    assert rate >= 4.0, rate  # the clean camera: its 5 frames/s
    assert watch.states("good") == [UP]
    times = sorted(f.ingested_at.ToNanoseconds() / 1e9 for f in noisy)
    assert len(times) >= 10, len(times)  # the damaged camera delivers
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps, default=0.0) <= CORRUPT_BOUND_S, (max(gaps), watch.states("noisy"))
    assert all(f.jpeg[:2] == b"\xff\xd8" for f in noisy)  # whole JPEGs, whatever came in


async def test_a_burst_of_undecodable_packets_is_recovered_from_within_the_bound(
        ingest, rtsp, clips):
    """6 s of a stream nothing can decode, then a clean one again: the camera is back (frames
    flowing) within CORRUPT_BOUND_S of the stream being readable, and a clean camera beside it
    never noticed."""
    running, watch = ingest
    clip = clips / "carpark_topdown.mp4"
    rtsp.publish("burst-cam", clip)
    try:
        await register(running, "good", rtsp.url("carpark"))
        await register(running, "burst", rtsp.url("burst-cam"))
        await watch.until(lambda: len(watch.frames_of("burst")) >= 3, 30)
        await watch.until(lambda: len(watch.frames_of("good")) >= 3, 30)
        good_start, started = len(watch.frames_of("good")), time.monotonic()
        # (in a thread: the test's own blocking calls must not stall the service's loop)
        await asyncio.to_thread(rtsp.publish, "burst-cam", clip, bsf=HEAVY, wait=False)
        await asyncio.sleep(6)
        await asyncio.to_thread(rtsp.publish, "burst-cam", clip)  # readable once it returns
        readable = time.monotonic()
        before = len(watch.frames_of("burst"))
        waited = await watch.until(lambda: len(watch.frames_of("burst")) > before + 2, 30)
        rate = (len(watch.frames_of("good")) - good_start) / (time.monotonic() - started)
    finally:
        rtsp.unpublish("burst-cam")
    assert time.monotonic() - readable >= waited
    assert waited <= CORRUPT_BOUND_S, (waited, watch.states("burst"))
    assert watch.states("burst")[-1] == UP
    assert rate >= 4.0 and watch.states("good") == [UP]
