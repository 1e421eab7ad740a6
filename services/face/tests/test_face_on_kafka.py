"""Two face replicas as separate `vigie serve face` processes on a real Kafka broker: they share
the watchlist through vigie.watchlist.v1 and the key store through a common directory, and the
service refuses to run on Kafka without a master key."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import grpc
from vigie.face.v1 import face_service_pb2 as pb
from vigie.face.v1 import face_service_pb2_grpc as pb_grpc
from vigie.face.v1.watchlist_pb2 import LEGAL_BASIS_CONSENT, WATCHLIST_CATEGORY_VOLUNTEER
from vigie_core.auth.rpc import bearer_metadata, metadata_interceptors
from vigie_core.auth.tokens import TokenStore

VIGIE = str(Path(sys.executable).with_name("vigie"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env(bootstrap: str, **settings: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    return {**base, "VIGIE_KAFKA_BOOTSTRAP": bootstrap, **settings}


TOKEN: dict[str, str] = {}


async def status(http_port: int) -> dict:
    headers = {"Authorization": f"Bearer {TOKEN['value']}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"http://127.0.0.1:{http_port}/status") as r:
            return (await r.json())["services"]["face"]


async def until(predicate, timeout: float = 90):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            value = await predicate()
            if value:
                return value
        except (aiohttp.ClientError, KeyError):
            pass
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.5)


async def test_replicas_share_the_watchlist_and_need_a_master_key(kafka, tmp_path, photos):
    refused = subprocess.run([VIGIE, "serve", "face"], capture_output=True, text=True,
                             timeout=180, env=env(kafka.bootstrap, VIGIE_HTTP_PORT="0",
                                                  VIGIE_GRPC_PORT="0",
                                                  VIGIE_DATA_DIR=str(tmp_path / "none")))
    assert refused.returncode != 0
    assert "VIGIE_FACE_MASTER_KEY_FILE is required" in refused.stderr
    assert not (tmp_path / "none/face/master.key").exists()

    key = tmp_path / "secret/master.key"
    key.parent.mkdir()
    key.write_bytes(base64.b64encode(os.urandom(32)))
    shared = {"VIGIE_FACE_MASTER_KEY_FILE": str(key),
              "VIGIE_FACE_KEYSTORE_DIR": str(tmp_path / "keys"),
              "VIGIE_AUTH_TOKENS_FILE": str(tmp_path / "tokens.json")}  # one for the replicas
    TOKEN["value"], _ = TokenStore(tmp_path / "tokens.json").create(
        "watchlist-tool", ["watchlist", "metrics"], None, "test")
    ports = [(free_port(), free_port()) for _ in range(2)]
    procs = [subprocess.Popen([VIGIE, "serve", "face"], stdout=subprocess.DEVNULL,
                              env=env(kafka.bootstrap, VIGIE_HTTP_PORT=str(http),
                                      VIGIE_GRPC_PORT=str(grpc_port),
                                      VIGIE_DATA_DIR=str(tmp_path / f"r{k}"),
                                      VIGIE_INSTANCE=f"face-test-{k}-{os.getpid()}",
                                      VIGIE_AUDIT_REPLICA=f"t{k}-{os.getpid()}", **shared))
             for k, (http, grpc_port) in enumerate(ports)]
    try:
        for http, _ in ports:
            # models loaded (the status answers while they load: waiting for it alone races)
            await until(lambda http=http: _loaded(http))
        channel = grpc.aio.insecure_channel(
            f"127.0.0.1:{ports[0][1]}",
            interceptors=metadata_interceptors(bearer_metadata(TOKEN["value"])))
        client = pb_grpc.FaceServiceStub(channel)
        request = pb.EnrollRequest(display_name="Volunteer A",
                                   category=WATCHLIST_CATEGORY_VOLUNTEER,
                                   photos=[(photos / "face_recognition/obama.jpg").read_bytes()])
        request.consent.legal_basis = LEGAL_BASIS_CONSENT
        request.consent.reference = "form-2026-0007"
        request.consent.expires_at.FromDatetime(datetime.now(UTC) + timedelta(days=7))
        metadata = (("vigie-operator", "op-alice"),)
        subject = (await client.Enroll(request, metadata=metadata, timeout=60)).subject_id
        # the other replica decrypts it with the shared key store: an active entry there
        other = ports[1][0]
        assert await until(lambda: _active(other, 1))
        await client.Erase(pb.EraseRequest(subject_id=subject, reason="test over"),
                           metadata=metadata, timeout=60)
        assert await until(lambda: _active(other, 0))
        assert list((tmp_path / "keys").glob("*.key")) == []
        await channel.close()
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(timeout=60) for proc in procs]
    assert codes == [0, 0]


async def _loaded(http_port: int) -> bool:
    return bool((await status(http_port))["model_id"])


async def _active(http_port: int, expected: int) -> bool:
    return (await status(http_port))["watchlist"]["active"] == expected
