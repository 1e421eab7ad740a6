"""Camera tampering in the alerts service: detect's reports on vigie.camera-health.v1 give a tamper
alert its "before" image (the camera's reference view), stored as evidence beside the snapshot
(after), served only to roles that may see images, deleted by retention with an audit record
unless an evidence lock holds it; each camera's health (source state, view problem) reaches the
console's camera list. The service runs on the in-memory bus with its HTTP server, on SQLite."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import cv2
import numpy as np
import pytest
from alerts_fakes import make_alert, make_frame, until
from sqlalchemy import update
from sqlalchemy.orm import Session
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.audit.v1.audit_pb2 import AuditAction
from vigie.camera.v1.camera_health_pb2 import CameraHealthChanged, CameraState, ViewProblem
from vigie.camera.v1.camera_pb2 import Camera
from vigie_alerts.adapters import auth
from vigie_alerts.adapters.store import AlertQuery, open_store
from vigie_alerts.adapters.store.tables import AlertRow, EvidenceItemRow
from vigie_alerts.domain.camera_health import HealthBoard, ViewReport, ViewReports, wants_before
from vigie_alerts.service import AlertsService
from vigie_core.audit import read_audit
from vigie_core.bus.memory import MemoryBus
from vigie_core.runtime import Running, start
from vigie_core.settings import CoreSettings
from vigie_core.topics import ALERTS, CAMERA_HEALTH, CAMERAS, FRAMES

CAM = "cam-quai"


def encoded(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return data.tobytes()


def street_view(width: int = 160, height: int = 90) -> np.ndarray:
    """A grey street-like thumbnail, as detect's reference views are (at most 160 px wide)."""
    image = np.tile(np.linspace(60, 200, width, dtype=np.uint8), (height, 1))
    cv2.rectangle(image, (20, 30), (60, 80), 30, -1)  # a doorway
    cv2.line(image, (0, 70), (width, 60), 240, 2)  # the kerb
    return image


REFERENCE = encoded(street_view())
COVERED_VIEW = encoded(np.full((90, 160), 12, np.uint8))  # a hand over the lens


def detect_report(frame_id: str, since: datetime, problem: int = ViewProblem.VIEW_PROBLEM_COVERED,
                  previous: int = ViewProblem.VIEW_PROBLEM_UNSPECIFIED) -> CameraHealthChanged:
    report = CameraHealthChanged(camera_id=CAM, reporter="detect", view_problem=problem,
                                 previous_view_problem=previous, frame_id=frame_id,
                                 reference_jpeg=REFERENCE, current_jpeg=COVERED_VIEW)
    report.problem_since.FromDatetime(since)
    report.observed_at.FromDatetime(since + timedelta(seconds=3))
    return report


def ingest_report(state: int, previous: int, at: datetime) -> CameraHealthChanged:
    report = CameraHealthChanged(camera_id=CAM, reporter="ingest", state=state,
                                 previous_state=previous, reason="no frame for 10s")
    report.observed_at.FromDatetime(at)
    return report


def tamper_alert(alert_id: str, frame_id: str, since: datetime) -> AlertRaised:
    """As the rules service's camera_tampering kind raises it."""
    alert = make_alert(alert_id, camera_id=CAM, rule_id="every-camera", kind=0, at=since,
                       frame_id=frame_id, title="Camera tampering: covered or sprayed - Quai")
    alert.track_ids[:] = []
    alert.rule_kind_name = "camera_tampering"
    alert.attributes["view_problem"] = "covered"
    alert.raised_at.FromDatetime(since + timedelta(seconds=3))
    return alert


# --- pure parts -----------------------------------------------------------------------------------

