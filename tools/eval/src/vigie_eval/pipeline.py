"""The production path for evaluation: a video through the real ingest and detect services.

`analyse_video` starts ingest and detect with `vigie_core.runtime.start` on a MemoryBus (the
embedded runtime `vigie run` uses), registers a file camera on the video exactly as
`vigie run --video` does, and collects every `FrameSampled` and `ObjectsDetected` of that camera
from the bus until ingest reports the end of the file and detect has answered every frame.
Nothing here decodes, detects or tracks by itself: the numbers are the services' own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigie.camera.v1.camera_health_pb2 import CameraHealthChanged, CameraState
from vigie.camera.v1.camera_pb2 import PURPOSE_OBJECTS, Camera
from vigie.detect.v1.detection_pb2 import ObjectsDetected
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie_core.bus.memory import MemoryBus
from vigie_core.codec import decode
from vigie_core.runtime import start
from vigie_core.settings import CoreSettings
from vigie_core.topics import CAMERA_HEALTH, CAMERAS, DETECTIONS, FRAMES, REGISTRY
from vigie_detect.config import Settings as DetectSettings

log = logging.getLogger(__name__)

Progress = Callable[[int], None]
IDLE_TIMEOUT_S = 120.0  # no frame, detection or health change for this long: give up


class PipelineError(RuntimeError):
    """The services did not get through the video (source failed, frames rejected, stalled)."""


@dataclass(frozen=True)
class AnalysedFrame:
    """One frame ingest published and detect answered."""

    frame: FrameSampled  # without its JPEG (dropped to keep memory flat) unless asked
    detected: ObjectsDetected

    @property
    def pts_s(self) -> float:
        return self.frame.pts_s


@dataclass
class VideoRun:
    frames: list[AnalysedFrame]
    model_id: str
    wall_s: float  # from camera registration to the last detection
    inference_s: float  # sum of detect's per-frame model time
    settings: dict[str, Any] = field(default_factory=dict)
    view_reports: list[CameraHealthChanged] = field(default_factory=list)  # detect's, in order

    @property
    def fps(self) -> float:
        return len(self.frames) / self.wall_s if self.wall_s > 0 else 0.0


def ingest_overrides(video: Path, *, min_motion: float = 0.0) -> dict[str, Any]:
    """Ingest settings for a file camera on `video`: its folder as media root (as
    `vigie run --video` sets it), never looping, and `min_motion` (default 0: every sampled frame
    is published, so every ground-truth frame gets an answer; production's default is 0.002)."""
    return {"media_root": video.parent.resolve(), "loop_files": False, "min_motion": min_motion}


def _core(data_dir: Path) -> CoreSettings:
    return CoreSettings(http_port=0, grpc_port=0, data_dir=data_dir,
                        instance=f"vigie-eval-{os.getpid()}",
                        log_level=os.environ.get("VIGIE_LOG_LEVEL", "WARNING"))


async def analyse_video(video: Path, sample_fps: float, detect: DetectSettings, *,
                        ingest: Mapping[str, Any] | None = None, camera_id: str = "eval",
                        progress: Progress | None = None, keep_jpeg: bool = False) -> VideoRun:
    """Every frame of `video` sampled at `sample_fps` by ingest, detected and tracked by detect
    with `detect` settings, in stream order (`keep_jpeg`: the frames keep their JPEGs)."""
    video = video.resolve()  # noqa: ASYNC240 (one stat before minutes of work)
    if not video.is_file():
        raise FileNotFoundError(f"no such video: {video}")
    overrides = {"ingest": dict(ingest or ingest_overrides(video)),
                 "detect": detect.model_dump()}
    with tempfile.TemporaryDirectory(prefix="vigie-eval-") as tmp:
        bus = MemoryBus(f"vigie-eval/{os.getpid()}")
        await bus.start()
        await bus.ensure_topics(REGISTRY)
        reader = bus.consumer(f"vigie-eval-{camera_id}",
                              [FRAMES.name, DETECTIONS.name, CAMERA_HEALTH.name])
        running = await start(["ingest", "detect"], _core(Path(tmp)), bus, overrides)
        try:
            camera = Camera(camera_id=camera_id, name=video.name, source_url=video.as_uri(),
                            sample_fps=sample_fps, enabled=True, purposes=[PURPOSE_OBJECTS])
            started = time.perf_counter()
            await (await bus.publish(CAMERAS, camera_id, camera))
            frames, found, reports, last = await _collect(reader, camera_id, progress,
                                                          keep_jpeg)
            wall = last - started
            detect_service = next(s for s in running.services if s.name == "detect")
            model_id = str(detect_service.status().get("model_id"))
        finally:
            await reader.close()
            await running.stop()
    missing = [f for f in frames if f not in found]
    if missing:
        raise PipelineError(f"detect answered {len(found)} of {len(frames)} frames")
    order = sorted(frames, key=lambda k: frames[k].pts_s)
    out = [AnalysedFrame(frames[f], found[f]) for f in order]
    inference = sum(a.detected.inference_time.ToTimedelta().total_seconds() for a in out)
    return VideoRun(out, model_id, wall, inference, detect.model_dump(), reports)


async def _collect(reader: Any, camera_id: str, progress: Progress | None, keep_jpeg: bool,
                   ) -> tuple[dict[str, FrameSampled], dict[str, ObjectsDetected],
                              list[CameraHealthChanged], float]:
    frames: dict[str, FrameSampled] = {}
    found: dict[str, ObjectsDetected] = {}
    reports: list[CameraHealthChanged] = []  # detect's on the picture (published before the
    # frame's detections, so all in once every frame is answered)
    ended = False
    last = time.perf_counter()
    while not (ended and len(found) >= len(frames)):
        record = await reader.poll(0.5)
        now = time.perf_counter()
        if record is None:
            if now - last > IDLE_TIMEOUT_S:
                raise PipelineError(f"nothing for {IDLE_TIMEOUT_S:.0f} s: {len(frames)} frames "
                                    f"published, {len(found)} answered, source ended: {ended}")
            continue
        if record.key != camera_id.encode():
            continue
        topic = REGISTRY.get(record.topic)
        event = decode(topic, record.key, record.value, record.headers)
        message = event.message
        if isinstance(message, FrameSampled):
            if not keep_jpeg:
                message.ClearField("jpeg")
            frames[message.frame_id] = message
            last = now
        elif isinstance(message, ObjectsDetected):
            found[message.frame_id] = message
            last = now
            if progress is not None:
                progress(len(found))
        elif isinstance(message, CameraHealthChanged) and message.reporter == "detect":
            reports.append(message)
        elif isinstance(message, CameraHealthChanged):
            if message.state == CameraState.CAMERA_STATE_FAILED:
                raise PipelineError(f"camera failed: {message.reason}")
            if message.state == CameraState.CAMERA_STATE_DOWN:
                ended = True
            last = now
        if ended and len(found) >= len(frames):
            break
        await asyncio.sleep(0)
    return frames, found, reports, last
