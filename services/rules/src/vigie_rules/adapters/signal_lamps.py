"""Signal lamps read off frames: for cameras with red-light rules that watch a signal region
(rather than an external controller's feed), decode the frame and classify the lamp's colour
(domain/signal_colour.py). Frames of other cameras are not decoded."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import UnidentifiedImageError
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie.rules.v1.rule_pb2 import Rule
from vigie.rules.v1.signal_pb2 import SignalObserved
from vigie_core.images import open_image
from vigie_core.processing import PoisonError

from vigie_rules.domain.kinds.red_light import watches_colour
from vigie_rules.domain.schedule import rule_active
from vigie_rules.domain.signal_colour import observe_colour

MAX_PIXELS = 4096 * 4096


class SignalLamps:
    def __init__(self) -> None:
        self.frames_decoded = 0

    def observe(self, rules: Sequence[Rule], frame: FrameSampled) -> list[SignalObserved]:
        t = frame.captured_at.ToMilliseconds()
        watching = [r for r in rules if watches_colour(r) and rule_active(r, t)]
        if not watching:
            return []
        rgb = decode_rgb(frame.jpeg)
        self.frames_decoded += 1
        return [observe_colour(rule, rgb, camera_id=frame.camera_id, frame_id=frame.frame_id,
                               captured_at=frame.captured_at)
                for rule in sorted(watching, key=lambda r: r.rule_id)]


def decode_rgb(jpeg: bytes) -> np.ndarray:
    """An RGB uint8 array of a JPEG, or PoisonError saying why not."""
    try:
        with open_image(jpeg, ("JPEG",)) as image:  # no other decoder sees the bytes
            if image.width * image.height > MAX_PIXELS:
                raise PoisonError(f"frame of {image.width}x{image.height} is too large")
            return np.asarray(image.convert("RGB"))
    except PoisonError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise PoisonError(f"undecodable frame image: {exc}") from None
