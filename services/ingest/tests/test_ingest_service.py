"""The ingest service in the embedded runtime: registry over gRPC, file cameras, bad media,
citizen uploads. Real clips, real decoding, real gRPC and HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import itertools
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import aiohttp.web
import av
import grpc
import numpy as np
import pytest
from PIL import Image
from vigie.camera.v1.camera_health_pb2 import CameraHealthChanged, CameraState
from vigie.camera.v1.camera_pb2 import SOURCE_KIND_CITIZEN, Camera
from vigie.ingest.v1 import ingest_service_pb2 as pb
from vigie.ingest.v1 import ingest_service_pb2_grpc as pb_grpc
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie.ingest.v1.report_pb2 import ReportReceived
from vigie_core.bus.memory import MemoryBus
from vigie_core.runtime import Running, start
from vigie_core.settings import CoreSettings
from vigie_core.topics import CAMERA_HEALTH, FRAMES, REPORTS

STATE = CameraState.Name
CARPARK_30S = Path(__file__).resolve().parents[3].parent / "shared/data/clips/carpark_topdown.mp4"


@pytest.fixture
def media(tmp_path: Path, clips: Path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    shutil.copy(clips / "carpark_topdown.mp4", root / "carpark.mp4")
    good = (root / "carpark.mp4").read_bytes()
    (root / "empty.mp4").write_bytes(b"")
    (root / "garbage.mp4").write_bytes(np.random.default_rng(7).bytes(300_000))
    (root / "notes.mp4").write_text("these are not the frames you are looking for\n" * 100)
    (root / "truncated.mp4").write_bytes(good[: len(good) // 5])
    with av.open(str(root / "huge.avi"), "w") as out:  # 8000 px wide: over the 7680 cap
        stream = out.add_stream("mjpeg", rate=5)
        stream.width, stream.height, stream.pix_fmt = 8000, 16, "yuvj420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((16, 8000, 3), np.uint8), format="rgb24")
        for packet in stream.encode(frame.reformat(format="yuvj420p")):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return root


@pytest.fixture
async def ingest(media: Path, tmp_path: Path, monkeypatch) -> AsyncIterator[Running]:
    monkeypatch.setenv("VIGIE_INGEST_MEDIA_ROOT", str(media))
    monkeypatch.setenv("VIGIE_INGEST_MAX_UPLOAD_BYTES", str(4 * 1024 * 1024))
    monkeypatch.setenv("VIGIE_INGEST_MAX_UPLOAD_DURATION_S", "25")
    running = await start(["ingest"], CoreSettings(http_port=0, grpc_port=0, data_dir=tmp_path),
                          MemoryBus("test"))
    yield running
    await running.stop()


def stub(running: Running) -> pb_grpc.IngestServiceStub:
    """An administrator's client that may also relay citizen media (roles admin, reporter)."""
    return pb_grpc.IngestServiceStub(running.channel("admin", "reporter"))


def camera(camera_id: str, path: str, fps: float = 2.0) -> Camera:
    cam = Camera(camera_id=camera_id, name=camera_id, source_url=f"file://{path}",
                 sample_fps=fps, enabled=True)
    cam.geo.lat_deg, cam.geo.lon_deg = 43.7009, 7.2683
    return cam


async def read(bus: MemoryBus, topic, until, timeout: float = 60.0) -> list:
    """Messages of `topic` (from the start) until `until(messages)` holds or time is up."""
    consumer = bus.consumer(f"reader-{id(until)}", [topic.name])
    messages: list = []
    deadline = asyncio.get_running_loop().time() + timeout
    while not until(messages) and asyncio.get_running_loop().time() < deadline:
        record = await consumer.poll(0.2)
        if record is not None:
            messages.append(topic.message_type.FromString(record.value))
    await consumer.close()
    return messages


