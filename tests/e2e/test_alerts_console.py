"""From a drawn zone to one SMS, on a real video: ingest -> detect -> rules -> alerts -> browser.

An operator draws a zone on the camera image in the console (headless Chromium), which creates a
rule through RulesService; pedestrians walk into it; the alert appears live in the browser; the
operator confirms it; the local SMS provider receives exactly one message; the decision (and the
rule change) are in the audit trail. Once in the embedded runtime (every service in this process
on the in-memory bus, as `vigie run --video` runs them), once as separate `vigie serve` processes
on real Kafka with the alert history in real PostgreSQL.

The clip is TUD-Stadtmitte (pedestrians at eye level, ../shared/data/mot15), sampled at 2 frames/s
and looped; detection runs on CPU.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import required_inputs as inputs
from process_helpers import VIGIE, free_port
from process_helpers import vigie_env as env
from vigie.audit.v1.audit_pb2 import AuditAction
from vigie.camera.v1.camera_pb2 import PURPOSE_OBJECTS, Camera
from vigie_core.audit import read_audit
from vigie_core.auth.tokens import TokenStore
from vigie_core.bus.base import Bus
from vigie_core.bus.kafka import KafkaBus
from vigie_core.bus.memory import MemoryBus
from vigie_core.runtime import start
from vigie_core.settings import CoreSettings
from vigie_core.topics import CAMERAS, REGISTRY

sys.path.insert(0, str(Path(__file__).parents[2] / "services/alerts/tests"))
from alerts_fakes import SmsProvider

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-default-apps", "--disable-extensions"]
PASSWORD = "operator-password-long"
SMS_TOKEN = "e2e-sms-token"


def tud(clips: Path) -> Path:
    return clips.parent / "mot15/TUD-Stadtmitte/TUD-Stadtmitte.mp4"


def routes_file(tmp_path: Path, sms_url: str) -> Path:
    path = tmp_path / "routes.json"
    path.write_text(json.dumps({
        "channels": {"duty-sms": {"kind": "sms", "base_url": sms_url, "account_sid": "AC0123",
                                  "auth_token_env": "VIGIE_E2E_SMS_TOKEN",
                                  "from_number": "+33600000000",
                                  "to_numbers": ["+33611111111"]}},
        "routes": [{"name": "confirmed-incidents", "channels": ["duty-sms"]}]}))
    return path


def camera(clip: Path, camera_id: str) -> Camera:
    c = Camera(camera_id=camera_id, name="Stadtmitte", source_url=clip.as_uri(), sample_fps=2,
               enabled=True, purposes=[PURPOSE_OBJECTS])
    c.geo.lat_deg, c.geo.lon_deg = 48.7758, 9.1829
    return c


async def operator_draws_and_confirms(url: str, camera_id: str, sms: SmsProvider,
                                      shots: Path) -> str:
    """The browser part; returns the confirmed alert's id."""
    async_playwright = pytest.importorskip("playwright.async_api").async_playwright
    chromium = inputs.need(inputs.chromium)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS,
                                          headless=True, timeout=30_000)
        try:
            page = await (await browser.new_context(
                viewport={"width": 1400, "height": 950})).new_page()
            await page.goto(f"{url}/alerts/console")
            await page.locator("#login").fill("ann")
            await page.locator("#password").fill(PASSWORD)
            await page.locator("#sign-in").click()
            await page.locator("#connection", has_text="live").wait_for(timeout=20_000)
            # (the feed shows every camera's alerts: other tests' may be on a shared broker)
            mine = f'#feed [data-alert-id][data-camera-id="{camera_id}"]'
            assert await page.locator(mine).count() == 0  # no rule yet

            # draw the zone: two clicks on the camera's live image, for 1 hour
            await page.locator('.tabs button[data-tab="editor"]').click()
            deadline = time.monotonic() + 120
            while await page.locator(f'#editor-camera option[value="{camera_id}"]').count() \
                    == 0 and time.monotonic() < deadline:
                await page.locator('.tabs button[data-tab="cameras"]').click()
                await asyncio.sleep(1)
                await page.locator('.tabs button[data-tab="editor"]').click()
            await page.locator("#editor-camera").select_option(camera_id)
            await page.locator("#editor-image").wait_for(timeout=60_000)
            overlay = page.locator("#editor-overlay")
            box = await overlay.bounding_box()
            assert box is not None
            await overlay.click(position={"x": box["width"] * 0.02, "y": box["height"] * 0.35})
            await overlay.click(position={"x": box["width"] * 0.98, "y": box["height"] * 0.99})
            await page.locator("#duration-1h").check()
            await page.locator("#editor-save").click()
            await page.locator("#editor-message", has_text="Rule created").wait_for(
                timeout=20_000)
            await page.screenshot(path=str(shots / "e2e-1-zone.png"), full_page=True)

            # the rule fires on the pedestrians: the alert appears live
            await page.locator('.tabs button[data-tab="live"]').click()
            card = page.locator(mine).first
            await card.wait_for(timeout=180_000)
            alert_id = await card.get_attribute("data-alert-id")
            assert alert_id
            await page.locator(f'#feed [data-alert-id="{alert_id}"]').click()
            await page.locator("#detail-snapshot svg rect.box").first.wait_for(timeout=20_000)
            await page.locator("#detail-snapshot img").wait_for(timeout=30_000)
            await page.screenshot(path=str(shots / "e2e-2-alert.png"), full_page=True)
            assert sms.messages == []  # nothing leaves before a human confirmed
            await page.locator("#btn-confirm").click()
            await page.locator("#detail-status", has_text="confirmed").wait_for(timeout=20_000)
            assert await sms.wait_for(1, 30)
            await page.locator("#detail-deliveries li[data-status=delivered]").wait_for(
                timeout=20_000)
            await page.screenshot(path=str(shots / "e2e-3-confirmed.png"), full_page=True)
            return alert_id
        finally:
            await browser.close()


