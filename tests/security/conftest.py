"""What the security tests share: the whole system in one process (every installed service, as
`vigie run` starts it), tokens with given roles, and calls that say whether the auth layer
refused them."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from vigie_core.bus.memory import MemoryBus
from vigie_core.runtime import Running, start
from vigie_core.service import installed_services
from vigie_core.settings import CoreSettings

sys.path.insert(0, str(Path(__file__).parent))


@dataclass
class System:
    running: Running
    data_dir: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.running.http_port}"

    @property
    def grpc(self) -> str:
        return f"127.0.0.1:{self.running.grpc_port}"

    def token(self, *roles: str, name: str = "table") -> str:
        return self.running.issue_token(*roles, name=name)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    """Every installed service in one process on loopback, with a fresh data dir (its own token
    store), no biometrics (the face service still serves, and refuses, its RPCs), and the
    alerts' zone editor pointed nowhere."""
    data = tmp_path_factory.mktemp("system")
    running = await start(sorted(installed_services()),
                          CoreSettings(http_port=0, grpc_port=0, data_dir=data,
                                       no_biometrics=True, http_public_rate_per_minute=0),
                          MemoryBus("security"),
                          {"alerts": {"database_url": f"sqlite:///{data / 'alerts.db'}",
                                      "rules_target": "127.0.0.1:9"}})
    try:
        yield System(running, data)
    finally:
        await running.stop()
