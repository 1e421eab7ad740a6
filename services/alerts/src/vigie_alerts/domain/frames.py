"""A buffer of recent frames per camera, bounded in bytes, to take snapshots from.

Alerts name the frame they fired on (frame_id); the frame itself went by on vigie.frames.v1
earlier, by as long as detection and rules lag behind ingest (seconds on live cameras; on a file
replayed faster than real time, up to the bus's back-pressure limit). So the buffer is bounded by
bytes, not by a fixed number of frames: when over budget it evicts the oldest frame of the camera
holding the most bytes (a busy camera cannot starve the others of their share), and it drops any
frame older (event time) than `max_age_ms` behind its camera's newest. The newest frame of each
camera is also what the zone editor draws on. Size the budget to cameras x frames/s x lag x frame
size (tens of KB per analysis-size JPEG).
"""

from __future__ import annotations

from collections import OrderedDict
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
    def __init__(self, max_bytes: int, max_age_ms: int) -> None:
        self.max_bytes = max_bytes
        self.max_age_ms = max_age_ms
        self._cameras: dict[str, OrderedDict[str, BufferedFrame]] = {}  # arrival order
        self._bytes: dict[str, int] = {}
        self._newest: dict[str, int] = {}
        self._latest: dict[str, BufferedFrame] = {}
        self._index: dict[str, str] = {}  # frame_id -> camera_id
        self.bytes = 0
        self.evicted = 0

    def __len__(self) -> int:
        return sum(len(frames) for frames in self._cameras.values())

    def add(self, frame: BufferedFrame) -> None:
        if len(frame.jpeg) > self.max_bytes or frame.frame_id in self._index:
            return
        frames = self._cameras.setdefault(frame.camera_id, OrderedDict())
        frames[frame.frame_id] = frame
        self._index[frame.frame_id] = frame.camera_id
        self._bytes[frame.camera_id] = self._bytes.get(frame.camera_id, 0) + len(frame.jpeg)
        self.bytes += len(frame.jpeg)
        self._latest[frame.camera_id] = frame
        newest = self._newest[frame.camera_id] = max(self._newest.get(frame.camera_id,
                                                                      frame.captured_ms),
                                                     frame.captured_ms)
        while frames:
            oldest = next(iter(frames.values()))
            if newest - oldest.captured_ms <= self.max_age_ms:
                break
            self._drop(oldest)
        while self.bytes > self.max_bytes:
            heaviest = max(self._bytes, key=lambda c: self._bytes[c])
            self._drop(next(iter(self._cameras[heaviest].values())))

    def _drop(self, frame: BufferedFrame) -> None:
        frames = self._cameras[frame.camera_id]
        del frames[frame.frame_id]
        self._index.pop(frame.frame_id, None)
        self._bytes[frame.camera_id] -= len(frame.jpeg)
        self.bytes -= len(frame.jpeg)
        self.evicted += 1
        if not frames:
            del self._cameras[frame.camera_id], self._bytes[frame.camera_id]

    def get(self, frame_id: str) -> BufferedFrame | None:
        camera_id = self._index.get(frame_id)
        return self._cameras[camera_id].get(frame_id) if camera_id is not None else None

    def latest(self, camera_id: str) -> BufferedFrame | None:
        """The newest frame seen of the camera (kept even when evicted from the buffer)."""
        return self._latest.get(camera_id)

    def cameras(self) -> list[str]:
        return sorted(self._cameras)
