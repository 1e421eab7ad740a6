"""Face detection (YuNet) and embedding (SFace, or dlib's ResNet) on decoded BGR images.

Model objects keep per-call state (YuNet's input size), so each worker thread of an EnginePool
has engines of its own; the event loop only awaits them. Embeddings are returned unit-length, as
float32 rows, and the caller drops them once compared (privacy invariant 2).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import cv2
import numpy as np
import numpy.typing as npt
from vigie_core.model_store import ResolvedModel

Image = npt.NDArray[np.uint8]
T = TypeVar("T")


@dataclass(frozen=True)
class Face:
    """A detected face in pixels of the image it was found on."""

    x: float
    y: float
    w: float
    h: float
    score: float
    row: npt.NDArray[np.float32]  # YuNet's 15 values: box, 5 landmarks (x, y), score

    @property
    def size_px(self) -> float:
        return min(self.w, self.h)

    def normalised_box(self, width: int, height: int) -> tuple[float, float, float, float]:
        """x_min, y_min, x_max, y_max in 0..1 of the image."""
        return (max(0.0, self.x / width), max(0.0, self.y / height),
                min(1.0, (self.x + self.w) / width), min(1.0, (self.y + self.h) / height))


@dataclass(frozen=True)
class EngineOptions:
    min_detection_score: float = 0.8
    nms_iou: float = 0.3
    threads: int = 1  # OpenCV threads per process (0: every core)


class Embedder(Protocol):
    dim: int

    def embed(self, image: Image, faces: list[Face]) -> npt.NDArray[np.float32]: ...


class YuNetDetector:
    def __init__(self, model: ResolvedModel, options: EngineOptions) -> None:
        self.options = options
        self.net = cv2.FaceDetectorYN.create(str(model.paths["weights"]), "", (320, 320),
                                             options.min_detection_score, options.nms_iou, 5000)

    def detect(self, image: Image) -> list[Face]:
        height, width = image.shape[:2]
        self.net.setInputSize((width, height))
        _, rows = self.net.detect(image)
        if rows is None:
            return []
        faces = [Face(float(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[14]),
                      np.asarray(r, np.float32)) for r in rows]
        return sorted(faces, key=lambda f: -f.score)


def _unit_rows(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)


class SFaceEmbedder:
    dim = 128

    def __init__(self, model: ResolvedModel) -> None:
        self.net = cv2.FaceRecognizerSF.create(str(model.paths["weights"]), "")

    def embed(self, image: Image, faces: list[Face]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(faces), self.dim), np.float32)
        for i, face in enumerate(faces):
            aligned = self.net.alignCrop(image, face.row)
            out[i] = np.asarray(self.net.feature(aligned), np.float32).reshape(-1)
        return _unit_rows(out)


class DlibEmbedder:
    """dlib's ResNet descriptor; aligned by its 5-point shape predictor inside YuNet's box."""

    dim = 128

    def __init__(self, model: ResolvedModel) -> None:
        import dlib

        self._dlib = dlib
        self.shape = dlib.shape_predictor(str(model.paths["landmarks"]))
        self.net = dlib.face_recognition_model_v1(str(model.paths["weights"]))

    def embed(self, image: Image, faces: list[Face]) -> npt.NDArray[np.float32]:
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        out = np.zeros((len(faces), self.dim), np.float32)
        for i, face in enumerate(faces):
            rect = self._dlib.rectangle(int(face.x), int(face.y), int(face.x + face.w),
                                        int(face.y + face.h))
            shape = self.shape(rgb, rect)
            out[i] = np.asarray(self.net.compute_face_descriptor(rgb, shape), np.float32)
        return _unit_rows(out)


class FaceEngine:
    """A detector and an embedder, with the ids that name what produced a match or a template."""

    def __init__(self, detector: ResolvedModel, embedder: ResolvedModel,
                 options: EngineOptions) -> None:
        self.detector = YuNetDetector(detector, options)
        self.embedder: Embedder = (DlibEmbedder(embedder) if embedder.spec.backend == "dlib"
                                   else SFaceEmbedder(embedder))
        self.dim = self.embedder.dim
        self.template_model_id = embedder.model_id
        self.model_id = (f"{detector.spec.id_name}+{embedder.spec.id_name}"
                         f"@{embedder.sha256['weights'][:12]}")

    def detect(self, image: Image) -> list[Face]:
        return self.detector.detect(image)

    def embed(self, image: Image, faces: list[Face]) -> npt.NDArray[np.float32]:
        if not faces:
            return np.zeros((0, self.dim), np.float32)
        return self.embedder.embed(image, faces)


class EnginePool:
    """Worker threads, each with its own FaceEngine; `run(fn, ...)` calls fn(engine, ...) on one
    of them without blocking the event loop."""

    def __init__(self, factory: Callable[[], FaceEngine], workers: int, threads: int) -> None:
        self._factory = factory
        self._local = threading.local()
        self._threads = threads
        self.executor = ThreadPoolExecutor(max_workers=max(1, workers),
                                           thread_name_prefix="vigie-face")
        self.first = factory()  # loaded at once: errors surface at start; ids read from it

    def _engine(self) -> FaceEngine:
        engine = getattr(self._local, "engine", None)
        if engine is None:
            engine = self._local.engine = self._factory()
        return engine

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        cv2.setNumThreads(self._threads)
        return fn(self._engine(), *args)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self._call, fn, *args)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
