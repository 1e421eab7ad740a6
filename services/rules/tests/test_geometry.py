"""Geometry of rules: tables of edge cases, then hypothesis properties (order invariance of
point-in-polygon, sign flip of crossings under path reversal, no crossing on one side, clean
random convex zones)."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from vigie_rules.domain.geometry import (
    Point,
    angle_between_deg,
    box_bottom_centre,
    heading_deg,
    point_in_polygon,
    polygon_area,
    polygon_problems,
    segment_crossing,
    side_of_line,
)

SQUARE = [(0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8)]
# An L shape: the notch (0.6..0.8 x 0.2..0.5) is outside.
L_SHAPE = [(0.2, 0.2), (0.6, 0.2), (0.6, 0.5), (0.8, 0.5), (0.8, 0.8), (0.2, 0.8)]
TRIANGLE = [(0.1, 0.9), (0.5, 0.1), (0.9, 0.9)]
NAN = float("nan")
INF = float("inf")


@pytest.mark.parametrize(("name", "point", "polygon", "inside"), [
    ("centre of a square", (0.5, 0.5), SQUARE, True),
    ("left of a square", (0.1, 0.5), SQUARE, False),
    ("above a square", (0.5, 0.1), SQUARE, False),
    ("on the top edge", (0.5, 0.2), SQUARE, True),
    ("on the right edge", (0.8, 0.5), SQUARE, True),
    ("on a vertex", (0.8, 0.8), SQUARE, True),
    ("within 1e-10 of an edge, outside", (0.5, 0.2 - 1e-10), SQUARE, True),
    ("1e-6 outside an edge", (0.5, 0.2 - 1e-6), SQUARE, False),
    ("in the notch of an L", (0.7, 0.3), L_SHAPE, False),
    ("in the foot of an L", (0.7, 0.7), L_SHAPE, True),
    ("on the reflex vertex of an L", (0.6, 0.5), L_SHAPE, True),
    ("level with a vertex, outside", (0.05, 0.5), L_SHAPE, False),
    ("level with the apex, outside", (0.3, 0.1), TRIANGLE, False),
    ("under the apex", (0.5, 0.2), TRIANGLE, True),
    ("NaN point", (NAN, 0.5), SQUARE, False),
    ("infinite point", (INF, 0.5), SQUARE, False),
    ("empty polygon", (0.5, 0.5), [], False),
    ("two-point polygon, on it", (0.5, 0.5), [(0.0, 0.0), (1.0, 1.0)], True),
    ("two-point polygon, off it", (0.5, 0.4), [(0.0, 0.0), (1.0, 1.0)], False),
])
def test_point_in_polygon(name: str, point: tuple[float, float],
                          polygon: list[tuple[float, float]], inside: bool) -> None:
    assert point_in_polygon(point, polygon) is inside, name


# Line from (0.2, 0.5) to (0.8, 0.5) points right on the image: its right side is below (y > 0.5).
H_START, H_END = (0.2, 0.5), (0.8, 0.5)


@pytest.mark.parametrize(("name", "a", "b", "expected"), [
    ("downwards through the middle: left to right", (0.5, 0.4), (0.5, 0.6), 1),
    ("upwards through the middle: right to left", (0.5, 0.6), (0.5, 0.4), -1),
    ("diagonal through the middle", (0.3, 0.3), (0.7, 0.7), 1),
    ("stays above", (0.3, 0.3), (0.7, 0.4), 0),
    ("stays below", (0.3, 0.6), (0.7, 0.7), 0),
    ("passes beyond the end", (0.9, 0.4), (0.9, 0.6), 0),
    ("passes before the start", (0.1, 0.4), (0.1, 0.6), 0),
    ("through the end point (closed segment)", (0.8, 0.4), (0.8, 0.6), 1),
    ("ends on the line from the left", (0.5, 0.4), (0.5, 0.5), 1),
    ("leaves the line to the right", (0.5, 0.5), (0.5, 0.6), 0),
    ("leaves the line to the left", (0.5, 0.5), (0.5, 0.4), -1),
    ("ends on the line from the right", (0.5, 0.6), (0.5, 0.5), 0),
    ("along the line (collinear)", (0.3, 0.5), (0.7, 0.5), 0),
    ("collinear beyond the end", (0.9, 0.5), (1.0, 0.5), 0),
    ("no movement", (0.5, 0.4), (0.5, 0.4), 0),
])
def test_segment_crossing_horizontal_line(name: str, a: tuple[float, float],
                                          b: tuple[float, float], expected: int) -> None:
    assert segment_crossing(a, b, H_START, H_END) == expected, name


def test_segment_crossing_through_the_start_point_counts() -> None:
    # Binary fractions, so that the path passes exactly through (0.25, 0.5).
    assert segment_crossing((0.125, 0.375), (0.375, 0.625), (0.25, 0.5), (0.75, 0.5)) == 1
    assert segment_crossing((0.125, 0.625), (0.375, 0.375), (0.25, 0.5), (0.75, 0.5)) == -1


def test_segment_crossing_degenerate_line_never_crosses() -> None:
    assert segment_crossing((0.5, 0.4), (0.5, 0.6), (0.5, 0.5), (0.5, 0.5)) == 0


def test_segment_crossing_line_pointing_down_has_its_right_side_on_the_left_of_the_image() -> None:
    start, end = (0.5, 0.1), (0.5, 0.9)
    assert side_of_line((0.4, 0.5), start, end) > 0
    assert segment_crossing((0.6, 0.5), (0.4, 0.5), start, end) == 1


def test_touch_and_return_track_nets_zero_and_real_crossing_counts_once() -> None:
    touch = [(0.5, 0.4), (0.5, 0.5), (0.5, 0.4)]
    cross = [(0.5, 0.4), (0.5, 0.5), (0.5, 0.5), (0.5, 0.6), (0.5, 0.7)]
    for track, net in ((touch, 0), (cross, 1)):
        steps = [segment_crossing(p, q, H_START, H_END) for p, q in itertools.pairwise(track)]
        assert sum(steps) == net
        assert sum(abs(s) for s in steps) <= 2


@pytest.mark.parametrize(("name", "p", "expected_sign"), [
    ("below a rightward line is right", (0.5, 0.9), 1),
    ("above a rightward line is left", (0.5, 0.1), -1),
    ("on the line", (0.5, 0.5), 0),
    ("on the extension of the line", (2.0, 0.5), 0),
])
def test_side_of_line(name: str, p: tuple[float, float], expected_sign: int) -> None:
    value = side_of_line(p, H_START, H_END)
    assert (value > 0) - (value < 0) == expected_sign, name


@pytest.mark.parametrize(("name", "polygon", "problems"), [
    ("clean square", SQUARE, []),
    ("clean L", L_SHAPE, []),
    ("whole image", [(0, 0), (1, 0), (1, 1), (0, 1)], []),
    ("two points", [(0.1, 0.1), (0.5, 0.5)], ["needs at least 3 points, got 2"]),
    ("no points", [], ["needs at least 3 points, got 0"]),
    ("NaN", [(0.1, 0.1), (NAN, 0.5), (0.5, 0.9)], ["point 1 (nan, 0.5) is not a finite number"]),
    ("infinity", [(0.1, 0.1), (0.5, 0.5), (0.5, INF)],
     ["point 2 (0.5, inf) is not a finite number"]),
    ("outside the image", [(0.1, 0.1), (1.2, 0.5), (0.5, 0.9)],
     ["point 1 (1.2, 0.5) is outside the image (0..1)"]),
    ("negative coordinate", [(-0.1, 0.1), (0.9, 0.5), (0.5, 0.9)],
     ["point 0 (-0.1, 0.1) is outside the image (0..1)"]),
    ("collinear", [(0.1, 0.1), (0.5, 0.5), (0.9, 0.9)], ["zero area: the points are collinear"]),
    ("all the same point", [(0.5, 0.5)] * 3, [
        "points 0 and 1 are the same (0.5, 0.5)", "points 1 and 2 are the same (0.5, 0.5)",
        "points 2 and 0 are the same (0.5, 0.5)", "zero area: the points are collinear"]),
    ("duplicate consecutive", [(0.2, 0.2), (0.8, 0.2), (0.8, 0.2), (0.5, 0.8)],
     ["points 1 and 2 are the same (0.8, 0.2)"]),
    ("closing point repeated", [*SQUARE, SQUARE[0]], ["points 4 and 0 are the same (0.2, 0.2)"]),
    ("bow tie", [(0.1, 0.1), (0.9, 0.9), (0.9, 0.1), (0.1, 0.9)],
     ["self-intersecting edges 0-1 and 2-3"]),
    ("vertex touching an edge", [(0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.5, 0.25),
                                 (0.25, 0.75)],
     ["self-intersecting edges 0-1 and 2-3", "self-intersecting edges 0-1 and 3-4"]),
    ("two loops through one point", [(0.25, 0.25), (0.75, 0.25), (0.5, 0.5), (0.75, 0.75),
                                     (0.25, 0.75), (0.5, 0.5)],
     ["self-intersecting edges 1-2 and 4-5", "self-intersecting edges 1-2 and 5-0",
      "self-intersecting edges 2-3 and 4-5", "self-intersecting edges 2-3 and 5-0"]),
    ("spike folding back", [(0.2, 0.2), (0.8, 0.2), (0.5, 0.2), (0.5, 0.8)],
     ["self-intersecting edges 0-1 and 1-2 (the outline folds back on itself)",
      "self-intersecting edges 0-1 and 2-3"]),
    ("sliver", [(0.1, 0.1), (0.9, 0.1), (0.5, 0.100001)],
     ["zero area (4e-07, less than 1e-06 of the image): the polygon is too thin or too small"]),
])
def test_polygon_problems(name: str, polygon: list[tuple[float, float]],
                          problems: list[str]) -> None:
    assert polygon_problems(polygon) == problems, name


@pytest.mark.parametrize(("a", "b", "heading"), [
    ((0.5, 0.5), (0.6, 0.5), 0.0),     # right
    ((0.5, 0.5), (0.5, 0.6), 90.0),    # down the image
    ((0.5, 0.5), (0.4, 0.5), 180.0),   # left
    ((0.5, 0.5), (0.5, 0.4), 270.0),   # up the image
    ((0.0, 0.0), (1.0, 1.0), 45.0),
])
def test_heading_deg(a: tuple[float, float], b: tuple[float, float], heading: float) -> None:
    assert heading_deg(a, b) == pytest.approx(heading)


def test_heading_of_no_movement_is_none() -> None:
    assert heading_deg((0.5, 0.5), (0.5, 0.5)) is None


@pytest.mark.parametrize(("u", "v", "angle"), [
    ((1.0, 0.0), (1.0, 0.0), 0.0),
    ((1.0, 0.0), (2.0, 0.0), 0.0),
    ((1.0, 0.0), (0.0, 1.0), 90.0),
    ((1.0, 0.0), (0.0, -1.0), 90.0),
    ((1.0, 0.0), (-1.0, 0.0), 180.0),
    ((1.0, 1.0), (-1.0, 0.0), 135.0),
    ((1.0, 0.0), (1.0, 1e-9), 0.0),
])
def test_angle_between_deg(u: tuple[float, float], v: tuple[float, float], angle: float) -> None:
    assert angle_between_deg(u, v) == pytest.approx(angle, abs=1e-6)


@pytest.mark.parametrize(("u", "v"), [((0.0, 0.0), (1.0, 0.0)), ((1.0, 0.0), (0.0, 0.0)),
                                      ((NAN, 0.0), (1.0, 0.0)), ((INF, 0.0), (1.0, 0.0))])
def test_angle_between_undefined_vectors_is_none(u: tuple[float, float],
                                                 v: tuple[float, float]) -> None:
    assert angle_between_deg(u, v) is None


def test_box_bottom_centre_is_the_middle_of_the_bottom_edge() -> None:
    assert box_bottom_centre(0.2, 0.1, 0.4, 0.7) == Point(0.30000000000000004, 0.7)
    assert box_bottom_centre(0.2, 0.1, 0.4, 0.7) == pytest.approx((0.3, 0.7))


def test_polygon_area_sign_follows_orientation() -> None:
    assert polygon_area(SQUARE) == pytest.approx(0.36)
    assert polygon_area(SQUARE[::-1]) == pytest.approx(-0.36)


# --- properties ---------------------------------------------------------------------------------

unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
points = st.tuples(unit, unit)
polygons = st.lists(points, min_size=3, max_size=8)


@settings(max_examples=150, deadline=None)
@given(p=points, polygon=polygons, shift=st.integers(min_value=0, max_value=7))
def test_point_in_polygon_ignores_vertex_rotation_and_reversal(
        p: tuple[float, float], polygon: list[tuple[float, float]], shift: int) -> None:
    expected = point_in_polygon(p, polygon)
    k = shift % len(polygon)
    rotated = polygon[k:] + polygon[:k]
    assert point_in_polygon(p, rotated) is expected
    assert point_in_polygon(p, rotated[::-1]) is expected


@settings(max_examples=150, deadline=None)
@given(p=points, polygon=polygons)
def test_vertices_are_inside_their_polygon(p: tuple[float, float],
                                           polygon: list[tuple[float, float]]) -> None:
    assert all(point_in_polygon(v, polygon) for v in polygon)


@settings(max_examples=200, deadline=None)
@given(a=points, b=points, s=points, e=points)
def test_crossing_sign_flips_when_the_path_is_reversed(a: tuple[float, float],
                                                       b: tuple[float, float],
                                                       s: tuple[float, float],
                                                       e: tuple[float, float]) -> None:
    assert segment_crossing(b, a, s, e) == -segment_crossing(a, b, s, e)


@settings(max_examples=200, deadline=None)
@given(a=points, b=points, s=points, e=points)
def test_a_path_wholly_on_one_side_never_crosses(a: tuple[float, float], b: tuple[float, float],
                                                 s: tuple[float, float],
                                                 e: tuple[float, float]) -> None:
    side_a, side_b = side_of_line(a, s, e), side_of_line(b, s, e)
    assume((side_a > 0 and side_b > 0) or (side_a < 0 and side_b < 0))
    assert segment_crossing(a, b, s, e) == 0


@settings(max_examples=150, deadline=None)
@given(a=points, b=points, c=points)
def test_crossings_of_a_track_telescope_to_the_side_change(
        a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> None:
    line = ((0.0, 0.5), (1.0, 0.5))  # spans the image: every side change is a crossing
    net = segment_crossing(a, b, *line) + segment_crossing(b, c, *line)
    assert net == segment_crossing(a, c, *line)


@st.composite
def convex_polygons(draw: st.DrawFn) -> list[tuple[float, float]]:
    """Points on a circle inside the unit square, at sorted angles at least 10 degrees apart."""
    radius = draw(st.floats(min_value=0.05, max_value=0.45))
    cx = draw(st.floats(min_value=radius, max_value=1 - radius))
    cy = draw(st.floats(min_value=radius, max_value=1 - radius))
    n = draw(st.integers(min_value=3, max_value=12))
    gaps = draw(st.lists(st.floats(min_value=10.0, max_value=60.0), min_size=n, max_size=n))
    assume(sum(gaps) <= 360.0 and 360.0 - sum(gaps[:-1]) <= 170.0)
    start = draw(st.floats(min_value=0.0, max_value=360.0))
    angles, total = [], start
    for gap in gaps[:-1]:
        angles.append(total)
        total += gap
    angles.append(total)
    clockwise = draw(st.booleans())
    polygon = [(cx + radius * math.cos(math.radians(t)), cy + radius * math.sin(math.radians(t)))
               for t in angles]
    return polygon[::-1] if clockwise else polygon


@settings(max_examples=150, deadline=None)
@given(polygon=convex_polygons())
def test_random_convex_polygons_in_the_unit_square_have_no_problems(
        polygon: list[tuple[float, float]]) -> None:
    polygon = [(min(1.0, max(0.0, x)), min(1.0, max(0.0, y))) for x, y in polygon]
    assert polygon_problems(polygon) == []
    n = len(polygon)
    centroid = (sum(x for x, _ in polygon) / n, sum(y for _, y in polygon) / n)
    assert point_in_polygon(centroid, polygon)
