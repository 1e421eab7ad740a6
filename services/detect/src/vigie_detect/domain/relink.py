"""Identity that survives occlusion: a new track that starts where a recently lost one ended,
looking like it, takes over the lost track's id. Pure numpy (no OpenCV, no model weights):
works for any detector's boxes and any class.

Appearance (`appearances`): for each box, a colour histogram of its upper and of its lower half
(the inner 60 % of the box's width, to leave out most background), in HSV: hue x saturation
(8 x 3 bins) for coloured pixels and 4 value bins for the greyish ones (saturation < 0.2 or
value < 0.15), each half normalised to sum 1. Two appearances are compared with the Hellinger
distance (0: same histograms, 1: disjoint), averaged over the two halves.

Re-linking (`Relinker`): the tracker's own ids ("raw" ids) become published ids. Every
published identity remembers its class, last box, velocity (pixels per second of stream time),
when it was last seen and its appearance (a running average over the frames where its box
overlaps no other box much). When a raw id is output for the first time (a new confirmed
track), it is matched against the identities not seen on this frame that were last seen at
most `relink_s` ago (stream seconds: independent of the sampling rate), of the same class, seen
on at least `min_observations` frames, and:
- whose position predicted from their last box and velocity is within `relink_max_distance`
  lost-box heights per second lost (at least MIN_RADIUS heights) of the new box's centre,
- whose box height is within a factor `max_size_ratio` of the new one,
- that did not leave the view (a lost box touching an image edge is only taken back by a new
  box touching that edge), when the image size is known,
- whose appearance is within `appearance_max_distance` of the new box's, and clearly the
  closest (AMBIGUITY_RATIO) of the plausible identities.
Among the admissible pairs the closest in appearance are linked first (greedy, one-to-one). A
linked new track publishes the lost identity's id from then on; the caller must drop the old
track from its tracker (so the id is never carried by two tracks). Published ids are always
ids the tracker handed out, so they stay > 0 and unique per camera.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Float = npt.NDArray[np.float32]
Int = npt.NDArray[np.int64]

HUE_BINS, SAT_BINS, GREY_BINS = 8, 3, 4
HALF_BINS = HUE_BINS * SAT_BINS + GREY_BINS
FEATURE_SIZE = 2 * HALF_BINS  # upper half, lower half
MIN_SATURATION, MIN_VALUE = 0.2, 0.15  # below either: a grey pixel (hue meaningless)
INNER_WIDTH = 0.6  # the central part of the box's width that is sampled
MAX_SAMPLES_PER_SIDE = 32  # a crop is sampled on at most 32 x 32 pixels per half
OCCLUDED_IOA = 0.3  # a box covered this much by another box does not update its appearance
APPEARANCE_SMOOTHING = 0.2  # weight of a new observation in an identity's appearance
VELOCITY_SMOOTHING = 0.5  # weight of a new observation in an identity's velocity
MIN_RADIUS = 0.25  # a lost box's centre may be this many of its heights off at least
AMBIGUITY_RATIO = 0.8  # the best lost identity must be this much closer than the second
EDGE_MARGIN = 0.01  # a box within 1 % of the image's size from an edge touches it


def _edges(box: npt.ArrayLike, image_size: tuple[int, int]) -> set[str]:
    """The image edges a box touches."""
    x0, y0, x1, y1 = (float(v) for v in np.asarray(box).reshape(4))
    width, height = image_size
    mx, my = EDGE_MARGIN * width, EDGE_MARGIN * height
    return {e for e, touches in (("left", x0 <= mx), ("top", y0 <= my),
                                 ("right", x1 >= width - mx), ("bottom", y1 >= height - my))
            if touches}


def hsv(pixels_bgr: npt.NDArray[np.uint8]) -> tuple[Float, Float, Float]:
    """Hue in [0, 1), saturation and value in [0, 1] of (..., 3) BGR uint8 pixels."""
    bgr = pixels_bgr.astype(np.float32) / 255.0
    b, g, r = bgr[..., 0], bgr[..., 1], bgr[..., 2]
    value = np.maximum(np.maximum(r, g), b)
    chroma = value - np.minimum(np.minimum(r, g), b)
    saturation = np.where(value > 0, chroma / np.where(value > 0, value, 1), 0).astype(np.float32)
    safe = np.where(chroma > 0, chroma, 1)
    hue = np.where(value == r, (g - b) / safe, np.where(value == g, 2 + (b - r) / safe,
                                                         4 + (r - g) / safe))
    hue = np.where(chroma > 0, (hue / 6.0) % 1.0, 0).astype(np.float32)
    return hue, saturation, value


def _bins(pixels_bgr: npt.NDArray[np.uint8]) -> Int:
    """The histogram bin (0..HALF_BINS-1) of each of (P, 3) BGR pixels."""
    hue, saturation, value = hsv(pixels_bgr)
    grey = (saturation < MIN_SATURATION) | (value < MIN_VALUE)
    h = np.minimum((hue * HUE_BINS).astype(np.int64), HUE_BINS - 1)
    s = np.clip(((saturation - MIN_SATURATION) / (1 - MIN_SATURATION) * SAT_BINS)
                .astype(np.int64), 0, SAT_BINS - 1)
    v = np.minimum((value * GREY_BINS).astype(np.int64), GREY_BINS - 1)
    return np.asarray(np.where(grey, HUE_BINS * SAT_BINS + v, h * SAT_BINS + s), np.int64)


def _samples(height: int, width: int) -> list[tuple[slice, slice]]:
    """Rows and columns sampled in a (height, width) crop: its upper then lower half, the inner
    INNER_WIDTH of its width, at most about MAX_SAMPLES_PER_SIDE per side."""
    margin = int(width * (1 - INNER_WIDTH) / 2)
    c0, c1 = (margin, width - margin) if width - 2 * margin > 0 else (0, width)
    half = height // 2
    step_x = max(1, (c1 - c0) // MAX_SAMPLES_PER_SIDE)
    return [(slice(r0, r1, max(1, (r1 - r0) // MAX_SAMPLES_PER_SIDE)), slice(c0, c1, step_x))
            for r0, r1 in ((0, half), (half, height))]


def _appearances(image_bgr: npt.NDArray[np.uint8], crops: list[tuple[int, int, int, int]]
                 ) -> Float:
    """Appearances of (row0, row1, col0, col1) crops of an image, all pixels binned at once."""
    out = np.zeros((len(crops), 2, HALF_BINS), np.float32)
    pixels, groups, sizes = [], [], []
    for i, (r0, r1, c0, c1) in enumerate(crops):
        if r1 <= r0 or c1 <= c0:
            continue
        crop = image_bgr[r0:r1, c0:c1]
        for j, (rows, cols) in enumerate(_samples(r1 - r0, c1 - c0)):
            part = crop[rows, cols].reshape(-1, 3)
            if len(part):
                pixels.append(part)
                groups.append(2 * i + j)
                sizes.append(len(part))
    if pixels:
        index = (np.repeat(np.asarray(groups, np.int64) * HALF_BINS, sizes)
                 + _bins(np.concatenate(pixels)))
        counts = np.bincount(index, minlength=out.size).astype(np.float32)
        out = counts.reshape(out.shape)
        out = out / np.maximum(out.sum(axis=2, keepdims=True), 1.0)
    return out.reshape(len(crops), FEATURE_SIZE).astype(np.float32)


def appearance(crop_bgr: npt.NDArray[np.uint8]) -> Float:
    """The appearance vector (FEATURE_SIZE,) of a box's pixels (H, W, 3) BGR uint8: upper- and
    lower-half histograms (each sums to 1, or is all zero for an empty half)."""
    if crop_bgr.ndim != 3 or crop_bgr.shape[2] != 3:
        raise ValueError("want an (H, W, 3) BGR image crop")
    height, width = crop_bgr.shape[:2]
    found: Float = _appearances(crop_bgr, [(0, height, 0, width)])[0]
    return found


def appearances(image_bgr: npt.NDArray[np.uint8], xyxy: npt.ArrayLike) -> Float:
    """(N, FEATURE_SIZE) appearances of the pixel boxes `xyxy` (N, 4) in `image_bgr`, each box
    clipped to the image (a box outside it gets zeros)."""
    boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
    height, width = image_bgr.shape[:2]
    lo = np.floor(boxes[:, :2]).clip(0, [width, height]).astype(np.int64)
    hi = np.ceil(boxes[:, 2:]).clip(0, [width, height]).astype(np.int64)
    crops = [(int(y0), int(y1), int(x0), int(x1))
             for (x0, y0), (x1, y1) in zip(lo.tolist(), hi.tolist(), strict=True)]
    return _appearances(image_bgr, crops)


def appearance_distance(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Hellinger distance of two appearances, averaged over their halves (0..1; 1 when a half
    of either is empty)."""
    fa = np.asarray(a, np.float64).reshape(2, HALF_BINS)
    fb = np.asarray(b, np.float64).reshape(2, HALF_BINS)
    total = 0.0
    for ha, hb in zip(fa, fb, strict=True):
        if ha.sum() <= 0 or hb.sum() <= 0:
            total += 1.0
            continue
        bc = float(np.sum(np.sqrt(ha / ha.sum() * hb / hb.sum())))
        total += float(np.sqrt(max(0.0, 1.0 - bc)))
    return total / 2


