"""`python -m vigie_controller` as the chart runs it: settings from the environment, a kubeconfig,
the real kubernetes client over HTTP (to the recorded API server), real Kafka, /readyz once synced,
exit 0 on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fakekube import FakeApiServer, HttpFront
from vigie.camera.v1.camera_pb2 import Camera
from vigie_controller.controller import fold
from vigie_core.auth.tokens import TokenStore
from vigie_core.bus.kafka import KafkaBus
from vigie_core.topics import CAMERAS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int, path: str, token: str = "") -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


@pytest.mark.timeout(240)
async def test_controller_process(kafka: Any, tmp_path: Path) -> None:
    suffix = str(int(datetime.now(UTC).timestamp() * 1000))
    namespace, name = f"proc-{suffix}", f"cam-proc-{suffix}"
    api = FakeApiServer()
    api.put({"apiVersion": "vigie.io/v1alpha1", "kind": "Camera",
             "metadata": {"name": name, "namespace": namespace},
             "spec": {"source_url": "rtsp://127.0.0.1:9/none", "sample_fps": 2}})
    front = HttpFront(api)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    env.update(VIGIE_KAFKA_BOOTSTRAP=kafka.bootstrap, VIGIE_HTTP_PORT=str(port),
               VIGIE_CONTROLLER_KUBECONFIG=str(front.kubeconfig(tmp_path / "kubeconfig")),
               VIGIE_CONTROLLER_NAMESPACES=namespace, VIGIE_CONTROLLER_WATCH_TIMEOUT_S="10",
               VIGIE_AUTH_TOKENS_FILE=str(tmp_path / "tokens.json"))
    scrape, _ = TokenStore(tmp_path / "tokens.json").create("prometheus", ["metrics"], None,
                                                           "test")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "vigie_controller",
                                                env=env, cwd=tmp_path,
                                                stdout=asyncio.subprocess.DEVNULL)
    bus = KafkaBus(kafka.bootstrap, "vigie-controller-test/reader")
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 90
        while await asyncio.to_thread(get, port, "/readyz") != 200:
            assert proc.returncode is None, "the controller exited"
            assert loop.time() < deadline, "never ready"
            await asyncio.sleep(0.3)
        camera = fold(CAMERAS, await bus.read_all(CAMERAS.name)).get(name)
        assert isinstance(camera, Camera) and camera.sample_fps == 2
        status = api.get("cameras", namespace, name)["status"]
        assert status["conditions"][0]["reason"] == "Published"
        assert await asyncio.to_thread(get, port, "/metrics") == 401  # a scraper's role
        assert await asyncio.to_thread(get, port, "/metrics", scrape) == 200
        paths = {r.path for r in api.requests}
        assert f"/apis/vigie.io/v1alpha1/namespaces/{namespace}/cameras" in paths
        assert any(r.headers.get("authorization") == "Bearer test-token"
                   or r.headers.get("Authorization") == "Bearer test-token" for r in api.requests)
        # The resource deleted while the controller is stopped: the tombstone comes at start.
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 55) == 0
        api.delete("cameras", namespace, name)
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "vigie_controller",
                                                    env=env, cwd=tmp_path,
                                                    stdout=asyncio.subprocess.DEVNULL)
        deadline = loop.time() + 90
        while name in fold(CAMERAS, await bus.read_all(CAMERAS.name)):
            assert proc.returncode is None, "the controller exited"
            assert loop.time() < deadline, "no tombstone"
            await asyncio.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 55) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        api.closed.set()
        front.close()
        await bus.close()
