"""The scene stage's decisions, free of image code: which still regions are objects worth
emitting (`StaticRegions`), and when a camera's picture is tampered with (`ViewWatch`).

Static objects (a dual background, after Porikli 2008 and Lin et al. 2015): a pixel that differs
from the long-term background but has been absorbed by the short-term one has stayed still for
about the short-term time. The adapter finds those pixels' regions on each frame; here they are
followed over time: a region keeps its id while it is seen again at the same place (passers-by
may hide it for up to `hold_s`), and is emitted once it has been there `static_s`, unless a
person or a vehicle of the detector covers it or did within `claim_hold_s` (a still person is a
person, a parked car a car). A region that looks like a ghost (edges of the background, not of
the frame: what left the scene, not what came in) is a removed object.

Tampering: each frame's measures (brightness, contrast, sharpness, misalignment with the
reference view) are compared with the camera's own baseline; a problem must last `confirm_s` to
be reported and the view must be normal for `clear_s` to be back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

Box = tuple[float, float, float, float]  # x0, y0, x1, y1, in pixels of the analysed image
REGION_ID_BASE = 1 << 40
"""Static regions' ids start here, apart from the tracker's ids."""


def overlap(a: Box, b: Box) -> float:
    """Fraction of `a` covered by `b`."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    area = (a[2] - a[0]) * (a[3] - a[1])
    return max(w, 0.0) * max(h, 0.0) / area if area > 0 else 0.0


