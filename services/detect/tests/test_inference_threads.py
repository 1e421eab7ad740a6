"""What keeps the detect service's inference as fast as the bare model loop (issue 18,
bench/detect/README.md): behaviour, not timings.

- The first tracker imports Ultralytics, whose import runs cv2.setNumThreads(0): the OpenCV
  detector loaded before it must keep its configured thread count (checked in a fresh process,
  since this test session may have imported Ultralytics already).
- Cameras of different aspect ratios give (keep_aspect) different network inputs; an OpenCV net
  whose input shape changes sets itself up again, which cost as much as the forward pass. The
  detector keeps one net per input shape (up to max_nets), with the same detections as one net.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import required_inputs as inputs

cv2 = pytest.importorskip("cv2")
if not hasattr(cv2.dnn, "readNetFromDarknet"):
    pytest.skip("this OpenCV has no Darknet importer (removed in 5.0; pin opencv-python-headless "
                "4.x)", allow_module_level=True)

from vigie_core.model_store import ResolvedModel  # noqa: E402
from vigie_detect.adapters.backends.opencv_darknet import (  # noqa: E402
    DarknetOptions,
    OpenCvDarknetDetector,
)
from vigie_detect.domain.detections import Detections  # noqa: E402


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def resolved(models_dir: Path) -> ResolvedModel:
    return inputs.need(inputs.yolov3_tiny, models_dir)


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    """A real 640x480 street frame (MOT15 TUD-Stadtmitte, frame 1)."""
    capture = cv2.VideoCapture(str(inputs.need(inputs.mot15) / "TUD-Stadtmitte" /
                                   "TUD-Stadtmitte.mp4"))
    ok, image = capture.read()
    capture.release()
    assert ok
    return np.ascontiguousarray(image)


def cameras(frame: np.ndarray) -> list[np.ndarray]:
    """Three cameras' frames of three aspect ratios: 4:3, 16:9 and square."""
    return [frame, np.ascontiguousarray(frame[60:420]), np.ascontiguousarray(frame[:, 80:560])]


def same(a: Detections, b: Detections) -> bool:
    return (len(a) == len(b) and np.array_equal(a.class_id, b.class_id)
            and np.allclose(a.xyxy, b.xyxy, atol=1e-3)
            and np.allclose(a.confidence, b.confidence, atol=1e-5))


def test_the_first_tracker_leaves_the_detector_its_opencv_threads(resolved: ResolvedModel,
                                                                   models_dir: Path) -> None:
    """As in a service process: the model loaded with THREADS=3, then the first frame's tracker
    (ByteTrack: Ultralytics imported now) updated; OpenCV still runs 3 threads, before and after
    the next inference."""
    pytest.importorskip("ultralytics")
    pytest.importorskip("lap")
    script = textwrap.dedent("""
        import sys
        from pathlib import Path

        import cv2
        import numpy as np
        from vigie_detect.adapters.backends import load_detector, model_store
        from vigie_detect.adapters.tracking import TrackerPool

        assert "ultralytics" not in sys.modules
        detector = load_detector(model_store(Path(sys.argv[1])).resolve("yolov3-tiny"),
                                 {"threads": 3})
        image = np.zeros((480, 640, 3), np.uint8)
        found = detector.detect([image])[0]
        loaded = cv2.getNumThreads()
        TrackerPool().update("cam", found, 5.0)
        assert "ultralytics" in sys.modules
        tracked = cv2.getNumThreads()
        detector.detect([image])
        print(loaded, tracked, cv2.getNumThreads())
    """)
    run = subprocess.run([sys.executable, "-c", script, str(models_dir)], capture_output=True,
                         text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    loaded, tracked, inferred = map(int, run.stdout.split()[-3:])
    assert (loaded, tracked, inferred) == (3, 3, 3)


def test_interleaved_cameras_keep_a_net_each_with_the_same_detections(
        resolved: ResolvedModel, frame: np.ndarray) -> None:
    images = cameras(frame)
    options = DarknetOptions(input_size=448, keep_aspect=True)
    alone = [OpenCvDarknetDetector(resolved, options).detect([image])[0] for image in images]
    shapes = [(448, 320), (448, 256), (448, 448)]

    detector = OpenCvDarknetDetector(resolved, options)
    for _ in range(2):  # camera after camera, as the batcher sees them with MAX_BATCH=1
        found = [detector.detect([image])[0] for image in images]
        assert all(same(a, b) for a, b in zip(found, alone, strict=True))
    # Each shape stayed on its own net: switching cameras set none up again.
    assert detector.input_shapes == shapes

    # Fewer nets than shapes: the least recently used net takes the new shape, same detections.
    bounded = OpenCvDarknetDetector(resolved, options.model_copy(update={"max_nets": 2}))
    for _ in range(2):
        found = [bounded.detect([image])[0] for image in images]
        assert all(same(a, b) for a, b in zip(found, alone, strict=True))
    assert bounded.input_shapes == shapes[1:]
