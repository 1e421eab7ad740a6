"""A pod as the chart renders it, minus Kubernetes: the real `vigie serve ingest` process with the
rendered container's command and environment (listeners on 0.0.0.0, TLS files, ...), on a real
Kafka broker, probed with the rendered probe commands, stopped with SIGTERM within the rendered
grace period. And the same environment without the TLS files refuses to start, which is why the
chart has no plain-text mode."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from podtools import MOUNT, PROBE, https_status, mounted, pod_tls, rendered_probe, run_probe

VIGIE_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rendered(docs: list[dict[str, Any]], service: str) -> dict[str, Any]:
    for d in docs:
        if d["kind"] == "Deployment" and d["metadata"]["name"] == f"vigie-{service}":
            return dict(d)
    raise AssertionError(service)


def pod_environment(deployment: dict[str, Any], **overrides: str) -> dict[str, str]:
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    env.update({e["name"]: e["value"] for e in c["env"]})
    env.update(overrides)
    env["PATH"] = f"{VIGIE_BIN}:{env.get('PATH', '')}"
    return env


@pytest.mark.timeout(240)
async def test_the_rendered_ingest_pod_starts_probes_and_stops(
        default_docs: list[dict[str, Any]], kafka: Any, tmp_path: Path) -> None:
    if not PROBE.is_file():
        message = f"{PROBE} missing: run deploy/scripts/ensure-tools.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    deployment = rendered(default_docs, "ingest")
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    tls = pod_tls(tmp_path / "tls")
    http_port, grpc_port = free_port(), free_port()
    env = pod_environment(
        deployment,
        # What a cluster provides instead: the broker, free ports, the mounted Secret, volumes.
        VIGIE_KAFKA_BOOTSTRAP=kafka.bootstrap, VIGIE_KAFKA_REPLICATION_FACTOR="1",
        VIGIE_HTTP_PORT=str(http_port), VIGIE_GRPC_PORT=str(grpc_port),
        VIGIE_DATA_DIR=str(tmp_path / "data"), VIGIE_INSTANCE=f"pod-test-{os.getpid()}")
    for key, value in list(env.items()):  # the Secret's files, where the chart mounts them
        if value.startswith(MOUNT):
            env[key] = mounted(value, tls)
    assert env["VIGIE_TLS_CLIENT_CA_FILE"] == str(tls / "ca.crt")  # mutual TLS, as rendered
    assert env["VIGIE_HTTP_HOST"] == env["VIGIE_GRPC_HOST"] == "0.0.0.0"
    proc = await asyncio.create_subprocess_exec(*c["command"], env=env, cwd=tmp_path,
                                                stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        startup = rendered_probe(default_docs, "ingest", "startupProbe")
        command = startup["exec"]["command"]
        budget = startup["periodSeconds"] * startup["failureThreshold"]
        deadline = asyncio.get_running_loop().time() + min(budget, 120)
        while await run_probe(command, grpc_port, tls) != 0:
            assert proc.returncode is None, "the process exited"
            assert asyncio.get_running_loop().time() < deadline, "startup probe never passed"
            await asyncio.sleep(startup["periodSeconds"] / 5)
        readiness = rendered_probe(default_docs, "ingest", "readinessProbe")["exec"]["command"]
        assert await run_probe(readiness, grpc_port, tls) == 0
        liveness = rendered_probe(default_docs, "ingest", "livenessProbe")["httpGet"]
        assert await asyncio.to_thread(https_status, http_port, liveness["path"]) == 200
        proc.send_signal(signal.SIGTERM)
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert await asyncio.wait_for(proc.wait(), grace) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_without_the_tls_files_the_pod_refuses_to_start(
        default_docs: list[dict[str, Any]], tmp_path: Path) -> None:
    deployment = rendered(default_docs, "ingest")
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    env = pod_environment(deployment, VIGIE_KAFKA_BOOTSTRAP="127.0.0.1:9",
                          VIGIE_HTTP_PORT=str(free_port()), VIGIE_GRPC_PORT=str(free_port()),
                          VIGIE_DATA_DIR=str(tmp_path))
    for key in [k for k in env if k.startswith("VIGIE_TLS_")]:
        del env[key]
    proc = await asyncio.create_subprocess_exec(*c["command"], env=env, cwd=tmp_path,
                                                stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode != 0
    assert b"without TLS" in out
