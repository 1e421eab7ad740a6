"""Fixtures of the alerts tests: the history database on SQLite and on real PostgreSQL."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # alerts_fakes


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """One SQLAlchemy model, two databases: every test using this runs on both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'alerts.db'}"
    server = request.getfixturevalue("postgres")
    return server.new_database("alerts")
