"""Which lamp of a traffic signal is lit, from the colour of its image region (numpy only).

A lit lamp is among the brightest pixels of the region *and* saturated; an unlit lens, the black
housing, a grey sky or a sunlit wall are not both. So: take the pixels whose brightness (the
largest RGB channel, as HSV's V) is at least `LIT_MIN_V` and at least `LIT_RELATIVE` of the
region's brightest pixel, keep those with saturation >= `LIT_MIN_SATURATION`, and vote on their
hue (red, amber, green; other hues such as a blue sky do not vote). Over-exposed lamps have a
white core, which does not vote, and a coloured halo, which does.

- enough votes for one colour, at least `DOMINANCE` times the runner-up: that colour;
- two colours close in votes: UNKNOWN;
- too few votes, but a blob of colourless pixels near saturation (`BLOWN_V`): UNKNOWN (a lamp
  blown out to white, or glare on the lens);
- otherwise OFF (a dark signal, or the dark phase of flashing amber).

The region is the rule's `signal_region` (`crop_box`). It may hold the whole head (three lamps,
two of them unlit) or only the red lamp (then the answer is RED or OFF).
"""

from __future__ import annotations

import math

import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp
from numpy.typing import NDArray
from vigie.common.v1.common_pb2 import BoundingBox
from vigie.rules.v1.rule_pb2 import Rule
from vigie.rules.v1.signal_pb2 import SignalObserved, SignalSource, SignalState

LIT_MIN_V = 150
"""Brightness (0..255) a lit lamp reaches on a frame, however dim the scene."""
LIT_RELATIVE = 0.6
"""A lit lamp is at least this fraction of the region's brightest pixel."""
LIT_MIN_SATURATION = 0.35
"""Saturation (chroma / V) of a lamp's colour; unlit lenses in the sun and grey or white
surfaces are below it."""
MIN_LIT_FRACTION = 0.01
"""A colour needs at least this fraction of the region's pixels..."""
MIN_LIT_PIXELS = 2
"""...and at least this many pixels."""
DOMINANCE = 2.0
"""The winning colour has at least this many times the votes of the runner-up."""
BLOWN_V = 240
"""Colourless pixels at least this bright are a lamp over-exposed to white (or a glare), whose
colour cannot be told; a sunlit grey wall or a pale sky stays below it."""

# Hue ranges in degrees, [start, end).
_RED = ((0.0, 18.0), (330.0, 360.0))
_AMBER = ((18.0, 65.0),)
_GREEN = ((75.0, 200.0),)

RGBImage = NDArray[np.uint8]


def crop_box(rgb: RGBImage, box: BoundingBox) -> RGBImage:
    """The pixels of an H x W x 3 image under a normalised box (a view, at least 1 x 1 pixel:
    edges are rounded outwards to whole pixels and clipped to the image)."""
    _check(rgb)
    height, width = rgb.shape[:2]

    def span(lo: float, hi: float, size: int) -> tuple[int, int]:
        lo = min(max(lo, 0.0), 1.0) if math.isfinite(lo) else 0.0
        hi = min(max(hi, 0.0), 1.0) if math.isfinite(hi) else 1.0
        # Boxes are float32 on the wire (0.9 is 0.89999998): snap what is within 1/1000 px of
        # a pixel edge to it before rounding outwards.
        start = min(math.floor(lo * size + 1e-3), size - 1)
        end = max(math.ceil(hi * size - 1e-3), start + 1)
        return start, min(end, size)

    x0, x1 = span(box.x_min, box.x_max, width)
    y0, y1 = span(box.y_min, box.y_max, height)
    return rgb[y0:y1, x0:x1]


def classify_lamp(rgb: RGBImage) -> SignalState:
    """The state an H x W x 3 uint8 RGB region of a traffic signal shows (see the module
    docstring): RED, AMBER, GREEN, OFF or UNKNOWN."""
    _check(rgb)
    pixels = rgb.reshape(-1, 3).astype(np.float32)
    v = pixels.max(axis=1)
    brightest = float(v.max())
    if brightest < LIT_MIN_V:
        return SignalState.SIGNAL_STATE_OFF
    bright = v >= max(LIT_MIN_V, LIT_RELATIVE * brightest)
    chroma = v - pixels.min(axis=1)
    coloured = bright & (chroma >= LIT_MIN_SATURATION * v)
    hue = _hue_deg(pixels[coloured], v[coloured], chroma[coloured])
    votes = {state: int(sum(np.count_nonzero((hue >= lo) & (hue < hi)) for lo, hi in ranges))
             for state, ranges in ((SignalState.SIGNAL_STATE_RED, _RED),
                                   (SignalState.SIGNAL_STATE_AMBER, _AMBER),
                                   (SignalState.SIGNAL_STATE_GREEN, _GREEN))}
    needed = max(MIN_LIT_PIXELS, MIN_LIT_FRACTION * len(pixels))
    ranked = sorted(votes.items(), key=lambda kv: kv[1], reverse=True)
    (winner, best), (_, second) = ranked[0], ranked[1]
    if best < needed:
        blown = int(np.count_nonzero(bright & ~coloured & (v >= BLOWN_V)))
        return SignalState.SIGNAL_STATE_UNKNOWN if blown >= needed else SignalState.SIGNAL_STATE_OFF
    if second * DOMINANCE > best:
        return SignalState.SIGNAL_STATE_UNKNOWN
    return winner


def observe_colour(rule: Rule, rgb: RGBImage, *, camera_id: str, frame_id: str,
                   captured_at: Timestamp) -> SignalObserved:
    """The SignalObserved (source COLOUR, signal_id = the rule's rule_id) of a red-light rule's
    signal region on a decoded RGB frame."""
    state = classify_lamp(crop_box(rgb, rule.geometry.signal_region))
    event = SignalObserved(camera_id=camera_id, signal_id=rule.rule_id, state=state,
                           source=SignalSource.SIGNAL_SOURCE_COLOUR, frame_id=frame_id)
    event.observed_at.CopyFrom(captured_at)
    return event


def _check(rgb: RGBImage) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 RGB image, got shape {rgb.shape} "
                         f"{rgb.dtype}")
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError("empty image")


def _hue_deg(pixels: NDArray[np.float32], v: NDArray[np.float32],
             chroma: NDArray[np.float32]) -> NDArray[np.float32]:
    """HSV hue in degrees [0, 360) of pixels with chroma > 0."""
    r, g, b = pixels[:, 0], pixels[:, 1], pixels[:, 2]
    c = np.where(chroma > 0, chroma, 1.0)
    hue = np.where(v == r, ((g - b) / c) % 6.0,
                   np.where(v == g, (b - r) / c + 2.0, (r - g) / c + 4.0)) * 60.0
    return hue.astype(np.float32) % 360.0