def iou(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0.0) * max(h, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class StillBlob:
    """One region of still foreground on one frame, as the adapter found it."""

    box: Box
    area: float  # foreground pixels
    objectness: float  # 0..1: edges of the frame (an object) against the background's (a ghost)


@dataclass
class Region:
    region_id: int
    box: Box
    appeared_s: float  # frame time it first differed from the background (estimated)
    first_s: float  # first frame it was found still
    last_s: float  # last frame it was found
    seen: int = 0
    claimed_s: float | None = None  # last frame a person or vehicle covered it
    objectness: float = 0.0  # running mean

    @property
    def removed(self) -> bool:
        """What left the scene (a ghost), rather than what came into it."""
        return self.objectness < 0.5


@dataclass(frozen=True)
class StaticParams:
    short_s: float = 2.0  # the short-term background's time: how long "still" is at first
    static_s: float = 2.0  # then found still this long more before it is emitted
    hold_s: float = 3.0  # kept while hidden (passers-by) this long
    match_iou: float = 0.3
    claim_overlap: float = 0.5  # a person/vehicle box covering this much of it claims it...
    claim_hold_s: float = 1.0  # ...until this long after


@dataclass
class StaticRegions:
    """One camera's still regions, followed from frame to frame."""

    params: StaticParams = field(default_factory=StaticParams)
    regions: list[Region] = field(default_factory=list)
    next_id: int = REGION_ID_BASE

    def update(self, t_s: float, blobs: list[StillBlob], claimers: list[Box]) -> list[Region]:
        """Follow this frame's blobs; returns the regions to emit now."""
        p = self.params
        unmatched = list(blobs)
        for region in self.regions:
            best = max(unmatched, key=lambda b: iou(region.box, b.box), default=None)
            if best is None or iou(region.box, best.box) < p.match_iou:
                continue
            unmatched.remove(best)
            region.box, region.last_s = best.box, t_s
            region.seen += 1
            region.objectness += (best.objectness - region.objectness) / region.seen
            if any(overlap(best.box, c) >= p.claim_overlap for c in claimers):
                region.claimed_s = t_s
        for blob in unmatched:
            if any(overlap(blob.box, r.box) >= p.claim_overlap for r in self.regions):
                continue  # a piece of a region followed already
            region = Region(self.next_id, blob.box, t_s - p.short_s, t_s, t_s, seen=1,
                            objectness=blob.objectness)
            if any(overlap(blob.box, c) >= p.claim_overlap for c in claimers):
                region.claimed_s = t_s
            self.next_id += 1
            self.regions.append(region)
        self.regions = [r for r in self.regions if t_s - r.last_s <= p.hold_s]
        return [r for r in self.regions
                if t_s - r.first_s >= p.static_s
                and (r.claimed_s is None or t_s - r.claimed_s >= p.claim_hold_s)]

    def reset(self) -> None:
        self.regions.clear()


class ViewProblem(Enum):
    NONE = 0
    COVERED = 1
    DEFOCUSED = 2
    MOVED = 3
    TOO_DARK = 4
    TOO_BRIGHT = 5


@dataclass(frozen=True)
class ViewMeasures:
    """One frame's picture, measured at analysis size (grey levels 0-255)."""

    brightness: float  # mean
    contrast: float  # standard deviation
    sharpness: float  # variance of the Laplacian (high-frequency energy)
    shift: float | None = None  # from the reference view, share of the width (None: unknown)
    step: float | None = None  # from the previous frame, share of the width (None: unknown)


@dataclass(frozen=True)
class ViewParams:
    baseline_s: float = 2.0  # measures of the first frames make the baseline
    confirm_s: float = 1.5
    clear_s: float = 3.0
    baseline_tau_s: float = 120.0  # the baseline follows normal frames this slowly
    covered_contrast: float = 0.3  # of the baseline contrast
    defocus_sharpness: float = 0.3  # of the baseline sharpness
    moved_shift: float = 0.03  # of the image width
    steady_step: float = 0.02  # a camera whose view moves more per frame (median) is not fixed
    steady_frames: int = 10
    dark: float = 25.0
    bright: float = 235.0


@dataclass(frozen=True)
class ViewChange:
    problem: ViewProblem
    previous: ViewProblem
    since_s: float  # frame time the problem (or the normal view) began


@dataclass
class ViewWatch:
    """One camera's view: its baseline, whether the camera is fixed, its current problem.

    A camera whose picture moves all the time (a patrolling PTZ, a hand-held or drone camera) is
    not fixed: "moved" means nothing for it (nor do still regions: the adapter stops them)."""

    params: ViewParams = field(default_factory=ViewParams)
    problem: ViewProblem = ViewProblem.NONE
    baseline: ViewMeasures | None = None
    started_s: float | None = None
    steps: list[float] = field(default_factory=list)
    _candidate: ViewProblem = ViewProblem.NONE
    _candidate_since: float = 0.0
    _last_s: float | None = None
    _samples: list[ViewMeasures] = field(default_factory=list)

    @property
    def has_reference(self) -> bool:
        return self.baseline is not None

    @property
    def steady(self) -> bool:
        """The camera is fixed: the median of its recent frame-to-frame moves is small."""
        if len(self.steps) < 3:
            return True
        ordered = sorted(self.steps)
        return ordered[len(ordered) // 2] < self.params.steady_step

    def classify(self, m: ViewMeasures) -> ViewProblem:
        p, b = self.params, self.baseline
        if b is not None and m.contrast < p.covered_contrast * b.contrast:
            return ViewProblem.COVERED  # (a covered lens is dark too: flatness says covered)
        if m.brightness <= p.dark:
            return ViewProblem.TOO_DARK
        if m.brightness >= p.bright:
            return ViewProblem.TOO_BRIGHT
        if b is None:
            return ViewProblem.NONE
        if m.sharpness < p.defocus_sharpness * b.sharpness:
            return ViewProblem.DEFOCUSED
        if self.steady and m.shift is not None and m.shift >= p.moved_shift:
            return ViewProblem.MOVED
        return ViewProblem.NONE

    def update(self, t_s: float, m: ViewMeasures) -> ViewChange | None:
        """The change this frame confirms, if any."""
        p = self.params
        dt = 0.0 if self._last_s is None else max(t_s - self._last_s, 0.0)
        self._last_s = t_s
        if m.step is not None:  # (a featureless view says nothing of the camera)
            self.steps = ([*self.steps, m.step])[-p.steady_frames:]
        if self.baseline is None:
            if self.started_s is None:
                self.started_s = t_s
            if self.classify(m) is ViewProblem.NONE:
                self._samples.append(m)
            if t_s - self.started_s >= p.baseline_s and self._samples:
                self.baseline = _mean(self._samples)
                self._samples.clear()
            return None
        seen = self.classify(m)
        if seen is not self._candidate:
            self._candidate, self._candidate_since = seen, t_s
        if seen is ViewProblem.NONE and self.problem is ViewProblem.NONE:
            k = min(dt / p.baseline_tau_s, 1.0)  # follow slow changes of a normal view
            b = self.baseline
            self.baseline = ViewMeasures(
                b.brightness + k * (m.brightness - b.brightness),
                b.contrast + k * (m.contrast - b.contrast),
                b.sharpness + k * (m.sharpness - b.sharpness))
        needed = p.clear_s if seen is ViewProblem.NONE else p.confirm_s
        if seen is not self.problem and t_s - self._candidate_since >= needed:
            change = ViewChange(seen, self.problem, self._candidate_since)
            self.problem = seen
            return change
        return None


def _mean(samples: list[ViewMeasures]) -> ViewMeasures:
    n = len(samples)
    return ViewMeasures(sum(s.brightness for s in samples) / n,
                        sum(s.contrast for s in samples) / n,
                        sum(s.sharpness for s in samples) / n)
