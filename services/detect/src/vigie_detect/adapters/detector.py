"""What a detector backend is: a name, its options model, and how it loads a model into a Detector,
which takes images (BGR uint8 arrays, as cv2 decodes them) and gives Detections in the image's
pixel coordinates, COCO class ids. Each backend is one module of adapters/backends/."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field
from vigie_core.model_store import ResolvedModel

from vigie_detect.domain.detections import Detections, nms_group_of, suppress_nested

Image = npt.NDArray[np.uint8]


class DetectorOptions(BaseModel):
    """The options every backend takes. A backend's own options subclass this; the service fills
    them from the detect settings of the same names (VIGIE_DETECT_<NAME>)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_confidence: float = Field(0.25, description="Boxes below this confidence (0..1) are "
                                                    "dropped.")
    nms_iou: float = Field(0.45, description="Non-maximum suppression IoU (0..1).")
    input_size: int = Field(416, description="Network input, pixels: a square (letterboxed or "
                                             "resized, per backend) or its long side.")
    threads: int = Field(0, description="CPU threads for inference; 0: every core.")
    device: str = Field("cpu", description="cpu, cuda or cuda:N (backends that support it).")
    agnostic_nms: bool = Field(False, description="One non-maximum suppression over every class "
                               "(a pickup seen as both car and truck stays one object) instead "
                               "of one per class.")


class Detector(Protocol):
    model_id: str  # name@sha256-prefix: which weights produced the detections
    class_names: tuple[str, ...]

    def detect(self, images: list[Image]) -> list[Detections]:
        """One Detections per image, in order. Batches when the backend can."""
        ...


@dataclass(frozen=True)
class Backend:
    """A detector backend: a module of adapters/backends/ defines one as BACKEND."""

    name: str  # what a catalogue entry's `backend` names, e.g. "opencv-darknet"
    description: str
    options: type[DetectorOptions]  # its options model
    # Loads a resolved model with options of that model (slow: run it off the event loop).
    # Heavy imports (torch, a runtime) belong in here, not at the module's top.
    load: Callable[[ResolvedModel, Any], Detector]
    # Suffixes of model files a user drops in the models dir that this backend loads.
    user_files: tuple[str, ...] = ()


class OneBoxPerObject:
    """A Detector that drops, after the model's own NMS, boxes lying within a more confident box
    of the same class group (domain.detections.suppress_nested): whatever the backend."""

    def __init__(self, inner: Detector, nms_groups: tuple[tuple[int, ...], ...],
                 max_ios: float) -> None:
        self.inner, self.max_ios = inner, max_ios
        self.model_id, self.class_names = inner.model_id, inner.class_names
        self.group_of = nms_group_of(len(inner.class_names), nms_groups)

    def detect(self, images: list[Image]) -> list[Detections]:
        return [suppress_nested(found, self.group_of, self.max_ios)
                for found in self.inner.detect(images)]
