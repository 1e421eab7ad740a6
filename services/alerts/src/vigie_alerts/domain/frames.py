"""A short buffer of recent frames per camera, bounded in bytes, to take snapshots from.

Alerts name the frame they fired on (frame_id); the frame itself went by on vigie.frames.v1 a
moment earlier. The buffer keeps the newest frames of every camera, evicting the oldest frame of
all cameras when the byte budget is exceeded and any frame older (event time) than `max_age_ms`
behind its camera's newest. The newest frame of each camera is also what the zone editor draws
on.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass


@dataclass(frozen=True)
class BufferedFrame:
    frame_id: str
    camera_id: str
    captured_ms: int
    jpeg: bytes
    width: int
    height: int


class FrameBuffer:
    def __init__(self, max_bytes: int, max_age_ms: int, max_per_camera: int = 200) -> None:
        self.max_bytes = max_bytes
        self.max_age_ms = max_age_ms
        self.max_per_camera = max_per_camera
        self._by_id: OrderedDict[str, BufferedFrame] = OrderedDict()  # arrival order
        self._cameras: dict[str, deque[BufferedFrame]] = {}
        self.bytes = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, frame: BufferedFrame) -> None:
        if frame.frame_id in self._by_id or len(frame.jpeg) > self.max_bytes:
            return
        frames = self._cameras.setdefault(frame.camera_id, deque())
        frames.append(frame)
        self._by_id[frame.frame_id] = frame
        self.bytes += len(frame.jpeg)
        newest = max(f.captured_ms for f in (frames[-1], frame))
        while frames and (len(frames) > self.max_per_camera
                          or newest - frames[0].captured_ms > self.max_age_ms):
            self._drop(frames[0])
        while self.bytes > self.max_bytes and self._by_id:
            self._drop(next(iter(self._by_id.values())))

    def _drop(self, frame: BufferedFrame) -> None:
        if self._by_id.pop(frame.frame_id, None) is None:
            return
        self.bytes -= len(frame.jpeg)
        self.evicted += 1
        frames = self._cameras.get(frame.camera_id)
        if frames is not None:
            try:
                frames.remove(frame)
            except ValueError:
                pass
            if not frames:
                del self._cameras[frame.camera_id]

    def get(self, frame_id: str) -> BufferedFrame | None:
        return self._by_id.get(frame_id)

    def latest(self, camera_id: str) -> BufferedFrame | None:
        frames = self._cameras.get(camera_id)
        return frames[-1] if frames else None

    def cameras(self) -> list[str]:
        return sorted(self._cameras)
