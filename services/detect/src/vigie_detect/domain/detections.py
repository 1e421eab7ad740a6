"""Detections: one column-oriented type for every model and tracker (in the spirit of
supervision's), validated on construction. Boxes are in pixels of the analysed image."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from vigie_core.labels import COCO_CLASSES as COCO_CLASSES

Float = npt.NDArray[np.float32]
Int = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Detections:
    """N objects: `xyxy` (N, 4) pixel boxes, `confidence` (N,), `class_id` (N,), `tracker_id`
    (N,), 0 where untracked."""

    xyxy: Float
    confidence: Float
    class_id: Int
    tracker_id: Int = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        object.__setattr__(self, "xyxy", np.asarray(self.xyxy, np.float32).reshape(n, 4))
        object.__setattr__(self, "confidence", np.asarray(self.confidence, np.float32))
        object.__setattr__(self, "class_id", np.asarray(self.class_id, np.int64))
        tracker = np.asarray(self.tracker_id, np.int64)
        object.__setattr__(self, "tracker_id", tracker if len(tracker) else np.zeros(n, np.int64))
        if not (len(self.confidence) == len(self.class_id) == len(self.tracker_id) == n):
            raise ValueError("xyxy, confidence, class_id and tracker_id must have one row each")
        if n and (not np.isfinite(self.xyxy).all() or (self.xyxy[:, 2:] < self.xyxy[:, :2]).any()):
            raise ValueError("boxes must be finite with x_max >= x_min and y_max >= y_min")
        if n and ((self.confidence < 0) | (self.confidence > 1)).any():
            raise ValueError("confidence must be within [0, 1]")

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: npt.NDArray[np.bool_] | npt.NDArray[np.int64]) -> Detections:
        return Detections(self.xyxy[index], self.confidence[index], self.class_id[index],
                          self.tracker_id[index])

    def with_tracker_ids(self, tracker_id: Int) -> Detections:
        return Detections(self.xyxy, self.confidence, self.class_id, tracker_id)

    def class_names(self, names: tuple[str, ...] = COCO_CLASSES) -> list[str]:
        return [names[c] if 0 <= c < len(names) else f"class{c}" for c in self.class_id]


def box_iou(a: Float, b: Float) -> Float:
    """Pairwise IoU of (N, 4) and (M, 4) xyxy boxes: an (N, M) matrix."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def nms_group_of(class_count: int, groups: tuple[tuple[int, ...], ...] = (),
                 agnostic: bool = False) -> Int:
    """The NMS group of each class id: its own id, its group's smallest, or 0 for all classes
    when `agnostic` (boxes of one group compete as one object)."""
    group_of = np.arange(max(class_count, 1), dtype=np.int64)
    for group in groups:
        group_of[[g for g in group if g < len(group_of)]] = min(group)
    if agnostic:
        group_of[:] = 0
    return group_of


def intersection_over_smaller(a: Float, b: Float) -> Float:
    """Pairwise intersection over the smaller box's area of (N, 4) and (M, 4) xyxy boxes."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    smaller = np.minimum(area_a[:, None], area_b[None, :])
    return np.where(smaller > 0, inter / np.maximum(smaller, 1e-9), 0.0).astype(np.float32)


def suppress_nested(found: Detections, group_of: Int, max_ios: float) -> Detections:
    """One object, one box: drops a box lying within a more confident box of the same class
    group (intersection over the smaller box's area >= max_ios). NMS keeps such pairs, since
    their IoU is low when one box is much smaller: a partial box inside a car, found beside the
    whole car, becomes a second track that enters zones and crosses lines on its own.
    `group_of[class_id]`: each class's NMS group (its own id when alone). Order is kept."""
    if len(found) < 2 or max_ios <= 0:
        return found
    order = np.argsort(-found.confidence, kind="stable")
    boxes = found.xyxy[order]
    groups = group_of[found.class_id[order]]
    nested = ((intersection_over_smaller(boxes, boxes) >= max_ios)
              & (groups[:, None] == groups[None, :]))
    keep = np.ones(len(boxes), bool)
    for i in range(len(boxes)):
        if keep[i]:
            later = nested[i, i + 1:]
            keep[i + 1:] &= ~later
    kept = np.sort(order[keep])
    return found if len(kept) == len(found) else found[kept]
