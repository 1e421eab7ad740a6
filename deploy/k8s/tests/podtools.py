"""What the probe tests share: a pod's TLS files (certificate, key, CA), the rendered probes, and
running them (the real grpc-health-probe binary; HTTPS without verification, as the kubelet
does)."""

from __future__ import annotations

import asyncio
import os
import ssl
import urllib.request
from pathlib import Path
from typing import Any

PROBE = Path(os.environ.get("TOOLS", Path.home() / ".cache/vigie/tools")) / "bin/grpc-health-probe"


MOUNT = "/etc/vigie/tls/"  # where the chart mounts a component's TLS Secret


def pod_tls(folder: Path) -> Path:
    """What a pod finds at /etc/vigie/tls: tls.crt and tls.key (server and client
    certificate, as cert-manager issues them for the chart) and ca.crt, from a CA made like
    `vigie certs ca`."""
    from vigie_core.auth import certs

    certs.create_ca(folder / "ca")
    certs.issue(folder / "ca", "tls", server_names=["localhost", "127.0.0.1"], client=True,
                out_dir=folder)
    (folder / "ca.crt").write_bytes((folder / "ca" / "ca.crt").read_bytes())
    return folder


def mounted(value: str, tls_dir: Path | None) -> str:
    """`value` with the pod's TLS mount replaced by `tls_dir`."""
    return value.replace(MOUNT, f"{tls_dir}/") if tls_dir is not None else value


def rendered_probe(docs: list[dict[str, Any]], service: str, probe: str) -> dict[str, Any]:
    for d in docs:
        if d["kind"] == "Deployment" and d["metadata"]["name"] == f"vigie-{service}":
            return dict(d["spec"]["template"]["spec"]["containers"][0][probe])
    raise AssertionError(f"no {service} deployment")


async def run_probe(command: list[str], grpc_port: int, tls_dir: Path | None = None) -> int:
    args = [str(PROBE) if a == "grpc-health-probe" else
            (f"-addr=127.0.0.1:{grpc_port}" if a.startswith("-addr=") else mounted(a, tls_dir))
            for a in command]
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


