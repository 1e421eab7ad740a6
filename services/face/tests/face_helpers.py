"""Helpers of the face tests (importable: conftest puts this folder on sys.path)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()


def frame_of(photo: Path, width: int = 960, height: int = 540) -> bytes:
    """A photo as ingest would send it: fitted into width x height on grey, JPEG q80."""
    image = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    scale = min(width / image.shape[1], height / image.shape[0], 1.0)
    image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                       interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), 110, np.uint8)
    y, x = (height - image.shape[0]) // 2, (width - image.shape[1]) // 2
    canvas[y:y + image.shape[0], x:x + image.shape[1]] = image
    return jpeg(canvas, 80)
