"""Sliced inference on any detector (domain/slicing.py says how it slices and merges): the
wrapped Detector sees the full frames and their crops in one detect(list) call, so whatever
backend serves the model (a model a user drops in the models dir too) batches them as it batches
frames, and infers each crop at its own input size, i.e. magnified."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from vigie.camera.v1.camera_pb2 import (
    SLICING_MODE_FAR_FIELD,
    SLICING_MODE_NONE,
    SLICING_MODE_TILES,
    Camera,
)

from vigie_detect.adapters.detector import Detector, Image
from vigie_detect.config import Settings
from vigie_detect.domain.detections import Detections
from vigie_detect.domain.slicing import (
    Region,
    SlicingMode,
    SlicingPlan,
    concat,
    cut_by_crop,
    merge,
    plan_crops,
    to_frame,
)

log = logging.getLogger(__name__)


def detect_sliced(detector: Detector, images: list[Image],
                  plans: Sequence[SlicingPlan | None]) -> list[Detections]:
    """One Detections per image, in order: each image with its plan (None, or a plan that slices
    nothing: the full frame only, as the detector gives it). One call to `detector.detect`."""
    if len(plans) != len(images):
        raise ValueError("one plan per image")
    inputs: list[Image] = []
    # Per image: (index of its first input, its crops, whether the full frame is among them).
    layout: list[tuple[int, npt.NDArray[np.int64], bool]] = []
    for image, plan in zip(images, plans, strict=True):
        height, width = image.shape[:2]
        crops = np.zeros((0, 4), np.int64)
        full = True
        if plan is not None and plan.active:
            crops = plan_crops(plan, width, height)
            whole = (crops == np.array([0, 0, width, height])).all(axis=1)
            full = plan.full_frame or bool(whole.any()) or not len(crops)
            crops = crops[~whole]  # the full frame is inferred once
        layout.append((len(inputs), crops, full))
        if full:
            inputs.append(image)
        inputs += [np.ascontiguousarray(image[y0:y1, x0:x1]) for x0, y0, x1, y1 in crops]
    found = detector.detect(inputs)
    out: list[Detections] = []
    for image, plan, (first, crops, full) in zip(images, plans, layout, strict=True):
        if plan is None or not plan.active:
            out.append(found[first])
            continue
        height, width = image.shape[:2]
        parts = [found[first]] if full else []
        cut = [np.zeros(len(found[first]), np.bool_)] if full else []
        for k, crop in enumerate(crops):
            moved = to_frame(found[first + full + k], crop)
            parts.append(moved)
            cut.append(cut_by_crop(moved.xyxy, crop, width, height))
        every = concat(parts)
        out.append(merge(every, np.concatenate(cut) if cut else None, plan.match_threshold,
                         plan.merge, plan.merge_groups))
    return out


class SlicedDetector:
    """A Detector that slices every image with one plan (the bench, a single-camera caller);
    the service slices per camera through `detect_sliced`."""

    def __init__(self, detector: Detector, plan: SlicingPlan) -> None:
        self.detector, self.plan = detector, plan
        self.model_id = detector.model_id
        self.class_names = detector.class_names

    def detect(self, images: list[Image]) -> list[Detections]:
        return detect_sliced(self.detector, images, [self.plan] * len(images))



_MODES = {SLICING_MODE_NONE: SlicingMode.NONE, SLICING_MODE_TILES: SlicingMode.TILES,
          SLICING_MODE_FAR_FIELD: SlicingMode.FAR_FIELD}


class CameraSlicing:
    """Each camera's slicing plan, from its Camera (slicing_mode, far_field_regions) and the
    settings (`slicing` for cameras that set no mode, tile size, overlap, merge threshold; the
    NMS groups as merge groups). Plans are cached by what they are made of."""

    def __init__(self, config: Settings, merge_groups: tuple[tuple[int, ...], ...] = ()) -> None:
        self.default = SlicingMode(config.slicing)
        self.tile_px = config.slicing_tile_px or config.input_size
        self.overlap, self.threshold = config.slicing_overlap, config.slicing_match_threshold
        self.how = config.slicing_merge
        self.merge_groups = merge_groups
        self._plans: dict[tuple[SlicingMode, tuple[Region, ...]], SlicingPlan | None] = {}

    def plan(self, camera: Camera | None) -> SlicingPlan | None:
        """The camera's plan, None when its frames are not sliced (an invalid region is logged
        once and ignored)."""
        mode = self.default
        regions: tuple[Region, ...] = ()
        if camera is not None:
            mode = _MODES.get(camera.slicing_mode, self.default)
            regions = tuple((r.x_min, r.y_min, r.x_max, r.y_max)
                            for r in camera.far_field_regions)
        if mode is SlicingMode.NONE:
            return None
        key = (mode, regions)
        if key not in self._plans:
            valid = tuple(r for r in regions if 0 <= r[0] < r[2] <= 1 and 0 <= r[1] < r[3] <= 1)
            if len(valid) < len(regions):
                log.warning("far-field regions outside 0..1 or empty ignored: %s",
                            [r for r in regions if r not in valid],
                            extra={"camera_id": camera.camera_id if camera else ""})
            if mode is SlicingMode.FAR_FIELD and not valid:
                self._plans[key] = None  # nothing marked as far: the full frame only
            else:
                self._plans[key] = SlicingPlan(mode, valid, self.tile_px, self.overlap,
                                               match_threshold=self.threshold, merge=self.how,
                                               merge_groups=self.merge_groups)
        return self._plans[key]
