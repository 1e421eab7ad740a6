"""The `vigie` command as an operator uses it: run, stop with Ctrl-C, doctor, topics."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from process_helpers import VIGIE, free_port
from process_helpers import vigie_env as env
from vigie_core.topics import REGISTRY


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_vigie_run_starts_every_service_and_exits_cleanly_on_a_signal(sig):
    proc = subprocess.Popen([VIGIE, "run"], env=env(), stdout=subprocess.PIPE, text=True)
    try:
        started = next(line for line in proc.stdout if "started" in json.loads(line)["msg"])
        assert "started alerts, detect, face, ingest, rules on MemoryBus" in started
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0
    messages = [json.loads(line)["msg"] for line in out.splitlines()]
    assert messages[-2:] == ["stopping", "stopped"]


def doctor(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VIGIE, "doctor", *args], env=env(**extra), capture_output=True,
                          text=True, timeout=60)


def test_doctor_without_a_broker_warns_and_says_the_embedded_runtime_needs_none():
    closed = f"127.0.0.1:{free_port()}"
    result = doctor(VIGIE_KAFKA_BOOTSTRAP=closed)
    assert result.returncode == 0, result.stdout
    assert f"WARN  kafka: Kafka at {closed} is unreachable" in result.stdout
    assert "the embedded runtime (vigie run) needs no Kafka" in result.stdout
    assert "ok    detect: installed" in result.stdout

    required = doctor("--distributed", VIGIE_KAFKA_BOOTSTRAP=closed)
    assert required.returncode == 1
    assert "FAIL  kafka" in required.stdout


def test_doctor_names_the_setting_that_is_wrong():
    result = doctor(VIGIE_HTTP_PORT="99999")
    assert result.returncode == 1
    assert "FAIL  config: VIGIE_HTTP_PORT" in result.stdout


def test_doctor_with_a_broker_checks_topics_and_topics_create_fixes_them(kafka):
    result = subprocess.run([VIGIE, "topics", "create"],
                            env=env(VIGIE_KAFKA_BOOTSTRAP=kafka.bootstrap),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "created" in result.stdout
    healthy = doctor("--distributed", VIGIE_KAFKA_BOOTSTRAP=kafka.bootstrap)
    assert healthy.returncode == 0, healthy.stdout
    assert f"ok    kafka: reachable at {kafka.bootstrap}" in healthy.stdout
    assert f"ok    topics: all {len(REGISTRY)} registry topics exist" in healthy.stdout


def test_vigie_cameras_adds_lists_and_removes_through_a_running_ingest(tmp_path, clips):
    grpc_port = free_port()
    proc = subprocess.Popen([VIGIE, "run", "ingest"], stdout=subprocess.PIPE, text=True,
                            env=env(VIGIE_GRPC_PORT=str(grpc_port), VIGIE_DATA_DIR=str(tmp_path),
                                    VIGIE_INGEST_MEDIA_ROOT=str(clips)))
    try:
        assert any("started ingest" in line for line in proc.stdout)

        def cameras(*args: str) -> subprocess.CompletedProcess[str]:
            # the same data dir: the local token `vigie run` made at its first start
            return subprocess.run([VIGIE, "cameras", "--endpoint", f"127.0.0.1:{grpc_port}",
                                   *args], capture_output=True, text=True, timeout=30,
                                  env=env(VIGIE_DATA_DIR=str(tmp_path)))

        added = cameras("add", "promenade-1", (clips / "motorway_overpass.mp4").as_uri(),
                        "--name", "Promenade", "--lat", "43.6950", "--lon", "7.2650")
        assert added.returncode == 0, added.stderr
        listed = cameras("list")
        assert "promenade-1" in listed.stdout and "43.69500,7.26500" in listed.stdout
        sliced = cameras("update", "promenade-1", "--slicing", "far_field",
                         "--far-field", "0.3,0,0.7,0.35")
        assert sliced.returncode == 0, sliced.stderr
        assert "updated promenade-1: slicing far_field (1 region)" in sliced.stdout
        assert "far_field (1 region)" in cameras("list").stdout
        assert '"slicingMode": "SLICING_MODE_FAR_FIELD"' in cameras("list", "--json").stdout
        bad_region = cameras("update", "promenade-1", "--far-field", "0.7,0,0.3,1")
        assert bad_region.returncode == 2 and "needs X0 < X1" in bad_region.stderr
        refused = cameras("add", "Bad Id", "ftp://x/y")
        assert refused.returncode != 0
        assert "INVALID_ARGUMENT" in refused.stderr and "scheme 'ftp'" in refused.stderr
        assert cameras("rm", "promenade-1").returncode == 0
        assert "promenade-1" not in cameras("list").stdout
        stranger = subprocess.run([VIGIE, "cameras", "--endpoint", f"127.0.0.1:{grpc_port}",
                                   "list"], capture_output=True, text=True, timeout=30,
                                  env=env(VIGIE_DATA_DIR=str(tmp_path / "elsewhere")))
        assert stranger.returncode != 0 and "UNAUTHENTICATED" in stranger.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)


def test_vigie_rules_validates_yaml_and_vigie_serve_names_the_service(tmp_path):
    examples = sorted((Path(__file__).resolve().parents[2] / "services/rules/examples").glob(
        "*.yaml"))
    good = subprocess.run([VIGIE, "rules", "validate", *map(str, examples)], env=env(),
                          capture_output=True, text=True, timeout=60)
    assert good.returncode == 0, good.stdout + good.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("rule_id: r1\nname: x\ncamera_id: cam\nkind: zone_intrusion\n"
                   "zone: [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]\n")
    refused = subprocess.run([VIGIE, "rules", "validate", str(bad)], env=env(),
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert "zone: self-intersecting" in refused.stdout + refused.stderr
    usage = subprocess.run([VIGIE, "serve", "--help"], env=env(), capture_output=True,
                           text=True, timeout=60)
    assert "{alerts,detect,face,ingest,rules}" in usage.stdout


FAILING_SERVICE = """
import sys, threading, time
import vigie_core.runtime as runtime

async def failing_serve(*args, **kwargs):
    threading.Thread(target=time.sleep, args=(3600,)).start()  # like Faust's consumer thread
    raise ConnectionError("broker not ready (injected)")

runtime.serve = failing_serve
from vigie_core.cli import main
sys.exit(main(["serve", "rules"]))
"""


def test_a_service_that_fails_exits_1_even_if_a_library_thread_lingers(tmp_path):
    """A failed start (Faust meeting a broker that is down did this) must end the process with
    exit code 1 for its supervisor to restart it: a thread left behind must not keep it up."""
    proc = subprocess.run([sys.executable, "-c", FAILING_SERVICE], capture_output=True,
                          env=env(VIGIE_DATA_DIR=str(tmp_path)), timeout=60)
    assert proc.returncode == 1
    assert b"broker not ready (injected)" in proc.stderr