def test_the_health_board_keeps_each_cameras_source_state_and_view_problem():
    t = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    board = HealthBoard()
    board.apply(ingest_report(CameraState.CAMERA_STATE_UP, 0, t))
    board.apply(detect_report(f"{CAM}:1", t + timedelta(minutes=1)))
    health = board.apply(ingest_report(CameraState.CAMERA_STATE_STALLED,
                                       CameraState.CAMERA_STATE_UP, t + timedelta(minutes=2)))
    assert health is not None
    assert (health.source_state, health.view_problem) == ("stalled", "covered")
    assert health.view_since == t + timedelta(minutes=1)
    assert health.source_since == t + timedelta(minutes=2)
    back = detect_report(f"{CAM}:2", t + timedelta(minutes=3),
                         ViewProblem.VIEW_PROBLEM_UNSPECIFIED, ViewProblem.VIEW_PROBLEM_COVERED)
    health = board.apply(back)
    assert health is not None and health.view_problem == "" and health.source_state == "stalled"
    assert board.apply(CameraHealthChanged(reporter="detect")) is None  # no camera
    assert len(board) == 1


def test_view_reports_are_kept_by_frame_within_a_byte_budget():
    t = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    one = ViewReport.of(detect_report("f1", t))
    assert one is not None and one.reference_jpeg == REFERENCE and one.problem == "covered"
    reports = ViewReports(max_bytes=2 * one.size + 10)
    for i in range(3):
        view = ViewReport.of(detect_report(f"f{i}", t))
        assert view is not None
        reports.add(view)
    assert reports.get("f0") is None and reports.get("f2") is not None  # oldest out first
    assert len(reports) == 2 and reports.bytes <= reports.max_bytes
    assert ViewReport.of(ingest_report(CameraState.CAMERA_STATE_UP, 0, t)) is None
    assert wants_before(tamper_alert("a", "f1", t))
    assert not wants_before(make_alert("z", frame_id="f1"))  # another kind's alert


def test_further_evidence_in_the_history_on_sqlite_and_postgresql(database_url):
    store = open_store(database_url, 2)
    try:
        t = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
        for alert_id in ("e1", "e2", "e3"):
            store.history.add_alert(tamper_alert(alert_id, f"{CAM}:{alert_id}", t), 1)
        for alert_id, expires in (("e1", t), ("e2", t), ("e3", t + timedelta(days=30))):
            seq = store.evidence.set_item(alert_id, "before", CAM, f"{CAM}/{alert_id}-before.jpg",
                                          "ab" * 32, 1234, t, expires)
            assert seq > 0
        assert [i.kind for i in store.feed.feed_after(0)][-1] == "evidence"
        [e1] = store.history.get_alerts(["e1"]).values()
        before = e1.evidence("before")
        assert before is not None and before.available and before.captured_at == t
        assert before.size_bytes == 1234 and before.camera_id == CAM
        page, _ = store.history.list_alerts(AlertQuery(), 10)
        assert {s.alert.alert_id for s in page if s.evidence("before")} == {"e1", "e2", "e3"}
        store.evidence.set_evidence_lock("e2", True, "court order")
        due = store.evidence.items_due(t + timedelta(days=1))
        assert [(i.alert_id, i.name) for i in due] == [("e1", "before")]  # e2 held, e3 not due
        store.evidence.mark_item_deleted("e1", "before", t + timedelta(days=1))
        gone = store.history.get_alert("e1").evidence("before")
        assert not gone.available and gone.deleted_at == t + timedelta(days=1)
        assert store.evidence.items_due(t + timedelta(days=1)) == []
        old = store.evidence.alerts_before(t + timedelta(days=1))  # history retention sees them
        assert {s.alert.alert_id for s in old if s.evidence("before")} == {"e1", "e3"}
        assert store.evidence.delete_alerts(["e1", "e3"]) == 2
        assert store.evidence.items_due(t + timedelta(days=365)) == []  # e2 is locked
        with Session(store.engine) as s:
            assert s.query(EvidenceItemRow).count() == 1
    finally:
        store.engine.dispose()


# --- the service ----------------------------------------------------------------------------------

@dataclass
class World:
    running: Running
    bus: MemoryBus
    service: AlertsService
    tokens: dict[str, str]
    url: str

    async def get(self, http: aiohttp.ClientSession, who: str, path: str
                  ) -> aiohttp.ClientResponse:
        return await http.get(f"{self.url}/alerts/api{path}",
                              headers={"Authorization": f"Bearer {self.tokens[who]}"})


