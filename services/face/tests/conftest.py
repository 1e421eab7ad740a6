"""Shared fixtures of the face tests: the package photos (make setup fetches them), an engine."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # face_helpers

TESTDATA = Path(os.environ.get("VIGIE_FACE_TESTDATA",
                               Path.home() / ".cache/vigie/testdata/faces"))
LFW = Path(os.environ.get("VIGIE_TEST_DATA",
                          Path(__file__).resolve().parents[3].parent / "shared/data")) / \
    "faces/lfw"


@pytest.fixture(scope="session")
def photos() -> Path:
    """face_recognition, insightface and kphotoalbum package photos (never in the repo)."""
    if not (TESTDATA / "MANIFEST.json").is_file():
        pytest.skip(f"face test photos not found in {TESTDATA}: run make face-testdata")
    return TESTDATA


@pytest.fixture(scope="session")
def lfw() -> Path:
    if not (LFW / "meta/pairs.txt").is_file():
        pytest.skip(f"LFW not found in {LFW} (../shared/data, or set VIGIE_TEST_DATA)")
    return LFW


@pytest.fixture(scope="session")
def engine():
    from vigie_face.adapters.engine import EngineOptions, FaceEngine
    from vigie_face.adapters.factory import resolve

    detector, embedder = resolve(Path.home() / ".cache/vigie/models", "sface")
    return FaceEngine(detector, embedder, EngineOptions())
