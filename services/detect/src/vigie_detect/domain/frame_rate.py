"""A camera's effective analysed frame rate, from the capture times of its frames.

Intervals are taken between capture times in integer microseconds, never between float seconds:
at epoch scale (~1.8e9 s) a float difference is off by up to ~2e-7 s, so a steady 12.5 frames/s
camera measured 12.4999970 or 12.5000027 depending on the wall-clock time of the session, and
ByteTrack's lost-track buffer (`round(track_buffer * rate / 30)`) flipped between 12 and 13
frames: the same clip tracked at two times got different ids (the fault suite caught it)."""

from __future__ import annotations


class FrameRate:
    """Exponential moving average of 1/interval; `default` until two frames were seen."""

    def __init__(self, default: float = 5.0, smoothing: float = 0.2) -> None:
        self.default, self.smoothing = default, smoothing
        self._last: dict[str, int] = {}
        self._rate: dict[str, float] = {}

    def update(self, camera_id: str, captured_us: int) -> float:
        last = self._last.get(camera_id)
        self._last[camera_id] = captured_us
        if last is not None and captured_us > last:
            instant = 1e6 / (captured_us - last)
            previous = self._rate.get(camera_id, instant)
            self._rate[camera_id] = previous + self.smoothing * (instant - previous)
        return self._rate.get(camera_id, self.default)

    def state(self, camera_id: str) -> tuple[int | None, float]:
        """(capture time of the camera's last frame in µs, its rate; 0 while not measured)."""
        return self._last.get(camera_id), self._rate.get(camera_id, 0.0)

    def restore(self, camera_id: str, last_us: int | None, rate: float) -> None:
        """Back to a state `state` returned (rate 0: not measured yet)."""
        self._last.pop(camera_id, None)
        self._rate.pop(camera_id, None)
        if last_us is not None:
            self._last[camera_id] = last_us
        if rate > 0:
            self._rate[camera_id] = rate
