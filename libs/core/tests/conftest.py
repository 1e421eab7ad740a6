from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import KafkaHarness, MemoryHarness


@pytest.fixture(params=["memory", "kafka"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[MemoryHarness | KafkaHarness]:
    """The bus contract runs on both implementations."""
    if request.param == "memory":
        h: MemoryHarness | KafkaHarness = MemoryHarness()
    else:
        h = KafkaHarness(request.getfixturevalue("kafka").bootstrap)
    yield h
    await h.close()
