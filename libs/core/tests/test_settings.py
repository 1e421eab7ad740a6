"""Secure by default: loopback unless TLS is configured; bad settings are named."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from vigie_core.settings import CoreSettings


def test_defaults_listen_on_loopback_only(monkeypatch):
    for var in ("VIGIE_HTTP_HOST", "VIGIE_GRPC_HOST"):
        monkeypatch.delenv(var, raising=False)
    settings = CoreSettings()
    assert settings.http_host == "127.0.0.1" and settings.grpc_host == "127.0.0.1"
    assert settings.insecure_listeners() == []


def test_listening_beyond_loopback_without_tls_is_reported(monkeypatch):
    monkeypatch.setenv("VIGIE_GRPC_HOST", "0.0.0.0")
    assert CoreSettings().insecure_listeners() == ["grpc on 0.0.0.0"]
    monkeypatch.setenv("VIGIE_TLS_CERT_FILE", "/etc/vigie/tls.crt")
    monkeypatch.setenv("VIGIE_TLS_KEY_FILE", "/etc/vigie/tls.key")
    assert CoreSettings().insecure_listeners() == []


@pytest.mark.parametrize(("var", "value"), [
    ("VIGIE_KAFKA_BOOTSTRAP", "kafka-without-port"),
    ("VIGIE_HTTP_PORT", "70000"),
    ("VIGIE_LOG_LEVEL", "CHATTY"),
])
def test_invalid_settings_are_refused(monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError):
        CoreSettings()
