"""Helpers for tests that run `vigie` processes: the command, a free port, a clean environment."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

VIGIE = str(Path(sys.executable).with_name("vigie"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def vigie_env(**settings: str) -> dict[str, str]:
    """This process's environment without any VIGIE_* variable, plus `settings`; servers on
    free ports unless given."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    return {**base, "VIGIE_HTTP_PORT": "0", "VIGIE_GRPC_PORT": "0", **settings}
