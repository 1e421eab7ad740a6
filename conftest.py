"""Fixtures shared by every test folder: a real Apache Kafka broker when a test asks for one."""

from __future__ import annotations

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