@pytest.fixture
async def world(tmp_path) -> AsyncIterator[World]:
    bus = MemoryBus("tamper-test")
    running = await start(["alerts"], CoreSettings(http_port=0, grpc_port=0, data_dir=tmp_path),
                          bus, {"alerts": {"database_url": f"sqlite:///{tmp_path / 'a.db'}",
                                           "snapshot_wait_s": 1.0,
                                           "rules_target": "127.0.0.1:9"}})
    service = running.services[0]
    assert isinstance(service, AlertsService)
    tokens = {}
    for login, role in (("ann", "operator"), ("sue", "supervisor"), ("aud", "auditor")):
        auth.create_user(service.store.accounts, login, role, f"{login}-password-long", "test",
                         12)
        tokens[login] = auth.new_token(auth.TOKEN_PREFIX)
        service.store.accounts.create_token(tokens[login], login, "test")
    try:
        yield World(running, bus, service, tokens, f"http://127.0.0.1:{running.http_port}")
    finally:
        await running.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def with_before(w: World, alert_id: str) -> Any:
    async def check() -> Any:
        s = await w.service.db(w.service.store.history.get_alert, alert_id)
        return s if s and s.evidence("before") and s.snapshot_path else None
    stored = await until(check)
    assert stored is not None, f"alert {alert_id} never got its before image and snapshot"
    return stored


async def test_a_tamper_alert_keeps_its_before_image_as_evidence_until_retention_deletes_it(
        world: World, http: aiohttp.ClientSession):
    bus, service = world.bus, world.service
    camera = Camera(camera_id=CAM, name="Quai", enabled=True)
    camera.evidence_retention.FromTimedelta(timedelta(days=2))
    await bus.publish(CAMERAS, CAM, camera)
    assert await until(lambda: service.cameras.get(CAM) is not None)
    since = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    micros = int((since + timedelta(seconds=3)).timestamp() * 1_000_000)
    frame_id = f"{CAM}:{micros}"
    await bus.publish(FRAMES, CAM, make_frame(CAM, micros, encoded(
        np.full((240, 320, 3), 15, np.uint8)), 320, 240))
    await bus.publish(CAMERA_HEALTH, CAM, ingest_report(
        CameraState.CAMERA_STATE_STALLED, CameraState.CAMERA_STATE_UP, since))
    await bus.publish(CAMERA_HEALTH, CAM, detect_report(frame_id, since))
    alert = tamper_alert("t1", frame_id, since)
    await (await bus.publish(ALERTS, CAM, alert, event_id=alert.alert_id))

    stored = await with_before(world, "t1")
    before = stored.evidence("before")
    path = service.evidence.resolve(before.path)
    assert path is not None and (path.stat().st_mode & 0o777) == 0o600
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == before.sha256 and len(data) == before.size_bytes
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image.shape == (90, 160)  # the reference view, not the covered frame
    assert abs(float(image.mean()) - float(street_view().mean())) < 10
    assert before.captured_at == since  # the view until the problem began
    assert before.expires_at - before.captured_at == timedelta(days=2)  # the camera's retention
    assert before.path != stored.snapshot_path and stored.snapshot_captured_at == since + \
        timedelta(seconds=3)  # after: the confirming frame's snapshot

    # the console: the alert with its before/after, the camera's health; images to operators only
    r = await world.get(http, "ann", "/alerts/t1")
    body = await r.json()
    assert r.status == 200 and body["view_problem"] == "covered" and body["has_before"]
    assert body["before_url"] == "/alerts/api/alerts/t1/before.jpg"
    assert body["snapshot_url"] == "/alerts/api/alerts/t1/snapshot.jpg"
    assert body["started_at"] == since.isoformat().replace("+00:00", "Z")
    r = await world.get(http, "ann", "/alerts/t1/before.jpg")
    assert r.status == 200 and r.content_type == "image/jpeg"
    assert "no-store" in r.headers["Cache-Control"]
    assert hashlib.sha256(await r.read()).hexdigest() == before.sha256
    assert (await world.get(http, "aud", "/alerts/t1/before.jpg")).status == 403
    audited = await (await world.get(http, "aud", "/alerts/t1")).json()
    assert audited["has_before"] and "before_url" not in audited
    cameras = (await (await world.get(http, "ann", "/cameras")).json())["cameras"]
    [quai] = [c for c in cameras if c["camera_id"] == CAM]
    assert quai["health"]["view_problem"] == "covered"
    assert quai["health"]["source_state"] == "stalled"
    assert quai["health"]["view_since"] == since.isoformat().replace("+00:00", "Z")

    # the same alert again (a replay): stored once, one before image
    await (await bus.publish(ALERTS, CAM, alert, event_id=alert.alert_id))
    assert await until(lambda: service.desk.counts["duplicate_alerts"] == 1)
    await asyncio.sleep(0.2)
    assert service.snapshots.counts["before_images"] == 1

    # retention: the camera keeps evidence 1 s from now on; t1 goes, its file and the audit
    # record that proves it; t2 (an evidence lock) stays
    since2 = since + timedelta(minutes=1)
    frame2 = f"{CAM}:{int(since2.timestamp() * 1_000_000)}"  # a frame this replica never saw
    await bus.publish(CAMERA_HEALTH, CAM, detect_report(frame2, since2))
    await (await bus.publish(ALERTS, CAM, tamper_alert("t2", frame2, since2), event_id="t2"))
    locked = await with_before(world, "t2")  # its snapshot: the report's own after image
    assert locked.snapshot_captured_at == since2 + timedelta(seconds=3)
    await service.db(service.store.evidence.set_evidence_lock, "t2", True, "court order 17")
    expiry = datetime.now(UTC) - timedelta(seconds=1)  # as if the camera's retention ran out
    with Session(service.store.engine) as s, s.begin():
        s.execute(update(AlertRow).values(evidence_expires_at=expiry))
        s.execute(update(EvidenceItemRow).values(expires_at=expiry))
    deleted, _ = await service.housekeeping.retention()
    assert deleted == 2  # t1's snapshot and before image
    assert service.evidence.resolve(before.path) is None
    gone = await service.db(service.store.history.get_alert, "t1")
    assert gone.evidence("before").deleted_at is not None
    held = await service.db(service.store.history.get_alert, "t2")
    assert service.evidence.resolve(held.evidence("before").path) is not None
    records = [r for r in await read_audit(bus)
               if r.action == AuditAction.AUDIT_ACTION_RETENTION_DELETION]
    [proof] = [r for r in records if r.details.get("evidence") == "before"]
    assert proof.subject_ref == "alert:t1" and proof.details["sha256"] == before.sha256
    assert proof.details["file_found"] == "true" and proof.details["camera_id"] == CAM
    assert {r.subject_ref for r in records} == {"alert:t1"}
    assert (await world.get(http, "ann", "/alerts/t1/before.jpg")).status == 404
    after = await (await world.get(http, "ann", "/alerts/t1")).json()
    assert not after["has_before"] and after["before_deleted"]


