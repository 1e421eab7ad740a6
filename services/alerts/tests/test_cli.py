"""`vigie alerts ...`: the first administrator, accounts, API tokens and the suspend switch, from
the command line, straight into the history database; every change queued for the audit chain."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from vigie_alerts.adapters import auth
from vigie_alerts.adapters.store import open_store

VIGIE = str(Path(sys.executable).with_name("vigie"))


@pytest.fixture
def run(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    environment.update(VIGIE_ALERTS_DATABASE_URL=url, VIGIE_DATA_DIR=str(tmp_path))

    def vigie(*args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([VIGIE, "alerts", *args], input=password, text=True,
                              capture_output=True, env=environment, timeout=60)

    vigie.url = url  # type: ignore[attr-defined]
    return vigie


def test_accounts_tokens_and_the_switch_from_the_command_line(run):
    weak = run("admin", "create", "--login", "chief", "--password-stdin", password="short\n")
    assert weak.returncode != 0 and "at least 12" in weak.stderr
    made = run("admin", "create", "--login", "chief", "--password-stdin",
               password="a good long password\n")
    assert made.returncode == 0, made.stderr
    again = run("user", "add", "--login", "chief", "--role", "operator", "--password-stdin",
                password="another long password\n")
    assert again.returncode != 0 and "already exists" in again.stderr
    assert run("user", "add", "--login", "ann", "--role", "operator", "--password-stdin",
               password="ann's long password\n").returncode == 0
    listing = run("user", "list").stdout
    assert "chief" in listing and "admin" in listing and "ann" in listing
    token = run("token", "create", "--login", "ann", "--name", "vms")
    assert token.returncode == 0 and token.stdout.strip().startswith("vgt_")
    assert run("dispatch", "suspend").returncode != 0  # a reason is required
    assert run("dispatch", "suspend", "--reason", "maintenance").returncode == 0
    assert '"suspended": true' in run("dispatch", "status").stdout
    assert run("user", "disable", "--login", "ann").returncode == 0

    store = open_store(run.url)
    admin = store.accounts.get_user("chief")
    assert admin is not None and admin.role == "admin"
    assert admin.password_hash.startswith("$argon2id$")  # never the password itself
    assert store.accounts.token_user(token.stdout.strip()) is None  # ann is disabled
    chief = auth.authenticate(store.accounts, "chief", "a good long password", 5, _minute())
    assert chief is not None
    changes = [(p.action, p.subject_ref, p.details.get("change", p.details.get("suspended")))
               for p in store.audit_outbox.pending_audit()]
    assert changes == [(14, "account:chief", "created"), (14, "account:ann", "created"),
                       (14, "account:ann", "token created"), (13, "dispatch:all", "true"),
                       (14, "account:ann", "disabled")]
    assert all(p.actor.startswith("command-line") for p in store.audit_outbox.pending_audit())


def _minute():  # type: ignore[no-untyped-def]
    from datetime import timedelta

    return timedelta(minutes=1)
