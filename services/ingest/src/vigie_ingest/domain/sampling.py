"""Which decoded frames become published frames.

Frames are sampled at the camera's rate by *stream* time (pts), never wall time, so a file
replays to the same frames. A sampled frame is published when it moved enough since the last
published one, or when `keepalive_s` of stream time passed without one.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Grey = npt.NDArray[np.uint8]


def fit_within(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    """The largest even size with the source's aspect ratio that fits the bounds (no upscaling)."""
    scale = min(1.0, max_width / width, max_height / height)
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def motion_score(previous: Grey | None, current: Grey, pixel_threshold: int = 25) -> float:
    """Fraction of pixels (0..1) whose grey level moved by more than `pixel_threshold`."""
    if previous is None or previous.shape != current.shape:
        return 1.0
    changed = np.abs(current.astype(np.int16) - previous.astype(np.int16)) > pixel_threshold
    return float(changed.mean())


class FrameGate:
    def __init__(self, sample_fps: float, min_motion: float, keepalive_s: float) -> None:
        self.period = 1.0 / sample_fps
        self.min_motion = min_motion
        self.keepalive_s = keepalive_s
        self._next_due: float | None = None
        self._last_pts: float | None = None
        self._last_published: float | None = None
        self._reference: Grey | None = None

    def due(self, pts_s: float) -> bool:
        """Is this decoded frame on the sampling grid? (Call for every decoded frame.)"""
        if self._last_pts is not None and pts_s < self._last_pts - 1.0:
            self._next_due = None  # the stream restarted (loop, reconnect): start a new grid
            self._last_published = None
        self._last_pts = pts_s
        if self._next_due is not None and pts_s + 1e-3 < self._next_due:
            return False
        following = (pts_s if self._next_due is None else self._next_due) + self.period
        # After a gap in the stream the grid re-anchors on this frame instead of bursting.
        self._next_due = following if following > pts_s else pts_s + self.period
        return True

    def publish(self, pts_s: float, grey: Grey) -> tuple[bool, float]:
        """For a sampled frame: (publish it?, its motion score against the last published)."""
        score = motion_score(self._reference, grey)
        stale = self._last_published is None or pts_s - self._last_published >= self.keepalive_s
        if stale or score >= self.min_motion:
            self._reference = grey
            self._last_published = pts_s
            return True, score
        return False, score
