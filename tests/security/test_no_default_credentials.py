"""No default credentials anywhere: no setting of any service ships a password, secret, token
or key; a fresh installation has no console account and no client token; the secrets made at a
first start are random, private to their owner, and stored hashed."""

from __future__ import annotations

import stat
import subprocess

import pytest
from process_helpers import VIGIE, free_port
from process_helpers import vigie_env as env
from vigie_core.auth.tokens import TokenStore, token_hash
from vigie_core.service import installed_services
from vigie_core.settings import CoreSettings

SECRET_WORDS = ("password", "secret", "token", "key", "credential")


def test_no_setting_has_a_secret_by_default():
    classes = [CoreSettings] + [c for c in (ep.load().settings_class
                                            for ep in installed_services().values()) if c]
    checked = []
    for cls in classes:
        for name, field in cls.model_fields.items():
            textual = any(t in str(field.annotation) for t in ("str", "Path", "bytes"))
            if textual and any(word in name for word in SECRET_WORDS):
                checked.append(f"{cls.__module__}.{name}")
                assert field.default in (None, "", False), f"{cls.__module__}.{name}"
    assert len(checked) >= 6, checked  # the store, the token file, SASL, the face master key...


@pytest.mark.asyncio(loop_scope="module")
async def test_a_fresh_system_has_no_account_and_no_token(system):
    alerts = next(s for s in system.running.services if s.name == "alerts")
    assert await alerts.db(alerts.store.accounts.count_users) == 0
    assert not (system.data_dir / "auth" / "tokens.json").exists() or all(
        e.name == "table" for e in system.running.auth.store.entries())


def first_start(data_dir) -> str:
    proc = subprocess.Popen([VIGIE, "run", "ingest"], env=env(
        VIGIE_DATA_DIR=str(data_dir), VIGIE_HTTP_PORT=str(free_port())),
        stdout=subprocess.PIPE, text=True)
    try:
        assert any("started ingest" in line for line in proc.stdout)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return (data_dir / "auth" / "local-admin.token").read_text().strip()


def test_the_first_start_makes_a_random_private_local_token(tmp_path):
    one, two = first_start(tmp_path / "a"), first_start(tmp_path / "b")
    assert one != two and one.startswith("vgc_")  # per installation, never a constant
    again = first_start(tmp_path / "a")
    assert again == one  # kept across restarts while it is valid
    path = tmp_path / "a" / "auth" / "local-admin.token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    store = TokenStore(tmp_path / "a" / "auth" / "tokens.json")
    assert one not in store.path.read_text() and token_hash(one) in store.path.read_text()
    (entry,) = store.entries()
    assert entry.name == "local-admin" and "watchlist" not in entry.roles
