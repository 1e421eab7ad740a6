"""Decoding photos and frames, with errors a caller can act on."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
from vigie_face.adapters.engine import Face, FaceEngine, Image

MAX_BYTES = 16 * 1024 * 1024
MAX_SIDE = 4096
WORK_SIDE = 1280  # photos are analysed at most this big: faces in ID-style photos are large


class ImageError(ValueError):
    """A photo that cannot be used; the message says why."""


def decode(data: bytes, min_side: int = 1) -> Image:
    if not data:
        raise ImageError("no image bytes")
    if len(data) > MAX_BYTES:
        raise ImageError(f"image larger than {MAX_BYTES // (1024 * 1024)} MiB")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ImageError("not a decodable JPEG or PNG image (corrupt or truncated)")
    height, width = image.shape[:2]
    if width > MAX_SIDE or height > MAX_SIDE:
        raise ImageError(f"image {width}x{height} exceeds {MAX_SIDE}x{MAX_SIDE}")
    if min(width, height) < min_side:
        raise ImageError(f"image too small ({width}x{height}; at least {min_side} px a side)")
    return np.ascontiguousarray(image, dtype=np.uint8)


def working_size(image: Image) -> Image:
    height, width = image.shape[:2]
    if max(height, width) <= WORK_SIDE:
        return image
    scale = WORK_SIDE / max(height, width)
    return np.ascontiguousarray(cv2.resize(image, (round(width * scale), round(height * scale)),
                                           interpolation=cv2.INTER_AREA), dtype=np.uint8)


def single_face(engine: FaceEngine, image: Image, min_face_px: int) -> tuple[Face, str]:
    """The one usable face of a photo, or ImageError: none, or several usable faces. Faces under
    `min_face_px` (background people) do not count."""
    faces = engine.detect(image)
    usable = [f for f in faces if f.size_px >= min_face_px]
    if not usable:
        if faces:
            largest = max(f.size_px for f in faces)
            raise ImageError(f"no usable face: the largest found is {largest:.0f} px, at "
                             f"least {min_face_px} px needed")
        raise ImageError("no face found")
    if len(usable) > 1:
        raise ImageError(f"{len(usable)} faces found, exactly one is needed")
    return usable[0], ""


def embed_single(engine: FaceEngine, data: bytes, min_image_px: int,
                 min_face_px: int) -> npt.NDArray[np.float32]:
    """Decode a photo and return the embedding of its one usable face (runs in a worker)."""
    image = working_size(decode(data, min_image_px))
    face, _ = single_face(engine, image, min_face_px)
    vector: npt.NDArray[np.float32] = engine.embed(image, [face])[0]
    return vector
