"""Mutual TLS with certificates from `vigie certs`: a server with VIGIE_TLS_CLIENT_CA_FILE
refuses a gRPC client without a certificate, or with one from another CA, and serves one with
ours, whose CN names it and whose O entries are its roles; HTTP verifies a certificate when
given (probes and browsers have none); the alerts console reaches a separate rules process over
mTLS with its own certificate."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp
import grpc
import pytest
from process_helpers import VIGIE
from vigie.camera.v1.camera_pb2 import Camera
from vigie.rules.v1 import rules_service_pb2 as pb
from vigie.rules.v1 import rules_service_pb2_grpc as pb_grpc
from vigie_alerts.adapters import auth
from vigie_core.audit import read_audit
from vigie_core.auth import certs
from vigie_core.bus.memory import MemoryBus
from vigie_core.runtime import Running, start
from vigie_core.settings import CoreSettings
from vigie_core.topics import CAMERAS


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    """Our CA (made with the command), a server certificate, clients; and a stranger CA."""
    ours = tmp_path / "tls"
    for args in (["ca"], ["server", "rules", "--role", "service"],
                 ["client", "console", "--role", "service"],
                 ["client", "scraper", "--role", "metrics"],
                 ["server", "norole"]):
        done = subprocess.run([VIGIE, "certs", *args, "--dir", str(ours)], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    assert (ours / "ca.key").stat().st_mode & 0o077 == 0
    assert "PRIVATE KEY" not in done.stdout
    stranger = tmp_path / "stranger"
    certs.create_ca(stranger, "Someone else's CA")
    certs.issue(stranger, "intruder", role_names=["service", "admin"])
    return tmp_path


def core(pki: Path, **extra: object) -> CoreSettings:
    tls = pki / "tls"
    return CoreSettings(http_port=0, grpc_port=0, data_dir=pki / "data",
                        tls_cert_file=tls / "rules.crt", tls_key_file=tls / "rules.key",
                        tls_client_ca_file=tls / "ca.crt", **extra)


def credentials(pki: Path, who: str | None, ca: str = "tls") -> grpc.ChannelCredentials:
    root = (pki / "tls" / "ca.crt").read_bytes()
    if who is None:
        return grpc.ssl_channel_credentials(root)
    folder = pki / ca
    return grpc.ssl_channel_credentials(root, (folder / f"{who}.key").read_bytes(),
                                        (folder / f"{who}.crt").read_bytes())


async def list_rules(port: int, creds: grpc.ChannelCredentials) -> grpc.StatusCode:
    async with grpc.aio.secure_channel(f"127.0.0.1:{port}", creds) as channel:
        try:
            await pb_grpc.RulesServiceStub(channel).ListRules(pb.ListRulesRequest(), timeout=5)
        except grpc.aio.AioRpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


async def test_grpc_needs_a_client_certificate_of_our_ca_and_reads_its_roles(pki):
    running = await start(["rules"], core(pki), MemoryBus("mtls"))
    try:
        port = running.grpc_port
        assert await list_rules(port, credentials(pki, "console")) == grpc.StatusCode.OK
        assert await list_rules(port, credentials(pki, None)) == grpc.StatusCode.UNAVAILABLE
        assert await list_rules(port, credentials(pki, "intruder", "stranger")) == \
            grpc.StatusCode.UNAVAILABLE  # refused in the handshake, whatever its O entries
        # ours, but no role: authenticated, not authorised
        assert await list_rules(port, credentials(pki, "norole")) == \
            grpc.StatusCode.PERMISSION_DENIED
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as plain:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await pb_grpc.RulesServiceStub(plain).ListRules(pb.ListRulesRequest(),
                                                                timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        # the certificate's CN is who changed the rule
        async with grpc.aio.secure_channel(f"127.0.0.1:{port}",
                                           credentials(pki, "console")) as channel:
            rule = pb.PutRuleRequest()
            rule.rule.rule_id, rule.rule.camera_id, rule.rule.kind = "r1", "cam-1", 1
            rule.rule.name = "gate"
            rule.rule.geometry.zone.add(x=0.1, y=0.1)
            rule.rule.geometry.zone.add(x=0.9, y=0.1)
            rule.rule.geometry.zone.add(x=0.5, y=0.9)
            await pb_grpc.RulesServiceStub(channel).PutRule(
                rule, metadata=(("x-vigie-operator", "ann"),), timeout=10)
        (record,) = [r for r in await read_audit(running.bus) if r.subject_ref == "rule:r1"]
        assert record.actor == "operator:ann" and record.details["via"] == "cert:console"
    finally:
        await running.stop()


def https(port: int, path: str, pki: Path, who: str | None) -> int:
    context = ssl.create_default_context(cafile=str(pki / "tls" / "ca.crt"))
    if who:
        context.load_cert_chain(str(pki / "tls" / f"{who}.crt"), str(pki / "tls" / f"{who}.key"))
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{port}{path}", context=context,
                                    timeout=5) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return exc.code


async def test_http_verifies_a_client_certificate_when_given(pki):
    running = await start(["rules"], core(pki), MemoryBus("mtls"))
    try:
        port = running.http_port
        assert await asyncio.to_thread(https, port, "/readyz", pki, None) == 200  # probes
        assert await asyncio.to_thread(https, port, "/metrics", pki, None) == 401
        assert await asyncio.to_thread(https, port, "/metrics", pki, "scraper") == 200
        assert await asyncio.to_thread(https, port, "/metrics", pki, "console") == 403
        context = ssl.create_default_context(cafile=str(pki / "tls" / "ca.crt"))
        context.load_cert_chain(str(pki / "stranger" / "intruder.crt"),
                                str(pki / "stranger" / "intruder.key"))
        with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
            await asyncio.to_thread(urllib.request.urlopen,
                                    f"https://127.0.0.1:{port}/readyz", context=context,
                                    timeout=5)
    finally:
        await running.stop()


async def wait_camera(running: Running, camera_id: str) -> None:
    alerts = running.services[0]
    for _ in range(200):
        if alerts.cameras.get(camera_id) is not None:  # type: ignore[attr-defined]
            return
        await asyncio.sleep(0.02)
    raise AssertionError("camera not seen")


@pytest.mark.parametrize(("client", "status"), [("console", 201), ("norole", 503)])
async def test_the_console_reaches_a_separate_rules_process_over_mutual_tls(pki, client,
                                                                            status):
    tls = pki / "tls"
    rules = await start(["rules"], core(pki), MemoryBus("rules"))
    bus = MemoryBus("alerts")
    alerts = await start(
        ["alerts"], CoreSettings(http_port=0, grpc_port=0, data_dir=pki / "alerts",
                                 tls_ca_file=tls / "ca.crt",
                                 tls_client_cert_file=tls / f"{client}.crt",
                                 tls_client_key_file=tls / f"{client}.key"), bus,
        {"alerts": {"database_url": f"sqlite:///{pki / 'alerts.db'}",
                    "rules_target": f"localhost:{rules.grpc_port}"}})
    try:
        service = alerts.services[0]
        auth.create_user(service.store.accounts, "ann", "operator", "ann-password-long", "t", 12)
        await bus.publish(CAMERAS, "cam-1", Camera(camera_id="cam-1", enabled=True))
        await wait_camera(alerts, "cam-1")
        base = f"http://127.0.0.1:{alerts.http_port}"
        async with aiohttp.ClientSession() as http:
            r = await http.post(f"{base}/alerts/api/session", headers={"Origin": base},
                                json={"login": "ann", "password": "ann-password-long"})
            assert r.status == 200
            csrf = (await r.json())["csrf"]
            cookie = r.cookies["__Host-vigie-session"].value
            r = await http.post(f"{base}/alerts/api/rules", json={
                "camera_id": "cam-1", "kind": "zone_intrusion", "duration": "1h",
                "points": [[0.1, 0.1], [0.6, 0.7]]}, headers={
                "Cookie": f"__Host-vigie-session={cookie}", "X-CSRF-Token": csrf,
                "Origin": base})
            body = await r.json()
        assert r.status == status, body
        if status == 503:
            assert "PERMISSION_DENIED" in body["error"]  # ours, but not the service role
        else:
            (record,) = [a for a in await read_audit(rules.bus)
                         if a.subject_ref == f"rule:{body['rule']['rule_id']}"]
            assert record.actor == "operator:ann" and record.details["via"] == "cert:console"
    finally:
        await alerts.stop()
        await rules.stop()