async def check_outcome(bus: Bus, sms: SmsProvider, alert_id: str, camera_id: str) -> None:
    await asyncio.sleep(3)  # anything more would have been sent by now
    assert len(sms.messages) == 1, sms.messages  # exactly one SMS
    assert sms.messages[0]["To"] == "+33611111111"
    assert alert_id[:12] in sms.messages[0]["Body"]
    records = await read_audit(bus)
    mine = [r for r in records if r.subject_ref == f"alert:{alert_id}"]
    decisions = [r for r in mine if r.action == AuditAction.AUDIT_ACTION_DECISION]
    assert [(r.actor, r.details["decision"]) for r in decisions] == [("operator:ann",
                                                                      "confirmed")]
    assert [r.details["outcome"] for r in mine
            if r.action == AuditAction.AUDIT_ACTION_DISPATCH] == ["delivered"]
    rule_changes = [r for r in records if r.action == AuditAction.AUDIT_ACTION_RULE_CHANGE
                    and r.details.get("camera_id") == camera_id]
    assert [r.actor for r in rule_changes] == ["operator:ann"]


def keep(shots: Path) -> None:
    if target := os.environ.get("VIGIE_SCREENSHOT_DIR"):
        for shot in shots.glob("e2e-*.png"):
            shutil.copy(shot, Path(target) / f"{shots.name}-{shot.name}")


@pytest.mark.timeout(420)
async def test_embedded_a_drawn_zone_fires_and_one_confirmation_sends_one_sms(clips, tmp_path,
                                                                             monkeypatch):
    clip = tud(clips)
    monkeypatch.setenv("VIGIE_E2E_SMS_TOKEN", SMS_TOKEN)
    sms = SmsProvider(token=SMS_TOKEN)
    sms_url = await sms.start()
    bus = MemoryBus("e2e-alerts")
    running = await start(
        ["ingest", "detect", "rules", "alerts"],
        CoreSettings(http_port=0, grpc_port=0, data_dir=tmp_path), bus,
        {"ingest": {"media_root": clip.parent, "loop_files": True},
         "alerts": {"database_url": f"sqlite:///{tmp_path / 'alerts.db'}",
                    "routes_file": routes_file(tmp_path, sms_url), "dispatch_interval_s": 0.2}})
    try:
        alerts = next(s for s in running.services if s.name == "alerts")
        from vigie_alerts.adapters import auth

        auth.create_user(alerts.store.accounts, "ann", "operator", PASSWORD, "e2e", 12)  # type: ignore[attr-defined]
        await (await bus.publish(CAMERAS, "tud", camera(clip, "tud")))
        alert_id = await operator_draws_and_confirms(f"http://127.0.0.1:{running.http_port}",
                                                     "tud", sms, tmp_path)
        await check_outcome(bus, sms, alert_id, "tud")
    finally:
        await running.stop()
        await sms.stop()
        keep(tmp_path)


