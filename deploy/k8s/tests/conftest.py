"""Chart tests: `helm template` output, rendered once per values set and shared."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # podtools

import manifests


def _helm_or_skip() -> None:
    if not Path(manifests.helm_binary()).is_file():
        message = (f"helm not found at {manifests.helm_binary()}: run "
                   "deploy/scripts/ensure-tools.sh (make deploy-tools)")
        pytest.skip(message)


@pytest.fixture(scope="session")
def helm() -> str:
    _helm_or_skip()
    return manifests.helm_binary()


@pytest.fixture(scope="session")
def default_docs(helm: str) -> list[dict[str, Any]]:
    return manifests.render(include_crds=True)


@pytest.fixture(scope="session")
def gpu_docs(helm: str) -> list[dict[str, Any]]:
    return manifests.render([manifests.PROFILES / "gpu-keda.yaml"], include_crds=True)
