"""The probe commands the chart renders, run against a real Vigie server with TLS: the real
grpc-health-probe binary (built by deploy/scripts/ensure-tools.sh, as the images build it) says
NOT_SERVING until the process is ready, then SERVING; HTTPS /readyz answers 503 then 200.

The server listens on 0.0.0.0 like a pod (port 0: any free one), so that it must use TLS, and
requires client certificates as the chart configures it (tls.clientAuth): the rendered gRPC
probes present the pod's own certificate. The probes, like the kubelet's exec probes, connect to
127.0.0.1 only."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from podtools import PROBE, https_status, pod_tls, rendered_probe, run_probe
from vigie_core.servers import http_app, start_grpc, start_http
from vigie_core.service import Health
from vigie_core.settings import CoreSettings


async def test_rendered_probes_follow_readiness_over_tls(default_docs: list[dict[str, Any]],
                                                         tmp_path: Path) -> None:
    if not PROBE.is_file():
        message = f"{PROBE} missing: run deploy/scripts/ensure-tools.sh"
        pytest.skip(message)
    tls = pod_tls(tmp_path)
    core = CoreSettings(http_host="0.0.0.0", http_port=0, grpc_host="0.0.0.0", grpc_port=0,
                        tls_cert_file=tls / "tls.crt", tls_key_file=tls / "tls.key",
                        tls_client_ca_file=tls / "ca.crt")
    assert core.insecure_listeners() == []
    health = Health()
    health.set("detect", False, "loading model")
    runner, http_port = await start_http(http_app(health, lambda: {}), core)
    server, grpc_port = await start_grpc([], health, core)
    try:
        readiness = rendered_probe(default_docs, "detect", "readinessProbe")["exec"]["command"]
        startup = rendered_probe(default_docs, "detect", "startupProbe")["exec"]["command"]
        liveness = rendered_probe(default_docs, "detect", "livenessProbe")["httpGet"]
        assert await run_probe(readiness, grpc_port, tls) != 0  # NOT_SERVING while loading
        assert await run_probe(startup, grpc_port, tls) != 0
        assert await asyncio.to_thread(https_status, http_port, "/readyz") == 503
        assert await asyncio.to_thread(https_status, http_port, liveness["path"]) == 200
        health.set("detect", True)
        await asyncio.sleep(0.2)  # the health servicer is updated on the loop
        assert await run_probe(readiness, grpc_port, tls) == 0  # SERVING
        assert await run_probe(startup, grpc_port, tls) == 0
        assert await asyncio.to_thread(https_status, http_port, "/readyz") == 200
        # The same probe without TLS fails: the listener speaks TLS only; and without the
        # client certificate: the server requires one (mutual TLS).
        plain = [a for a in readiness if not a.startswith("-tls")]
        assert await run_probe(plain, grpc_port, tls) != 0
        anonymous = [a for a in readiness if not a.startswith("-tls-client")]
        assert "-tls-client-cert=/etc/vigie/tls/tls.crt" in readiness
        assert await run_probe(anonymous, grpc_port, tls) != 0
    finally:
        await server.stop(0)
        await runner.cleanup()
