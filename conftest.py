"""Fixtures shared by every test folder: a real Apache Kafka broker when a test asks for one."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "tests"))

from kafka_broker import KafkaCluster


@pytest.fixture(scope="session")
def kafka() -> Iterator[KafkaCluster]:
    """A single-broker KRaft cluster on 127.0.0.1: the one .ci/run started (VIGIE_KAFKA_BOOTSTRAP),
    or one started here from the Maven-fetched jars."""
    cluster = KafkaCluster.start()
    yield cluster
    cluster.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "kafka" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kafka)


SHARED_DATA = Path(os.environ.get("VIGIE_TEST_DATA", Path(__file__).parent.parent / "shared/data"))


@pytest.fixture(scope="session")
def clips() -> Path:
    """The real test clips (../shared/data/clips, or $VIGIE_TEST_DATA/clips); never in the repo."""
    folder = SHARED_DATA / "clips"
    if not (folder / "carpark_topdown.mp4").is_file():
        pytest.skip(f"test clips not found in {folder} (set VIGIE_TEST_DATA)")
    return folder