async def test_the_camera_registry_over_grpc(ingest, media):
    api = stub(ingest)
    carpark = media / "carpark.mp4"
    await api.RegisterCamera(pb.RegisterCameraRequest(camera=camera("cam-a", carpark)))
    with pytest.raises(grpc.aio.AioRpcError) as exists:
        await api.RegisterCamera(pb.RegisterCameraRequest(camera=camera("cam-a", "/x")))
    assert exists.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await api.RegisterCamera(pb.RegisterCameraRequest(
            camera=camera("cam-b", "/etc/passwd", fps=0)))
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "source_url: file sources must be under the media root" in invalid.value.details()
    assert "sample_fps" in invalid.value.details()

    for i in range(3):
        await api.RegisterCamera(pb.RegisterCameraRequest(
            camera=camera(f"cam-z{i}", media / "carpark.mp4")))
    first = await api.ListCameras(pb.ListCamerasRequest(page_size=3))
    rest = await api.ListCameras(pb.ListCamerasRequest(page_size=3,
                                                       page_token=first.next_page_token))
    assert [c.camera_id for c in first.cameras] == ["cam-a", "cam-z0", "cam-z1"]
    assert [c.camera_id for c in rest.cameras] == ["cam-z2"] and not rest.next_page_token

    update = pb.UpdateCameraRequest(camera=Camera(camera_id="cam-a", sample_fps=1.0))
    update.update_mask.paths.append("sample_fps")
    updated = await api.UpdateCamera(update)
    assert updated.camera.sample_fps == 1.0 and updated.camera.name == "cam-a"
    await api.RemoveCamera(pb.RemoveCameraRequest(camera_id="cam-a"))
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await api.RemoveCamera(pb.RemoveCameraRequest(camera_id="cam-a"))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_file_camera_publishes_sampled_downscaled_frames_at_its_rate(ingest, media):
    await stub(ingest).RegisterCamera(pb.RegisterCameraRequest(
        camera=camera("carpark", media / "carpark.mp4", fps=2.0)))
    bus = ingest.bus
    health = await read(bus, CAMERA_HEALTH, lambda m: any(
        h.state == CameraState.CAMERA_STATE_DOWN for h in m))
    assert [(STATE(h.state), h.reason) for h in health] == [
        ("CAMERA_STATE_UP", "frames flowing"), ("CAMERA_STATE_DOWN", "end of file")]
    frames: list[FrameSampled] = await read(bus, FRAMES, lambda m: False, timeout=1)

    # 30 s of video at 2 frames/s, minus frames held back for lack of motion
    assert 20 <= len(frames) <= 61
    assert [f.sequence for f in frames] == list(range(len(frames)))
    assert all(b.pts_s - a.pts_s >= 0.45 for a, b in itertools.pairwise(frames))
    first = frames[0]
    image = Image.open(io.BytesIO(first.jpeg))
    assert image.format == "JPEG" and image.size == (first.width, first.height) == (768, 432)
    assert 5_000 < len(first.jpeg) < 150_000  # tens of KB, never raw pixels
    assert (first.geo.lat_deg, first.geo.lon_deg) == (43.7009, 7.2683)
    assert first.frame_id.startswith("carpark:")
    assert len({f.frame_id for f in frames}) == len(frames)
    assert health[-1].frames_total == len(frames)


@pytest.mark.parametrize(("name", "reason"), [
    ("empty.mp4", "cannot open source"),
    ("garbage.mp4", "cannot open source"),
    ("notes.mp4", "cannot open source"),
    ("huge.avi", "frame size 8000x16 exceeds 7680x4320"),
    ("missing.mp4", "cannot open source: FileNotFoundError"),
])
async def test_unusable_files_fail_with_a_reason_while_a_good_camera_keeps_going(
        ingest, media, name, reason):
    api = stub(ingest)
    await api.RegisterCamera(pb.RegisterCameraRequest(camera=camera("bad", media / name)))
    await api.RegisterCamera(pb.RegisterCameraRequest(camera=camera("good", media / "carpark.mp4")))
    health: list[CameraHealthChanged] = await read(ingest.bus, CAMERA_HEALTH, lambda m: {
        (h.camera_id, h.state) for h in m} >= {("bad", CameraState.CAMERA_STATE_FAILED),
                                              ("good", CameraState.CAMERA_STATE_DOWN)})
    bad = [h for h in health if h.camera_id == "bad"]
    assert [STATE(h.state) for h in bad] == ["CAMERA_STATE_FAILED"]
    assert reason in bad[0].reason
    good = [STATE(h.state) for h in health if h.camera_id == "good"]
    assert good == ["CAMERA_STATE_UP", "CAMERA_STATE_DOWN"]
    assert ingest.status()["services"]["ingest"]["health"] == {"bad": "failed", "good": "down"}


async def test_a_truncated_file_publishes_what_it_has_then_stops(ingest, media):
    await stub(ingest).RegisterCamera(pb.RegisterCameraRequest(
        camera=camera("cut", media / "truncated.mp4")))
    health = await read(ingest.bus, CAMERA_HEALTH, lambda m: any(
        h.state in (CameraState.CAMERA_STATE_DOWN, CameraState.CAMERA_STATE_FAILED) for h in m))
    assert STATE(health[0].state) == "CAMERA_STATE_UP"
    assert STATE(health[-1].state) in ("CAMERA_STATE_DOWN", "CAMERA_STATE_FAILED")
    assert 0 < health[-1].frames_total < 61


def upload_requests(meta: pb.UploadMetadata, data: bytes, chunk: int = 512 * 1024):
    yield pb.UploadMediaRequest(metadata=meta)
    for i in range(0, len(data), chunk):
        yield pb.UploadMediaRequest(chunk=data[i:i + chunk])


def metadata(media_type: str = "video/mp4") -> pb.UploadMetadata:
    meta = pb.UploadMetadata(media_type=media_type, text="voiture sur le trottoir")
    meta.geo.lat_deg, meta.geo.lon_deg = 43.6961, 7.2718
    return meta


