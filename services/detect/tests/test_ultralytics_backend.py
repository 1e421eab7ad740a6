"""Ultralytics backend plumbing, offline: no Ultralytics weights exist in any registry here, so the
model is built from the yaml bundled in the package (random weights: garbage boxes, real plumbing).
Inference on real frames of MOT15 TUD-Stadtmitte, batching, .pt round trip, thread count, tracking
hand-off, and no network access at any point."""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import required_inputs as inputs

if importlib.util.find_spec("ultralytics") is None:  # not importorskip: importing it is the
    pytest.skip("ultralytics not installed", allow_module_level=True)  # backend's job (env first)
cv2 = pytest.importorskip("cv2")
torch = pytest.importorskip("torch")

from vigie_detect.adapters.backends.ultralytics_yolo import (  # noqa: E402
    UltralyticsDetector,
    UltralyticsError,
    UltralyticsOptions,
)
from vigie_detect.adapters.tracking import CameraTracker, TrackerParams  # noqa: E402
from vigie_detect.domain.detections import COCO_CLASSES, Detections  # noqa: E402

# Random weights: the detect head's class bias is initialised to log(5 / 80 / (640 / stride)^2), so
# every score is ~1e-4; this threshold still keeps a few boxes per image.
RANDOM_WEIGHTS_CONF = 1e-4


