"""The face models the settings name, from the shared store of pinned model files, and the engine
built on them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vigie_core.model_catalogue import DLIB_RESNET, FACE_MODELS, SFACE, YUNET
from vigie_core.model_store import ModelStore, ResolvedModel
from vigie_face.adapters.engine import EngineOptions, FaceEngine

EMBEDDERS = {"sface": SFACE.name, "dlib": DLIB_RESNET.name}  # VIGIE_FACE_EMBEDDER -> model


def model_store(models_dir: Path, allow_downloads: bool = False) -> ModelStore:
    return ModelStore(models_dir, FACE_MODELS, allow_downloads)


def resolve(models_dir: Path, embedder: str,
            allow_downloads: bool = False) -> tuple[ResolvedModel, ResolvedModel]:
    """The face detector and the embedder named, verified."""
    store = model_store(models_dir, allow_downloads)
    return store.resolve(YUNET.name), store.resolve(EMBEDDERS[embedder])


def engine_factory(models_dir: Path, embedder: str, options: EngineOptions,
                   allow_downloads: bool = False) -> Callable[[], FaceEngine]:
    detector, model = resolve(models_dir, embedder, allow_downloads)
    return lambda: FaceEngine(detector, model, options)