async def test_a_citizen_upload_becomes_geolocated_frames_and_a_report(ingest, clips):
    data = (clips / "crossing_crowd_aerial.mp4").read_bytes()
    reply = await stub(ingest).UploadMedia(upload_requests(metadata(), data))
    again = await stub(ingest).UploadMedia(upload_requests(metadata(), data))
    assert again.report_id == reply.report_id  # same media, same report: idempotent

    reports: list[ReportReceived] = await read(ingest.bus, REPORTS, lambda m: len(m) >= 1)
    assert reports[0].report_id == reply.report_id
    assert reports[0].text == "voiture sur le trottoir" and reports[0].media.size_bytes == len(data)
    assert Path(reports[0].media.uri.removeprefix("file://")).read_bytes() == data  # evidence
    frames = await read(ingest.bus, FRAMES, lambda m: len(m) >= reply.frames_published)
    assert reply.frames_published == len(frames) >= 20  # ~17 s at 2 frames/s, twice
    assert {f.source_kind for f in frames} == {SOURCE_KIND_CITIZEN}
    assert {f.report_id for f in frames} == {reply.report_id}
    assert {(f.geo.lat_deg, f.geo.lon_deg) for f in frames} == {(43.6961, 7.2718)}


@pytest.mark.parametrize(("requests", "code", "message"), [
    (lambda big: upload_requests(metadata(), big), grpc.StatusCode.RESOURCE_EXHAUSTED,
     "upload larger than 4194304 bytes"),
    (lambda big: upload_requests(metadata(), CARPARK_30S.read_bytes()),
     grpc.StatusCode.INVALID_ARGUMENT, "media longer than the 25 s limit"),
    (lambda big: upload_requests(metadata(), b"GIF89a not a video" * 10),
     grpc.StatusCode.INVALID_ARGUMENT, "not a usable video or image"),
    (lambda big: upload_requests(metadata("application/x-sh"), b"#!/bin/sh"),
     grpc.StatusCode.INVALID_ARGUMENT, "media_type 'application/x-sh' is not accepted"),
    (lambda big: iter([pb.UploadMediaRequest(chunk=b"no metadata first")]),
     grpc.StatusCode.INVALID_ARGUMENT, "the first message must carry the upload metadata"),
    (lambda big: upload_requests(pb.UploadMetadata(media_type="video/mp4"), b"x"),
     grpc.StatusCode.INVALID_ARGUMENT, "geo is required"),
])
async def test_bad_uploads_are_refused_with_a_status_and_a_reason(ingest, requests, code, message):
    big = b"\0" * (5 * 1024 * 1024)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub(ingest).UploadMedia(requests(big))
    assert refused.value.code() == code
    assert message in refused.value.details()
    reports = await read(ingest.bus, REPORTS, lambda m: False, timeout=0.5)
    assert reports == []  # nothing published for a refused upload


async def test_http_uploads_answer_201_413_and_422(ingest, clips):
    base = f"http://127.0.0.1:{ingest.http_port}/ingest/uploads"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}?lat=43.69&lon=7.27&text=bruit",
                             data=(clips / "motorway_overpass.mp4").read_bytes(),
                             headers={"Content-Type": "video/mp4"}) as ok:
            assert ok.status == 201 and (await ok.json())["frames_published"] > 0
        async with http.post(f"{base}?lat=43.69&lon=7.27", data=b"\0" * (5 * 1024 * 1024),
                             headers={"Content-Type": "video/mp4"}) as big:
            assert big.status == 413 and "larger than" in (await big.json())["error"]
        async with http.post(f"{base}?lat=north&lon=7.27", data=b"x",
                             headers={"Content-Type": "video/mp4"}) as bad:
            assert bad.status == 422 and "lat and lon" in (await bad.json())["error"]
        async with http.get(f"http://127.0.0.1:{ingest.http_port}/metrics", headers={
                "Authorization": f"Bearer {ingest.issue_token('metrics')}"}) as metrics:
            text = await metrics.text()
    assert 'vigie_ingest_rejections_total{what="upload"}' in text


async def test_an_http_stream_is_a_camera_source(ingest, clips):
    app = aiohttp.web.Application()
    app.router.add_static("/live/", clips)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        cam = camera("http-cam", "x")
        cam.source_url = f"http://127.0.0.1:{port}/live/motorway_overpass.mp4"
        await stub(ingest).RegisterCamera(pb.RegisterCameraRequest(camera=cam))
        health = await read(ingest.bus, CAMERA_HEALTH, lambda m: len(m) >= 2)
        assert [STATE(h.state) for h in health] == ["CAMERA_STATE_UP", "CAMERA_STATE_STALLED"]
        assert health[1].reason == "stream ended"  # a network source that ends is retried
        frames = await read(ingest.bus, FRAMES, lambda m: False, timeout=1)
        assert len(frames) >= 20 and frames[0].width == 960
    finally:
        await runner.cleanup()
