"""Signal lamp colour on synthetic traffic-signal heads: lit and unlit lamps, dim (night) and
bright (day) scenes, over-exposure, a blue sky behind, a region of one lamp, and crop_box."""

from __future__ import annotations

import numpy as np
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from numpy.typing import NDArray
from vigie.common.v1.common_pb2 import BoundingBox
from vigie.rules.v1.rule_pb2 import Rule, RuleKind
from vigie.rules.v1.signal_pb2 import SignalSource, SignalState
from vigie_rules.domain.signal_colour import classify_lamp, crop_box, observe_colour

RED, AMBER, GREEN, OFF, UNKNOWN = (SignalState.SIGNAL_STATE_RED, SignalState.SIGNAL_STATE_AMBER,
                                   SignalState.SIGNAL_STATE_GREEN, SignalState.SIGNAL_STATE_OFF,
                                   SignalState.SIGNAL_STATE_UNKNOWN)

# Lamp colours as a camera renders them: lit (LED), and unlit lenses by night and by day.
LIT = {"red": (255, 45, 30), "amber": (255, 175, 10), "green": (40, 240, 170)}
UNLIT_NIGHT = {"red": (40, 8, 6), "amber": (40, 28, 4), "green": (6, 38, 26)}
UNLIT_DAY = {"red": (125, 55, 45), "amber": (130, 105, 50), "green": (50, 115, 95)}
ORDER = ("red", "amber", "green")