async def test_other_alerts_wait_for_no_before_image_and_ingest_reports_keep_no_images(
        world: World):
    service = world.service
    micros = 1_000_000
    await world.bus.publish(FRAMES, "cam-1", make_frame("cam-1", micros, encoded(
        np.full((240, 320, 3), 90, np.uint8)), 320, 240))
    await world.bus.publish(CAMERA_HEALTH, CAM, ingest_report(
        CameraState.CAMERA_STATE_DOWN, CameraState.CAMERA_STATE_UP, datetime.now(UTC)))
    await (await world.bus.publish(ALERTS, "cam-1", make_alert("z1", frame_id="cam-1:1000000"),
                                   event_id="z1"))

    async def snapshot() -> Any:
        s = await service.db(service.store.history.get_alert, "z1")
        return s if s and s.snapshot_path else None
    stored = await until(snapshot)
    assert stored is not None and stored.extra_evidence == ()
    await asyncio.sleep(0.3)
    assert service.snapshots.counts["before_without_report"] == 0
    assert len(service.snapshots.view_reports) == 0
    assert await until(lambda: service.health.get(CAM) is not None)
    assert service.health.get(CAM).source_state == "down"


# --- the console in a real browser ----------------------------------------------------------------

CHROMIUM = os.environ.get("VIGIE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-default-apps", "--disable-extensions",
                 "--no-default-browser-check"]
