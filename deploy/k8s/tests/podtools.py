"""What the probe tests share: a self-signed certificate, the rendered probes, and running them
(the real grpc-health-probe binary; HTTPS without verification, as the kubelet does)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import ssl
import urllib.request
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

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


