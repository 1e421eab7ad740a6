"""JPEG/PNG bytes to the BGR image the detectors take, refusing what is not safe to decode."""

from __future__ import annotations

import cv2
import numpy as np
from vigie_core.images import open_image
from vigie_core.processing import PoisonError

from vigie_detect.adapters.detector import Image

MAX_SIDE = 4096


def decode_image(data: bytes) -> Image:
    """A BGR image from JPEG/PNG bytes, or PoisonError saying why not.

    The header is read first (Pillow, no pixels decoded): the format must be JPEG or PNG, the
    size within MAX_SIDE, and a PNG's chunks must check out, before OpenCV decodes anything
    (found by fuzzing: a 100-byte malformed PNG made OpenCV allocate gigabytes)."""
    if not data:
        raise PoisonError("no image bytes")
    try:
        with open_image(data, ("JPEG", "PNG")) as header:
            kind, (width, height) = header.format, header.size
            if kind == "PNG":
                header.verify()
    except Exception:
        raise PoisonError("undecodable image (not a JPEG or PNG, or truncated)") from None
    if width > MAX_SIDE or height > MAX_SIDE:
        raise PoisonError(f"image {width}x{height} exceeds {MAX_SIDE}x{MAX_SIDE}")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise PoisonError("undecodable image (not a JPEG or PNG, or truncated)")
    height, width = image.shape[:2]
    if width > MAX_SIDE or height > MAX_SIDE:
        raise PoisonError(f"image {width}x{height} exceeds {MAX_SIDE}x{MAX_SIDE}")
    return image.astype(np.uint8, copy=False)
