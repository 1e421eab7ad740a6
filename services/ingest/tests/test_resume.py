"""A file camera that ingest stops in the middle of (a crash, a redeploy) resumes after its last
frame on the frames topic: the same frames as an uninterrupted run (same sampling, same gating,
same JPEG bytes, same ids from the first session's start time), each once. And file sources
played at stream speed."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

import pytest
import required_inputs as inputs
from vigie.camera.v1.camera_health_pb2 import CameraHealthChanged, CameraState
from vigie.camera.v1.camera_pb2 import Camera
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie_core.bus.memory import MemoryBus
from vigie_core.runtime import Running, start
from vigie_core.settings import CoreSettings
from vigie_core.topics import CAMERA_HEALTH, CAMERAS, FRAMES


@pytest.fixture
def clip() -> Path:
    return inputs.need(inputs.mot15) / "TUD-Stadtmitte/TUD-Stadtmitte.mp4"


class KeptBus(MemoryBus):
    """A memory bus that outlives the runtimes started on it (as Kafka outlives processes)."""

    async def close(self) -> None:
        await super().close()
        self._closed = False


async def run_ingest(bus: MemoryBus, clip: Path, tmp_path: Path, speed: float) -> Running:
    return await start(["ingest"], CoreSettings(http_port=0, grpc_port=0, data_dir=tmp_path),
                       bus, {"ingest": {"media_root": clip.parent, "file_speed": speed,
                                        "min_motion": 0.002}})


async def frames_of(bus: MemoryBus, camera_id: str) -> list[FrameSampled]:
    return [FrameSampled.FromString(r.value) for r in await bus.read_all(FRAMES.name)
            if r.key == camera_id.encode()]


async def ended(bus: MemoryBus, camera_id: str) -> bool:
    """The camera reached the end of its file (not only stopped with a runtime)."""
    changes = [CameraHealthChanged.FromString(r.value) for r in
               await bus.read_all(CAMERA_HEALTH.name) if r.key == camera_id.encode()]
    return any(c.state == CameraState.CAMERA_STATE_DOWN and c.reason == "end of file"
               for c in changes)


async def until(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def content(frames: list[FrameSampled]) -> list[tuple[int, float, str]]:
    """What must not depend on when ingest ran: sequence, stream time, the JPEG."""
    return [(f.sequence, round(f.pts_s, 6), hashlib.sha256(f.jpeg).hexdigest()) for f in frames]


async def test_a_file_camera_stopped_midway_resumes_after_its_last_frame(clip, tmp_path):
    camera = Camera(camera_id="tud", name="tud", source_url=clip.as_uri(), sample_fps=10,
                    enabled=True)
    clean_bus = KeptBus("resume-clean")
    clean = await run_ingest(clean_bus, clip, tmp_path / "clean", 0)
    try:
        await (await clean_bus.publish(CAMERAS, "tud", camera))
        await until(lambda: ended(clean_bus, "tud"), 60)
    finally:
        await clean.stop()
    expected = await frames_of(clean_bus, "tud")
    assert len(expected) >= 50  # 7 s at 10 frames/s, a few gated

    bus = KeptBus("resume")
    pieces = []
    for stop_after in (12, 30):  # two stops midway, at stream speed so that they are midway
        running = await run_ingest(bus, clip, tmp_path / f"run-{stop_after}", 1.0)
        try:
            if stop_after == 12:
                await (await bus.publish(CAMERAS, "tud", camera))
            await until(lambda n=stop_after: _count(bus, n), 60)
        finally:
            await running.stop()
        pieces.append(len(await frames_of(bus, "tud")))
    last = await run_ingest(bus, clip, tmp_path / "last", 0)
    try:
        await until(lambda: ended(bus, "tud"), 60)
    finally:
        await last.stop()
    got = await frames_of(bus, "tud")
    assert pieces[0] < pieces[1] < len(got)  # the runs really stopped midway
    assert content(got) == content(expected)  # nothing lost, nothing twice, same bytes
    # one time line: every id from the first session's start time
    anchor = got[0].captured_at.ToMicroseconds() - round(got[0].pts_s * 1e6)
    assert all(abs(f.captured_at.ToMicroseconds() - round(f.pts_s * 1e6) - anchor) <= 1
               for f in got)
    assert [f.frame_id for f in got] == [f"tud:{f.captured_at.ToMicroseconds()}" for f in got]

    # and once the file was published to its end, a restart publishes nothing more
    again = await run_ingest(bus, clip, tmp_path / "again", 0)
    try:
        await asyncio.sleep(3)
    finally:
        await again.stop()
    assert len(await frames_of(bus, "tud")) == len(got)


async def _count(bus: MemoryBus, n: int) -> bool:
    return len(await frames_of(bus, "tud")) >= n


async def test_file_sources_can_be_played_at_stream_speed(clip, tmp_path):
    bus = MemoryBus("speed")
    running = await run_ingest(bus, clip, tmp_path, 2.0)
    try:
        await (await bus.publish(CAMERAS, "tud", Camera(
            camera_id="tud", name="tud", source_url=clip.as_uri(), sample_fps=5, enabled=True)))
        await until(lambda: _count(bus, 1), 30)
        started = time.monotonic()
        await until(lambda: ended(bus, "tud"), 60)
        took = time.monotonic() - started
    finally:
        await running.stop()
    frames = await frames_of(bus, "tud")
    span = frames[-1].pts_s - frames[0].pts_s  # ~7 s of stream, played twice as fast
    assert span / 2 - 0.5 <= took <= span / 2 + 2.5, (span, took)
