"""vigie_core.auth on its own: the token store (hashes only, expiry, revocation seen by running
servers, fail-closed on a broken file), who acts for whom, undeclared endpoints refused, rate
limits, redaction of credentials in logs, and the settings that must go together."""

from __future__ import annotations

import json
import logging
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import grpc
import pytest
from aiohttp import web
from pydantic import ValidationError
from vigie.ingest.v1 import ingest_service_pb2 as pb
from vigie.ingest.v1 import ingest_service_pb2_grpc as pb_grpc
from vigie_core.auth.authenticator import Authenticator
from vigie_core.auth.model import Access, Identity, actor_of, allow, public, roles
from vigie_core.auth.rpc import REFUSED_BY, bearer_metadata, metadata_interceptors
from vigie_core.auth.tokens import TokenStore, ensure_local_token
from vigie_core.auth.web import RateLimiter, declare, routes_of
from vigie_core.servers import http_app, start_grpc, start_http, undeclared_routes
from vigie_core.service import GrpcBinding, Health
from vigie_core.settings import CoreSettings
from vigie_core.telemetry import configure_logging

VIGIE = str(Path(sys.executable).with_name("vigie"))


# -- the token store ---------------------------------------------------------------------------
def test_tokens_are_stored_as_hashes_with_roles_and_a_private_file(tmp_path):
    store = TokenStore(tmp_path / "auth" / "tokens.json")
    token, entry = store.create("vms-north", ["integrator", "operator"], timedelta(days=1), "t")
    assert token.startswith("vgc_") and len(token) > 40
    text = store.path.read_text()
    assert token not in text and entry.sha256 in text
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    found = store.lookup(token)
    assert found is not None and found.identity() == Identity(
        "client:vms-north", frozenset({"integrator", "operator"}), "token", found.id)
    assert store.lookup(token + "x") is None and store.lookup("") is None


def test_expired_and_revoked_tokens_are_refused(tmp_path):
    store = TokenStore(tmp_path / "tokens.json")
    short, entry = store.create("short", ["metrics"], timedelta(hours=1), "t")
    later = datetime.now(UTC) + timedelta(hours=2)
    assert store.lookup(short) is not None and store.lookup(short, now=later) is None
    assert entry.state(later) == "expired"
    kept, _ = store.create("kept", ["metrics"], None, "t")
    assert [e.id for e in store.revoke("kept")] and store.lookup(kept) is None
    assert store.revoke("kept") == []  # already revoked
    assert [e.state() for e in store.entries()] == ["active", "revoked"]


def test_a_second_reader_sees_new_and_revoked_tokens_without_a_restart(tmp_path):
    writer, reader = TokenStore(tmp_path / "t.json"), TokenStore(tmp_path / "t.json")
    assert reader.lookup("vgc_nothing") is None  # no file yet: nothing accepted
    token, _ = writer.create("late", ["service"], None, "t")
    assert reader.lookup(token) is not None
    writer.revoke("late")
    assert reader.lookup(token) is None


def test_a_broken_store_accepts_no_token(tmp_path, caplog):
    store = TokenStore(tmp_path / "t.json")
    token, _ = store.create("x", ["admin"], None, "t")
    store.path.write_text("{not json")
    with caplog.at_level(logging.ERROR):
        assert store.lookup(token) is None
    assert "no client token accepted" in caplog.text and store.error
    store.path.write_text(json.dumps({"version": 99, "tokens": []}))
    assert store.lookup(token) is None


@pytest.mark.parametrize(("name", "granted"), [("", ["admin"]), ("a/b", ["admin"]),
                                              ("ok", []), ("ok", ["root"]), ("ok", ["*"])])
def test_bad_names_and_roles_are_refused(tmp_path, name, granted):
    with pytest.raises(ValueError):
        TokenStore(tmp_path / "t.json").create(name, granted, None, "t")


def test_the_local_token_of_the_embedded_runtime_is_made_once_and_remade_if_revoked(tmp_path):
    store, path = TokenStore(tmp_path / "t.json"), tmp_path / "local.token"
    assert ensure_local_token(store, path, ["admin", "metrics"])
    first = path.read_text().strip()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not ensure_local_token(store, path, ["admin", "metrics"])
    store.revoke("local-admin")
    assert ensure_local_token(store, path, ["admin", "metrics"])
    assert path.read_text().strip() != first and store.lookup(first) is None


