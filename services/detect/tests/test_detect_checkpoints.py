"""Tracker state that survives a restart: detect stopped in the middle of a real pedestrian
sequence (TUD-Stadtmitte) and started again goes on with exactly the track ids of an
uninterrupted run, skips the frames it already tracked (redeliveries, frames ingest published
twice), and keeps its offsets behind its checkpoints. SIGKILLs on real Kafka are in
tests/integration/test_fault_pipeline.py."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import pytest
import required_inputs as inputs
from vigie.detect.v1.detection_pb2 import ObjectsDetected
from vigie.detect.v1.tracker_pb2 import TrackerCheckpointed
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie_core.bus.memory import MemoryBus
from vigie_core.labels import SCENE_CLASSES
from vigie_core.runtime import Running, start
from vigie_core.settings import CoreSettings
from vigie_core.topics import DETECTIONS, FRAMES, TRACKER_STATE

START = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


class KeptBus(MemoryBus):
    """A memory bus that outlives the runtimes started on it (as Kafka outlives processes)."""

    async def close(self) -> None:
        await super().close()
        self._closed = False


@pytest.fixture(scope="module")
def frames() -> list[FrameSampled]:
    """Every other frame of TUD-Stadtmitte's first 120 (12.5 frames/s), as ingest sends them."""
    clip = inputs.need(inputs.mot15) / "TUD-Stadtmitte/TUD-Stadtmitte.mp4"
    out = []
    with av.open(str(clip)) as container:
        for i, decoded in enumerate(container.decode(video=0)):
            if i % 2:
                continue
            buffer = io.BytesIO()
            decoded.to_image().save(buffer, format="JPEG", quality=80)
            captured = START + timedelta(seconds=i / 25)
            frame = FrameSampled(frame_id=f"tud:{int(captured.timestamp() * 1e6)}",
                                 camera_id="tud", sequence=len(out), jpeg=buffer.getvalue(),
                                 width=640, height=480, motion_score=1.0)
            frame.captured_at.FromDatetime(captured)
            out.append(frame)
            if len(out) == 60:
                break
    return out


async def run_detect(bus: MemoryBus, tmp_path: Path) -> Running:
    return await start(["detect"], CoreSettings(http_port=0, grpc_port=0, data_dir=tmp_path),
                       bus, {"detect": {"max_batch": 4, "checkpoint_interval_s": 1.0}})


async def publish(bus: MemoryBus, frames: list[FrameSampled]) -> None:
    for frame in frames:
        await bus.publish(FRAMES, frame.camera_id, frame, event_id=frame.frame_id)


async def detections(bus: MemoryBus, count: int, timeout: float = 120) -> list[ObjectsDetected]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = [ObjectsDetected.FromString(r.value) for r in await bus.read_all(DETECTIONS.name)]
        if len({d.frame_id for d in found}) >= count or (
                asyncio.get_running_loop().time() > deadline):
            return found
        await asyncio.sleep(0.2)


def tracks(found: list[ObjectsDetected]) -> dict[str, list[tuple[int, tuple[float, ...]]]]:
    """The tracked objects of each frame. Not the scene stage's still regions: its background
    models are learned again after a restart, not checkpointed (app.py's docstring)."""
    return {d.frame_id: [(o.track_id, (o.box.x_min, o.box.y_min, o.box.x_max, o.box.y_max))
                         for o in d.detections if o.class_name not in SCENE_CLASSES]
            for d in found}


async def test_a_restarted_detect_goes_on_with_the_same_track_ids(frames, tmp_path):
    clean_bus = KeptBus("clean")
    clean = await run_detect(clean_bus, tmp_path / "clean")
    try:
        await publish(clean_bus, frames)
        expected = tracks(await detections(clean_bus, len(frames)))
    finally:
        await clean.stop()
    assert len(expected) == len(frames)
    assert len({t for ds in expected.values() for t, _ in ds if t}) >= 5

    bus = KeptBus("restarted")
    first = await run_detect(bus, tmp_path / "first")
    try:
        await publish(bus, frames[:27])
        await detections(bus, 27)
    finally:
        await first.stop()  # drains, checkpoints every camera, commits
    saved = [TrackerCheckpointed.FromString(r.value) for r in await bus.read_all(
        TRACKER_STATE.name) if r.key == b"tud"]
    assert saved and saved[-1].frame_id == frames[26].frame_id  # the last frame handled
    assert bus.committed("vigie-detect", FRAMES.name) != [None] * FRAMES.partitions

    # ingest republished a few frames (a restart of its own), then went on
    await publish(bus, frames[22:27] + frames[27:])
    second = await run_detect(bus, tmp_path / "second")
    try:
        found = await detections(bus, len(frames))
        await asyncio.sleep(1.0)  # duplicates, if any, would be out by now
        found = [ObjectsDetected.FromString(r.value) for r in await bus.read_all(DETECTIONS.name)]
        status = second.status()["services"]["detect"]
    finally:
        await second.stop()
    assert tracks(found) == expected  # the same ids (and boxes) as the uninterrupted run
    assert len(found) == len(frames)  # the republished frames gave nothing twice
    assert status["checkpoints"] is True


async def test_a_corrupt_image_among_frames_in_flight_holds_back_no_later_offset(frames, tmp_path):
    """Found by the fuzz suite: a frame whose image is undecodable, arriving while the frame
    before it was still being detected, was marked "not published" instead of following that
    frame, so every later frame of the camera waited for a checkpoint that never came and the
    camera's offsets stayed uncommitted (the stream looked alive and did nothing durable)."""
    bus = KeptBus("detect-poison", retain_records=10_000)
    running = await run_detect(bus, tmp_path)
    try:
        corrupt = FrameSampled()
        corrupt.CopyFrom(frames[3])
        corrupt.frame_id, corrupt.jpeg = "tud:corrupt", b"\xff\xd8 not a jpeg"
        corrupt.captured_at.FromMicroseconds(frames[3].captured_at.ToMicroseconds() + 1)
        await publish(bus, [*frames[:4], corrupt, *frames[4:20]])  # all at once: in flight
        found = await detections(bus, 20)
        assert len({d.frame_id for d in found}) == 20
        end = bus.end_offsets(FRAMES.name)
        deadline = asyncio.get_running_loop().time() + 60
        while bus.committed("vigie-detect", FRAMES.name) != [e or None for e in end]:
            assert asyncio.get_running_loop().time() < deadline, (
                bus.committed("vigie-detect", FRAMES.name), end)
            await asyncio.sleep(0.2)
        dead = await bus.read_all(FRAMES.dlq)
        assert [FrameSampled.FromString(r.value).frame_id for r in dead] == ["tud:corrupt"]
    finally:
        await running.stop()
