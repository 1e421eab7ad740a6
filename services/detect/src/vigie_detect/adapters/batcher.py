"""Batching across cameras: frames of any camera that arrive within `max_wait_s` of each other are
decoded and inferred together (up to `max_batch`), then tracked per camera in submission order,
so each camera's tracker sees its frames in the order they were consumed. Callers must submit
before awaiting anything else, which keeps that order. Tracker restores and checkpoints are jobs
in the same queue, so they happen exactly between the frames they were submitted between.

Two stages, like the bare model loop plus a worker behind it: one thread decodes and infers
batch after batch; a second thread ("behind": tracking, then the scene stage's still objects and
view watch) takes each inferred batch in order while the next one is inferred, and hands the
results back in submission order. The behind thread runs at a lower CPU priority
(`BEHIND_NICE`), so on a machine the model keeps busy it fills the model's gaps instead of
slowing its threads; at most `BACKLOG` inferred batches wait for it (then inference waits)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from vigie.detect.v1.tracker_pb2 import TrackerCheckpointed
from vigie_core.processing import PoisonError

from vigie_detect import metrics
from vigie_detect.adapters.detector import Detector, Image
from vigie_detect.adapters.scene import ScenePool, SceneResult
from vigie_detect.adapters.slicing import detect_sliced
from vigie_detect.adapters.tracking import TrackerPool
from vigie_detect.domain.detections import Detections
from vigie_detect.domain.slicing import SlicingPlan

Decode = Callable[[bytes], Image]
CLAIMERS = frozenset({"person", "bicycle", "car", "motorcycle", "bus", "truck"})
BACKLOG = 2
BEHIND_NICE = 5  # niceness added to the behind thread (Linux: per thread)


@dataclass(frozen=True)
class Result:
    detections: Detections
    seconds: float  # the batch's model time per image
    width: int
    height: int
    # The tracker state after this frame, when the job asked for one.
    checkpoint: TrackerCheckpointed | None = None
    # The scene stage's still objects and view change, when it runs.
    scene: SceneResult | None = None


@dataclass
class _Inferred:
    """A batch out of the model: each frame's decoded image and detections (or why it failed),
    and the model time per image."""

    batch: list[_Job]
    frames: dict[int, tuple[Image, Detections] | Exception]  # id(job) -> ...
    seconds: float


@dataclass
class _Job:
    camera_id: str
    image: bytes | None  # None: a tracker job (restore or checkpoint), no image
    size: tuple[int, int] | None  # the size the frame claims, checked after decoding
    frame_rate: float
    future: asyncio.Future[Any] = field(repr=False)
    # Frames: fill this with the tracker state after the frame. Checkpoint jobs: fill it now.
    checkpoint: TrackerCheckpointed | None = None
    # Restore jobs: the state to restore (None: drop the camera's tracker).
    restore: TrackerCheckpointed | None = None
    kind: str = "frame"
    t_s: float = 0.0  # frame time (the scene stage's clock)
    accepted_s: float | None = None  # the camera's view accepted as reference then
    slicing: SlicingPlan | None = None  # the camera's sliced inference (adapters/slicing.py)


class Batcher:
    def __init__(self, detector: Detector, trackers: TrackerPool | None, max_batch: int,
                 max_wait_s: float, decode: Decode, scene: ScenePool | None = None) -> None:
        self.detector, self.trackers, self.decode = detector, trackers, decode
        self.scene = scene
        # Boxes of these classes claim a still region: a still person is a person.
        self.claimer_ids = np.array([i for i, name in enumerate(detector.class_names)
                                     if name in CLAIMERS], np.int64)
        self.max_batch, self.max_wait_s = max_batch, max_wait_s
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._inferred: asyncio.Queue[_Inferred] = asyncio.Queue(maxsize=BACKLOG)
        self._behind = ThreadPoolExecutor(1, "detect-behind", initializer=_lower_priority)
        self._workers: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._workers = [asyncio.create_task(self._run(), name="detect:infer"),
                         asyncio.create_task(self._finish(), name="detect:behind")]

    async def stop(self) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._behind.shutdown(wait=False, cancel_futures=True)

    async def detect(self, camera_id: str, image: bytes, size: tuple[int, int] | None,
                     frame_rate: float) -> Result:
        """Detections of an encoded image (tracked when a tracker pool is set). Raises what
        `decode` raises, or PoisonError when the image is not of the claimed size."""
        return await self.submit(camera_id, image, size, frame_rate)

    def submit(self, camera_id: str, image: bytes, size: tuple[int, int] | None,
               frame_rate: float, checkpoint: TrackerCheckpointed | None = None,
               t_s: float = 0.0, accepted_s: float | None = None,
               slicing: SlicingPlan | None = None) -> asyncio.Future[Result]:
        """Queue a frame (of frame time `t_s`) now, in order; the future gets what `detect`
        returns, with the tracker state after the frame written into `checkpoint` when given.
        `accepted_s`: the scene stage's reference view was accepted then (ScenePool.update).
        `slicing`: the frame is inferred sliced so (full frame + crops, merged)."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(camera_id, image, size, frame_rate, future, checkpoint,
                                    t_s=t_s, accepted_s=accepted_s, slicing=slicing))
        return future

    def submit_restore(self, camera_id: str, checkpoint: TrackerCheckpointed | None) -> None:
        """Before the camera's next frame, replace its tracker by `checkpoint` (None: drop it)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_consume)
        self._queue.put_nowait(_Job(camera_id, None, None, 0.0, future, restore=checkpoint,
                                    kind="restore"))

    def submit_checkpoint(self, camera_id: str, into: TrackerCheckpointed,
                          ) -> asyncio.Future[TrackerCheckpointed]:
        """The camera's tracker state after every frame submitted so far, written into `into`."""
        future: asyncio.Future[TrackerCheckpointed] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(camera_id, None, None, 0.0, future, into,
                                    kind="checkpoint"))
        return future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.max_wait_s
            while len(batch) < self.max_batch:
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(),
                                                        max(0.0, deadline - loop.time())))
                except TimeoutError:
                    break
            try:
                inferred = await asyncio.to_thread(self._infer, batch)
            except Exception as exc:  # the model failed: every frame of the batch says so
                inferred = _Inferred(batch, {id(job): exc for job in batch}, 0.0)
            await self._inferred.put(inferred)

    async def _finish(self) -> None:
        """Each inferred batch tracked (and looked at by the scene stage) behind the next one's
        inference, its results delivered in submission order."""
        loop = asyncio.get_running_loop()
        while True:
            inferred = await self._inferred.get()
            results = await loop.run_in_executor(self._behind, self._track, inferred)
            for job, result in zip(inferred.batch, results, strict=True):
                if job.future.done():
                    continue
                if isinstance(result, Exception):
                    job.future.set_exception(result)
                else:
                    job.future.set_result(result)

    def _infer(self, batch: list[_Job]) -> _Inferred:
        images: list[Image] = []
        usable: list[_Job] = []
        frames: dict[int, tuple[Image, Detections] | Exception] = {}
        for job in batch:
            if job.image is None:
                continue
            try:
                image = self.decode(job.image)
                height, width = image.shape[:2]
                if job.size is not None and job.size != (width, height):
                    raise PoisonError(f"image is {width}x{height} but the frame says "
                                      f"{job.size[0]}x{job.size[1]}")
            except Exception as exc:
                frames[id(job)] = exc
                continue
            images.append(image)
            usable.append(job)
        if not usable:
            return _Inferred(batch, frames, 0.0)
        started = time.perf_counter()
        plans = [job.slicing for job in usable]
        if any(plan is not None and plan.active for plan in plans):  # one detect call
            detections = detect_sliced(self.detector, images, plans)
        else:
            detections = self.detector.detect(images)
        seconds = time.perf_counter() - started
        metrics.BATCH_SIZE.observe(len(usable))
        metrics.INFERENCE_SECONDS.observe(seconds)
        frames.update({id(job): (image, found)
                       for job, image, found in zip(usable, images, detections, strict=True)})
        return _Inferred(batch, frames, seconds / len(usable))

    def _track(self, inferred: _Inferred) -> list[Any]:
        """Tracking, tracker jobs and the scene stage, strictly in submission order."""
        results: list[Any] = []
        for job in inferred.batch:
            try:
                results.append(self._behind_job(job, inferred))
            except Exception as exc:
                results.append(exc)
        return results

    def _behind_job(self, job: _Job, inferred: _Inferred) -> Any:
        if job.kind == "restore":
            if self.trackers is not None:
                self.trackers.restore(job.camera_id, job.restore)
            return None
        if job.kind == "checkpoint":
            assert job.checkpoint is not None
            if self.trackers is not None:
                self.trackers.checkpoint(job.camera_id, job.checkpoint)
            return job.checkpoint
        frame = inferred.frames[id(job)]
        if isinstance(frame, Exception):
            return frame
        image, found = frame
        checkpoint = None
        if self.trackers is not None:
            found = self.trackers.update(job.camera_id, found, job.frame_rate, image, job.t_s)
            if job.checkpoint is not None:
                checkpoint = self.trackers.checkpoint(job.camera_id, job.checkpoint)
        scene = None
        if self.scene is not None:
            claimers = found.xyxy[np.isin(found.class_id, self.claimer_ids)]
            scene = self.scene.update(job.camera_id, image, job.t_s,
                                      [(float(x0), float(y0), float(x1), float(y1))
                                       for x0, y0, x1, y1 in claimers], job.accepted_s)
        return Result(found, inferred.seconds, image.shape[1], image.shape[0], checkpoint, scene)


def _lower_priority() -> None:
    """The behind thread's own niceness (Linux sets it per thread; elsewhere: unchanged)."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + BEHIND_NICE)
    except (AttributeError, OSError):
        pass


def _consume(future: asyncio.Future[None]) -> None:
    """Nobody awaits restore jobs: retrieve their outcome so that a failure is not reported as
    never retrieved (the frames after it fail too, and say why)."""
    if not future.cancelled():
        future.exception()
