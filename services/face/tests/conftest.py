"""Shared fixtures of the face tests: the package photos (make setup fetches them), an engine."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import required_inputs as inputs  # tests/, put on sys.path by the root conftest

sys.path.insert(0, str(Path(__file__).parent))  # face_helpers


@pytest.fixture(scope="session")
def photos() -> Path:
    """face_recognition, insightface and kphotoalbum package photos (never in the repo)."""
    return inputs.need(inputs.face_photos)


@pytest.fixture(scope="session")
def lfw() -> Path:
    return inputs.need(inputs.lfw)


@pytest.fixture(scope="session")
def engine():
    from vigie_face.adapters.engine import EngineOptions, FaceEngine
    from vigie_face.adapters.factory import resolve

    detector, embedder = resolve(Path.home() / ".cache/vigie/models", "sface")
    return FaceEngine(detector, embedder, EngineOptions())
