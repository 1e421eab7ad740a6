"""The probe commands the chart renders, run against a real Vigie server with TLS: the real
grpc-health-probe binary (built by deploy/scripts/ensure-tools.sh, as the images build it) says
NOT_SERVING until the process is ready, then SERVING; HTTPS /readyz answers 503 then 200.

The server listens on 0.0.0.0 like a pod (port 0: any free one), so that it must use TLS; the
probes, like the kubelet's exec probes, connect to 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import ssl
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from vigie_core.servers import http_app, start_grpc, start_http
from vigie_core.service import Health
from vigie_core.settings import CoreSettings

PROBE = Path(os.environ.get("TOOLS", Path.home() / ".cache/vigie/tools")) / "bin/grpc-health-probe"


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vigie-detect")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "tls.crt", folder / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def rendered_probe(docs: list[dict[str, Any]], service: str, probe: str) -> dict[str, Any]:
    for d in docs:
        if d["kind"] == "Deployment" and d["metadata"]["name"] == f"vigie-{service}":
            return dict(d["spec"]["template"]["spec"]["containers"][0][probe])
    raise AssertionError(f"no {service} deployment")


async def run_probe(command: list[str], grpc_port: int) -> int:
    args = [str(PROBE) if a == "grpc-health-probe" else
            (f"-addr=127.0.0.1:{grpc_port}" if a.startswith("-addr=") else a) for a in command]
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode is not None
    return proc.returncode


def https_status(port: int, path: str) -> int:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # as the kubelet's HTTPS probes
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{port}{path}", context=context,
                                    timeout=5) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return exc.code


async def test_rendered_probes_follow_readiness_over_tls(default_docs: list[dict[str, Any]],
                                                         tmp_path: Path) -> None:
    if not PROBE.is_file():
        message = f"{PROBE} missing: run deploy/scripts/ensure-tools.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    cert, key = self_signed(tmp_path)
    core = CoreSettings(http_host="0.0.0.0", http_port=0, grpc_host="0.0.0.0", grpc_port=0,
                        tls_cert_file=cert, tls_key_file=key)
    assert core.insecure_listeners() == []
    health = Health()
    health.set("detect", False, "loading model")
    runner, http_port = await start_http(http_app(health, lambda: {}), core)
    server, grpc_port = await start_grpc([], health, core)
    try:
        readiness = rendered_probe(default_docs, "detect", "readinessProbe")["exec"]["command"]
        startup = rendered_probe(default_docs, "detect", "startupProbe")["exec"]["command"]
        liveness = rendered_probe(default_docs, "detect", "livenessProbe")["httpGet"]
        assert await run_probe(readiness, grpc_port) != 0  # NOT_SERVING while loading
        assert await run_probe(startup, grpc_port) != 0
        assert await asyncio.to_thread(https_status, http_port, "/readyz") == 503
        assert await asyncio.to_thread(https_status, http_port, liveness["path"]) == 200
        health.set("detect", True)
        await asyncio.sleep(0.2)  # the health servicer is updated on the loop
        assert await run_probe(readiness, grpc_port) == 0  # SERVING
        assert await run_probe(startup, grpc_port) == 0
        assert await asyncio.to_thread(https_status, http_port, "/readyz") == 200
        # The same probe without TLS fails: the listener speaks TLS only.
        plain = [a for a in readiness if not a.startswith("-tls")]
        assert await run_probe(plain, grpc_port) != 0
    finally:
        await server.stop(0)
        await runner.cleanup()
