"""A camera runner: one source, decoded in its own thread, sampled, motion-gated, JPEG-encoded and
published, reconnecting with back-off and watched for stalls. One slow or broken camera never
holds up another: each has its own thread, queue and back-off.

File cameras resume: when a runner starts, the camera's last frame still on vigie.frames.v1 (if
any) gives the session's start time (`captured_at - pts_s`) and where to go on from. The file is
decoded from its beginning through the same sampling grid and motion gate, so that their state
is exactly what it was, but frames up to that one are not published again: a restarted ingest
publishes the frames a clean run would have, with the same ids, each once (a frame whose
delivery was in flight when ingest died may come twice; consumers skip a frame_id they have).
Files can also be played at stream speed (`file_speed`), as a live camera would send them."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from vigie.camera.v1.camera_health_pb2 import CameraHealthChanged, CameraState
from vigie.camera.v1.camera_pb2 import Camera
from vigie.common.v1.common_pb2 import GeoPoint
from vigie.ingest.v1.frame_pb2 import FrameSampled

from vigie_ingest import metrics
from vigie_ingest.adapters.frames import analysis_jpeg, grey_thumbnail
from vigie_ingest.adapters.source import SourceError, SourceLimits, VideoSource
from vigie_ingest.domain.health import Change, SourceHealth, backoff_s
from vigie_ingest.domain.sampling import FrameGate

log = logging.getLogger(__name__)

STATES = {"up": CameraState.CAMERA_STATE_UP, "stalled": CameraState.CAMERA_STATE_STALLED,
          "reconnecting": CameraState.CAMERA_STATE_RECONNECTING,
          "failed": CameraState.CAMERA_STATE_FAILED, "down": CameraState.CAMERA_STATE_DOWN}


@dataclass(frozen=True)
class RunnerSettings:
    sample_fps: float = 5.0
    min_motion: float = 0.002
    keepalive_s: float = 10.0
    stall_timeout_s: float = 10.0
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 60.0
    jpeg_quality: int = 80
    max_width: int = 960
    max_height: int = 540
    loop_files: bool = False
    file_speed: float = 0.0  # file sources: 1 = stream speed, 2 = twice as fast; 0 = unpaced


@dataclass(frozen=True)
class Sampled:
    pts_s: float
    jpeg: bytes
    width: int
    height: int
    motion: float


PublishFrame = Callable[[FrameSampled], Awaitable[Any]]
PublishHealth = Callable[[CameraHealthChanged], Awaitable[Any]]
LastFrame = Callable[[str], Awaitable[FrameSampled | None]]


class FramePipeline:
    """Sampling grid, motion gate and JPEG encoding for one source's decoded frames. Frames up to
    `published_until_s` (stream time) go through the grid and the gate but are not encoded: they
    were published before a restart. With `speed` > 0, sampled frames are released at that
    multiple of stream speed (counted from the first one released)."""

    def __init__(self, gate: FrameGate, settings: RunnerSettings, *,
                 published_until_s: float | None = None, speed: float = 0.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.gate, self.settings = gate, settings
        self.published_until_s = published_until_s
        self.speed = speed
        self._clock, self._sleep = clock, sleep
        self._paced_from: tuple[float, float] | None = None  # (pts, clock) of the first released

    def sample(self, pts_s: float, frame: Any) -> Sampled | None:
        if not self.gate.due(pts_s):
            return None
        publish, motion = self.gate.publish(pts_s, grey_thumbnail(frame))
        if not publish:
            metrics.GATED.inc()
            return None
        if self.published_until_s is not None and pts_s <= self.published_until_s + 1e-6:
            return None  # published before the restart
        self._pace(pts_s)
        jpeg, width, height = analysis_jpeg(frame, self.settings.max_width,
                                            self.settings.max_height, self.settings.jpeg_quality)
        return Sampled(pts_s, jpeg, width, height, motion)

    def _pace(self, pts_s: float) -> None:
        if self.speed <= 0:
            return
        if self._paced_from is None:
            self._paced_from = (pts_s, self._clock())
            return
        due = self._paced_from[1] + (pts_s - self._paced_from[0]) / self.speed
        while (wait := due - self._clock()) > 0:
            self._sleep(min(wait, 0.5))


def frame_event(camera_id: str, sequence: int, started: datetime, sampled: Sampled,
                source_kind: int, geo: GeoPoint | None = None,
                report_id: str = "") -> FrameSampled:
    """The FrameSampled of a sampled frame; its id derives from camera and capture time."""
    captured = started + timedelta(seconds=sampled.pts_s)
    frame = FrameSampled(
        frame_id=f"{camera_id}:{int(captured.timestamp() * 1e6)}", camera_id=camera_id,
        sequence=sequence, pts_s=sampled.pts_s, width=sampled.width, height=sampled.height,
        jpeg=sampled.jpeg, motion_score=sampled.motion, source_kind=source_kind,  # type: ignore[arg-type]
        report_id=report_id)
    frame.captured_at.FromDatetime(captured)
    frame.ingested_at.FromDatetime(datetime.now(UTC))
    if geo is not None:
        frame.geo.CopyFrom(geo)
    return frame


class _Activity:
    def __init__(self) -> None:
        self.last = time.monotonic()

    def mark(self) -> None:
        self.last = time.monotonic()


def decode_into(source: VideoSource, pipeline: FramePipeline, activity: _Activity,
                max_duration_s: float | None, deliver: Callable[[tuple[Any, ...]], bool],
                stop: threading.Event) -> None:
    """Worker thread body: open, decode, sample, encode; every outcome ends up in `deliver`."""
    try:
        source.open()
        activity.mark()
        if not deliver(("opened",)):
            return
        for decoded in source.frames():
            activity.mark()
            metrics.DECODED.inc()
            if stop.is_set():
                return
            if max_duration_s is not None and decoded.pts_s > max_duration_s:
                deliver(("error", SourceError(
                    f"media longer than the {max_duration_s:g} s limit", permanent=True)))
                return
            sampled = pipeline.sample(decoded.pts_s, decoded.frame)
            if sampled is not None and not deliver(("frame", sampled)):
                return
        deliver(("end",))
    except SourceError as exc:
        deliver(("error", exc))
    except Exception as exc:  # a decoder bug must not kill the camera for good
        log.exception("unexpected decode failure")
        deliver(("error", SourceError(f"decode failed: {exc!r}", permanent=False)))
    finally:
        source.close()


def start_decoder(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[tuple[Any, ...]],
                  target: Callable[..., None], *args: Any) -> threading.Event:
    """Run `target(*args, deliver, activity, stop)` in a daemon thread feeding `queue`; the
    returned event stops it (a thread stuck inside FFmpeg is abandoned, never waited for)."""
    stop = threading.Event()

    def deliver(item: tuple[Any, ...]) -> bool:
        future = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
        while not stop.is_set():
            try:
                future.result(timeout=0.5)
                return True
            except TimeoutError:
                continue
        future.cancel()
        return False

    thread = threading.Thread(target=target, args=(*args, deliver, stop), daemon=True,
                              name="vigie-decode")
    thread.start()
    return stop


class CameraRunner:
    def __init__(self, camera: Camera, limits: SourceLimits, settings: RunnerSettings,
                 publish_frame: PublishFrame, publish_health: PublishHealth,
                 rng: random.Random | None = None, last_frame: LastFrame | None = None) -> None:
        self.camera, self.limits, self.settings = camera, limits, settings
        self.publish_frame, self.publish_health = publish_frame, publish_health
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
        self.health = SourceHealth()
        self.frames_total = 0
        # File cameras: the camera's last frame on the frames topic, looked up once at start.
        self.last_frame = last_frame
        self._resume: FrameSampled | None = None

    @property
    def camera_id(self) -> str:
        return self.camera.camera_id

    async def run(self, stop: asyncio.Event) -> None:
        is_file = self.camera.source_url.startswith("file:")
        if is_file and self.last_frame is not None:
            try:
                self._resume = await self.last_frame(self.camera_id)
            except Exception as exc:  # the camera still runs, from the file's start
                log.warning("cannot look up the last frame published: %r", exc,
                            extra={"camera_id": self.camera_id})
            if self._resume is not None:
                self.frames_total = self._resume.sequence + 1
                log.info("camera resumes after frame %s", self._resume.frame_id,
                         extra={"camera_id": self.camera_id})
        while not stop.is_set():
            try:
                if await self._session(stop) == "stopped":
                    break
                if is_file and self.settings.loop_files:
                    continue
                if is_file:
                    await self._report(self.health.down("end of file"))
                    return
                raise SourceError("stream ended", permanent=False)
            except SourceError as exc:
                if exc.permanent:
                    metrics.REJECTED.labels("source").inc()
                    await self._report(self.health.failed(str(exc)))
                    log.warning("camera failed: %s", exc,
                                extra={"camera_id": self.camera_id})
                    return
                await self._report(self.health.frames_stopped(str(exc)))
                delay = backoff_s(self.health.attempt + 1, self.settings.backoff_base_s,
                                  self.settings.backoff_cap_s, self.rng)
                metrics.RECONNECTS.inc()
                await self._report(self.health.retrying(str(exc), delay))
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except TimeoutError:
                    pass
        await self._report(self.health.down("stopped"))

    async def _session(self, stop: asyncio.Event) -> str:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue(maxsize=4)
        activity = _Activity()
        gate = FrameGate(self.camera.sample_fps or self.settings.sample_fps,
                         self.settings.min_motion, self.settings.keepalive_s)
        settings = self.settings
        if self.camera.analysis_max_width and self.camera.analysis_max_height:
            settings = RunnerSettings(**{**settings.__dict__,
                                         "max_width": self.camera.analysis_max_width,
                                         "max_height": self.camera.analysis_max_height})
        source = VideoSource(self.camera.source_url, self.limits)
        resume, self._resume = self._resume, None  # the first session only (not the next loops)
        is_file = self.camera.source_url.startswith("file:")
        pipeline = FramePipeline(gate, settings,
                                 published_until_s=resume.pts_s if resume else None,
                                 speed=self.settings.file_speed if is_file else 0.0)
        thread_stop = start_decoder(loop, queue, decode_into, source, pipeline, activity, None)
        started: datetime | None = None
        try:
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), 0.5)
                except TimeoutError:
                    if stop.is_set():
                        return "stopped"
                    idle = time.monotonic() - activity.last
                    bound = (self.settings.stall_timeout_s if started else
                             self.limits.open_timeout_s + self.settings.stall_timeout_s)
                    if idle > bound:
                        metrics.STALLS.inc()
                        raise SourceError(f"no frame for {idle:.0f} s",
                                          permanent=False) from None
                    continue
                if item[0] == "opened":
                    started = datetime.now(UTC) if resume is None else (
                        resume.captured_at.ToDatetime(UTC) - timedelta(seconds=resume.pts_s))
                elif item[0] == "frame":
                    assert started is not None
                    await self._publish(item[1], started)
                    await self._report(self.health.frames_flowing())
                elif item[0] == "end":
                    return "end"
                else:
                    raise item[1]
                if stop.is_set():
                    return "stopped"
        finally:
            thread_stop.set()

    async def _publish(self, sampled: Sampled, started: datetime) -> None:
        geo = self.camera.geo if self.camera.HasField("geo") else None
        await self.publish_frame(frame_event(self.camera_id, self.frames_total, started, sampled,
                                             self.camera.source_kind, geo))
        self.frames_total += 1
        metrics.PUBLISHED.labels("camera").inc()
        metrics.PUBLISHED_BYTES.inc(len(sampled.jpeg))

    async def _report(self, change: Change | None) -> None:
        if change is None:
            return
        event = CameraHealthChanged(
            camera_id=self.camera_id, state=STATES[change.state], reason=change.reason[:500],
            attempt=change.attempt, frames_total=self.frames_total,
            previous_state=STATES[change.previous] if change.previous else None)
        event.next_retry_in.FromTimedelta(timedelta(seconds=change.retry_in_s))
        event.observed_at.FromDatetime(datetime.now(UTC))
        log.info("camera %s: %s (%s)", change.state, self.camera_id, change.reason,
                 extra={"camera_id": self.camera_id})
        await self.publish_health(event)
