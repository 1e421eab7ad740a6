"""The operator console in a real browser: headless Chromium (Debian's `chromium`) driven by
Playwright, with the page's CSP in force (no bypass: only locators, which run in Playwright's own
isolated world). Screenshots of every screen go to the test's tmp dir and, when
VIGIE_SCREENSHOT_DIR is set, there too, to be looked at.

The rules service is a stand-in gRPC RulesService here (recording PutRule), so that this test
checks the console alone; tests/e2e/test_alerts_console.py drives the real one.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from alerts_fakes import FakeRules, SmsProvider, jpeg, make_alert, make_frame
from vigie.camera.v1.camera_pb2 import Camera
from vigie.rules.v1.rule_pb2 import RuleKind
from vigie_alerts.adapters import auth
from vigie_alerts.service import AlertsService
from vigie_core.bus.memory import MemoryBus
from vigie_core.runtime import Running, start
from vigie_core.settings import CoreSettings
from vigie_core.topics import ALERTS, CAMERAS, FRAMES

CHROMIUM = os.environ.get("VIGIE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-default-apps", "--disable-extensions",
                 "--no-default-browser-check"]
SHARED = Path(os.environ.get("VIGIE_TEST_DATA", Path(__file__).parents[3].parent / "shared/data"))
PASSWORD = {"ann": "ann-password-long", "bob": "bob-password-long", "sue": "sue-password-long"}


@dataclass
class Site:
    running: Running
    bus: MemoryBus
    service: AlertsService
    sms: SmsProvider
    rules: FakeRules
    url: str
    shots: list[Path] = field(default_factory=list)


def street_frame() -> tuple[bytes, int, int]:
    clip = SHARED / "mot15/TUD-Stadtmitte/TUD-Stadtmitte.mp4"
    if clip.is_file():
        capture = cv2.VideoCapture(str(clip))
        for _ in range(40):
            ok, image = capture.read()
        capture.release()
        if ok:
            data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
            return data, image.shape[1], image.shape[0]
    return jpeg(640, 480, (120, 110, 100)), 640, 480


@pytest.fixture
async def site(tmp_path, monkeypatch) -> AsyncIterator[Site]:
    monkeypatch.setenv("TEST_SMS_TOKEN", "sms-token")
    sms = SmsProvider()
    sms_url = await sms.start()
    routes = tmp_path / "routes.yaml"
    routes.write_text(f"""
channels:
  duty-sms: {{kind: sms, base_url: "{sms_url}", account_sid: AC0123,
              auth_token_env: TEST_SMS_TOKEN, from_number: "+33600000000",
              to_numbers: ["+33611111111"]}}
routes:
  - {{name: all-confirmed, channels: [duty-sms]}}
