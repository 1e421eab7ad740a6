"""No secret and no personal data in the logs: `vigie run` (every service, DEBUG level) and the
`vigie` commands are driven through what handles credentials and personal data (client and
personal tokens, good and bad; console sign-ins with right and wrong passwords; a session and
its CSRF token; a citizen report naming its author and a phone number; the face master key
generated at first start), then everything they printed is searched for each of them."""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import signal
import subprocess
import time

import aiohttp
import grpc
import pytest
from PIL import Image
from process_helpers import VIGIE, free_port
from process_helpers import vigie_env as env
from vigie.ingest.v1 import ingest_service_pb2 as pb
from vigie.ingest.v1 import ingest_service_pb2_grpc as pb_grpc
from vigie_core.auth.rpc import bearer_metadata

PASSWORD = "correct-horse-battery-42"
WRONG = "wrong-password-" + secrets.token_hex(4)
REPORTER = "Jeanne Dupont-Laforêt"
TEXT = "appelez-moi au +33612345678"


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 30, 30)).save(out, format="JPEG")
    return out.getvalue()


def vigie(settings: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    done = subprocess.run([VIGIE, *args], env=env(**settings), input=stdin, text=True,
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.timeout(400)
async def test_no_credential_or_personal_data_reaches_the_logs(tmp_path):
    http_port, grpc_port = free_port(), free_port()
    settings = {"VIGIE_DATA_DIR": str(tmp_path), "VIGIE_HTTP_PORT": str(http_port),
                "VIGIE_GRPC_PORT": str(grpc_port), "VIGIE_LOG_LEVEL": "DEBUG",
                "VIGIE_NO_BIOMETRICS": "true"}
    printed: list[str] = []
    made = vigie(settings, "tokens", "create", "--name", "vms", "--role", "admin")
    client_token = made.stdout.strip()
    printed.append(made.stderr)
    for args in (["alerts", "user", "add", "--login", "ann", "--role", "operator",
                  "--password-stdin"],):
        printed.append(vigie(settings, *args, stdin=PASSWORD + "\n").stderr)
    personal = vigie(settings, "alerts", "token", "create", "--login", "ann", "--name", "t")
    personal_token = personal.stdout.strip()
    printed.append(personal.stderr)
    bogus = ["vgc_" + secrets.token_urlsafe(32), "vgt_" + secrets.token_urlsafe(32),
             "not-a-token-" + secrets.token_hex(8)]

    proc = subprocess.Popen([VIGIE, "run"], env=env(**settings), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{http_port}"
    secrets_seen: list[str] = []
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 180
            while True:
                assert proc.poll() is None, "vigie run exited"
                assert time.monotonic() < deadline, "never ready"
                try:
                    async with http.get(f"{base}/readyz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.5)
            async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
                stub = pb_grpc.IngestServiceStub(channel)
                for token in [client_token, personal_token, *bogus]:
                    try:
                        await stub.ListCameras(pb.ListCamerasRequest(),
                                               metadata=bearer_metadata(token), timeout=10)
                    except grpc.aio.AioRpcError:
                        pass
            for token in [client_token, *bogus]:
                async with http.get(f"{base}/status",
                                    headers={"Authorization": f"Bearer {token}"}) as r:
                    await r.read()
            for password in (WRONG, PASSWORD):
                async with http.post(f"{base}/alerts/api/session",
                                     json={"login": "ann", "password": password},
                                     headers={"Origin": base}) as r:
                    if r.status == 200:
                        csrf = (await r.json())["csrf"]
                        cookie = r.cookies["__Host-vigie-session"].value
            session = {"Cookie": f"__Host-vigie-session={cookie}", "X-CSRF-Token": csrf,
                       "Origin": base}
            async with http.get(f"{base}/alerts/api/me", headers=session) as r:
                assert r.status == 200
            async with http.post(f"{base}/alerts/api/dispatch", json={"suspended": True},
                                 headers={**session, "X-CSRF-Token": "forged"}) as r:
                assert r.status == 403
            async with http.post(f"{base}/ingest/uploads", data=jpeg(), params={
                    "lat": "43.7", "lon": "7.27", "reporter": REPORTER, "text": TEXT},
                    headers={"Content-Type": "image/jpeg"}) as r:
                assert r.status == 201, await r.text()
        secrets_seen = [client_token, personal_token, *bogus, PASSWORD, WRONG, cookie, csrf,
                        (tmp_path / "auth" / "local-admin.token").read_text().strip(),
                        (tmp_path / "face" / "master.key").read_text().strip(),
                        REPORTER, "+33612345678", "appelez-moi"]
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    printed += [out, err]
    everything = "\n".join(printed)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert len(lines) > 20 and any(x["level"] == "DEBUG" for x in lines)  # we did read logs
    assert any(x["msg"] == "console login failed" for x in lines)  # of the events we drove
    assert any("citizen upload" in x["msg"] for x in lines)
    leaked = [s[:12] + "..." for s in secrets_seen if s and s in everything]
    assert not leaked, f"found in the output: {leaked}"
    assert "PRIVATE KEY" not in everything and "Bearer " not in everything
