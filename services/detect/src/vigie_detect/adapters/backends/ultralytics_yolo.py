"""Ultralytics backend (GPU deployments): a YOLO `.pt`, `.onnx`, `.engine` file, or a model `.yaml`
(random weights: tests and plumbing only), through `ultralytics.YOLO`, task detect. Such files
dropped in the models dir are models of this backend.

Offline by construction: Ultralytics is imported by adapters/ultralytics_offline.py, which sets the
offline environment first. Model files must exist locally (a missing `.pt` would otherwise be
"searched online" by Ultralytics' attempt_download_asset); a bare yaml name like "yolov8n.yaml"
resolves to the yaml bundled in the ultralytics package (no download either: check_yaml only
searches its cfg dir).

Threads: Ultralytics caps torch at cpu_count - 1 threads (`select_device` calls
`torch.set_num_threads(NUM_THREADS)` when the predictor is set up, i.e. on the first predict). The
detector therefore warms up once at load time, then sets
`torch.set_num_threads(options.threads or os.cpu_count())` (process-wide: torch has one intra-op
pool), and re-asserts it after each predict.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field
from vigie_core.hashing import file_sha256
from vigie_core.model_store import ResolvedModel

from vigie_detect.adapters.detector import Backend, DetectorOptions, Image
from vigie_detect.adapters.ultralytics_offline import import_ultralytics
from vigie_detect.domain.detections import COCO_CLASSES, Detections

log = logging.getLogger(__name__)

MODEL_SUFFIXES = (".pt", ".onnx", ".engine", ".yaml", ".yml")
USER_FILES = (".pt", ".onnx", ".engine")


class UltralyticsOptions(DetectorOptions):
    half: bool = Field(False, description="fp16 inference (CUDA devices only; fp32 on cpu).")


class UltralyticsError(RuntimeError):
    """The model cannot be loaded or run as asked; the message says why."""


def _resolve_yaml(path: Path) -> Path:
    """An existing yaml file, or a model yaml bundled with ultralytics (e.g. "yolov8n.yaml", whose
    file is cfg/models/v8/yolov8.yaml: Ultralytics takes the scale "n" from the name)."""
    if path.is_file():
        return path
    from ultralytics.utils import checks

    check_yaml: Any = checks.check_yaml
    unified = re.sub(r"(\d+)([nslmx])(.+)?$", r"\1\3", path.name)  # as ultralytics.nn.tasks does
    for name in (path.name, unified):
        found = check_yaml(name, hard=False)
        if found and Path(found).is_file():
            return Path(found)
    raise UltralyticsError(f"model yaml {path} not found (no such file, none bundled in the wheel)")


def _device(options: UltralyticsOptions) -> tuple[str, bool]:
    """Ultralytics device string and whether fp16 applies."""
    import torch

    device = options.device.strip().lower()
    if device == "cpu":
        if options.half:
            log.info("half precision applies to CUDA only: running fp32 on cpu")
        return "cpu", False
    match = re.fullmatch(r"cuda(?::(\d+))?", device)
    if not match:
        raise UltralyticsError(f"unsupported device {options.device!r}: use cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise UltralyticsError(f"device {options.device!r} requested but CUDA is not available "
                               f"(torch {torch.__version__}: no usable GPU or driver): "
                               f"use device=cpu")
    index = int(match.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise UltralyticsError(f"device {options.device!r}: only {torch.cuda.device_count()} "
                               f"CUDA device(s)")
    return str(index), options.half


def _class_names(names: dict[int, str] | list[str] | None) -> tuple[str, ...]:
    if not names:
        return COCO_CLASSES
    mapping = dict(enumerate(names)) if isinstance(names, list) else dict(names)
    ordered = tuple(str(mapping.get(i, f"class{i}")) for i in range(max(mapping) + 1))
    # A model built from a yaml without `names` (every bundled yolov8*.yaml) carries the
    # placeholders "0".."79": its 80 outputs are COCO's classes in COCO order.
    if len(ordered) == len(COCO_CLASSES) and all(n == str(i) for i, n in enumerate(ordered)):
        return COCO_CLASSES
    return ordered


class UltralyticsDetector:
    """A `Detector` over ultralytics.YOLO. Thread-safe (one inference at a time)."""

    def __init__(self, path: Path, options: UltralyticsOptions | None = None, *,
                 config_dir: Path | None = None, warmup: bool = True) -> None:
        self.options = options or UltralyticsOptions()
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in MODEL_SUFFIXES:
            raise UltralyticsError(f"{path}: not a YOLO model file ({', '.join(MODEL_SUFFIXES)})")
        self.threads = self.options.threads or os.cpu_count() or 1
        import_ultralytics(config_dir, self.threads)
        import torch
        from ultralytics.models import YOLO

        self._device, self._half = _device(self.options)
        if suffix in (".yaml", ".yml"):
            source = _resolve_yaml(path)
            # Hash of the yaml text; the stem keeps the scale letter ("yolov8n" vs "yolov8s" share
            # one file). The weights are random: this id names an architecture, not trained weights.
            self.model_id = f"{path.stem}@{file_sha256(source)[:12]}"
            model_arg = str(path) if path.is_file() else path.name
        else:
            if not path.is_file():  # Ultralytics would otherwise try to download it
                raise UltralyticsError(f"model file {path} not found")
            self.model_id = f"{path.stem}@{file_sha256(path)[:12]}"
            model_arg = str(path)
        self._lock = threading.Lock()
        try:  # .onnx/.engine runtimes load on first use (names, predict): no auto-install offline
            self._yolo = YOLO(model_arg, task="detect", verbose=False)
            if self._yolo.task != "detect":
                raise UltralyticsError(f"{path}: a {self._yolo.task} model, not a detection model")
            self.class_names = _class_names(getattr(self._yolo, "names", None))
            torch.set_num_threads(self.threads)
            if warmup:  # sets up the predictor now (device, runtime, its thread cap: undone there)
                size = self.options.input_size
                self.detect([np.zeros((size, size, 3), np.uint8)])
        except ImportError as e:
            raise UltralyticsError(f"{path}: a package this format needs is missing: {e}") from e

    def detect(self, images: list[Image]) -> list[Detections]:
        """One Detections per image, in order: a single batched predict call."""
        if not images:
            return []
        import torch

        kwargs: dict[str, Any] = {
            "imgsz": self.options.input_size, "conf": self.options.min_confidence,
            "iou": self.options.nms_iou, "device": self._device, "verbose": False,
            "batch": len(images), "agnostic_nms": self.options.agnostic_nms,
        }
        if self._half:
            kwargs["quantize"] = 16  # replaces the deprecated half=True in 8.4
        with self._lock:
            results = list(self._yolo.predict(list(images), **kwargs))
            if torch.get_num_threads() != self.threads:
                torch.set_num_threads(self.threads)
        if len(results) != len(images):
            raise UltralyticsError(f"{len(images)} images in, {len(results)} results out")
        return [self._to_detections(result, image.shape[:2])
                for result, image in zip(results, images, strict=True)]

    @staticmethod
    def _to_detections(result: Any, shape: tuple[int, ...]) -> Detections:
        boxes = result.boxes
        if boxes is None or len(boxes) == 0:
            return Detections.empty()
        height, width = shape
        xyxy = boxes.xyxy.float().cpu().numpy().astype(np.float32)
        confidence = boxes.conf.float().cpu().numpy().astype(np.float32)
        class_id = boxes.cls.cpu().numpy().astype(np.int64)
        finite = np.isfinite(xyxy).all(axis=1) & np.isfinite(confidence)
        if not finite.all():  # an overflowing model (fp16, broken weights): drop, do not crash
            log.warning("dropped %d non-finite boxes of %d", int((~finite).sum()), len(finite))
            xyxy, confidence, class_id = xyxy[finite], confidence[finite], class_id[finite]
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, width)
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, height)
        xyxy[:, 2:] = np.maximum(xyxy[:, 2:], xyxy[:, :2])
        return Detections(xyxy, np.clip(confidence, 0.0, 1.0), class_id)

    @property
    def torch_model(self) -> Any:
        """The underlying torch.nn.Module (.pt and .yaml models), else None (.onnx, .engine)."""
        import torch

        model = getattr(self._yolo, "model", None)
        return model if isinstance(model, torch.nn.Module) else None

    def save(self, path: Path) -> Path:
        """Write the loaded PyTorch model as an Ultralytics .pt checkpoint in fp32 (Ultralytics'
        own Model.save stores fp16, which shifts outputs slightly)."""
        import torch

        model = self.torch_model
        if model is None:
            raise UltralyticsError(f"{self.model_id}: only PyTorch models can be saved as .pt")
        from copy import deepcopy
        from datetime import datetime

        from ultralytics import __version__

        path.parent.mkdir(parents=True, exist_ok=True)
        ckpt = {"model": deepcopy(model).float(), "ema": None, "train_args": {"task": "detect"},
                "version": __version__, "date": datetime.now().astimezone().isoformat()}
        torch.save(ckpt, path)
        return path


def load(resolved: ResolvedModel, options: UltralyticsOptions) -> UltralyticsDetector:
    return UltralyticsDetector(resolved.paths["weights"], options)


BACKEND = Backend(
    name="ultralytics",
    description="Ultralytics YOLO (.pt, .onnx, .engine), on cpu or CUDA GPUs",
    options=UltralyticsOptions, load=load, user_files=USER_FILES)