""")
    rules = FakeRules()
    rules_target = await rules.start()
    bus = MemoryBus("browser-test")
    running = await start(["alerts"], CoreSettings(http_port=0, grpc_port=0, data_dir=tmp_path),
                          bus, {"alerts": {"database_url": f"sqlite:///{tmp_path / 'a.db'}",
                                           "routes_file": routes, "dispatch_interval_s": 0.1,
                                           "rules_target": rules_target}})
    service = running.services[0]
    assert isinstance(service, AlertsService)
    for login, role in (("ann", "operator"), ("bob", "operator"), ("sue", "supervisor")):
        auth.create_user(service.store.accounts, login, role, PASSWORD[login], "test", 12)
    try:
        yield Site(running, bus, service, sms, rules, f"http://127.0.0.1:{running.http_port}")
    finally:
        await running.stop()
        await rules.stop()
        await sms.stop()


async def shot(site: Site, page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"console-{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    if keep := os.environ.get("VIGIE_SCREENSHOT_DIR"):
        shutil.copy(path, keep)
    site.shots.append(path)
    return path


def not_blank(path: Path) -> bool:
    image = cv2.imread(str(path))
    return image is not None and float(np.std(image)) > 10


async def sign_in(page: Any, login: str) -> None:
    await page.locator("#login").fill(login)
    await page.locator("#password").fill(PASSWORD[login])
    await page.locator("#sign-in").click()
    await page.locator("#app").wait_for(state="visible", timeout=10_000)


async def sign_out(page: Any) -> None:
    await page.locator("#sign-out").click()
    await page.locator("#login-view").wait_for(state="visible", timeout=10_000)


@pytest.mark.timeout(180)
async def test_operators_watch_confirm_draw_and_audit_in_a_real_browser(site: Site, tmp_path):
    async_playwright = pytest.importorskip("playwright.async_api").async_playwright
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (scripts/system-deps.sh installs it)")
    frame_jpeg, width, height = street_frame()
    for camera_id, name, lat, lon in (("cam-1", "Place Bellecour", 45.7578, 4.8320),
                                      ("cam-2", "Quai Perrache", 45.7430, 4.8200)):
        camera = Camera(camera_id=camera_id, name=name, enabled=True)
        camera.geo.lat_deg, camera.geo.lon_deg = lat, lon
        await site.bus.publish(CAMERAS, camera_id, camera)
    began = time.monotonic()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                          headless=True, timeout=30_000)
        try:
            context = await browser.new_context(viewport={"width": 1400, "height": 950})
            page = await context.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            await page.goto(f"{site.url}/alerts/console")
            assert await page.title() == "Vigie — operator console"

            # -- sign in: a wrong password first
            await page.locator("#login").fill("ann")
            await page.locator("#password").fill("not the password at all")
            await page.locator("#sign-in").click()
            await page.locator("#login-error", has_text="login failed").wait_for(timeout=10_000)
            await shot(site, page, tmp_path, "1-login-refused")
            await sign_in(page, "ann")
            await page.locator("#connection", has_text="live").wait_for(timeout=10_000)

            # -- an alert appears live, with its snapshot (faces blurred) and its box
            await site.bus.publish(FRAMES, "cam-1", make_frame("cam-1", 1_000_000, frame_jpeg,
                                                               width, height))
            alert = make_alert("a1", frame_id="cam-1:1000000", boxes=[(0.53, 0.19, 0.66, 0.62)],
                               title="Zone intrusion - Bellecour steps")
            await site.bus.publish(ALERTS, "cam-1", alert, event_id="a1")
            card = page.locator('#feed [data-alert-id="a1"]')
            await card.wait_for(timeout=10_000)
            await page.locator('#feed [data-alert-id="a1"] img').wait_for(timeout=15_000)
            await card.click()
            detail_img = page.locator("#detail-snapshot img")
            await detail_img.wait_for(timeout=10_000)
            assert await page.locator("#detail-snapshot svg rect.box").count() == 1
            await shot(site, page, tmp_path, "2-live-alert")
            served = await page.request.get(f"{site.url}/alerts/api/alerts/a1/snapshot.jpg")
            stored = await site.service.db(site.service.store.history.get_alert, "a1")
            evidence = site.service.evidence.resolve(stored.snapshot_path)
            assert served.status == 200 and await served.body() == evidence.read_bytes()
            assert await served.body() != frame_jpeg  # what the browser shows is the blurred copy

            # -- confirm: the one SMS goes out
            await page.locator("#btn-confirm").click()
            await page.locator("#decision-message", has_text="Status confirmed").wait_for(
                timeout=10_000)
            await page.locator("#detail-status", has_text="confirmed").wait_for(timeout=5_000)
            assert await site.sms.wait_for(1, 10) and len(site.sms.messages) == 1
            await page.locator("#detail-deliveries li[data-status=delivered]").wait_for(
                timeout=10_000)
            await shot(site, page, tmp_path, "3-confirmed")

            # -- a face match needs a second, different operator
            face = make_alert("f1", kind=RuleKind.RULE_KIND_FACE_MATCH, requires=2,
                              subject_id="subject-17", title="Watchlist match",
                              frame_id="cam-1:1000000", boxes=[(0.70, 0.18, 0.86, 0.65)])
            await site.bus.publish(ALERTS, "cam-1", face, event_id="f1")
            await page.locator('#feed [data-alert-id="f1"]').click()
            await page.locator("#detail-confirmations", has_text="0/2").wait_for(timeout=10_000)
            await page.locator("#btn-confirm").click()
            await page.locator("#decision-message", has_text="partially confirmed").wait_for(
                timeout=10_000)
            await page.locator("#btn-confirm").click()
            await page.locator("#decision-message", has_text="different operator").wait_for(
                timeout=10_000)
            await shot(site, page, tmp_path, "4-face-match-needs-second-operator")
            await asyncio.sleep(0.5)
            assert len(site.sms.messages) == 1  # nothing dispatched on one confirmation
            await sign_out(page)
            await sign_in(page, "bob")
            await page.locator('#feed [data-alert-id="f1"]').click()
            await page.locator("#detail-confirmations", has_text="1/2").wait_for(timeout=10_000)
            await page.locator("#btn-confirm").click()
            await page.locator("#detail-status", has_text="confirmed").wait_for(timeout=10_000)
            assert await site.sms.wait_for(2, 10) and len(site.sms.messages) == 2
            assert "subject-17" not in site.sms.messages[1]["Body"]

            # -- cameras and the map
            await page.locator('.tabs button[data-tab="cameras"]').click()
            await page.locator("#map circle.marker").first.wait_for(timeout=10_000)
            assert await page.locator("#map circle.marker").count() == 2
            assert await page.locator("#camera-rows tr").count() == 2
            await shot(site, page, tmp_path, "5-cameras-map")

            # -- draw a zone in two clicks, for 2 hours
            await page.locator('#camera-rows tr[data-camera-id="cam-1"] button').click()
            await page.locator("#editor-image").wait_for(timeout=10_000)
            overlay = page.locator("#editor-overlay")
            box = await overlay.bounding_box()
            await overlay.click(position={"x": box["width"] * 0.2, "y": box["height"] * 0.5})
            await overlay.click(position={"x": box["width"] * 0.6, "y": box["height"] * 0.9})
            await page.locator("#editor-overlay polygon.shape").wait_for(timeout=5_000)
            await page.locator("#duration-2h").check()
            await page.locator("#editor-name").fill("Steps, after hours")
            await page.locator("#editor-save").click()
            await page.locator("#editor-message", has_text="Rule created").wait_for(
                timeout=10_000)
            await page.locator("#rules-list li[data-rule-id]").wait_for(timeout=5_000)
            await shot(site, page, tmp_path, "6-zone-editor")
            (rule,) = site.rules.rules.values()
            assert rule.kind == RuleKind.RULE_KIND_ZONE_INTRUSION and rule.camera_id == "cam-1"
            xs = sorted({round(p.x, 2) for p in rule.geometry.zone})
            ys = sorted({round(p.y, 2) for p in rule.geometry.zone})
            assert len(rule.geometry.zone) == 4 and xs == [0.2, 0.6] and ys == [0.5, 0.9]
            until = rule.schedule.valid_until.ToDatetime(UTC)
            assert abs(until - (datetime.now(UTC) + timedelta(hours=2))) < timedelta(minutes=2)
            assert rule.created_by == "bob" and site.rules.operators == ["bob"]
            assert rule.name == "Steps, after hours"

            # -- the kinds offered are the rules service's (a plug-in kind among them), with
            # the fields each asks for
            kinds = page.locator("#editor-kind option")
            assert await kinds.evaluate_all("os => os.map(o => o.value)") == [
                "zone_intrusion", "loitering", "zone_occupancy"]
            await page.locator("#editor-kind").select_option("loitering")
            dwell = page.locator('#editor-fields input[data-field="max_dwell_s"]')
            assert await dwell.input_value() == "60"
            await page.locator("#editor-kind").select_option("zone_intrusion")
            assert await page.locator("#editor-fields input").count() == 0

            # -- and a line, permanently
            await page.locator("input[name=shape][value=line]").check()
            await page.locator('#editor-kind option[value="line_crossing"]').wait_for(
                state="attached", timeout=5_000)
            assert await kinds.evaluate_all("os => os.map(o => o.value)") == ["line_crossing"]
            await overlay.click(position={"x": box["width"] * 0.1, "y": box["height"] * 0.7})
            await overlay.click(position={"x": box["width"] * 0.9, "y": box["height"] * 0.7})
            await page.locator("#duration-permanent").check()
            await page.locator("#editor-save").click()
            await page.locator("#editor-message", has_text="permanent").wait_for(timeout=10_000)
            line = next(r for r in site.rules.rules.values()
                        if r.kind == RuleKind.RULE_KIND_LINE_CROSSING)
            assert not line.schedule.HasField("valid_until")

            # -- the supervisor reads the audit trail and verifies it
            await sign_out(page)
            await sign_in(page, "sue")
            await page.locator('.tabs button[data-tab="audit"]').click()
            await page.locator("#audit-rows tr[data-action=decision]").first.wait_for(
                timeout=10_000)
            assert await page.locator("#audit-rows tr[data-action=decision]").count() == 3
            await page.locator("#audit-verify").click()
            await page.locator("#audit-verify-result", has_text="Chains intact").wait_for(
                timeout=10_000)
            await shot(site, page, tmp_path, "7-audit")

            # -- and suspends dispatch
            await page.locator('.tabs button[data-tab="admin"]').click()
            await page.locator("#dispatch-reason").fill("Storm drill")
            await page.locator("#dispatch-toggle").click()
            await page.locator("#dispatch-banner").wait_for(state="visible", timeout=10_000)
            await shot(site, page, tmp_path, "8-dispatch-suspended")
            assert (await site.service.switch.dispatch_state())["suspended"] is True

            assert not [m for m in problems if "Content Security Policy" in m], problems
            assert not [m for m in problems if "Uncaught" in m], problems
            await context.close()
        finally:
            await browser.close()
    assert all(not_blank(s) for s in site.shots)
    assert time.monotonic() - began < 150
