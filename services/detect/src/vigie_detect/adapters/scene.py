"""The scene stage's image work, per camera, with OpenCV: a long-term and a short-term MOG2
background (still foreground = long-term foreground the short-term model has absorbed), and the
measures of the picture that tampering is judged on. The decisions are domain/scene.py's.

Everything runs on a copy of the frame scaled to `analysis_width` (320 px by default), on at
most `analysis_fps` frames a second of stream time (2.5 by default): the cost per frame is
measured by bench/detect/bench_scene.py against a bare MOG2 loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from cv2.typing import MatLike

from vigie_detect.domain.scene import (
    Box,
    Region,
    StaticParams,
    StaticRegions,
    StillBlob,
    ViewChange,
    ViewMeasures,
    ViewParams,
    ViewProblem,
    ViewWatch,
)

Image = MatLike
ABSORB = 0.105
"""MOG2 takes a new value into its background once the old mode's weight fell below its
background ratio (0.9): after about ABSORB / learning-rate frames."""
BOOT_FRAMES = 5
"""The first frames make the background (learning rate 1/n)."""


@dataclass(frozen=True)
class SceneParams:
    analysis_width: int = 320
    # Frames analysed per second of stream time (0: all). Still objects take seconds and view
    # problems 1.5 s to confirm: 2.5 analysed frames/s see both, at a fraction of the cost of a
    # 25 frames/s camera's every frame. The frames between carry the last still objects.
    analysis_fps: float = 2.5
    long_s: float = 600.0  # the long-term background absorbs a still object after this long
    min_area: float = 0.001  # smallest still region, share of the image
    max_still_share: float = 0.4  # more of the image still-foreground at once: relearn
    static: StaticParams = field(default_factory=StaticParams)
    view: ViewParams = field(default_factory=ViewParams)
    thumbnail_width: int = 160


@dataclass(frozen=True)
class StaticObject:
    region_id: int
    box: Box  # pixels of the frame as given
    confidence: float  # that it came into the scene (removed: that it left)
    appeared_s: float
    removed: bool = False  # something that was part of the scene left it


@dataclass(frozen=True)
class SceneResult:
    static: list[StaticObject]
    view_change: ViewChange | None = None
    reference_jpeg: bytes = b""  # on a view change: before (the reference view)...
    current_jpeg: bytes = b""  # ...and after


def _mog2() -> cv2.BackgroundSubtractorMOG2:
    return cv2.createBackgroundSubtractorMOG2(history=500, varThreshold=16, detectShadows=True)


class SceneCamera:
    """One camera's background models, still regions and view watch."""

    def __init__(self, params: SceneParams, accepted_s: float | None = None) -> None:
        self.params = params
        self.accepted_s = accepted_s  # the view accepted as the reference from then on
        self.long, self.short = _mog2(), _mog2()
        self.frames = 0
        self.last_s: float | None = None
        self.regions = StaticRegions(params.static)
        self.view = ViewWatch(params.view)
        self.reference_features: Features | None = None
        self.previous_features: Features | None = None
        self.reference_jpeg = b""
        self.last_static: list[StaticObject] = []

    def update(self, image: Image, t_s: float, claimers: list[Box]) -> SceneResult:
        p = self.params
        if (p.analysis_fps > 0 and self.last_s is not None
                and self.last_s <= t_s < self.last_s + 1.0 / p.analysis_fps - 1e-6):
            return SceneResult(self.last_static)  # between two analysed frames
        height, width = image.shape[:2]
        scale = p.analysis_width / width if width > p.analysis_width else 1.0
        small = cv2.resize(image, (round(width * scale), round(height * scale)),
                           interpolation=cv2.INTER_AREA) if scale < 1 else image
        dt = 0.0 if self.last_s is None else max(t_s - self.last_s, 0.0)
        self.last_s = t_s
        self.frames += 1
        boot = 1.0 / self.frames if self.frames <= BOOT_FRAMES else 0.0  # the first frames
        fg_long = self.long.apply(small, learningRate=max(boot, min(1.0, ABSORB * dt / p.long_s)))
        fg_short = self.short.apply(
            small, learningRate=max(boot, min(1.0, ABSORB * dt / p.static.short_s)))
        still = ((fg_long == 255) & (fg_short == 0)).astype(np.uint8)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        change, thumb = self._watch(grey, t_s)
        if ((change is not None and change.problem is not ViewProblem.NONE)
                or self.view.problem is not ViewProblem.NONE or not self.view.steady
                or still.mean() > p.max_still_share):
            # the view changed as a whole, or the camera is not fixed: nothing is an object
            self._relearn()
            found: list[Region] = []
        else:
            blobs = self._blobs(still, grey, 1.0 / scale)
            found = self.regions.update(t_s, blobs, claimers)
        static = [StaticObject(r.region_id, r.box,
                               round(1.0 - r.objectness if r.removed else r.objectness, 3),
                               r.appeared_s, r.removed) for r in found]
        self.last_static = static
        if change is None:
            return SceneResult(static)
        before = self.reference_jpeg
        if change.problem is ViewProblem.NONE and self.previous_features is not None:
            self._set_reference(thumb, self.previous_features)  # back to normal: the view now
        return SceneResult(static, change, before, _jpeg(thumb))

    def _relearn(self) -> None:
        self.long, self.short = _mog2(), _mog2()
        self.frames = 0
        self.regions.reset()

    def _blobs(self, still: Image, grey: Image, to_frame: float) -> list[StillBlob]:
        p = self.params
        still = cv2.morphologyEx(still, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        still = cv2.morphologyEx(still, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
        count, labels, stats, _ = cv2.connectedComponentsWithStats(still, connectivity=8)
        min_px = p.min_area * still.size
        blobs: list[StillBlob] = []
        background: Image | None = None
        for i in range(1, count):
            x, y, w, h, area = (int(v) for v in stats[i])
            if area < min_px:
                continue
            if background is None:
                background = cv2.cvtColor(self.long.getBackgroundImage(), cv2.COLOR_BGR2GRAY)
            mask = (labels[y:y + h, x:x + w] == i).astype(np.uint8)
            objectness = _objectness(mask, grey[y:y + h, x:x + w],
                                     background[y:y + h, x:x + w])
            blobs.append(StillBlob((x * to_frame, y * to_frame, (x + w) * to_frame,
                                    (y + h) * to_frame), float(area), objectness))
        return blobs

    def _watch(self, grey: Image, t_s: float) -> tuple[ViewChange | None, Image]:
        p = self.params
        thumb = cv2.resize(grey, (p.thumbnail_width, max(1, round(
            grey.shape[0] * p.thumbnail_width / grey.shape[1]))), interpolation=cv2.INTER_AREA)
        features = _ORB.detectAndCompute(grey, None)
        width = grey.shape[1]
        shift = _translation(self.reference_features, features, width)
        step = _translation(self.previous_features, features, width)
        self.previous_features = features
        sharpness = float(cv2.Laplacian(grey, cv2.CV_32F).var())  # high-frequency energy
        measures = ViewMeasures(float(grey.mean()), float(grey.std()), sharpness, shift, step)
        had_reference = self.view.has_reference
        change = self.view.update(t_s, measures)
        if self.view.has_reference and not had_reference:
            self._set_reference(thumb, features)
        return change, thumb

    def _set_reference(self, thumb: Image, features: Features) -> None:
        self.reference_features = features
        self.reference_jpeg = _jpeg(thumb)


Features = tuple[Any, Any]  # ORB keypoints and descriptors
_ORB = cv2.ORB.create(nfeatures=250)
_MATCHER = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)
MIN_INLIERS = 20
"""Fewer features agreeing on one move: the move is unknown (a featureless or changed view)."""


def _translation(before: Features | None, after: Features, width: int) -> float | None:
    """How far the view moved between two frames (share of the width), from ORB features and a
    RANSAC similarity (moving objects are outliers); None when it cannot be told."""
    if before is None or before[1] is None or after[1] is None:
        return None
    if len(before[0]) < MIN_INLIERS or len(after[0]) < MIN_INLIERS:
        return None
    matches = _MATCHER.match(before[1], after[1])
    if len(matches) < MIN_INLIERS:
        return None
    a = np.array([before[0][m.queryIdx].pt for m in matches], np.float32)
    b = np.array([after[0][m.trainIdx].pt for m in matches], np.float32)
    transform, inliers = cv2.estimateAffinePartial2D(a, b, method=cv2.RANSAC,
                                                     ransacReprojThreshold=3.0)
    if transform is None or int(inliers.sum()) < MIN_INLIERS:
        return None
    return math.hypot(float(transform[0, 2]), float(transform[1, 2])) / width


def _objectness(mask: Image, frame: Image, background: Image) -> float:
    """Edges along the region's outline in the frame against in the background: an object
    brings its outline into the scene, a ghost (what left) had its outline in the background."""
    band = cv2.dilate(mask, np.ones((3, 3), np.uint8)) - cv2.erode(mask, np.ones((3, 3), np.uint8))
    if not band.any():
        return 0.0

    def edges(image: Image) -> float:
        g = cv2.magnitude(cv2.Sobel(image, cv2.CV_32F, 1, 0), cv2.Sobel(image, cv2.CV_32F, 0, 1))
        return float(g[band > 0].mean())

    here, before = edges(frame), edges(background)
    return here / (here + before) if here + before > 0 else 0.0


def _jpeg(grey: Image) -> bytes:
    ok, data = cv2.imencode(".jpg", grey, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return data.tobytes() if ok else b""


class ScenePool:
    """Scene cameras by id, created on their first frame."""

    def __init__(self, params: SceneParams | None = None) -> None:
        self.params = params or SceneParams()
        self.cameras: dict[str, SceneCamera] = {}

    def update(self, camera_id: str, image: Image, t_s: float, claimers: list[Box],
               accepted_s: float | None = None) -> SceneResult:
        """One frame of a camera; `accepted_s`: when an operator last accepted its view as the
        reference (Camera.view_accepted_at): a later acceptance than the camera's state knows,
        and the frame captured after it, starts the camera afresh."""
        if accepted_s is not None and t_s < accepted_s:
            accepted_s = None  # (a frame captured before the acceptance)
        camera = self.cameras.get(camera_id)
        if camera is None:
            camera = self.cameras[camera_id] = SceneCamera(self.params, accepted_s)
        elif accepted_s is not None and (camera.accepted_s is None
                                         or accepted_s > camera.accepted_s):
            problem = camera.view.problem
            camera = self.cameras[camera_id] = SceneCamera(self.params, accepted_s)
            camera.view.problem = problem  # reported back to normal once the new view is learned
        return camera.update(image, t_s, claimers)
