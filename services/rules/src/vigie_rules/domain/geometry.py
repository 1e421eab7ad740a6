"""Plane geometry for rules, in normalised image coordinates.

Coordinates are fractions of the image width and height: origin at the top-left corner, x to the
right, y *downwards* (as in `vigie.common.v1.Point`). "Left" and "right" below are as seen on the
image by someone walking from a line's start toward its end.

Pure Python on floats: no numpy, no I/O. Every function takes points as `(x, y)` tuples; `Point` is
a named tuple, so it can be passed wherever a tuple is expected and vice versa.

Conventions at the edges of each predicate (a point exactly on a polygon's edge, a path touching
a line) are fixed and documented on each function, and each predicate evaluates an edge or a path
in a canonical order, so that its answer does not depend on the order in which the same points are
given (vertex rotation, polygon reversal, path reversal) — not even by a rounding error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple


class Point(NamedTuple):
    """A point (or a vector) in normalised image coordinates."""

    x: float
    y: float


XY = tuple[float, float]
Polygon = Sequence[XY]

BOUNDARY_EPS = 1e-9
"""A point within this distance (normalised units) of a polygon edge counts as on it."""

MIN_POLYGON_AREA = 1e-6
"""Smallest polygon area accepted, as a fraction of the image (about 2 px² of a 1920x1080 image);
below it the polygon is degenerate (collinear or coincident points)."""


def _cross(ox: float, oy: float, ax: float, ay: float, bx: float, by: float) -> float:
    """z of (a - o) x (b - o)."""
    return (ax - ox) * (by - oy) - (ay - oy) * (bx - ox)


def side_of_line(p: XY, start: XY, end: XY) -> float:
    """Signed side of `p` relative to the directed line start -> end.

    Positive: `p` is on the right of the line as seen on the image walking from `start` toward
    `end`; negative: on the left; zero: on the (infinite) line. The magnitude is twice the area of
    the triangle (start, end, p), i.e. the distance to the line times the line's length.
    (Because y grows downwards, this is the usual z of (end - start) x (p - start).)
    """
    return _cross(start[0], start[1], end[0], end[1], p[0], p[1])


def _canonical(a: XY, b: XY) -> tuple[XY, XY]:
    return (a, b) if (a[0], a[1]) <= (b[0], b[1]) else (b, a)


def segment_crossing(a: XY, b: XY, line_start: XY, line_end: XY) -> int:
    """Whether the path a -> b crosses the segment line_start -> line_end, and which way.

    Returns +1 when the path goes from the line's left side to its right side (see
    `side_of_line`), -1 from right to left, 0 when it does not cross.

    Touching, by a half-open convention: a point exactly on the (infinite) line counts as being on
    the right side. So a path that ends on the line having come from the left counts +1, and one
    that leaves the line toward the left counts -1; a path between the line and the right side, or
    lying along the line (collinear), counts 0. Chained over a track (p0 -> p1 -> p2 ...), every
    real crossing is counted exactly once and the counts telescope: their sum is the net number
    of crossings (+1 per left-to-right, -1 per right-to-left). A track that touches the line from
    the left and goes back counts +1 then -1; a rule that reacts to single steps should therefore
    remember the last side a track was strictly on (see `side_of_line`) rather than react to a
    lone +1.

    The line is a closed segment: a path through one of its endpoints crosses. A degenerate line
    (start == end) or path (a == b) never crosses. Reversing the path (b -> a) negates the result
    exactly.
    """
    if line_start == line_end:
        return 0
    side_a = side_of_line(a, line_start, line_end)
    side_b = side_of_line(b, line_start, line_end)
    if side_a < 0 <= side_b:
        sign = 1
    elif side_b < 0 <= side_a:
        sign = -1
    else:
        return 0
    # Does the path's line separate (or touch) the segment's endpoints? Computed on the path in a
    # canonical order so that b -> a gives bit-for-bit the same answer as a -> b.
    p, q = _canonical(a, b)
    d_start = side_of_line(line_start, p, q)
    d_end = side_of_line(line_end, p, q)
    if (d_start > 0 and d_end > 0) or (d_start < 0 and d_end < 0):
        return 0
    return sign


def _on_segment(p: XY, u: XY, v: XY, eps: float = BOUNDARY_EPS) -> bool:
    """Whether p lies within `eps` of the closed segment u-v."""
    u, v = _canonical(u, v)
    dx, dy = v[0] - u[0], v[1] - u[1]
    length_sq = dx * dx + dy * dy
    if length_sq == 0.0:
        return math.hypot(p[0] - u[0], p[1] - u[1]) <= eps
    t = ((p[0] - u[0]) * dx + (p[1] - u[1]) * dy) / length_sq
    t = min(1.0, max(0.0, t))
    return math.hypot(p[0] - (u[0] + t * dx), p[1] - (u[1] + t * dy)) <= eps


def point_in_polygon(p: XY, polygon: Polygon) -> bool:
    """Whether `p` is inside the polygon (given by its vertices in order, either orientation).

    The boundary counts as inside: a point on an edge or a vertex, or within `BOUNDARY_EPS` of
    one, is inside. Elsewhere the even-odd rule applies (for a self-intersecting polygon, which
    `polygon_problems` rejects, overlapping loops cancel out). Fewer than 3 vertices: only points
    on the resulting segment or point count as inside. Non-finite coordinates are never inside.

    The answer does not change when the vertex list is rotated or reversed.
    """
    x, y = p
    if not (math.isfinite(x) and math.isfinite(y)):
        return False
    n = len(polygon)
    if n == 0:
        return False
    inside = False
    for i in range(n):
        u, v = _canonical(polygon[i], polygon[(i + 1) % n])
        if _on_segment(p, u, v):
            return True
        # Ray cast toward +x; an edge counts when it straddles y (half-open in y).
        if (u[1] > y) != (v[1] > y):
            x_cross = u[0] + (y - u[1]) * (v[0] - u[0]) / (v[1] - u[1])
            if x < x_cross:
                inside = not inside
    return inside and n >= 3


def polygon_area(polygon: Polygon) -> float:
    """Signed area (shoelace); positive when the vertices run clockwise on the image."""
    n = len(polygon)
    twice = 0.0
    for i in range(n):
        (x0, y0), (x1, y1) = polygon[i], polygon[(i + 1) % n]
        twice += x0 * y1 - x1 * y0
    return twice / 2.0


def _segments_intersect(a: XY, b: XY, c: XY, d: XY) -> bool:
    """Whether closed segments a-b and c-d share at least one point."""
    d1 = side_of_line(c, a, b)
    d2 = side_of_line(d, a, b)
    d3 = side_of_line(a, c, d)
    d4 = side_of_line(b, c, d)
    if ((d1 > 0 and d2 < 0) or (d1 < 0 and d2 > 0)) and (
        (d3 > 0 and d4 < 0) or (d3 < 0 and d4 > 0)
    ):
        return True
    return (
        (d1 == 0 and _on_segment(c, a, b, 0.0))
        or (d2 == 0 and _on_segment(d, a, b, 0.0))
        or (d3 == 0 and _on_segment(a, c, d, 0.0))
        or (d4 == 0 and _on_segment(b, c, d, 0.0))
    )


def _fmt(p: XY) -> str:
    return f"({p[0]:g}, {p[1]:g})"


def polygon_problems(polygon: Polygon) -> list[str]:
    """What makes `polygon` unusable as a zone, as messages; empty when it is fine.

    Checks, in order: at least 3 points; finite coordinates (stops here otherwise); every point
    within the image (0..1); no two consecutive points equal (the last and first are consecutive);
    not all points collinear (stops here otherwise); no two edges crossing or touching, other than
    consecutive edges at their shared vertex; an area of at least `MIN_POLYGON_AREA`. Edge i
    joins point i to point i + 1 (the last edge closes the polygon), named "i-j" in messages,
    e.g. "self-intersecting edges 0-1 and 2-3". Points are numbered from 0.
    """
    n = len(polygon)
    if n < 3:
        return [f"needs at least 3 points, got {n}"]
    problems: list[str] = []
    for i, (x, y) in enumerate(polygon):
        if not (math.isfinite(x) and math.isfinite(y)):
            problems.append(f"point {i} {_fmt((x, y))} is not a finite number")
    if problems:
        return problems
    for i, (x, y) in enumerate(polygon):
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            problems.append(f"point {i} {_fmt((x, y))} is outside the image (0..1)")
    duplicate = False
    for i in range(n):
        j = (i + 1) % n
        if polygon[i][0] == polygon[j][0] and polygon[i][1] == polygon[j][1]:
            problems.append(f"points {i} and {j} are the same {_fmt(polygon[i])}")
            duplicate = True
    if _collinear(polygon):
        return [*problems, "zero area: the points are collinear"]
    if duplicate:  # zero-length edges would report spurious intersections
        return problems
    crossings = len(problems)
    for i in range(n):
        a, b = polygon[i], polygon[(i + 1) % n]
        for j in range(i + 1, n):
            c, d = polygon[j], polygon[(j + 1) % n]
            if j == i + 1 or (i == 0 and j == n - 1):
                # Consecutive edges share a vertex; they intersect elsewhere only if they fold
                # back on each other (collinear, opposite directions).
                shared, far1, far2 = (b, a, d) if j == i + 1 else (a, b, c)
                if side_of_line(far2, far1, shared) == 0 and (
                    (far1[0] - shared[0]) * (far2[0] - shared[0])
                    + (far1[1] - shared[1]) * (far2[1] - shared[1])
                ) > 0:
                    problems.append(
                        f"self-intersecting edges {i}-{(i + 1) % n} and {j}-{(j + 1) % n} "
                        "(the outline folds back on itself)")
                continue
            if _segments_intersect(a, b, c, d):
                problems.append(
                    f"self-intersecting edges {i}-{(i + 1) % n} and {j}-{(j + 1) % n}")
    area = abs(polygon_area(polygon))
    # (A crossed outline, e.g. a bow tie, can cancel its own area out: not worth a second message.)
    if area < MIN_POLYGON_AREA and len(problems) == crossings:
        problems.append(f"zero area ({area:.3g}, less than {MIN_POLYGON_AREA:g} of the image): "
                        "the polygon is too thin or too small")
    return problems


def _collinear(polygon: Polygon) -> bool:
    origin = polygon[0]
    far = max(polygon, key=lambda q: math.hypot(q[0] - origin[0], q[1] - origin[1]))
    length = math.hypot(far[0] - origin[0], far[1] - origin[1])
    return length == 0.0 or all(
        abs(side_of_line(q, origin, far)) <= BOUNDARY_EPS * length for q in polygon)


def heading_deg(a: XY, b: XY) -> float | None:
    """Direction of travel from `a` to `b` in degrees, in [0, 360); None if `a == b`.

    0 is toward +x (right on the image) and angles grow clockwise *on the image* because y grows
    downwards: 90 is down, 180 left, 270 up.
    """
    dx, dy = b[0] - a[0], b[1] - a[1]
    if dx == 0.0 and dy == 0.0:
        return None
    return math.degrees(math.atan2(dy, dx)) % 360.0


def angle_between_deg(u: XY, v: XY) -> float | None:
    """Unsigned angle between vectors `u` and `v` in degrees, in [0, 180]; None if either is zero
    (or not finite). For wrong-way checks: the motion vector against the rule's direction, wrong
    way when the angle exceeds 180 - tolerance (or any chosen threshold)."""
    nu, nv = math.hypot(u[0], u[1]), math.hypot(v[0], v[1])
    if not (nu > 0.0 and nv > 0.0 and math.isfinite(nu) and math.isfinite(nv)):
        return None
    # atan2 of cross and dot: accurate for nearly parallel vectors, unlike acos.
    cross = u[0] * v[1] - u[1] * v[0]
    dot = u[0] * v[0] + u[1] * v[1]
    return math.degrees(math.atan2(abs(cross), dot))


def box_bottom_centre(x_min: float, y_min: float, x_max: float, y_max: float) -> Point:
    """The middle of a box's bottom edge: where an object touches the ground, the usual reference
    point of a tracked object for zone and line rules (y grows downwards, so the bottom is
    y_max). `y_min` is accepted for symmetry with box tuples and unused."""
    del y_min
    return Point((x_min + x_max) / 2.0, y_max)