def occluded(xyxy: npt.ArrayLike, threshold: float = OCCLUDED_IOA) -> npt.NDArray[np.bool_]:
    """(N,) whether each box is covered more than `threshold` of its area by another box."""
    boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
    n = len(boxes)
    if n < 2:
        return np.zeros(n, bool)
    lo = np.maximum(boxes[:, None, :2], boxes[None, :, :2])
    hi = np.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=2)
    np.fill_diagonal(inter, 0)
    area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    return np.asarray((inter.max(axis=1) / np.maximum(area, 1e-9)) > threshold)


@dataclass(frozen=True)
class RelinkParams:
    relink_s: float = 3.0  # a lost identity can be taken over this long after it was last seen
    relink_max_distance: float = 1.5  # predicted to new centre: lost box heights per second lost
    appearance_max_distance: float = 0.4  # largest Hellinger distance of appearances
    max_size_ratio: float = 1.6  # box heights of the lost and new boxes within this factor
    min_observations: int = 3  # frames an identity was seen on before it can be taken over

    def __post_init__(self) -> None:
        if self.relink_s < 0 or self.relink_max_distance < 0 or self.min_observations < 1:
            raise ValueError("need relink_s >= 0, relink_max_distance >= 0, "
                             "min_observations >= 1")
        if not 0 <= self.appearance_max_distance <= 1 or self.max_size_ratio < 1:
            raise ValueError("need 0 <= appearance_max_distance <= 1 and max_size_ratio >= 1")

    @property
    def enabled(self) -> bool:
        return self.relink_s > 0 and self.relink_max_distance > 0


