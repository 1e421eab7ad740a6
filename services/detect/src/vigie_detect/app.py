"""The detect use cases: the objects of the frames stream, detected in batches across cameras,
tracked per camera (ByteTrack) and published as ObjectsDetected; the objects of one image
(DetectService.Detect). Undecodable or inconsistent frames go to the DLQ at once and the stream
goes on.

Tracker state survives restarts and re-assignments (adapters/checkpoints.py): each camera's
tracker is checkpointed on vigie.tracker-state.v1 after its detections are durable, offsets are
stored only behind a durable checkpoint, and a camera's first frame after a start or a
re-assignment restores the latest one; frames captured at or before the newest frame handled
(a redelivery, or a frame ingest published twice) are skipped. So a replay after a crash gives
the same track ids as a clean run. A model failure on the stream (not a bad frame) stops the
stream and the process exits: it restarts from its checkpoints, never out of order.

The scene stage (adapters/scene.py, when `scene_stage` is on) looks at the same decoded frames:
still regions join the frame's detections as class `static_object`, or `removed_object` for what
left the scene (on vigie.detections.v1, so
rules see them beside the persons that claim or own them, in one message per frame), and view
problems (covered, defocused, moved, too dark or bright) go to vigie.camera-health.v1 with
reporter "detect". Its background models are not checkpointed: after a restart they are
learned again (a still object is found again `scene_short_s + scene_static_s` later)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

import numpy as np
from vigie.camera.v1.camera_health_pb2 import CameraHealthChanged, ViewProblem
from vigie.camera.v1.camera_pb2 import Camera
from vigie.common.v1.common_pb2 import BoundingBox
from vigie.detect.v1.detection_pb2 import Detection, ObjectsDetected
from vigie.detect.v1.tracker_pb2 import TrackerCheckpointed
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie_core.bus.base import Bus, Record, hold_offset
from vigie_core.codec import Event
from vigie_core.labels import REMOVED_OBJECT, STATIC_OBJECT
from vigie_core.model_store import ModelStore
from vigie_core.processing import PoisonError
from vigie_core.topics import CAMERA_HEALTH, DETECTIONS

from vigie_detect import metrics
from vigie_detect.adapters.backends import load_detector
from vigie_detect.adapters.batcher import Batcher, Result
from vigie_detect.adapters.checkpoints import (
    CheckpointReader,
    CheckpointWriter,
    Covers,
    Turns,
    flush_idle,
)
from vigie_detect.adapters.detector import Detector, OneBoxPerObject
from vigie_detect.adapters.images import decode_image
from vigie_detect.adapters.scene import SceneParams, ScenePool, SceneResult
from vigie_detect.adapters.slicing import CameraSlicing
from vigie_detect.adapters.tracking import TrackerParams, TrackerPool
from vigie_detect.config import Settings
from vigie_detect.domain.detections import COCO_CLASSES, Detections
from vigie_detect.domain.frame_rate import FrameRate
from vigie_detect.domain.riders import RiderParams
from vigie_detect.domain.scene import StaticParams
from vigie_detect.domain.selection import MotionSkip

log = logging.getLogger(__name__)


def to_proto(found: Detections, width: int, height: int,
             names: tuple[str, ...]) -> list[Detection]:
    """Detections with boxes normalised to the image size (0..1), as the contract says."""
    scale = np.array([width, height, width, height], np.float32)
    boxes = np.clip(found.xyxy / scale, 0.0, 1.0)
    return [Detection(box=BoundingBox(x_min=float(b[0]), y_min=float(b[1]), x_max=float(b[2]),
                                      y_max=float(b[3])),
                      confidence=float(c), class_id=int(k), class_name=name, track_id=int(t))
            for b, c, k, t, name in zip(boxes, found.confidence, found.class_id,
                                        found.tracker_id, found.class_names(names), strict=True)]


STATIC_OBJECT_CLASS_ID = -1
REMOVED_OBJECT_CLASS_ID = -2


def static_objects(scene: SceneResult, width: int, height: int) -> list[Detection]:
    """The scene stage's still regions as detections (boxes normalised like the model's): what
    came into the scene (static_object) or left it (removed_object)."""
    out = []
    for o in scene.static:
        x0, y0, x1, y1 = o.box
        found = Detection(box=BoundingBox(x_min=min(max(x0 / width, 0.0), 1.0),
                                          y_min=min(max(y0 / height, 0.0), 1.0),
                                          x_max=min(max(x1 / width, 0.0), 1.0),
                                          y_max=min(max(y1 / height, 0.0), 1.0)),
                          confidence=o.confidence,
                          class_id=(REMOVED_OBJECT_CLASS_ID if o.removed
                                    else STATIC_OBJECT_CLASS_ID),
                          class_name=REMOVED_OBJECT if o.removed else STATIC_OBJECT,
                          track_id=o.region_id)
        found.appeared_at.FromNanoseconds(round(o.appeared_s * 1e9))
        out.append(found)
    return out


def view_change(frame: FrameSampled, scene: SceneResult) -> CameraHealthChanged | None:
    """The view change the frame confirmed, as a camera-health event of detect."""
    change = scene.view_change
    if change is None:
        return None
    event = CameraHealthChanged(camera_id=frame.camera_id, reporter="detect",
                                view_problem=ViewProblem.ValueType(change.problem.value),
                                previous_view_problem=ViewProblem.ValueType(
                                    change.previous.value),
                                frame_id=frame.frame_id, reference_jpeg=scene.reference_jpeg,
                                current_jpeg=scene.current_jpeg)
    event.problem_since.FromNanoseconds(round(change.since_s * 1e9))
    event.observed_at.CopyFrom(frame.captured_at)  # the confirming frame's time: replays agree
    return event


def scene_pool(config: Settings) -> ScenePool | None:
    if not config.scene_stage:
        return None
    return ScenePool(SceneParams(static=StaticParams(short_s=config.scene_short_s,
                                                     static_s=config.scene_static_s),
                                 analysis_fps=config.scene_fps))


def detector_floor(config: Settings) -> float:
    """The confidence the detector keeps boxes down to: with tracking, ByteTrack's low
    threshold too (its second association extends tracks with low-score boxes); what is
    published is then `published`."""
    if config.tracking:
        return min(config.min_confidence, config.track_low_thresh)
    return config.min_confidence


def published(found: Detections, min_confidence: float) -> Detections:
    """Detections at or above min_confidence, and the lower ones that extend a track."""
    if not len(found):
        return found
    return found[(found.confidence >= min_confidence) | (found.tracker_id > 0)]


def nms_groups(config: Settings) -> tuple[tuple[int, ...], ...]:
    """The COCO class ids of `nms_shared_classes`, as one NMS group (unknown names: an error)."""
    if unknown := [n for n in config.nms_shared_classes if n not in COCO_CLASSES]:
        raise ValueError(f"nms_shared_classes: not COCO classes: {', '.join(unknown)}")
    ids = tuple(COCO_CLASSES.index(n) for n in config.nms_shared_classes)
    return (ids,) if len(ids) > 1 else ()


def one_box_per_object(detector: Detector, config: Settings) -> Detector:
    """The detector with boxes nested in a more confident one of their NMS group dropped
    (`nested_box_ios`; 0: as the model gives them)."""
    if config.nested_box_ios <= 0:
        return detector
    return OneBoxPerObject(detector, nested_box_groups(config, len(detector.class_names)),
                           config.nested_box_ios)


def nested_box_groups(config: Settings, class_count: int) -> tuple[tuple[int, ...], ...]:
    """The classes whose boxes nest as one object: the NMS groups, or all with agnostic NMS."""
    return (tuple(range(class_count)),) if config.agnostic_nms else nms_groups(config)


def detector_settings(config: Settings) -> dict[str, Any]:
    """What the backend's options are taken from (adapters/backends: those of the same names):
    the settings, with the detector floor as min_confidence and the NMS groups as class ids."""
    return {**config.model_dump(), "min_confidence": detector_floor(config),
            "nms_groups": nms_groups(config)}


def tracker_params(config: Settings, class_names: tuple[str, ...]) -> TrackerParams:
    """The tracker parameters the settings name (ByteTrack/BoT-SORT, re-linking, riders) for a
    model of these classes."""
    return TrackerParams(config.track_high_thresh, config.track_low_thresh,
                         config.new_track_thresh, config.track_buffer, config.match_thresh,
                         config.fuse_score, tracker=config.tracker, relink_s=config.relink_s,
                         relink_max_distance=config.relink_max_distance,
                         appearance_max_distance=config.appearance_max_distance,
                         riders=RiderParams.for_classes(class_names, config.rider_min_share))


class DetectApp:
    """Handed the settings, the model store, the bus, two facts of the frames consumer (its
    group generation, a new one after each rebalance, and whether it has stopped) and when each
    camera's view was last accepted as the scene stage's reference."""

    def __init__(self, config: Settings, models: ModelStore, bus: Bus, *,
                 consumer_generation: Callable[[], int],
                 stream_ended: Callable[[], bool],
                 view_accepted: Callable[[str], float | None] = lambda camera_id: None,
                 camera: Callable[[str], Camera | None] = lambda camera_id: None,
                 ) -> None:
        self.config = config
        self.models = models
        self.bus = bus
        self._generation = consumer_generation
        self._consumed = stream_ended
        self.view_accepted = view_accepted  # camera id -> Camera.view_accepted_at, seconds
        # Sliced inference per camera (issue 18): its Camera (registry view), else the setting.
        self.camera = camera
        self.slicing = CameraSlicing(config, nms_groups(config))
        self.detector_settings = detector_settings(config)  # checked now, not at load
        self.detector: Detector | None = None
        self.batcher: Batcher | None = None
        self.skip = MotionSkip(config.min_motion, config.max_skip_s)
        self.rates = FrameRate()
        # Tracker checkpoints (and the ordering they need), see the module docstring.
        self.checkpointing = config.tracking and config.checkpoint_interval_s > 0
        self.turns = Turns()
        self.covers = Covers()
        self.reader = CheckpointReader(bus)
        self.writer = CheckpointWriter(bus, self.covers)
        self.cameras: dict[str, _Progress] = {}
        # Set once the stream must stop (a failure that retrying out of order would make
        # worse): every later frame holds its offset on it, so the stream ends there.
        self.failed: asyncio.Future[Record] | None = None

    async def load(self) -> None:
        """The model, verified and loaded; the batcher started."""
        resolved = self.models.resolve(self.config.model)
        self.detector = one_box_per_object(
            await asyncio.to_thread(load_detector, resolved, self.detector_settings),
            self.config)
        trackers = (TrackerPool(tracker_params(self.config, tuple(self.detector.class_names)))
                    if self.config.tracking else None)
        self.batcher = Batcher(self.detector, trackers, self.config.max_batch,
                               self.config.max_wait_ms / 1000, decode_image,
                               scene_pool(self.config))
        self.batcher.start()
        log.info("model %s loaded from %s", self.detector.model_id, resolved.source)

    def idle_checkpoints(self, stop: asyncio.Event) -> Coroutine[Any, Any, None]:
        """Checkpoints of cameras whose frames wait for one while no due frame comes."""
        return flush_idle(self.covers, self._checkpoint_now, stop, self._consumed,
                          self.config.checkpoint_interval_s)

    async def stop(self) -> None:
        if self.batcher is not None:
            await self.batcher.stop()

    def status(self) -> dict[str, Any]:
        return {"model_id": self.detector.model_id if self.detector else None,
                "cameras": len(self.cameras), "checkpoints": self.checkpointing}

    async def on_frame(self, event: Event[FrameSampled]) -> None:
        frame = event.message
        assert frame is not None and self.batcher is not None and self.detector is not None
        camera_id = frame.camera_id
        captured_us = frame.captured_at.ToMicroseconds()
        if self.failed is not None:
            hold_offset(self.failed)
            return
        # The camera's turn is taken before any await: its frames reach the batcher in order.
        async with self.turns.take(camera_id):
            try:
                progress = await self._progress(camera_id)
            except Exception as exc:
                if not self.checkpointing:
                    raise
                self._fail(exc, frame)
                return
            if progress.seen_us is not None and captured_us <= progress.seen_us:
                metrics.FRAMES.labels("already_tracked").inc()
                if self.checkpointing and captured_us > self.writer.durable.get(camera_id, -1):
                    # Tracked by this process, not checkpointed yet (a redelivery after a
                    # rebalance): its offset too waits for the checkpoint, or a crash now
                    # would restart after it from an older state.
                    hold_offset(self.covers.add(camera_id, captured_us))
                return
            progress.seen_us, progress.seen_frame = captured_us, frame.frame_id
            captured_s = frame.captured_at.ToNanoseconds() / 1e9
            rate = self.rates.update(camera_id, captured_us)
            if not self.skip.analyse(camera_id, captured_s, frame.motion_score):
                metrics.FRAMES.labels("skipped_no_motion").inc()
                return
            progress.analysed = frame.captured_at.ToNanoseconds()
            checkpoint = None
            if self.checkpointing and (
                    progress.checkpoint_us is None or captured_us - progress.checkpoint_us
                    >= self.config.checkpoint_interval_s * 1e6):
                checkpoint = self._template(camera_id, progress)
                progress.checkpoint_us = captured_us
            pending = self.batcher.submit(camera_id, frame.jpeg, (frame.width, frame.height),
                                          rate, checkpoint, captured_s,
                                          self.view_accepted(camera_id),
                                          slicing=self.slicing.plan(self.camera(camera_id)))
            cover = self.covers.add(camera_id, captured_us) if self.checkpointing else None
            previous, durable = progress.durable, asyncio.get_running_loop().create_future()
            durable.add_done_callback(_retrieve)
            progress.durable = durable
        poisoned = False
        try:
            await self._detected(frame, pending, cover, previous, durable)
        except PoisonError:
            poisoned = True  # nothing of its own: its durable follows the frame before it
            raise
        finally:
            if not poisoned and not durable.done():
                durable.set_exception(RuntimeError("frame not published"))

    async def _detected(self, frame: FrameSampled, pending: asyncio.Future[Result],
                        cover: asyncio.Future[Record] | None,
                        previous: asyncio.Future[None] | None,
                        durable: asyncio.Future[None]) -> None:
        assert self.detector is not None
        try:
            result = await pending
        except PoisonError:
            metrics.FRAMES.labels("rejected").inc()
            _follow(previous, durable)  # nothing of its own to wait for
            raise
        except Exception as exc:
            if not self.checkpointing:
                raise  # retried, then dead-lettered, like any handler failure
            # The tracker may have moved on: retrying out of order would give other ids. Fail
            # the stream (nothing is stored past this frame) and restart from the checkpoint.
            self._fail(exc, frame)
            return
        if cover is not None:
            hold_offset(cover)
        found = published(result.detections, self.config.min_confidence)
        width, height = result.width, result.height
        metrics.FRAMES.labels("analysed").inc()
        metrics.OBJECTS.inc(len(found))
        detected = ObjectsDetected(
            frame_id=frame.frame_id, camera_id=frame.camera_id, model_id=self.detector.model_id,
            image_width=width, image_height=height,
            detections=to_proto(found, width, height, self.detector.class_names))
        if result.scene is not None:
            detected.detections.extend(static_objects(result.scene, width, height))
            metrics.STATIC_OBJECTS.inc(len(result.scene.static))
            if (health := view_change(frame, result.scene)) is not None:
                metrics.VIEW_CHANGES.labels(
                    ViewProblem.Name(health.view_problem)).inc()
                await self.bus.publish(CAMERA_HEALTH, frame.camera_id, health,
                                       event_id=f"{frame.frame_id}/view")
        detected.captured_at.CopyFrom(frame.captured_at)
        detected.inference_time.FromTimedelta(timedelta(seconds=result.seconds))
        delivery = await self.bus.publish(DETECTIONS, frame.camera_id, detected,
                                          event_id=f"{frame.frame_id}/{self.detector.model_id}",
                                          time=frame.captured_at.ToDatetime(UTC))
        if not self.checkpointing:
            durable.set_result(None)
            return
        try:  # durable once this frame's and every earlier frame's detections are
            await delivery
            if previous is not None:
                await previous
        except Exception as exc:
            durable.set_exception(exc)
            return  # the consume loop stops on the failed delivery
        durable.set_result(None)
        if result.checkpoint is not None:
            await self.writer.publish_after(result.checkpoint, None)

    def _fail(self, exc: BaseException, frame: FrameSampled) -> None:
        """Stop the stream at this frame: nothing is stored past it and later frames are not
        handled (the process exits and restarts from its checkpoints)."""
        log.error("detection failed on the stream, stopping it: %r", exc,
                  extra={"camera_id": frame.camera_id, "event_id": frame.frame_id})
        if self.failed is None:
            self.failed = asyncio.get_running_loop().create_future()
            self.failed.set_exception(exc)
        hold_offset(self.failed)

    # -- tracker checkpoints ---------------------------------------------------------------------
    async def _progress(self, camera_id: str) -> _Progress:
        """The camera's progress. On its first frame since this process started, its latest
        checkpoint is restored (the batcher applies it before the camera's next frame); after a
        re-assignment, only if another replica went further with the camera meanwhile (a newer
        checkpoint than the newest frame this process handled)."""
        assert self.batcher is not None and self.detector is not None
        generation = self._generation()
        progress = self.cameras.get(camera_id)
        if progress is not None and progress.generation == generation:
            return progress
        checkpoint = None
        if self.checkpointing:
            checkpoint = await self.reader.latest(camera_id, generation)
            newer = checkpoint is not None and (
                progress is None or progress.seen_us is None
                or checkpoint.captured_at.ToMicroseconds() > progress.seen_us)
            if progress is not None and not newer:
                # Re-assigned, and nobody went further with the camera meanwhile: what this
                # process holds is the newest state (redeliveries are skipped against it).
                progress.generation = generation
                return progress
            if checkpoint is not None and (
                    checkpoint.model_id != self.detector.model_id or checkpoint.tracker_params
                    != tracker_params(self.config, tuple(self.detector.class_names)).fingerprint()):
                log.warning("tracker checkpoint of another model or tracker settings ignored",
                            extra={"camera_id": camera_id})
                checkpoint = None
        fresh = _Progress(generation)
        if checkpoint is not None:
            self.rates.restore(camera_id, checkpoint.captured_at.ToMicroseconds(),
                               checkpoint.frame_rate)
            analysed = checkpoint.analysed_at.ToNanoseconds() if checkpoint.HasField(
                "analysed_at") else None
            self.skip.restore(camera_id, None if analysed is None else analysed / 1e9)
            self.batcher.submit_restore(camera_id, checkpoint)
            fresh.seen_us = fresh.checkpoint_us = checkpoint.captured_at.ToMicroseconds()
            self.writer.restored(camera_id, fresh.seen_us)
            fresh.seen_frame, fresh.analysed = checkpoint.frame_id, analysed
            log.info("tracker of %s restored after frame %s", camera_id, checkpoint.frame_id,
                     extra={"camera_id": camera_id})
        elif progress is not None:  # re-assigned and nothing saved: start afresh
            self.rates.restore(camera_id, None, 0.0)
            self.skip.restore(camera_id, None)
            self.batcher.submit_restore(camera_id, None)
        self.cameras[camera_id] = fresh
        return fresh

    def _template(self, camera_id: str, progress: _Progress) -> TrackerCheckpointed:
        """A checkpoint of the camera as of its newest frame handled (the tracker fields are
        filled in by the batcher)."""
        assert self.detector is not None and progress.seen_us is not None
        checkpoint = TrackerCheckpointed(camera_id=camera_id, frame_id=progress.seen_frame,
                                         model_id=self.detector.model_id,
                                         frame_rate=self.rates.state(camera_id)[1])
        checkpoint.captured_at.FromMicroseconds(progress.seen_us)
        if progress.analysed is not None:
            checkpoint.analysed_at.FromNanoseconds(progress.analysed)
        return checkpoint

    async def _checkpoint_now(self, camera_id: str) -> None:
        """Checkpoint a camera whose frames wait for cover (no due frame came)."""
        assert self.batcher is not None
        async with self.turns.take(camera_id):
            progress = self.cameras.get(camera_id)
            if progress is None or progress.seen_us is None:
                return
            progress.checkpoint_us = progress.seen_us
            pending = self.batcher.submit_checkpoint(camera_id,
                                                     self._template(camera_id, progress))
            durable = progress.durable
        checkpoint = await pending
        if durable is not None:
            try:
                await asyncio.shield(durable)
            except Exception:
                return  # a failed delivery: the stream stops, nothing more is covered
        await self.writer.publish_after(checkpoint, None)


@dataclass
class _Progress:
    """Where a camera stands in this process (since the frames partition was assigned)."""

    generation: int
    seen_us: int | None = None  # newest frame handled: capture time (µs) and id
    seen_frame: str = ""
    analysed: int | None = None  # capture time (ns) of the newest analysed frame
    checkpoint_us: int | None = None  # capture time of the newest checkpoint asked for
    # Resolves once the newest submitted frame's detections, and all before, are durable.
    durable: asyncio.Future[None] | None = None


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


def _follow(previous: asyncio.Future[None] | None, durable: asyncio.Future[None]) -> None:
    """Resolve `durable` as `previous` resolves (at once without one)."""
    def done(_: object = None) -> None:
        if durable.done():
            return
        if previous is not None and not previous.cancelled() and previous.exception():
            durable.set_exception(previous.exception())  # type: ignore[arg-type]
        else:
            durable.set_result(None)
    if previous is None:
        done()
    else:
        previous.add_done_callback(done)
