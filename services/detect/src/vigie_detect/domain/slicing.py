"""Sliced inference for small, far objects (issue 18), as SAHI does it: besides the full frame,
the detector is run on crops of the frame, each inferred at the network's input size (so
magnified), and the boxes found in the crops are mapped back to the frame and merged with the
full frame's.

Two kinds of crops:
- tiles: a grid of `tile_px` squares overlapping by `overlap` (SAHI's `get_slice_bboxes`: rows
  and columns step by tile - overlap, the last ones shifted back inside the image), over the
  whole frame or over each region;
- far field: one crop per region an operator marked as far (normalised x_min, y_min, x_max,
  y_max), magnified as a whole.

Merging is SAHI's default postprocess, greedy non-maximum merging (NMM) on intersection over
the smaller box (IOS), class-aware: boxes are taken by decreasing confidence, each kept box
absorbs the later boxes of its class that overlap it by `match_threshold` or more (the union of
the boxes, the best confidence). Boxes cut by an inner crop edge (the crop goes on, the box does
not) are taken after the whole ones, so an object cut by two tiles is led by its whole box, from
another tile or the full frame, and its pieces merge into it; IOS, unlike IoU, matches a piece
to the whole. SAHI's NMM grows every kept box to the union of its matches, so a car seen by the
full frame and a tile gets a box larger than either (measured on the motorway clip: +10-20 %,
and two neighbouring cars' boxes chained into one); `merge="nms"` (the default here) keeps a
whole leading box as it is and takes the union only when the leader is itself a piece (no whole
box of the object anywhere: an object larger than the tiles' overlap that the full frame
missed).

Pure numpy: boxes are (N, 4) float xyxy pixel arrays, crops (K, 4) int xyxy pixel arrays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

from vigie_detect.domain.detections import (
    Detections,
    intersection_over_smaller,
    nms_group_of,
)

Boxes = npt.NDArray[np.float32]
Crops = npt.NDArray[np.int64]
Region = tuple[float, float, float, float]  # normalised x_min, y_min, x_max, y_max

CUT_MARGIN_PX = 2.0  # a box this close to an inner crop edge is cut by it


class SlicingMode(Enum):
    NONE = "none"
    TILES = "tiles"  # a tile grid over the frame, or over each region
    FAR_FIELD = "far_field"  # each region cropped and magnified as a whole


@dataclass(frozen=True)
class SlicingPlan:
    """How one camera's frames are sliced."""

    mode: SlicingMode = SlicingMode.NONE
    regions: tuple[Region, ...] = ()  # where it applies; tiles: () is the whole frame
    tile_px: int = 448  # tiles' side, pixels of the frame
    overlap: float = 0.2  # tiles' overlap, a fraction of their side
    full_frame: bool = True  # the full frame is inferred too (SAHI's perform_standard_pred)
    match_threshold: float = 0.5  # IOS at which two boxes of a class are one object
    merge: str = "nms"  # "nms": a whole leading box as it is; "nmm": SAHI's union of matches
    # Class ids merged as one class (car, truck, bus: as the detector's NMS groups them).
    merge_groups: tuple[tuple[int, ...], ...] = ()

    def __post_init__(self) -> None:
        if self.tile_px < 32:
            raise ValueError(f"tile_px must be at least 32, not {self.tile_px}")
        if not 0 <= self.overlap < 1:
            raise ValueError(f"overlap must be within [0, 1), not {self.overlap}")
        if not 0 < self.match_threshold <= 1:
            raise ValueError(f"match_threshold must be within (0, 1], not "
                             f"{self.match_threshold}")
        if self.merge not in ("nmm", "nms"):
            raise ValueError(f"merge must be nmm or nms, not {self.merge!r}")
        for region in self.regions:
            x0, y0, x1, y1 = region
            if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
                raise ValueError(f"a region is normalised x_min < x_max, y_min < y_max within "
                                 f"[0, 1], not {region}")
        if self.mode is SlicingMode.FAR_FIELD and not self.regions:
            raise ValueError("far_field slicing needs at least one region")

    @property
    def active(self) -> bool:
        return self.mode is not SlicingMode.NONE


def tile_grid(width: int, height: int, tile_w: int, tile_h: int, overlap: float,
              origin: tuple[int, int] = (0, 0)) -> Crops:
    """SAHI's slice boxes of a width x height image: tiles of tile_w x tile_h (smaller when the
    image is), stepping by the tile less its overlap; the last row and column are shifted back to
    end on the image's edge. `origin`: offset added to every tile (a region's corner)."""
    tile_w, tile_h = min(tile_w, width), min(tile_h, height)
    if width <= 0 or height <= 0:
        return np.zeros((0, 4), np.int64)
    step_x = max(1, tile_w - int(overlap * tile_w))
    step_y = max(1, tile_h - int(overlap * tile_h))
    xs = _starts(width, tile_w, step_x)
    ys = _starts(height, tile_h, step_y)
    crops = [(x, y, x + tile_w, y + tile_h) for y in ys for x in xs]
    return np.asarray(crops, np.int64).reshape(-1, 4) + np.array(origin * 2, np.int64)