@pytest.mark.timeout(600)
async def test_on_kafka_and_postgresql_a_drawn_zone_fires_and_sends_one_sms(clips, kafka,
                                                                            postgres, tmp_path):
    clip = tud(clips)
    sms = SmsProvider(token=SMS_TOKEN)
    sms_url = await sms.start()
    database = postgres.new_database("e2e")
    admin_bus = KafkaBus(kafka.bootstrap, "e2e-alerts-admin")
    await admin_bus.ensure_topics(REGISTRY)
    rules_grpc, http_port = free_port(), free_port()
    common = {"VIGIE_KAFKA_BOOTSTRAP": kafka.bootstrap, "VIGIE_DATA_DIR": str(tmp_path),
              "VIGIE_LOG_LEVEL": "WARNING"}
    # The zone editor calls the rules process with a client token of the service role (what a
    # cluster does with the alerts pod's certificate); rules checks it in the shared store.
    token, _ = TokenStore(tmp_path / "auth" / "tokens.json").create("alerts", ["service"], None,
                                                                    "e2e")
    token_file = tmp_path / "alerts.token"
    token_file.write_text(token)
    alerts_env = {**common, "VIGIE_ALERTS_DATABASE_URL": database,
                  "VIGIE_ALERTS_ROUTES_FILE": str(routes_file(tmp_path, sms_url)),
                  "VIGIE_ALERTS_RULES_TARGET": f"127.0.0.1:{rules_grpc}",
                  "VIGIE_AUTH_TOKEN_FILE": str(token_file),
                  "VIGIE_E2E_SMS_TOKEN": SMS_TOKEN}
    # accounts through the command line, straight into PostgreSQL: no default password
    for args in (["admin", "create", "--login", "root-admin"],
                 ["user", "add", "--login", "ann", "--role", "operator"]):
        done = subprocess.run([VIGIE, "alerts", *args, "--password-stdin"],
                              input=PASSWORD + "\n", text=True, capture_output=True,
                              env=env(**alerts_env), timeout=60)
        assert done.returncode == 0, done.stderr
    camera_id = f"tud-{uuid.uuid4().hex[:6]}"
    procs: list[subprocess.Popen[Any]] = []
    try:
        for name, extra in (
                ("ingest", {"VIGIE_INGEST_MEDIA_ROOT": str(clip.parent),
                            "VIGIE_INGEST_LOOP_FILES": "true"}),
                ("detect", {}),
                ("rules", {"VIGIE_GRPC_PORT": str(rules_grpc)}),
                ("alerts", {**alerts_env, "VIGIE_HTTP_PORT": str(http_port)})):
            procs.append(subprocess.Popen([VIGIE, "serve", name], stdout=subprocess.DEVNULL,
                                          env=env(**{**common, **extra})))
        await (await admin_bus.publish(CAMERAS, camera_id, camera(clip, camera_id)))
        await _ready(http_port, 120)
        alert_id = await operator_draws_and_confirms(f"http://127.0.0.1:{http_port}",
                                                     camera_id, sms, tmp_path)
        await check_outcome(admin_bus, sms, alert_id, camera_id)
        # the history is in PostgreSQL, where the decision is too
        import sqlalchemy as sa

        engine = sa.create_engine(database)
        with engine.connect() as connection:
            status = connection.execute(sa.text(
                "SELECT status, confirmations FROM alerts WHERE alert_id = :a"),
                {"a": alert_id}).one()
            operators = connection.execute(sa.text(
                "SELECT operator FROM decisions WHERE alert_id = :a"), {"a": alert_id}).all()
        engine.dispose()
        assert tuple(status) == (4, 1) and [o[0] for o in operators] == ["ann"]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(timeout=60) for proc in procs]
        await admin_bus.close()
        await sms.stop()
        keep(tmp_path)
    assert codes == [0, 0, 0, 0]


async def _ready(port: int, timeout: float) -> None:
    import aiohttp

    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise AssertionError(f"alerts not ready on port {port}")