SHARED = Path(os.environ.get("VIGIE_TEST_DATA", Path(__file__).parents[3].parent / "shared/data"))


def street_thumbnail() -> bytes:
    """The reference view as detect sends it: a grey thumbnail 160 px wide, of a real street
    when ../shared/data is there."""
    clip = SHARED / "mot15/TUD-Stadtmitte/TUD-Stadtmitte.mp4"
    if clip.is_file():
        capture = cv2.VideoCapture(str(clip))
        ok, image = capture.read()
        capture.release()
        if ok:
            grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
            return encoded(cv2.resize(grey, (160, round(160 * grey.shape[0] / grey.shape[1])),
                                      interpolation=cv2.INTER_AREA))
    return REFERENCE


@pytest.mark.timeout(120)
async def test_the_alert_card_shows_before_and_after_and_the_camera_list_its_health(
        world: World, tmp_path):
    async_playwright = pytest.importorskip("playwright.async_api").async_playwright
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (scripts/system-deps.sh installs it)")
    bus = world.bus
    await bus.publish(CAMERAS, CAM, Camera(camera_id=CAM, name="Quai Perrache", enabled=True))
    since = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    micros = int((since + timedelta(seconds=3)).timestamp() * 1_000_000)
    frame_id = f"{CAM}:{micros}"
    await bus.publish(FRAMES, CAM, make_frame(CAM, micros, encoded(
        np.full((480, 640, 3), 18, np.uint8)), 640, 480))
    report = detect_report(frame_id, since)
    report.reference_jpeg = street_thumbnail()
    await bus.publish(CAMERA_HEALTH, CAM, ingest_report(
        CameraState.CAMERA_STATE_UP, CameraState.CAMERA_STATE_RECONNECTING, since))
    await bus.publish(CAMERA_HEALTH, CAM, report)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                          headless=True, timeout=30_000)
        try:
            context = await browser.new_context(viewport={"width": 1400, "height": 950})
            page = await context.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            await page.goto(f"{world.url}/alerts/console")
            await page.locator("#login").fill("ann")
            await page.locator("#password").fill("ann-password-long")
            await page.locator("#sign-in").click()
            await page.locator("#connection", has_text="live").wait_for(timeout=10_000)

            await bus.publish(ALERTS, CAM, tamper_alert("t1", frame_id, since), event_id="t1")
            card = page.locator('#feed [data-alert-id="t1"]')
            await card.wait_for(timeout=10_000)
            await page.locator('#feed [data-alert-id="t1"] .pair img').nth(1).wait_for(
                timeout=15_000)  # before and after, live
            assert await card.locator("figcaption").all_inner_texts() == [
                "before", "after: covered"]
            await card.click()
            before = page.locator("#detail-snapshot figure").first.locator("img")
            await before.wait_for(timeout=10_000)
            await page.locator("#detail-snapshot figure").nth(1).locator("img").wait_for(
                timeout=10_000)
            assert await before.evaluate("img => img.naturalWidth") == 160
            facts = await page.locator("#detail-facts").inner_text()
            assert "Began" in facts and "covered" in facts
            await page.screenshot(path=str(tmp_path / "tamper-alert.png"), full_page=True)

            await page.locator('.tabs button[data-tab="cameras"]').click()
            row = page.locator(f'#camera-rows tr[data-camera-id="{CAM}"]')
            await row.locator('[data-role="view-problem"]', has_text="covered").wait_for(
                timeout=10_000)
            assert await row.locator('[data-role="source-state"]').count() == 0  # up
            await page.screenshot(path=str(tmp_path / "tamper-cameras.png"), full_page=True)
            assert not [m for m in problems if "Content Security Policy" in m], problems
            assert not [m for m in problems if "Uncaught" in m], problems
            await context.close()
        finally:
            await browser.close()
    for name in ("tamper-alert.png", "tamper-cameras.png"):
        image = cv2.imread(str(tmp_path / name))
        assert image is not None and float(np.std(image)) > 10
        if keep := os.environ.get("VIGIE_SCREENSHOT_DIR"):
            shutil.copy(tmp_path / name, keep)