def test_vigie_tokens_create_list_revoke(tmp_path):
    env = {"VIGIE_AUTH_TOKENS_FILE": str(tmp_path / "tokens.json"), "PATH": "/usr/bin:/bin"}

    def vigie(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([VIGIE, "tokens", *args], env=env, capture_output=True,
                              text=True, timeout=60)
    made = vigie("create", "--name", "vms", "--role", "integrator", "--expires", "12h")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("vgc_") and token not in made.stderr  # stdout only, once
    listed = vigie("list", "--json")
    (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row["name"] == "vms" and row["roles"] == ["integrator"] and row["state"] == "active"
    assert token not in listed.stdout and "sha256" not in listed.stdout
    assert vigie("create", "--name", "x", "--role", "root").returncode != 0
    assert vigie("revoke", row["id"]).returncode == 0
    assert json.loads(vigie("list", "--json").stdout)["state"] == "revoked"


# -- who acts for whom ---------------------------------------------------------------------------
ANN = Identity("ann", frozenset({"operator"}), "account")
VMS = Identity("client:vms", frozenset({"integrator"}), "token")


@pytest.mark.parametrize(("identity", "declared", "name", "via"), [
    (ANN, "", "ann", ""),            # a person acts for themselves...
    (ANN, "ann", "ann", ""),
    (ANN, "bob", None, None),        # ...never for someone else
    (VMS, "", "client:vms", ""),     # a machine acts under its own name...
    (VMS, "op-7", "op-7", "client:vms"),  # ...or for a person it names, kept as via
    (VMS, "bad name!", None, None),
])
def test_actor_of(identity, declared, name, via):
    actor = actor_of(identity, declared)
    assert (actor.name if actor else None, actor.via if actor else None) == (name, via)


def test_access_declarations_are_explicit():
    with pytest.raises(ValueError):
        Access()  # neither public nor roles
    with pytest.raises(ValueError):
        Access(public=True)  # public needs a reason
    with pytest.raises(ValueError):
        roles("superuser")
    assert allow("admin").describe() == "admin" and "probes" in public("probes").describe()


# -- undeclared endpoints are refused ------------------------------------------------------------
async def test_an_undeclared_route_or_method_is_refused_and_reported(tmp_path, caplog):
    core = CoreSettings(http_port=0, grpc_port=0, data_dir=tmp_path)
    auth = Authenticator(core)
    token, _ = auth.store.create("admin", ["admin"], None, "t")
    health = Health()
    health.set("x", True)
    app = http_app(health, lambda: {}, auth)
    sub = web.Application()

    async def hello(_: web.Request) -> web.Response:
        return web.json_response({"hello": True})
    sub.add_routes([declare(web.get("/declared", hello), allow("admin")),
                    web.get("/forgotten", hello)])
    app.add_subapp("/new/", sub)
    assert undeclared_routes(app) == ["HEAD /new/forgotten", "GET /new/forgotten"]
    assert {r.path for r in routes_of(app)} >= {"/new/declared", "/new/forgotten", "/metrics"}
    with caplog.at_level(logging.ERROR):
        runner, port = await start_http(app, core)
    assert "/new/forgotten" in caplog.text
    binding = GrpcBinding(pb_grpc.add_IngestServiceServicer_to_server,
                          pb_grpc.IngestServiceServicer(), "vigie.ingest.v1.IngestService",
                          {"ListCameras": roles("admin")})
    with caplog.at_level(logging.ERROR):
        server, grpc_port = await start_grpc([binding], health, core, auth)
    assert "IngestService/RegisterCamera" in caplog.text
    try:
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", headers=headers) as http:
            async with http.get("/new/declared") as r:
                assert r.status == 200
            async with http.get("/new/forgotten") as r:
                assert r.status == 403 and "declares no access" in (await r.json())["error"]
            async with http.get("/new/nothing-here") as r:
                assert r.status == 404  # no route: the usual answer
        async with grpc.aio.insecure_channel(
                f"127.0.0.1:{grpc_port}",
                interceptors=metadata_interceptors(bearer_metadata(token))) as channel:
            stub = pb_grpc.IngestServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as declared:
                await stub.ListCameras(pb.ListCamerasRequest(), timeout=5)
            assert declared.value.code() == grpc.StatusCode.UNIMPLEMENTED  # let through
            with pytest.raises(grpc.aio.AioRpcError) as undeclared:
                await stub.RegisterCamera(pb.RegisterCameraRequest(), timeout=5)
            assert undeclared.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert REFUSED_BY in tuple(undeclared.value.trailing_metadata())
    finally:
        await server.stop(0)
        await runner.cleanup()


def test_servers_started_without_an_authenticator_accept_no_credential():
    closed = Authenticator.closed()
    assert closed.store.lookup("vgc_anything") is None


# -- rate limits, redaction, settings -------------------------------------------------------------
def test_the_rate_limiter_allows_a_burst_then_the_rate_per_address():
    limiter = RateLimiter(6)  # 6 per minute, burst 6
    key = ("/ingest/uploads", "203.0.113.7")
    assert [limiter.take(key, now=0.0) for _ in range(6)] == [0.0] * 6
    assert limiter.take(key, now=0.0) == pytest.approx(10.0)  # one every 10 s
    assert limiter.take(("/ingest/uploads", "198.51.100.1"), now=0.0) == 0.0  # per address
    assert limiter.take(key, now=10.0) == 0.0
    assert RateLimiter(0).take(key) == 0.0  # 0: no limit


def test_logs_mask_credentials_even_when_a_bug_logs_them(capsys):
    configure_logging("test", "INFO", True)
    secret = "vgc_" + "S3cr3t" * 8
    logging.getLogger("careless").error("calling with %s, Authorization: Bearer abc.def, "
                                        "password=hunter2hunter2", secret)
    try:
        raise ValueError(f"token {secret} refused")
    except ValueError:
        logging.getLogger("careless").exception("failed")
    out = capsys.readouterr().out
    assert secret not in out and "abc.def" not in out and "hunter2" not in out
    assert "[redacted]" in out and all(json.loads(line) for line in out.splitlines())


@pytest.mark.parametrize("settings", [
    {"tls_cert_file": "/x.crt"},  # without its key
    {"tls_client_cert_file": "/c.crt"},
    {"tls_client_ca_file": "/ca.crt"},  # client certificates are only asked for over TLS
    {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "vigie"},  # no password
])
def test_settings_that_go_together_are_checked(settings):
    with pytest.raises(ValidationError):
        CoreSettings(**settings)


def test_kafka_security_settings_reach_every_client(tmp_path):
    password = tmp_path / "sasl"
    password.write_text("s3cret\n")
    core = CoreSettings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="vigie",
                        kafka_sasl_password_file=password, kafka_ssl_ca_file=tmp_path / "ca")
    assert core.kafka_client_config() == {
        "security.protocol": "sasl_ssl", "ssl.ca.location": str(tmp_path / "ca"),
        "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "vigie", "sasl.password": "s3cret"}
    assert CoreSettings().kafka_client_config() == {"security.protocol": "plaintext"}
    assert CoreSettings(kafka_bootstrap="kafka.example:9092").kafka_plaintext_beyond_loopback() \
        == ["kafka.example:9092"]


def test_doctor_reports_the_token_store_mutual_tls_and_kafka_transport(tmp_path):
    from vigie_core.doctor import auth_checks

    store = TokenStore(tmp_path / "tokens.json")
    store.create("vms", ["integrator"], None, "t")
    checks = {c.name: c for c in auth_checks(CoreSettings(
        auth_tokens_file=store.path, kafka_bootstrap="kafka.example:9092"))}
    assert checks["tokens"].status == "ok" and "1 active" in checks["tokens"].detail
    assert checks["kafka transport"].status == "warn"
    store.path.chmod(0o644)
    assert {c.name: c for c in auth_checks(CoreSettings(auth_tokens_file=store.path))}[
        "tokens"].status == "warn"
    store.path.write_text("{broken")
    assert {c.name: c for c in auth_checks(CoreSettings(auth_tokens_file=store.path))}[
        "tokens"].status == "fail"