@dataclass
class Identity:
    """A published track id and what is remembered of it."""

    track_id: int  # published id
    raw_id: int  # the tracker's track carrying it now
    class_id: int
    last_seen_s: float
    box: Float  # (4,) xyxy, pixels, float32
    velocity: npt.NDArray[np.float64]  # (2,) centre velocity, pixels per second
    feature: Float  # (FEATURE_SIZE,) float32
    observations: int = 1


def _centre(box: npt.ArrayLike) -> npt.NDArray[np.float64]:
    b = np.asarray(box, np.float64)
    return np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])


@dataclass
class Relinker:
    """Raw tracker ids -> published ids for one camera (see the module docstring)."""

    params: RelinkParams = field(default_factory=RelinkParams)
    identities: dict[int, Identity] = field(default_factory=dict)  # by published id
    aliases: dict[int, int] = field(default_factory=dict)  # raw id -> published id (linked)
    newest_raw_id: int = 0  # raw ids up to this one were seen (raw ids only grow)

    def candidates(self, t_s: float, present: set[int]) -> list[Identity]:
        return [i for i in self.identities.values()
                if i.track_id not in present and 0 < t_s - i.last_seen_s <= self.params.relink_s
                and i.observations >= self.params.min_observations]

    def plausible(self, lost: Identity, t_s: float, box: npt.ArrayLike, class_id: int,
                  image_size: tuple[int, int] | None = None) -> bool:
        """Whether a new box could be `lost` by class, time, size, position and, when the image
        size is known, the border it left by (a box lost at an image edge left the view: only a
        new box at that same edge can be it)."""
        p = self.params
        if class_id != lost.class_id:
            return False
        dt = t_s - lost.last_seen_s
        if not 0 < dt <= p.relink_s:
            return False
        lost_h = float(lost.box[3] - lost.box[1])
        new = np.asarray(box, np.float64)
        new_h = float(new[3] - new[1])
        if lost_h <= 0 or new_h <= 0 or max(lost_h / new_h, new_h / lost_h) > p.max_size_ratio:
            return False
        predicted = _centre(lost.box) + lost.velocity * dt
        radius = lost_h * max(MIN_RADIUS, p.relink_max_distance * dt)
        if float(np.hypot(*(predicted - _centre(new)))) > radius:
            return False
        if image_size is not None:
            lost_edges, new_edges = _edges(lost.box, image_size), _edges(new, image_size)
            if lost_edges and not lost_edges & new_edges:
                return False
        return True

    def admissible(self, lost: Identity, t_s: float, box: npt.ArrayLike, class_id: int,
                   feature: npt.ArrayLike, image_size: tuple[int, int] | None = None,
                   ) -> float | None:
        """The appearance distance if `lost` may be taken over by a new box, else None."""
        if not self.plausible(lost, t_s, box, class_id, image_size):
            return None
        distance = appearance_distance(lost.feature, feature)
        return distance if distance <= self.params.appearance_max_distance else None

    def step(self, t_s: float, raw_ids: npt.ArrayLike, xyxy: npt.ArrayLike,
             class_id: npt.ArrayLike, features: npt.ArrayLike | None,
             alive_raw_ids: set[int], image_size: tuple[int, int] | None = None,
             ) -> tuple[Int, list[int]]:
        """One frame: `raw_ids` (N,) the tracker's ids of the frame's detections (0: untracked),
        their boxes, classes and appearances (N, FEATURE_SIZE) (None: no picture, nothing is
        linked or learnt); `alive_raw_ids` the ids still in the tracker (tracked or lost) after
        it; `image_size` (width, height) of the picture. Returns the published ids (N,) and
        the raw ids whose identity was taken over (to drop from the tracker)."""
        raw = np.asarray(raw_ids, np.int64).reshape(-1)
        boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
        classes = np.asarray(class_id, np.int64).reshape(-1)
        feats = None if features is None else np.asarray(features, np.float32).reshape(
            len(raw), FEATURE_SIZE)
        tracked = [k for k in range(len(raw)) if raw[k] > 0]
        fresh = [k for k in tracked if int(raw[k]) > self.newest_raw_id]
        if tracked:
            self.newest_raw_id = max(self.newest_raw_id, int(raw[tracked].max()))
        published = np.array([self.aliases.get(int(r), int(r)) if r > 0 else 0 for r in raw],
                             np.int64)
        taken_over: list[int] = []
        if feats is not None and self.params.enabled and fresh:
            present = {int(published[k]) for k in tracked if k not in fresh}
            lost = self.candidates(t_s, present)
            pairs = []
            for k in fresh:
                near = sorted((appearance_distance(i.feature, feats[k]), i.track_id)
                              for i in lost
                              if self.plausible(i, t_s, boxes[k], int(classes[k]), image_size))
                if len(near) > 1 and near[0][0] >= AMBIGUITY_RATIO * near[1][0]:
                    continue  # two lost identities fit about as well: leave it new
                pairs += [(d, track_id, k) for d, track_id in near[:1]
                          if d <= self.params.appearance_max_distance]
            used_ids: set[int] = set()
            used_rows: set[int] = set()
            for _, track_id, k in sorted(pairs):
                if track_id in used_ids or k in used_rows:
                    continue
                used_ids.add(track_id)
                used_rows.add(k)
                identity = self.identities[track_id]
                self.aliases.pop(identity.raw_id, None)
                taken_over.append(identity.raw_id)
                self.aliases[int(raw[k])] = track_id
                published[k] = track_id
                identity.raw_id = int(raw[k])
        hidden = occluded(boxes[tracked]) if tracked else np.zeros(0, bool)
        for j, k in enumerate(tracked):
            self._observe(int(published[k]), int(raw[k]), int(classes[k]), t_s, boxes[k],
                          None if feats is None else feats[k], bool(hidden[j]))
        self._forget(t_s, alive_raw_ids)
        return published, taken_over

    def _observe(self, track_id: int, raw_id: int, class_id: int, t_s: float, box: Float,
                 feature: Float | None, hidden: bool) -> None:
        identity = self.identities.get(track_id)
        if identity is None:
            if feature is None:
                return  # nothing to link on later
            self.identities[track_id] = Identity(track_id, raw_id, class_id, t_s,
                                                 box.astype(np.float32).copy(), np.zeros(2),
                                                 feature.astype(np.float32).copy())
            return
        dt = t_s - identity.last_seen_s
        if dt > 0:
            instant = (_centre(box) - _centre(identity.box)) / dt
            identity.velocity = identity.velocity + VELOCITY_SMOOTHING * (
                instant - identity.velocity)
        if feature is not None and not hidden:
            identity.feature = (identity.feature + np.float32(APPEARANCE_SMOOTHING) * (
                feature - identity.feature)).astype(np.float32)
        identity.raw_id, identity.class_id = raw_id, class_id
        identity.last_seen_s = t_s
        identity.box = box.astype(np.float32).copy()
        identity.observations += 1

    def _forget(self, t_s: float, alive_raw_ids: set[int]) -> None:
        horizon = self.params.relink_s
        for track_id in [i.track_id for i in self.identities.values()
                         if t_s - i.last_seen_s > horizon and i.raw_id not in alive_raw_ids]:
            del self.identities[track_id]
        for raw_id in [r for r in self.aliases if r not in alive_raw_ids]:
            del self.aliases[raw_id]
