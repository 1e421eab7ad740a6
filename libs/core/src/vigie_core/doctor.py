"""`vigie doctor`: is this installation able to run, and if not, what to do about it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from pydantic import ValidationError

from vigie_core.service import Check, installed_services
from vigie_core.settings import CoreSettings
from vigie_core.topics import REGISTRY


def _settings_error(exc: ValidationError, prefix: str) -> str:
    return "; ".join(f"{prefix}{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                     for e in exc.errors())


async def kafka_checks(core: CoreSettings, required: bool) -> list[Check]:
    from vigie_core.bus.kafka import KafkaBus  # loads librdkafka only when asked

    # The findings below say what is wrong; librdkafka's own retries would only be noise.
    logging.getLogger("vigie_core.bus.kafka").setLevel(logging.CRITICAL)
    bus = KafkaBus(core.kafka_bootstrap, "vigie-doctor", client_config=core.kafka_client_config())
    try:
        await bus.ping(timeout=3)
    except ConnectionError as exc:
        return [Check("kafka", "fail" if required else "warn", str(exc),
                      "start a broker (scripts/kafka/start.sh) or set VIGIE_KAFKA_BOOTSTRAP; "
                      "the embedded runtime (vigie run) needs no Kafka")]
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({**core.kafka_client_config(), "bootstrap.servers": core.kafka_bootstrap},
                        logger=logging.getLogger("vigie_core.bus.kafka"))
    topics = set((await asyncio.to_thread(admin.list_topics, timeout=5)).topics)
    missing = [t.name for t in REGISTRY if t.name not in topics]
    checks = [Check("kafka", "ok", f"reachable at {core.kafka_bootstrap}")]
    if missing:
        detail = f"{len(missing)} of {len(REGISTRY)} topics missing: {', '.join(missing)}"
        checks.append(Check("topics", "fail" if required else "warn", detail,
                            "run: vigie topics create"))
    else:
        checks.append(Check("topics", "ok", f"all {len(REGISTRY)} registry topics exist"))
    return checks


def service_checks() -> list[Check]:
    checks = []
    services = installed_services()
    if not services:
        return [Check("services", "fail", "no Vigie service installed",
                      "install them: make setup (or pip install -e services/<name>)")]
    for name, entry_point in sorted(services.items()):
        try:
            cls = entry_point.load()
            settings = cls.settings_class() if cls.settings_class else None
        except ValidationError as exc:
            prefix = str(cls.settings_class.model_config.get("env_prefix", ""))
            checks.append(Check(f"{name} config", "fail", _settings_error(exc, prefix),
                                "fix the environment variables named"))
            continue
        except Exception as exc:
            checks.append(Check(name, "fail", f"cannot load: {exc!r}",
                                f"reinstall it: pip install -e services/{name}"))
            continue
        checks.append(Check(name, "ok", f"installed ({entry_point.value})"))
        checks.extend(cls.doctor(settings))
    return checks


async def run_checks(distributed: bool) -> list[Check]:
    try:
        core = CoreSettings()
    except ValidationError as exc:
        return [Check("config", "fail", _settings_error(exc, "VIGIE_"),
                      "fix the environment variables named")]
    checks = [Check("config", "ok", "core settings valid")]
    if exposed := core.insecure_listeners():
        checks.append(Check("tls", "fail", f"{', '.join(exposed)} without TLS",
                            "set VIGIE_TLS_CERT_FILE/VIGIE_TLS_KEY_FILE or listen on 127.0.0.1"))
    checks += auth_checks(core)
    if core.no_biometrics:
        checks.append(Check("biometrics", "ok", "no-biometrics mode: face processing disabled"))
    checks += await kafka_checks(core, required=distributed)
    checks += service_checks()
    return checks


def auth_checks(core: CoreSettings) -> list[Check]:
    """Authentication settings: the token store, mutual TLS, Kafka's transport."""
    from vigie_core.auth.tokens import TokenStore, TokenStoreError

    checks = []
    store = TokenStore(core.tokens_file)
    try:
        entries = store.entries()
        active = sum(e.state() == "active" for e in entries)
        detail = f"{store.path}: {active} active client token(s)"
        mode = store.path.stat().st_mode & 0o077 if store.path.exists() else 0
        if mode:
            checks.append(Check("tokens", "warn", f"{detail}; readable by others "
                                f"(mode {oct(store.path.stat().st_mode & 0o777)})",
                                f"chmod 600 {store.path}"))
        else:
            checks.append(Check("tokens", "ok", detail if entries else
                                f"{store.path}: none (certificates and console accounts only)"))
    except (OSError, TokenStoreError) as exc:
        checks.append(Check("tokens", "fail", f"token store unreadable, no token accepted: "
                            f"{exc}", "fix or remove VIGIE_AUTH_TOKENS_FILE"))
    if core.mutual_tls:
        checks.append(Check("mutual tls", "ok", "gRPC requires client certificates from "
                            f"{core.tls_client_ca_file}"))
    elif core.tls_cert_file:
        checks.append(Check("mutual tls", "warn", "TLS without client certificates: callers "
                            "authenticate by token only",
                            "set VIGIE_TLS_CLIENT_CA_FILE (vigie certs ca)"))
    for path in (core.tls_cert_file, core.tls_key_file, core.tls_client_ca_file,
                 core.tls_ca_file, core.tls_client_cert_file, core.tls_client_key_file,
                 core.kafka_ssl_ca_file, core.kafka_ssl_cert_file, core.kafka_ssl_key_file,
                 core.kafka_sasl_password_file, core.auth_token_file):
        if path is not None and not path.is_file():
            checks.append(Check("tls files", "fail", f"{path} is missing",
                                "fix the VIGIE_TLS_*/VIGIE_KAFKA_*/VIGIE_AUTH_* setting naming it"))
    if core.auth_public_metrics:
        checks.append(Check("metrics", "warn", "/metrics is served without authentication",
                            "keep it behind a network policy, or unset "
                            "VIGIE_AUTH_PUBLIC_METRICS"))
    if plain := core.kafka_plaintext_beyond_loopback():
        checks.append(Check("kafka transport", "warn", f"Kafka over the network without TLS "
                            f"({', '.join(plain)})", "set VIGIE_KAFKA_SECURITY_PROTOCOL=SSL or "
                            "SASL_SSL, or keep the brokers on a network only Vigie reaches"))
    return checks


def render(checks: Iterable[Check]) -> str:
    marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
    lines = []
    for c in checks:
        lines.append(f"{marks[c.status]}  {c.name}: {c.detail}")
        if c.fix and c.status != "ok":
            lines.append(f"      fix: {c.fix}")
    return "\n".join(lines)