def head(lit: str | None, *, scene: str = "night", white_core: bool = False,
         background: tuple[int, int, int] | None = None, lit2: str | None = None,
         noise: int = 6, seed: int = 0) -> NDArray[np.uint8]:
    """A 90 x 40 px crop: a dark housing (24 px wide) with three round lamps (radius 9), red on
    top, on a background (night: near black; day: grey wall or the given colour)."""
    rng = np.random.default_rng(seed)
    bg = background or ((12, 12, 16) if scene == "night" else (185, 185, 180))
    img = np.empty((90, 40, 3), dtype=np.float64)
    img[:] = bg
    img[3:87, 8:32] = (25, 25, 25) if scene == "night" else (45, 45, 45)  # housing
    yy, xx = np.mgrid[0:90, 0:40]
    for i, name in enumerate(ORDER):
        cy, cx = 17 + 28 * i, 20
        r2 = (yy - cy) ** 2 + (xx - cx) ** 2
        lens = r2 <= 9 ** 2
        if name in (lit, lit2):
            img[lens] = LIT[name]
            if white_core:
                img[r2 <= 5 ** 2] = (255, 250, 245)  # blown-out centre, coloured halo
        else:
            img[lens] = (UNLIT_NIGHT if scene == "night" else UNLIT_DAY)[name]
    img += rng.normal(0, noise, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.mark.parametrize(("name", "image", "expected"), [
    ("red lit at night", head("red"), RED),
    ("amber lit at night", head("amber"), AMBER),
    ("green lit at night", head("green"), GREEN),
    ("red lit by day", head("red", scene="day"), RED),
    ("amber lit by day", head("amber", scene="day"), AMBER),
    ("green lit by day", head("green", scene="day"), GREEN),
    ("red over-exposed with a white core", head("red", white_core=True), RED),
    ("green over-exposed by day", head("green", scene="day", white_core=True), GREEN),
    ("dark signal at night", head(None), OFF),
    ("dark signal by day: sunlit lenses are not lit lamps", head(None, scene="day"), OFF),
    ("green lit in front of a blue sky", head("green", scene="day",
                                              background=(110, 165, 235)), GREEN),
    ("dark signal in front of a blue sky: the sky is not a lamp",
     head(None, scene="day", background=(110, 165, 235)), OFF),
    ("red and green lit at once", head("red", lit2="green"), UNKNOWN),
    ("red and amber lit at once", head("red", lit2="amber"), UNKNOWN),
])
def test_classify_lamp(name: str, image: NDArray[np.uint8], expected: SignalState) -> None:
    assert classify_lamp(image) == expected, name


@pytest.mark.parametrize("seed", range(10))
def test_classification_is_stable_under_sensor_noise(seed: int) -> None:
    for lit, expected in (("red", RED), ("amber", AMBER), ("green", GREEN), (None, OFF)):
        for scene in ("night", "day"):
            image = head(lit, scene=scene, noise=12, seed=seed)
            assert classify_lamp(image) == expected, (lit, scene)


def test_a_colourless_blown_out_lamp_is_unknown_not_off() -> None:
    image = np.full((30, 30, 3), 20, dtype=np.uint8)
    image[10:20, 10:20] = 255  # a white blob: something is lit, its colour is lost
    assert classify_lamp(image) == UNKNOWN


def test_a_few_hot_pixels_are_not_a_lamp() -> None:
    image = np.full((60, 60, 3), 15, dtype=np.uint8)
    image[5, 5] = (255, 30, 20)
    assert classify_lamp(image) == OFF


def test_region_of_the_red_lamp_only() -> None:
    red_on, red_off = head("red"), head("green")
    lamp = BoundingBox(x_min=10 / 40, y_min=7 / 90, x_max=30 / 40, y_max=27 / 90)
    assert classify_lamp(crop_box(red_on, lamp)) == RED
    assert classify_lamp(crop_box(red_off, lamp)) == OFF


def test_crop_box_maps_normalised_coordinates_and_clips() -> None:
    image = np.arange(100 * 200 * 3, dtype=np.uint32).reshape(100, 200, 3).astype(np.uint8)
    crop = crop_box(image, BoundingBox(x_min=0.25, y_min=0.5, x_max=0.5, y_max=0.75))
    assert crop.shape == (25, 50, 3)
    assert np.shares_memory(crop, image)
    assert (crop == image[50:75, 50:100]).all()
    # rounded outwards; clipped to the image; never empty
    assert crop_box(image, BoundingBox(x_min=0.101, y_min=0.0, x_max=0.199, y_max=0.01)
                    ).shape == (1, 20, 3)
    assert crop_box(image, BoundingBox(x_min=-0.5, y_min=0.9, x_max=1.5, y_max=2.0)
                    ).shape == (10, 200, 3)
    assert crop_box(image, BoundingBox(x_min=1.0, y_min=1.0, x_max=1.0, y_max=1.0)
                    ).shape == (1, 1, 3)


@pytest.mark.parametrize("bad", [
    np.zeros((10, 10), dtype=np.uint8), np.zeros((10, 10, 4), dtype=np.uint8),
    np.zeros((10, 10, 3), dtype=np.float32), np.zeros((0, 10, 3), dtype=np.uint8),
])
def test_rejects_what_is_not_an_rgb_image(bad: NDArray[np.uint8]) -> None:
    with pytest.raises(ValueError, match="image"):
        classify_lamp(bad)


def test_observe_colour_publishes_under_the_rule_id() -> None:
    frame = np.zeros((900, 1600, 3), dtype=np.uint8)
    frame[90:180, 1200:1240] = head("red")
    rule = Rule(rule_id="red-7", kind=RuleKind.RULE_KIND_RED_LIGHT, camera_id="cam-3")
    rule.geometry.signal_region.CopyFrom(BoundingBox(x_min=1200 / 1600, y_min=0.1,
                                                     x_max=1240 / 1600, y_max=0.2))
    at = Timestamp(seconds=1_767_225_600, nanos=250_000_000)
    event = observe_colour(rule, frame, camera_id="cam-3", frame_id="cam-3/42", captured_at=at)
    assert (event.signal_id, event.camera_id, event.frame_id) == ("red-7", "cam-3", "cam-3/42")
    assert event.state == RED and event.source == SignalSource.SIGNAL_SOURCE_COLOUR
    assert event.observed_at == at
