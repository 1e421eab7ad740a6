"""The detector backends: every module of this folder defines one, as BACKEND (adapters/detector.py
says what a Backend is). They are found by listing the folder, so adding a backend is adding a
module here; a catalogue model (vigie_core.model_catalogue) or a user model file names its backend.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vigie_core.model_catalogue import DETECTION_MODELS
from vigie_core.model_store import ModelError, ModelStore, ResolvedModel

from vigie_detect.adapters.detector import Backend, Detector


@functools.cache
def registry() -> dict[str, Backend]:
    """Every backend of this folder, by name."""
    found: dict[str, Backend] = {}
    for module in pkgutil.iter_modules(__path__, f"{__name__}."):
        backend = importlib.import_module(module.name).BACKEND
        if backend.name in found:
            raise RuntimeError(f"two detector backends are named {backend.name!r}")
        found[backend.name] = backend
    return found


def backend(name: str) -> Backend:
    if name not in registry():
        raise ModelError(f"backend {name!r} is not available in this build (backends: "
                         f"{', '.join(sorted(registry()))})")
    return registry()[name]


def model_store(models_dir: Path, allow_downloads: bool = False) -> ModelStore:
    """The detection models: the catalogue's, and the files of models_dir a backend loads."""
    user_files: dict[str, str] = {}
    for b in registry().values():
        for suffix in b.user_files:
            if suffix in user_files:
                raise RuntimeError(f"backends {user_files[suffix]!r} and {b.name!r} both load "
                                   f"{suffix} files")
            user_files[suffix] = b.name
    return ModelStore(models_dir, DETECTION_MODELS, allow_downloads, user_files,
                      restore="run `vigie models fetch {name}`")


def load_detector(resolved: ResolvedModel, settings: Mapping[str, Any]) -> Detector:
    """The model loaded by its backend, with the backend's options taken from `settings` of the
    same names (the others are not its business). Slow: run it off the event loop."""
    chosen = backend(resolved.spec.backend)
    names = chosen.options.model_fields
    return chosen.load(resolved, chosen.options(**{k: v for k, v in settings.items()
                                                   if k in names}))