def _is_loopback(host: object) -> bool:
    if host in (None, "localhost", "", b"localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="module", autouse=True)
def no_network() -> Iterator[list[object]]:
    """Every non-loopback connect or DNS lookup in this module fails, and is recorded."""
    attempts: list[object] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def guard(address: object) -> None:
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            attempts.append(address)
            raise OSError(f"network access blocked by the test: {address}")

    def connect(self: socket.socket, address: Any) -> None:
        guard(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        guard(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host):
            attempts.append(("dns", host))
            raise socket.gaierror(f"name resolution blocked by the test: {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", connect)
        mp.setattr(socket.socket, "connect_ex", connect_ex)
        mp.setattr(socket, "getaddrinfo", getaddrinfo)
        yield attempts
    assert attempts == [], f"network access attempted: {attempts}"


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    clip = inputs.need(inputs.mot15) / "TUD-Stadtmitte/TUD-Stadtmitte.mp4"
    capture = cv2.VideoCapture(str(clip))
    images = []
    for _ in range(8):
        ok, image = capture.read()
        assert ok
        images.append(image)
    capture.release()
    return images


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ultralytics-config")


@pytest.fixture(scope="module")
def yaml_detector(config_dir: Path, no_network: list[object]) -> UltralyticsDetector:
    torch.manual_seed(0)
    options = UltralyticsOptions(min_confidence=RANDOM_WEIGHTS_CONF, input_size=416)
    return UltralyticsDetector(Path("yolov8n.yaml"), options, config_dir=config_dir)


@pytest.fixture(scope="module")
def saved_pt(yaml_detector: UltralyticsDetector, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The yaml model's random weights saved as an Ultralytics .pt checkpoint in a models dir."""
    return yaml_detector.save(tmp_path_factory.mktemp("models") / "yolov8n-random.pt")


def test_loads_from_bundled_yaml_offline_with_every_core(yaml_detector: UltralyticsDetector,
                                                         config_dir: Path) -> None:
    assert yaml_detector.model_id.startswith("yolov8n@") and len(yaml_detector.model_id) == 20
    # yolov8n.yaml has no names: Ultralytics' placeholders "0".."79" are mapped to COCO's names.
    assert yaml_detector.class_names == COCO_CLASSES
    # Ultralytics caps torch at cpu_count - 1 threads when its predictor is set up; undone.
    assert torch.get_num_threads() == os.cpu_count()
    assert os.environ["YOLO_OFFLINE"] == "1"
    from ultralytics.utils import ONLINE, SETTINGS

    assert ONLINE is False and SETTINGS["sync"] is False
    if os.environ["YOLO_CONFIG_DIR"] == str(config_dir):  # ultralytics first imported here
        assert (config_dir / "Ultralytics/settings.json").is_file()


def test_detections_are_converted_per_image(yaml_detector: UltralyticsDetector,
                                            frames: list[np.ndarray]) -> None:
    batch = frames[:3]
    out = yaml_detector.detect(batch)
    assert len(out) == 3 and all(isinstance(d, Detections) for d in out)
    height, width = batch[0].shape[:2]
    for detections in out:
        assert len(detections) > 0  # random weights, very low threshold: boxes anyway
        xs, ys = detections.xyxy[:, [0, 2]], detections.xyxy[:, [1, 3]]
        assert (xs >= 0).all() and (xs <= width).all() and (ys >= 0).all() and (ys <= height).all()
        assert ((detections.class_id >= 0) & (detections.class_id < 80)).all()
        assert ((detections.confidence >= RANDOM_WEIGHTS_CONF) & (detections.confidence <= 1)).all()
        assert (detections.tracker_id == 0).all()
    assert yaml_detector.detect([]) == []
    assert torch.get_num_threads() == os.cpu_count()


def assert_same(a: list[Detections], b: list[Detections], atol: float = 1e-3) -> None:
    assert [len(x) for x in a] == [len(y) for y in b]
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x.xyxy, y.xyxy, atol=atol)
        np.testing.assert_allclose(x.confidence, y.confidence, atol=atol)
        np.testing.assert_array_equal(x.class_id, y.class_id)


def test_batch_equals_single_calls(yaml_detector: UltralyticsDetector,
                                   frames: list[np.ndarray]) -> None:
    batched = yaml_detector.detect(frames[:3])
    singles = [yaml_detector.detect([image])[0] for image in frames[:3]]
    assert_same(batched, singles)


def test_pt_round_trip(yaml_detector: UltralyticsDetector, saved_pt: Path,
                       frames: list[np.ndarray]) -> None:
    loaded = UltralyticsDetector(saved_pt, yaml_detector.options)
    assert loaded.model_id.startswith("yolov8n-random@")
    assert loaded.model_id != yaml_detector.model_id  # file hash, not yaml hash
    assert loaded.class_names == COCO_CLASSES
    assert_same(loaded.detect(frames[:3]), yaml_detector.detect(frames[:3]))
    assert torch.get_num_threads() == os.cpu_count()


def test_tracking_plumbing(yaml_detector: UltralyticsDetector, frames: list[np.ndarray]) -> None:
    # Random weights score ~1e-4: thresholds lowered so ByteTrack keeps them, and no score fusion
    # (cost 1 - IoU * score would be ~1, above match_thresh: nothing would ever match).
    params = TrackerParams(track_high_thresh=RANDOM_WEIGHTS_CONF, track_low_thresh=0.0,
                           new_track_thresh=RANDOM_WEIGHTS_CONF, fuse_score=False)
    tracker = CameraTracker(params)
    for i, detections in enumerate(yaml_detector.detect(frames[:5])):
        tracked = tracker.update(detections, frame_rate=25.0)
        assert len(tracked) > 0, f"frame {i}: nothing tracked out of {len(detections)}"
        assert (tracked.tracker_id > 0).all()
        assert len(set(tracked.tracker_id.tolist())) == len(tracked)


def test_onnx_export_round_trip(yaml_detector: UltralyticsDetector, saved_pt: Path,
                                frames: list[np.ndarray]) -> None:
    pytest.importorskip("onnx", reason="onnx not installed: .pt only")
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed: .pt only")
    from ultralytics.models import YOLO

    onnx_path = Path(YOLO(str(saved_pt)).export(format="onnx", imgsz=416, dynamic=True))
    loaded = UltralyticsDetector(onnx_path, yaml_detector.options)
    assert_same(loaded.detect(frames[:3]), yaml_detector.detect(frames[:3]), atol=1e-2)


def test_errors_are_clear_and_offline(tmp_path: Path) -> None:
    with pytest.raises(UltralyticsError, match="not found"):
        UltralyticsDetector(tmp_path / "yolov8n.pt")  # Ultralytics alone would try to download it
    with pytest.raises(UltralyticsError, match="not a YOLO model"):
        UltralyticsDetector(tmp_path / "model.tflite")
    with pytest.raises(UltralyticsError, match="unsupported device"):
        UltralyticsDetector(Path("yolov8n.yaml"), UltralyticsOptions(device="tpu"))
    if importlib.util.find_spec("onnxruntime") is None:  # a clear error, no pip install attempt
        (tmp_path / "model.onnx").write_bytes(b"not a model")
        with pytest.raises(UltralyticsError, match="missing: No module named 'onnxruntime'"):
            UltralyticsDetector(tmp_path / "model.onnx")
    if not torch.cuda.is_available():
        with pytest.raises(UltralyticsError, match="CUDA is not available"):
            UltralyticsDetector(Path("yolov8n.yaml"), UltralyticsOptions(device="cuda"))


def test_fresh_process_loads_offline_without_touching_home(tmp_path: Path) -> None:
    """A fresh interpreter (ultralytics not yet imported), sockets blocked from the start: the env
    is set before the import, nothing reaches the network, ~/.config stays untouched."""
    script = textwrap.dedent(f"""
        import ipaddress, json, os, socket
        attempts = []
        def loopback(host):
            try:
                return host in ("localhost", None) or ipaddress.ip_address(str(host)).is_loopback
            except ValueError:
                return False
        real_connect, real_gai = socket.socket.connect, socket.getaddrinfo
        def connect(self, address):
            if isinstance(address, tuple) and not loopback(address[0]):
                attempts.append(repr(address)); raise OSError("blocked")
            return real_connect(self, address)
        def getaddrinfo(host, *a, **k):
            if not loopback(host):
                attempts.append("dns " + str(host)); raise socket.gaierror("blocked")
            return real_gai(host, *a, **k)
        socket.socket.connect, socket.getaddrinfo = connect, getaddrinfo
        from pathlib import Path
        import numpy as np, torch
        from vigie_detect.adapters.backends.ultralytics_yolo import (
            UltralyticsDetector, UltralyticsOptions)
        options = UltralyticsOptions(min_confidence=1e-4)
        detector = UltralyticsDetector(Path("yolov8n.yaml"), options)
        out = detector.detect([np.full((480, 640, 3), 127, np.uint8)] * 2)
        pt = detector.save(Path({str(tmp_path)!r}) / "models" / "m.pt")
        again = UltralyticsDetector(pt, options)
        out += again.detect([np.zeros((64, 64, 3), np.uint8)])
        print(json.dumps({{"attempts": attempts, "threads": torch.get_num_threads(),
                          "omp": os.environ.get("OMP_NUM_THREADS"),
                          "config": os.environ["YOLO_CONFIG_DIR"],
                          "boxes": [len(d) for d in out]}}))
    """)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YOLO_", "OMP_"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), TMPDIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["attempts"] == []
    assert report["threads"] == os.cpu_count()
    assert report["omp"] == str(os.cpu_count())  # not the "1" the ultralytics import would set
    assert Path(report["config"]).parent == tmp_path  # a private temp dir
    assert not (home / ".config").exists()
    assert len(report["boxes"]) == 3


async def test_the_service_serves_a_model_placed_in_the_models_directory(
        yaml_detector: UltralyticsDetector, tmp_path: Path, frames: list[np.ndarray]) -> None:
    """A .pt dropped into the models dir is found by name and served end to end."""
    import cv2
    from vigie.detect.v1.detection_pb2 import ObjectsDetected
    from vigie.ingest.v1.frame_pb2 import FrameSampled
    from vigie_core.bus.memory import MemoryBus
    from vigie_core.runtime import start
    from vigie_core.settings import CoreSettings
    from vigie_core.topics import DETECTIONS, FRAMES

    models = tmp_path / "models"
    models.mkdir()
    yaml_detector.save(models / "city-yolo.pt")
    core = CoreSettings(http_port=0, grpc_port=0, data_dir=tmp_path, models_dir=models)
    running = await start(["detect"], core, MemoryBus("user-model"),
                          {"detect": {"model": "city-yolo", "min_confidence": 1e-4}})
    try:
        height, width = frames[0].shape[:2]
        jpeg = cv2.imencode(".jpg", frames[0])[1].tobytes()
        frame = FrameSampled(frame_id="c:0", camera_id="c", jpeg=jpeg, width=width,
                             height=height)
        await running.bus.publish(FRAMES, "c", frame)
        reader = running.bus.consumer("reader", [DETECTIONS.name])
        record = await reader.poll(60)
    finally:
        await running.stop()
    assert record is not None
    detected = ObjectsDetected.FromString(record.value)
    assert detected.model_id.startswith("city-yolo@") and len(detected.detections) > 0
