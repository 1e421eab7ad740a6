"""Fixtures shared by every test folder: a real Apache Kafka broker or PostgreSQL server when a
test asks for one, the shared clips; under CI=true a skip is a failure (tests/ci_gate.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "tests"))

import required_inputs as inputs
from kafka_broker import KafkaCluster
from postgres_server import PostgresServer

# Under CI=true (or 1) a skipped test fails: CI must provide every input (tests/ci_gate.py).
pytest_plugins = ["ci_gate"]


@pytest.fixture(scope="session")
def kafka() -> Iterator[KafkaCluster]:
    """A single-broker KRaft cluster on 127.0.0.1: the one .ci/run started (VIGIE_KAFKA_BOOTSTRAP),
    or one started here from the Maven-fetched jars."""
    cluster = KafkaCluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """PostgreSQL on 127.0.0.1: the server .ci/run started (VIGIE_TEST_POSTGRES_URL), or a
    throw-away cluster started here from Debian's binaries; `postgres.new_database()` gives a
    test its own empty database."""
    server = PostgresServer.start()
    yield server
    server.stop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs a real PostgreSQL server (started by "
                                       "the fixture or .ci/run)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "kafka" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kafka)
        if "postgres" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def clips() -> Path:
    """The real test clips (../shared/data/clips, or $VIGIE_TEST_DATA/clips); never in the repo."""
    return inputs.need(inputs.clips)
