"""Turning a decoded frame into what goes on the frames topic: a downscaled JPEG and a tiny grey
thumbnail for motion scoring."""

from __future__ import annotations

import io

import av
import numpy as np
from PIL import Image

from vigie_ingest.domain.sampling import Grey, fit_within

THUMB_WIDTH = 64


def analysis_jpeg(frame: av.VideoFrame, max_width: int, max_height: int,
                  quality: int) -> tuple[bytes, int, int]:
    width, height = fit_within(frame.width, frame.height, max_width, max_height)
    # Straight from the converted plane: to_image() copies the picture three times, and the
    # page faults of those fresh buffers cost more than the JPEG encoding (bench/ingest).
    plane = frame.reformat(width=width, height=height, format="rgb24").planes[0]
    image = Image.frombuffer("RGB", (width, height), plane, "raw", "RGB",  # type: ignore[arg-type]
                             plane.line_size, 1)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality, optimize=False)
    return out.getvalue(), width, height


def grey_thumbnail(frame: av.VideoFrame) -> Grey:
    height = max(2, round(THUMB_WIDTH * frame.height / frame.width) // 2 * 2)
    grey = frame.reformat(width=THUMB_WIDTH, height=height, format="gray").to_ndarray()
    return grey.astype(np.uint8, copy=False)
