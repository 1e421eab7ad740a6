"""A camera's effective analysed frame rate, from the capture times of its frames."""

from __future__ import annotations


class FrameRate:
    """Exponential moving average of 1/interval; `default` until two frames were seen."""

    def __init__(self, default: float = 5.0, smoothing: float = 0.2) -> None:
        self.default, self.smoothing = default, smoothing
        self._last: dict[str, float] = {}
        self._rate: dict[str, float] = {}

    def update(self, camera_id: str, captured_s: float) -> float:
        last = self._last.get(camera_id)
        self._last[camera_id] = captured_s
        if last is not None and captured_s > last:
            instant = 1.0 / (captured_s - last)
            previous = self._rate.get(camera_id, instant)
            self._rate[camera_id] = previous + self.smoothing * (instant - previous)
        return self._rate.get(camera_id, self.default)

    def state(self, camera_id: str) -> tuple[float | None, float]:
        """(capture time of the camera's last frame, its rate; 0 while not measured)."""
        return self._last.get(camera_id), self._rate.get(camera_id, 0.0)

    def restore(self, camera_id: str, last_s: float | None, rate: float) -> None:
        """Back to a state `state` returned (rate 0: not measured yet)."""
        self._last.pop(camera_id, None)
        self._rate.pop(camera_id, None)
        if last_s is not None:
            self._last[camera_id] = last_s
        if rate > 0:
            self._rate[camera_id] = rate
