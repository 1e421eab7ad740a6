"""Which frames are worth a model run: motion gating with a maximum gap, per camera."""

from __future__ import annotations


class MotionSkip:
    def __init__(self, min_motion: float, max_skip_s: float) -> None:
        self.min_motion, self.max_skip_s = min_motion, max_skip_s
        self._last: dict[str, float] = {}  # camera -> stream time of its last analysed frame

    def analyse(self, camera_id: str, captured_s: float, motion: float) -> bool:
        last = self._last.get(camera_id)
        if (last is None or motion >= self.min_motion or captured_s - last >= self.max_skip_s
                or captured_s < last):
            self._last[camera_id] = captured_s
            return True
        return False

    def restore(self, camera_id: str, last_analysed_s: float | None) -> None:
        """Back to the state after the camera's frame analysed at `last_analysed_s`."""
        if last_analysed_s is None:
            self._last.pop(camera_id, None)
        else:
            self._last[camera_id] = last_analysed_s