def _starts(size: int, tile: int, step: int) -> list[int]:
    starts = list(range(0, max(size - tile, 0) + 1, step))
    if starts[-1] + tile < size:
        starts.append(size - tile)
    return starts


def region_crops(width: int, height: int, regions: Sequence[Region]) -> Crops:
    """Normalised regions as pixel crops of a width x height image, rounded outward (a region
    never loses a pixel), at least one pixel each."""
    crops = []
    for x0, y0, x1, y1 in regions:
        left, top = int(np.floor(x0 * width)), int(np.floor(y0 * height))
        right, bottom = int(np.ceil(x1 * width)), int(np.ceil(y1 * height))
        left, top = min(max(left, 0), width - 1), min(max(top, 0), height - 1)
        crops.append((left, top, max(min(right, width), left + 1),
                      max(min(bottom, height), top + 1)))
    return np.asarray(crops, np.int64).reshape(-1, 4)


def plan_crops(plan: SlicingPlan, width: int, height: int) -> Crops:
    """The crops of a width x height frame the plan infers, besides the full frame."""
    if plan.mode is SlicingMode.NONE:
        return np.zeros((0, 4), np.int64)
    if plan.mode is SlicingMode.FAR_FIELD:
        return region_crops(width, height, plan.regions)
    areas = (region_crops(width, height, plan.regions) if plan.regions
             else np.array([[0, 0, width, height]], np.int64))
    tiles = [tile_grid(int(x1 - x0), int(y1 - y0), plan.tile_px, plan.tile_px, plan.overlap,
                       (int(x0), int(y0))) for x0, y0, x1, y1 in areas]
    return np.concatenate(tiles) if tiles else np.zeros((0, 4), np.int64)


def to_frame(found: Detections, crop: Sequence[int] | npt.NDArray[np.int64]) -> Detections:
    """Detections in a crop's pixels, moved to the frame's pixels."""
    if not len(found):
        return found
    offset = np.array([crop[0], crop[1], crop[0], crop[1]], np.float32)
    return Detections(found.xyxy + offset, found.confidence, found.class_id, found.tracker_id)


def cut_by_crop(xyxy: Boxes, crop: Sequence[int] | npt.NDArray[np.int64], width: int,
                height: int, margin: float = CUT_MARGIN_PX) -> npt.NDArray[np.bool_]:
    """Which frame-pixel boxes touch an edge of the crop that is inside the frame (the object
    may go on beyond it). Edges on the frame's own border cut nothing."""
    x0, y0, x1, y1 = (float(v) for v in crop)
    cut = np.zeros(len(xyxy), np.bool_)
    if x0 > 0:
        cut |= xyxy[:, 0] <= x0 + margin
    if y0 > 0:
        cut |= xyxy[:, 1] <= y0 + margin
    if x1 < width:
        cut |= xyxy[:, 2] >= x1 - margin
    if y1 < height:
        cut |= xyxy[:, 3] >= y1 - margin
    return cut


def merge(found: Detections, cut: npt.NDArray[np.bool_] | None = None,
          match_threshold: float = 0.5, how: str = "nms",
          groups: Sequence[Sequence[int]] = ()) -> Detections:
    """Greedy merging of boxes of one frame from several passes (full frame, crops), see the
    module docstring. `cut`: which boxes an inner crop edge cuts (they lead only where no whole
    box does). `groups`: class ids merged as one class (car, truck and bus, as the detector's NMS
    groups them); the others merge within their own class. Kept boxes by decreasing confidence."""
    n = len(found)
    if n == 0:
        return found
    cut = np.zeros(n, np.bool_) if cut is None else np.asarray(cut, np.bool_)
    group = nms_group_of(int(found.class_id.max(initial=0)) + 1,
                         tuple(tuple(g) for g in groups))[found.class_id]
    order = np.lexsort((-found.confidence, cut))  # whole boxes first, then by confidence
    ios = intersection_over_smaller(found.xyxy, found.xyxy)
    taken = np.zeros(n, np.bool_)
    boxes, scores, classes = [], [], []
    for i in order:
        if taken[i]:
            continue
        taken[i] = True
        members = np.flatnonzero(~taken & (group == group[i]) & (ios[i] >= match_threshold))
        taken[members] = True
        box = found.xyxy[i]
        if len(members) and (how == "nmm" or cut[i]):
            every = np.concatenate([[i], members])
            box = np.concatenate([found.xyxy[every, :2].min(axis=0),
                                  found.xyxy[every, 2:].max(axis=0)])
            best = every[np.argmax(found.confidence[every])]
        else:
            best = i
        boxes.append(box)
        scores.append(found.confidence[best])
        classes.append(found.class_id[best])
    kept = np.argsort(-np.asarray(scores, np.float32), kind="stable")
    return Detections(np.asarray(boxes, np.float32)[kept], np.asarray(scores, np.float32)[kept],
                      np.asarray(classes, np.int64)[kept])


def concat(parts: Sequence[Detections]) -> Detections:
    parts = [p for p in parts if len(p)]
    if not parts:
        return Detections.empty()
    return Detections(np.concatenate([p.xyxy for p in parts]),
                      np.concatenate([p.confidence for p in parts]),
                      np.concatenate([p.class_id for p in parts]))
