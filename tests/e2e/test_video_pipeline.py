"""A real video through ingest and detect: embedded (`vigie run --video`) and as separate
processes over real Kafka."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import aiohttp
import grpc
from process_helpers import VIGIE, free_port
from process_helpers import vigie_env as env
from vigie.camera.v1.camera_pb2 import Camera
from vigie.detect.v1.detection_pb2 import ObjectsDetected
from vigie.ingest.v1 import ingest_service_pb2 as pb
from vigie.ingest.v1 import ingest_service_pb2_grpc as pb_grpc
from vigie_core.auth.rpc import bearer_metadata, metadata_interceptors
from vigie_core.auth.tokens import TokenStore
from vigie_core.bus.kafka import KafkaBus
from vigie_core.topics import DETECTIONS, REGISTRY


def tud(clips: Path) -> Path:
    """Pedestrians at eye level, the scene YOLOv3-tiny sees best (it misses people seen from
    above and small far cars: see the model card)."""
    return clips.parent / "mot15/TUD-Stadtmitte/TUD-Stadtmitte.mp4"




def local_token(data_dir: Path) -> dict[str, str]:
    """The token `vigie run` made at its first start (no default credential), as a header."""
    path = data_dir / "auth" / "local-admin.token"
    return {"Authorization": f"Bearer {path.read_text().strip()}"} if path.exists() else {}


async def metric(port: int, name: str, labels: str, data_dir: Path) -> float:
    async with aiohttp.ClientSession(headers=local_token(data_dir)) as http:
        try:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                text = await r.text()
        except aiohttp.ClientError:
            return 0.0
    series = f"{name}{{{labels}}}" if labels else name
    match = re.search(rf"^{re.escape(series)} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def test_vigie_run_video_shows_detections_flowing(clips, tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [VIGIE, "run", "--video", str(tud(clips)), "--fps", "5"],
        env=env(VIGIE_HTTP_PORT=str(port), VIGIE_DATA_DIR=str(tmp_path)),
        stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            analysed = await metric(port, "vigie_detect_frames_total", 'outcome="analysed"',
                                    tmp_path)
            counted = await metric(port, "vigie_bus_consumed_records_total",
                                   'group="vigie-rules",topic="vigie.detections.v1"', tmp_path)
            if analysed >= 10 and counted >= 10:
                break
            await asyncio.sleep(0.5)
        objects = await metric(port, "vigie_detect_objects_total", "", tmp_path)
        async with aiohttp.ClientSession(headers=local_token(tmp_path)) as http:
            async with http.get(f"http://127.0.0.1:{port}/status") as r:
                status = await r.json()
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
    assert analysed >= 10 and counted >= 10
    assert objects / analysed >= 3  # a busy pavement: several people per frame
    assert status["services"]["detect"]["model_id"].startswith("yolov3-tiny@")
    assert status["services"]["ingest"]["running"] == ["tud-stadtmitte"]
    assert code == 0


async def test_ingest_and_detect_processes_over_kafka(kafka, clips, tmp_path):
    bus = KafkaBus(kafka.bootstrap, "video-test")
    await bus.ensure_topics(REGISTRY)
    await bus.close()
    grpc_port = free_port()
    common = dict(VIGIE_KAFKA_BOOTSTRAP=kafka.bootstrap, VIGIE_DATA_DIR=str(tmp_path))
    procs = [
        subprocess.Popen([VIGIE, "ingest"], stdout=subprocess.DEVNULL, env=env(
            VIGIE_HTTP_PORT=str(free_port()), VIGIE_GRPC_PORT=str(grpc_port),
            VIGIE_INGEST_MEDIA_ROOT=str(tud(clips).parent), **common)),
        subprocess.Popen([VIGIE, "detect"], stdout=subprocess.DEVNULL, env=env(
            VIGIE_HTTP_PORT=str(free_port()), **common)),
    ]
    camera_id = f"tud-{uuid.uuid4().hex[:6]}"
    # both processes read the token store of their data dir
    admin, _ = TokenStore(tmp_path / "auth" / "tokens.json").create("e2e", ["admin"], None, "test")
    try:
        async with grpc.aio.insecure_channel(
                f"127.0.0.1:{grpc_port}",
                interceptors=metadata_interceptors(bearer_metadata(admin))) as channel:
            await asyncio.wait_for(channel.channel_ready(), 60)
            await pb_grpc.IngestServiceStub(channel).RegisterCamera(pb.RegisterCameraRequest(
                camera=Camera(camera_id=camera_id, name="Stadtmitte", sample_fps=5, enabled=True,
                              source_url=tud(clips).as_uri())),
                timeout=10)
        reader = KafkaBus(kafka.bootstrap, "video-reader")
        consumer = reader.consumer(f"reader-{camera_id}", [DETECTIONS.name])
        found: list[ObjectsDetected] = []
        deadline = time.monotonic() + 240  # two model loads and a camera start, on 2 cores
        while len(found) < 10 and time.monotonic() < deadline:
            record = await consumer.poll(0.5)
            if record is not None and record.key == camera_id.encode():
                found.append(ObjectsDetected.FromString(record.value))
        await reader.close()
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(timeout=30) for proc in procs]
    assert len(found) >= 10
    assert [d.frame_id for d in found] == sorted(
        (d.frame_id for d in found), key=lambda f: int(f.rsplit(":", 1)[1]))
    people = sum(1 for d in found for x in d.detections if x.class_name == "person")
    assert people >= 30  # a pavement full of pedestrians
    assert any(x.track_id > 0 for d in found for x in d.detections)
    assert codes == [0, 0]
