"""The detect service in the embedded runtime on real frames of a pedestrian street
(TUD-Stadtmitte): detections with stable track ids, bad frames dead-lettered, gRPC Detect."""

from __future__ import annotations

import asyncio
import io
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import av
import grpc
import pytest
import required_inputs as inputs
from vigie.detect.v1 import detect_service_pb2 as pb
from vigie.detect.v1 import detect_service_pb2_grpc as pb_grpc
from vigie.detect.v1.detection_pb2 import ObjectsDetected
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie_core.bus.memory import MemoryBus
from vigie_core.codec import header
from vigie_core.runtime import Running, start
from vigie_core.settings import CoreSettings
from vigie_core.topics import DETECTIONS, FRAMES

START = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def jpegs() -> list[bytes]:
    """The first 40 frames of TUD-Stadtmitte (640x480, 25 fps) as JPEG, as ingest sends them."""
    clip = inputs.need(inputs.mot15) / "TUD-Stadtmitte/TUD-Stadtmitte.mp4"
    out = []
    with av.open(str(clip)) as container:
        for frame in container.decode(video=0):
            buffer = io.BytesIO()
            frame.to_image().save(buffer, format="JPEG", quality=85)
            out.append(buffer.getvalue())
            if len(out) == 40:
                break
    return out


def frame(camera: str, seq: int, jpeg: bytes, width: int = 640, height: int = 480,
          motion: float = 1.0) -> FrameSampled:
    f = FrameSampled(frame_id=f"{camera}:{seq}", camera_id=camera, sequence=seq, jpeg=jpeg,
                     width=width, height=height, motion_score=motion)
    f.captured_at.FromDatetime(START + timedelta(seconds=seq / 5))
    return f


@pytest.fixture
async def detect(tmp_path, monkeypatch) -> AsyncIterator[Running]:
    monkeypatch.setenv("VIGIE_DETECT_MAX_BATCH", "4")
    running = await start(["detect"], CoreSettings(http_port=0, grpc_port=0, data_dir=tmp_path),
                          MemoryBus("detect-test"))
    yield running
    await running.stop()


async def collect(bus: MemoryBus, topic: str, count: int, timeout: float = 90):
    consumer = bus.consumer(f"reader-{topic}", [topic])
    records = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(records) < count and asyncio.get_running_loop().time() < deadline:
        record = await consumer.poll(0.2)
        if record is not None:
            records.append(record)
    await consumer.close()
    return records


async def test_people_are_detected_and_followed_across_frames(detect, jpegs):
    bus = detect.bus
    for seq, jpeg in enumerate(jpegs):
        await bus.publish(FRAMES, "tud", frame("tud", seq, jpeg), event_id=f"tud:{seq}")
    records = await collect(bus, DETECTIONS.name, len(jpegs))
    results = [ObjectsDetected.FromString(r.value) for r in records]

    assert [r.frame_id for r in results] == [f"tud:{i}" for i in range(len(jpegs))]  # in order
    assert results[0].model_id.startswith("yolov3-tiny@")
    persons = [sum(d.class_name == "person" for d in r.detections) for r in results]
    assert 3 <= sum(persons) / len(persons) <= 10  # a busy pavement: several people per frame
    boxes = [d.box for r in results for d in r.detections]
    assert all(0 <= b.x_min < b.x_max <= 1 and 0 <= b.y_min < b.y_max <= 1 for b in boxes)
    # ByteTrack: the same people keep their ids from frame to frame
    frames_per_track = Counter(d.track_id for r in results for d in r.detections)
    untracked = frames_per_track.pop(0, 0)  # new objects' first frames, low-score boxes
    assert untracked <= 0.2 * len(boxes)
    long_tracks = [t for t, n in frames_per_track.items() if n >= 20]
    assert len(long_tracks) >= 3, frames_per_track
    assert all(r.captured_at.ToDatetime(UTC) >= START for r in results)


async def test_bad_frames_go_to_the_dlq_and_the_stream_goes_on(detect, jpegs):
    bus = detect.bus
    await bus.publish(FRAMES, "cam-bad", frame("cam-bad", 0, b"\xff\xd8 not really a jpeg"))
    await bus.publish(FRAMES, "cam-bad", frame("cam-bad", 1, jpegs[0], width=320, height=240))
    await bus.publish(FRAMES, "cam-bad", frame("cam-bad", 2, b""))
    await bus.publish(FRAMES, "cam-bad", frame("cam-bad", 3, jpegs[1]))
    good = await collect(bus, DETECTIONS.name, 1)
    assert ObjectsDetected.FromString(good[0].value).frame_id == "cam-bad:3"
    dead = await collect(bus, FRAMES.dlq, 3)
    errors = [header(r.headers, "dlq_error") for r in dead]
    assert "undecodable image" in errors[0]
    assert "image is 640x480 but the frame says 320x240" in errors[1]
    assert "no image bytes" in errors[2]
    assert {header(r.headers, "dlq_stage") for r in dead} == {"handler"}


async def test_frames_without_motion_are_skipped_up_to_the_maximum_gap(tmp_path, monkeypatch,
                                                                       jpegs):
    monkeypatch.setenv("VIGIE_DETECT_MIN_MOTION", "0.01")
    monkeypatch.setenv("VIGIE_DETECT_MAX_SKIP_S", "2")
    running = await start(["detect"], CoreSettings(http_port=0, grpc_port=0, data_dir=tmp_path),
                          MemoryBus("skip-test"))
    try:
        for seq in range(25):  # 5 s at 5 frames/s, no motion at all
            await running.bus.publish(FRAMES, "still", frame("still", seq, jpegs[0], motion=0.0))
        records = await collect(running.bus, DETECTIONS.name, 3, timeout=30)
        await asyncio.sleep(1)
        analysed = [ObjectsDetected.FromString(r.value).frame_id for r in records]
    finally:
        await running.stop()
    assert analysed == ["still:0", "still:10", "still:20"]  # one every 2 s of stream time


async def test_grpc_detect_answers_integrators_and_refuses_bad_requests(detect, jpegs):
    async with detect.channel("integrator") as channel:
        api = pb_grpc.DetectServiceStub(channel)
        reply = await api.Detect(pb.DetectRequest(image=jpegs[10], min_confidence=0.5),
                                 timeout=30)
        assert (reply.image_width, reply.image_height) == (640, 480)
        names = defaultdict(int)
        for d in reply.detections:
            names[d.class_name] += 1
            assert d.confidence >= 0.5 and d.track_id == 0
        assert names["person"] >= 2
        for request, message in [
            (pb.DetectRequest(image=b"GIF89a"), "undecodable image"),
            (pb.DetectRequest(image=jpegs[0], model="yolov99"), "is not served here"),
            (pb.DetectRequest(image=jpegs[0], min_confidence=2), "min_confidence"),
        ]:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await api.Detect(request, timeout=30)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert message in refused.value.details()
