"""A pod as the chart renders it, minus Kubernetes: the real `vigie serve ingest` process with the
rendered container's command and environment (listeners on 0.0.0.0, TLS files, ...), on a real
Kafka broker, probed with the rendered probe commands, stopped with SIGTERM within the rendered
grace period. And the same environment without the TLS files refuses to start, which is why the
chart has no plain-text mode. The rendered rules pod signs its audit chain with the key of the
chart's Secret, which `vigie audit verify --keys` then accepts, given what `vigie audit
public-key` printed."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import socket
import subprocess
import sys
import uuid
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


def pod_environment(deployment: dict[str, Any], pod_name: str = "",
                    **overrides: str) -> dict[str, str]:
    """The container's environment as the kubelet sets it for a pod named `pod_name` (the
    downward API's metadata.name), then `overrides`."""
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    pod_name = pod_name or f"{deployment['metadata']['name']}-5d8c7b9f6d-x2x7q"
    for e in c["env"]:
        if "value" in e:
            env[e["name"]] = e["value"]
        else:
            assert e["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}, e
            env[e["name"]] = pod_name
    env.update(overrides)
    env["PATH"] = f"{VIGIE_BIN}:{env.get('PATH', '')}"
    return env


def need_probe() -> None:
    """The gRPC health probe the pods use (a skip here, a failure under CI=true: ci_gate)."""
    if not PROBE.is_file():
        pytest.skip(f"{PROBE} missing: run deploy/scripts/ensure-tools.sh")


@pytest.mark.timeout(240)
async def test_the_rendered_ingest_pod_starts_probes_and_stops(
        default_docs: list[dict[str, Any]], kafka: Any, tmp_path: Path) -> None:
    need_probe()
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
    env["VIGIE_AUDIT_KEY_FILE"] = str(audit_key(default_docs, "ingest", tmp_path / "audit"))
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


AUDIT_MOUNT = "/etc/vigie/audit/"  # where the chart mounts a service's audit signing key


def audit_key(docs: list[dict[str, Any]], service: str, folder: Path) -> Path:
    """The service's item of the rendered audit keys Secret, as the pod finds it: a read-only
    file in a read-only folder, at the path the rendered VIGIE_AUDIT_KEY_FILE names."""
    deployment = rendered(docs, service)
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    (setting,) = [e["value"] for e in c["env"] if e["name"] == "VIGIE_AUDIT_KEY_FILE"]
    assert setting.startswith(AUDIT_MOUNT)
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    source = volumes["audit-key"]["secret"]
    (secret,) = [d for d in docs if d["kind"] == "Secret"
                 and d["metadata"]["name"] == source["secretName"]]
    (item,) = source["items"]
    folder.mkdir()
    path = folder / setting.removeprefix(AUDIT_MOUNT)
    assert path.name == item["path"]
    path.write_bytes(base64.b64decode(secret["data"][item["key"]]))
    path.chmod(source["defaultMode"])
    folder.chmod(0o555)
    return path


@pytest.mark.timeout(240)
async def test_the_rendered_rules_pod_signs_its_chain_with_the_secrets_key_and_verify_accepts_it(
        default_docs: list[dict[str, Any]], kafka: Any, tmp_path: Path) -> None:
    import grpc
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from vigie.rules.v1 import rules_service_pb2 as pb
    from vigie.rules.v1 import rules_service_pb2_grpc as pb_grpc
    from vigie_core.audit import decode_records, public_key_bytes
    from vigie_core.auth import certs
    from vigie_core.bus.base import TopicSpec
    from vigie_core.bus.kafka import KafkaBus
    from vigie_core.topics import AUDIT

    need_probe()
    deployment = rendered(default_docs, "rules")
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    tls = pod_tls(tmp_path / "tls")
    key_file = audit_key(default_docs, "rules", tmp_path / "audit")
    pod = f"vigie-rules-{uuid.uuid4().hex[:10]}-x2x7q"
    (tmp_path / "data").mkdir()  # the pod's data volume
    http_port, grpc_port = free_port(), free_port()
    env = pod_environment(
        deployment, pod,
        VIGIE_KAFKA_BOOTSTRAP=kafka.bootstrap, VIGIE_KAFKA_REPLICATION_FACTOR="1",
        VIGIE_HTTP_PORT=str(http_port), VIGIE_GRPC_PORT=str(grpc_port),
        VIGIE_DATA_DIR=str(tmp_path / "data"), VIGIE_INSTANCE=f"pod-test-{os.getpid()}")
    for key, value in list(env.items()):
        if value.startswith(MOUNT):
            env[key] = mounted(value, tls)
    assert env["VIGIE_AUDIT_KEY_FILE"] == f"{AUDIT_MOUNT}rules.pem"
    env["VIGIE_AUDIT_KEY_FILE"] = str(key_file)
    assert env["VIGIE_AUDIT_REPLICA"] == pod
    # the alerts pod's certificate: it calls rules with the role `service`
    certs.issue(tls / "ca", "zone-editor", role_names=["service"], out_dir=tmp_path / "client")
    credentials = grpc.ssl_channel_credentials(
        (tls / "ca.crt").read_bytes(), (tmp_path / "client/zone-editor.key").read_bytes(),
        (tmp_path / "client/zone-editor.crt").read_bytes())
    proc = await asyncio.create_subprocess_exec(*c["command"], env=env, cwd=tmp_path,
                                                stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    bus = KafkaBus(kafka.bootstrap, "pod-audit-test")
    chain = f"rules/{pod}"
    try:
        readiness = rendered_probe(default_docs, "rules", "readinessProbe")["exec"]["command"]
        deadline = asyncio.get_running_loop().time() + 120
        while await run_probe(readiness, grpc_port, tls) != 0:
            if proc.returncode is not None:
                assert proc.stderr is not None
                raise AssertionError(f"the process exited: {(await proc.stderr.read())[-4000:]!r}")
            assert asyncio.get_running_loop().time() < deadline, "readiness never passed"
            await asyncio.sleep(1)
        request = pb.PutRuleRequest()
        request.rule.rule_id, request.rule.camera_id, request.rule.kind = "r1", "cam-1", 1
        request.rule.name = "gate"
        for x, y in ((0.1, 0.1), (0.9, 0.1), (0.5, 0.9)):
            request.rule.geometry.zone.add(x=x, y=y)
        async with grpc.aio.secure_channel(f"127.0.0.1:{grpc_port}", credentials) as channel:
            await pb_grpc.RulesServiceStub(channel).PutRule(
                request, metadata=(("x-vigie-operator", "ann"),), timeout=30)
        # the record is durable before PutRule answers
        raw = [r for r in await bus.read_all(AUDIT.name) if r.key == chain.encode()]
        (record,) = decode_records(raw)
        assert record.subject_ref == "rule:r1" and record.actor == "operator:ann"
        secret_key = load_pem_private_key(key_file.read_bytes(), password=None)
        assert record.public_key == public_key_bytes(secret_key)  # type: ignore[arg-type]
        assert not list((tmp_path / "data").rglob("*.key"))  # no key of its own made
        proc.send_signal(signal.SIGTERM)
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert await asyncio.wait_for(proc.wait(), grace) == 0

        # The auditor's side: the public key, as docs/operations.md says to get it (the key's
        # PEM on stdin), and the check of an export of the trail with it.
        printed = await run_vigie(["audit", "public-key", "--chain", "rules/*", "-"],
                                  key_file.read_bytes(), kafka.bootstrap)
        assert printed.returncode == 0, printed.stderr
        keys = tmp_path / "audit-keys.txt"
        keys.write_text(printed.stdout)
        export = f"audit-export-{uuid.uuid4().hex[:8]}"
        await bus.create_topics([TopicSpec(export, 1, {"cleanup.policy": "delete"})])
        for r in raw:
            await bus.produce(export, r.key, r.value, r.headers)
        await bus.flush()
        verified = await run_vigie(["audit", "verify", "--topic", export, "--keys", str(keys)],
                                   b"", kafka.bootstrap)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert f"{chain}: ok, 1 records, signed by" in verified.stdout
    finally:
        await bus.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def run_vigie(args: list[str], stdin: bytes,
                    bootstrap: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    env["VIGIE_KAFKA_BOOTSTRAP"] = bootstrap
    proc = await asyncio.create_subprocess_exec(
        str(VIGIE_BIN / "vigie"), *args, env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin), 120)
    assert proc.returncode is not None
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())
