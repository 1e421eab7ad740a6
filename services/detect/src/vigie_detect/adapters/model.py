"""What every detector backend provides: images in (BGR uint8 arrays, as cv2 decodes them),
Detections out, in the image's pixel coordinates, COCO class ids."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from vigie_detect.domain.detections import Detections

Image = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class DetectorOptions:
    min_confidence: float = 0.25
    nms_iou: float = 0.45
    input_size: int = 416  # square network input (letterboxed or resized, per backend)
    threads: int = 0  # 0: every core
    device: str = "cpu"  # "cpu", "cuda", "cuda:1" (backends that support it)
    half: bool = False  # fp16 on GPUs
    # Network input of the image's aspect ratio (input_size on the long side) instead of a
    # square (opencv-darknet; Ultralytics letterboxes with minimal padding anyway).
    keep_aspect: bool = False
    # Test-time augmentation (opencv-darknet): each image is also inferred mirrored left-right
    # and the candidate boxes of both passes go through one NMS. Twice the model time.
    flip_tta: bool = False
    # One NMS over every class (a pickup seen as both "car" and "truck" stays one object)
    # instead of one per class.
    agnostic_nms: bool = False
    # Groups of class ids whose boxes suppress each other in NMS (opencv-darknet), e.g. car,
    # truck and bus: a pickup scored as both is one vehicle, counted once.
    nms_groups: tuple[tuple[int, ...], ...] = ()


class Detector(Protocol):
    model_id: str  # name@sha256-prefix: which weights produced the detections
    class_names: tuple[str, ...]

    def detect(self, images: list[Image]) -> list[Detections]:
        """One Detections per image, in order. Batches when the backend can."""
        ...
