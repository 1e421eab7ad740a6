"""Re-linking after occlusion (vigie_detect.domain.relink): colour appearances of box crops and
the gating that decides whether a new track takes a recently lost track's id."""

from __future__ import annotations

import numpy as np
import pytest
from vigie_detect.domain.relink import (
    FEATURE_SIZE,
    Relinker,
    RelinkParams,
    appearance,
    appearance_distance,
    appearances,
    hsv,
)

RED, BLUE, GREEN, WHITE, BLACK = (0, 0, 220), (200, 40, 0), (0, 180, 0), (250, 250, 250), (5, 5, 5)


def person(top: tuple[int, int, int], bottom: tuple[int, int, int], h: int = 80,
           w: int = 30) -> np.ndarray:
    crop = np.zeros((h, w, 3), np.uint8)
    crop[: h // 2] = top
    crop[h // 2:] = bottom
    return crop


@pytest.mark.parametrize(("bgr", "hue", "saturation", "value"), [
    ((0, 0, 255), 0.0, 1.0, 1.0),        # red
    ((0, 255, 0), 1 / 3, 1.0, 1.0),      # green
    ((255, 0, 0), 2 / 3, 1.0, 1.0),      # blue
    ((128, 128, 128), 0.0, 0.0, 128 / 255),  # grey: no hue
    ((0, 0, 0), 0.0, 0.0, 0.0),
])
def test_hsv_of_known_colours(bgr: tuple[int, int, int], hue: float, saturation: float,
                              value: float) -> None:
    h, s, v = hsv(np.array([[bgr]], np.uint8))
    assert (float(h[0, 0]), float(s[0, 0]), float(v[0, 0])) == pytest.approx(
        (hue, saturation, value), abs=1e-6)


def test_appearance_halves_are_histograms_and_separate_clothing() -> None:
    a = appearance(person(RED, BLUE))
    assert a.shape == (FEATURE_SIZE,) and a.dtype == np.float32
    assert a[: FEATURE_SIZE // 2].sum() == pytest.approx(1) == a[FEATURE_SIZE // 2:].sum()
    assert appearance_distance(a, appearance(person(RED, BLUE, h=120, w=50))) < 0.05  # any size
    assert appearance_distance(a, appearance(person(BLUE, RED))) > 0.9  # swapped halves
    assert appearance_distance(a, appearance(person(RED, GREEN))) == pytest.approx(0.5, abs=0.05)
    # white and black clothes (no hue) are told apart by brightness
    assert appearance_distance(appearance(person(WHITE, BLACK)),
                               appearance(person(BLACK, BLACK))) > 0.4


def test_appearances_of_boxes_in_a_picture_clip_to_the_image() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    image[10:90, 20:50] = person(RED, BLUE)
    found = appearances(image, [[20, 10, 50, 90], [190, 50, 260, 120], [300, 0, 320, 10]])
    assert found.shape == (3, FEATURE_SIZE)
    assert appearance_distance(found[0], appearance(person(RED, BLUE))) < 0.05
    assert found[1].sum() > 0 and not found[2].any()  # partly inside; wholly outside: zeros


SIZE = (640, 480)


def walk(relinker: Relinker, colours: tuple[tuple[int, int, int], tuple[int, int, int]],
         raw_id: int = 1, frames: int = 5) -> None:
    """Raw track `raw_id` walks right 20 px per 0.1 s (200 px/s), boxes 40 x 100, then is lost."""
    feature = appearance(person(*colours))
    for k in range(frames):
        x = 100 + 20 * k
        relinker.step(0.1 * k, [raw_id], [[x, 200, x + 40, 300]], [0], [feature], {raw_id},
                      SIZE)


def new_track(relinker: Relinker, t_s: float, x: float, colours: tuple[tuple[int, int, int],
              tuple[int, int, int]], raw_id: int = 7, y: float = 200,
              h: float = 100) -> tuple[int, list[int]]:
    ids, taken = relinker.step(t_s, [raw_id], [[x, y, x + 40, y + h]], [0],
                               [appearance(person(*colours))], {1, raw_id}, SIZE)
    return int(ids[0]), taken


PARAMS = RelinkParams(relink_s=3.0, relink_max_distance=1.0, appearance_max_distance=0.4)


@pytest.mark.parametrize(("case", "t_s", "x", "colours", "h", "linked"), [
    # last seen at t 0.4, x 180 (centre 200), heading right at 200 px/s
    ("where it was heading, soon, same clothes", 1.4, 380, (RED, BLUE), 100, True),
    ("a little short of where it was heading", 0.9, 250, (RED, BLUE), 100, True),
    ("far from where it was heading", 1.4, 0, (RED, BLUE), 100, False),
    ("too late", 3.6, 180 + 200 * 3.2, (RED, BLUE), 100, False),
    ("other clothes", 1.4, 380, (GREEN, WHITE), 100, False),
    ("much bigger box", 1.4, 380, (RED, BLUE), 250, False),
])
def test_a_new_track_takes_a_lost_track_id_only_when_near_soon_and_alike(
        case: str, t_s: float, x: float, colours: tuple[tuple[int, int, int],
                                                         tuple[int, int, int]],
        h: float, linked: bool) -> None:
    relinker = Relinker(PARAMS)
    walk(relinker, (RED, BLUE))
    published, taken = new_track(relinker, t_s, x, colours, h=h)
    assert (published == 1) is linked, case
    assert published in (1, 7)
    assert taken == ([1] if linked else [])
    if linked:  # from then on the new track publishes the old id
        ids, _ = relinker.step(t_s + 0.1, [7], [[x + 20, 200, x + 60, 200 + h]], [0],
                               [appearance(person(*colours))], {7}, SIZE)
        assert ids.tolist() == [1] and relinker.aliases == {7: 1}


def test_no_link_without_picture_or_when_off_or_other_class() -> None:
    relinker = Relinker(PARAMS)
    walk(relinker, (RED, BLUE))
    ids, taken = relinker.step(1.4, [7], [[380, 200, 420, 300]], [0], None, {7}, SIZE)
    assert ids.tolist() == [7] and taken == []
    off = Relinker(RelinkParams(relink_s=0.0))
    walk(off, (RED, BLUE))
    assert new_track(off, 1.4, 380, (RED, BLUE))[0] == 7
    other = Relinker(PARAMS)
    walk(other, (RED, BLUE))
    ids, _ = other.step(1.4, [7], [[380, 200, 420, 300]], [2], [appearance(person(RED, BLUE))],
                        {7}, SIZE)
    assert ids.tolist() == [7]


def test_a_track_that_left_by_an_image_edge_is_only_taken_back_there() -> None:
    feature = appearance(person(RED, BLUE))

    def at_the_edge() -> Relinker:
        relinker = Relinker(PARAMS)
        for k in range(5):  # stands at the right edge, then is gone
            relinker.step(0.1 * k, [1], [[600, 200, 640, 300]], [0], [feature], {1}, SIZE)
        return relinker

    inside, _ = at_the_edge().step(0.8, [7], [[570, 200, 610, 300]], [0], [feature], {7}, SIZE)
    assert inside.tolist() == [7]  # near enough, but it left the view: someone else
    back, _ = at_the_edge().step(0.8, [7], [[595, 200, 640, 300]], [0], [feature], {7}, SIZE)
    assert back.tolist() == [1]  # back in by the same edge


def test_two_lost_tracks_alike_leave_the_new_one_unlinked_and_ids_stay_unique() -> None:
    relinker = Relinker(PARAMS)
    feature = appearance(person(RED, BLUE))
    for k in range(5):
        relinker.step(0.1 * k, [1, 2], [[300, 200, 340, 300], [345, 200, 385, 300]], [0, 0],
                      [feature, feature], {1, 2}, SIZE)
    ids, taken = relinker.step(1.0, [7], [[320, 200, 360, 300]], [0], [feature], {1, 2, 7}, SIZE)
    assert ids.tolist() == [7] and taken == []  # ambiguous: stays new
    # one new track per lost identity at most, and never an id already on screen
    relinker = Relinker(PARAMS)
    for k in range(5):
        relinker.step(0.1 * k, [1, 2], [[100, 200, 140, 300], [400, 200, 440, 300]], [0, 0],
                      [feature, appearance(person(GREEN, WHITE))], {1, 2}, SIZE)
    ids, _ = relinker.step(0.6, [2, 7, 8], [[400, 200, 440, 300], [100, 200, 140, 300],
                                            [105, 200, 145, 300]], [0, 0, 0],
                           [appearance(person(GREEN, WHITE)), feature, feature], {2, 7, 8}, SIZE)
    assert sorted(ids.tolist()) == [1, 2, 8] and len(set(ids.tolist())) == 3


def test_identities_are_forgotten_after_relink_s() -> None:
    relinker = Relinker(PARAMS)
    walk(relinker, (RED, BLUE))
    relinker.step(3.5, [], np.zeros((0, 4)), [], np.zeros((0, FEATURE_SIZE)), set(), SIZE)
    assert relinker.identities == {} and relinker.aliases == {}
