"""Build the face engine the settings name, from pinned model files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vigie_face.adapters.engine import EngineOptions, FaceEngine
from vigie_face.adapters.models import EMBEDDERS, YUNET, ModelManager, ResolvedModel


def resolve(models_dir: Path, embedder: str,
            allow_downloads: bool = False) -> tuple[ResolvedModel, ResolvedModel]:
    manager = ModelManager(models_dir, allow_downloads)
    return manager.resolve(YUNET.name), manager.resolve(EMBEDDERS[embedder])


def engine_factory(models_dir: Path, embedder: str, options: EngineOptions,
                   allow_downloads: bool = False) -> Callable[[], FaceEngine]:
    detector, model = resolve(models_dir, embedder, allow_downloads)
    return lambda: FaceEngine(detector, model, options)
