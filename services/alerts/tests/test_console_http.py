"""The console's HTTP API: sessions and cookies, CSRF, roles on every route, size limits, the
WebSocket's origin check, accounts and the suspend switch, snapshots only for those allowed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

import aiohttp
import pytest
from alerts_fakes import FakeRules, jpeg, make_alert, make_frame
from vigie.audit.v1.audit_pb2 import AuditAction
from vigie.camera.v1.camera_pb2 import Camera
from vigie_alerts.adapters import auth
from vigie_alerts.service import AlertsService
from vigie_core.audit import read_audit
from vigie_core.bus.memory import MemoryBus
from vigie_core.runtime import Running, start
from vigie_core.settings import CoreSettings
from vigie_core.topics import ALERTS, CAMERAS, FRAMES

COOKIE = "__Host-vigie-session"
PASSWORDS = {"ann": "ann-password-long", "sue": "sue-password-long",
             "aud": "aud-password-long", "adm": "adm-password-long"}


@dataclass
class Console:
    running: Running
    bus: MemoryBus
    service: AlertsService
    url: str

    @property
    def origin(self) -> str:
        return self.url


@pytest.fixture
async def console(tmp_path) -> AsyncIterator[Console]:
    bus = MemoryBus("console-test")
    running = await start(["alerts"], CoreSettings(http_port=0, grpc_port=0, data_dir=tmp_path),
                          bus, {"alerts": {"database_url": f"sqlite:///{tmp_path / 'a.db'}",
                                           "login_max_failures": 3, "login_lockout_s": 60,
                                           "max_request_bytes": 4096,
                                           "rules_target": "127.0.0.1:9"}})
    service = running.services[0]
    assert isinstance(service, AlertsService)
    for login, role in (("ann", "operator"), ("sue", "supervisor"), ("aud", "auditor"),
                        ("adm", "admin")):
        auth.create_user(service.store.accounts, login, role, PASSWORDS[login], "test", 12)
    try:
        yield Console(running, bus, service, f"http://127.0.0.1:{running.http_port}")
    finally:
        await running.stop()


class Session:
    """A browser-like client: keeps the session cookie (aiohttp's jar will not send a Secure
    cookie over http, browsers do on 127.0.0.1) and the CSRF token."""

    def __init__(self, http: aiohttp.ClientSession, console: Console) -> None:
        self.http, self.console = http, console
        self.cookie = ""
        self.csrf = ""
        self.set_cookie: Any = None

    async def login(self, login: str, password: str | None = None) -> aiohttp.ClientResponse:
        r = await self.http.post(f"{self.console.url}/alerts/api/session",
                                 json={"login": login, "password": password or PASSWORDS[login]},
                                 headers={"Origin": self.console.origin})
        if r.status == 200:
            jar = SimpleCookie()
            jar.load(r.headers["Set-Cookie"])
            self.set_cookie = jar[COOKIE]
            self.cookie = jar[COOKIE].value
            self.csrf = (await r.json())["csrf"]
        return r

    def headers(self, csrf: bool = True, origin: str | None = None) -> dict[str, str]:
        h = {"Cookie": f"{COOKIE}={self.cookie}"} if self.cookie else {}
        if csrf and self.csrf:
            h["X-CSRF-Token"] = self.csrf
        h["Origin"] = origin or self.console.origin
        return h

    async def get(self, path: str, **kw: Any) -> aiohttp.ClientResponse:
        return await self.http.get(f"{self.console.url}/alerts{path}", headers=self.headers(),
                                   **kw)

    async def post(self, path: str, body: Any, csrf: bool = True, origin: str | None = None,
                   **kw: Any) -> aiohttp.ClientResponse:
        return await self.http.post(f"{self.console.url}/alerts{path}", json=body,
                                    headers=self.headers(csrf, origin), **kw)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def signed_in(http: aiohttp.ClientSession, console: Console, login: str) -> Session:
    s = Session(http, console)
    assert (await s.login(login)).status == 200
    return s


async def an_alert(console: Console, alert_id: str = "h1", with_frame: bool = False) -> None:
    frame_id = ""
    if with_frame:
        await console.bus.publish(FRAMES, "cam-1", make_frame("cam-1", 1_000_000, jpeg()))
        frame_id = "cam-1:1000000"
    alert = make_alert(alert_id, frame_id=frame_id, boxes=[(0.2, 0.2, 0.5, 0.9)])
    await (await console.bus.publish(ALERTS, "cam-1", alert, event_id=alert_id))
    for _ in range(200):
        got = await console.service.db(console.service.store.history.get_alert, alert_id)
        if got and (got.snapshot_path or not with_frame):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("alert not stored")


async def test_the_page_is_served_with_a_strict_csp_and_no_third_party_assets(console, http):
    async with http.get(f"{console.url}/alerts/console") as r:
        assert r.status == 200
        csp = r.headers["Content-Security-Policy"]
        html = await r.text()
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe" not in csp
    assert "http://" not in html and "https://" not in html  # nothing from elsewhere
    async with http.get(f"{console.url}/alerts/console.js") as r:
        js = await r.text()
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert ".innerHTML" not in js and "eval(" not in js and "new Function" not in js
    code = js.replace('"http://www.w3.org/2000/svg"', "")  # a namespace name, never fetched
    assert "http://" not in code and "https://" not in code


async def test_login_sets_a_hardened_cookie_and_wrong_passwords_lock_the_account(console, http):
    s = Session(http, console)
    r = await s.login("ann", "not the password")
    assert r.status == 401 and "login failed" in (await r.json())["error"]
    r = await s.login("ghost", "whatever password")
    assert r.status == 401 and "login failed" in (await r.json())["error"]  # same answer
    r = await s.login("ann")
    assert r.status == 200
    cookie = s.set_cookie
    assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Strict"
    assert cookie["path"] == "/" and not cookie["domain"]
    me = await (await s.get("/api/me")).json()
    assert me["login"] == "ann" and "decide" in me["permissions"] and me["csrf"] == s.csrf
    r = await http.delete(f"{console.url}/alerts/api/session", headers=s.headers())
    assert r.status == 200
    assert (await s.get("/api/me")).status == 401  # the session is gone server-side
    other = Session(http, console)
    for _ in range(3):
        await other.login("sue", "wrong wrong wrong")
    assert (await other.login("sue")).status == 401  # locked for login_lockout_s


async def test_cross_site_logins_are_refused(console, http):
    r = await http.post(f"{console.url}/alerts/api/session",
                        json={"login": "ann", "password": PASSWORDS["ann"]},
                        headers={"Origin": "https://evil.example"})
    assert r.status == 403
    r = await http.post(f"{console.url}/alerts/api/session",
                        data="login=ann&password=x",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 415  # an HTML form cannot post JSON


async def test_state_changes_need_the_csrf_token_and_our_origin(console, http):
    await an_alert(console)
    ann = await signed_in(http, console, "ann")
    body = {"decision": "acknowledged"}
    assert (await ann.post("/api/alerts/h1/decisions", body, csrf=False)).status == 403
    assert (await ann.post("/api/alerts/h1/decisions", body,
                           origin="https://evil.example")).status == 403
    r = await ann.post("/api/alerts/h1/decisions", body)
    assert r.status == 200, await r.text()
    assert (await r.json())["status"] == "acknowledged"


@pytest.mark.parametrize(("login", "method", "path", "status"), [
    (None, "GET", "/api/alerts", 401),
    (None, "GET", "/api/cameras", 401),
    ("aud", "GET", "/api/alerts", 200),  # auditors read history...
    ("aud", "GET", "/api/alerts/h1/snapshot.jpg", 403),  # ...but never images
    ("aud", "GET", "/api/cameras/cam-1/frame.jpg", 403),
    ("aud", "POST", "/api/alerts/h1/decisions", 403),
    ("aud", "GET", "/api/audit", 200),
    ("ann", "GET", "/api/audit", 403),
    ("ann", "GET", "/api/users", 403),
    ("ann", "POST", "/api/dispatch", 403),
    ("ann", "POST", "/api/alerts/h1/evidence-lock", 403),
    ("ann", "GET", "/api/alerts/h1/snapshot.jpg", 200),
    ("adm", "POST", "/api/alerts/h1/decisions", 403),  # administrators do not decide
    ("adm", "GET", "/api/users", 200),
    ("sue", "GET", "/api/users", 403),
    ("sue", "POST", "/api/dispatch", 200),
])
async def test_roles_are_checked_on_every_route(console, http, login, method, path, status):
    await an_alert(console, with_frame=True)
    s = await signed_in(http, console, login) if login else Session(http, console)
    bodies = {"/api/alerts/h1/decisions": {"decision": "acknowledged"},
              "/api/dispatch": {"suspended": True, "reason": "drill"},
              "/api/alerts/h1/evidence-lock": {"locked": True, "reason": "court"}}
    if method == "GET":
        r = await s.get(path)
    else:
        r = await s.post(path, bodies.get(path, {}))
    assert r.status == status, await r.text()
    if path.endswith(".jpg") and status == 200:
        assert r.headers["Content-Type"] == "image/jpeg"
        assert "no-store" in r.headers["Cache-Control"]


async def test_the_alert_json_hides_snapshots_from_roles_that_may_not_see_them(console, http):
    await an_alert(console, with_frame=True)
    ann = await signed_in(http, console, "ann")
    aud = await signed_in(http, console, "aud")
    mine = (await (await ann.get("/api/alerts")).json())["alerts"][0]
    theirs = (await (await aud.get("/api/alerts")).json())["alerts"][0]
    assert mine["snapshot_url"].endswith("/snapshot.jpg") and mine["has_snapshot"]
    assert "snapshot_url" not in theirs and "subject_id" not in theirs


async def test_request_size_and_shape_limits(console, http):
    await an_alert(console)
    ann = await signed_in(http, console, "ann")
    big = {"decision": "dismissed", "reason": "x" * 5000}
    assert (await ann.post("/api/alerts/h1/decisions", big)).status == 413
    r = await http.post(f"{console.url}/alerts/api/alerts/h1/decisions", data=b"{not json",
                        headers={**ann.headers(), "Content-Type": "application/json"})
    assert r.status == 400
    assert (await ann.post("/api/alerts/h1/decisions", ["a list"])).status == 400
    assert (await ann.post("/api/alerts/h1/decisions", {"decision": "maybe"})).status == 400
    assert (await ann.post("/api/alerts/nope/decisions", {"decision": "confirmed"})).status \
        == 404
    assert (await ann.get("/api/alerts?cursor=garbage")).status == 400
    assert (await ann.get("/api/alerts?severity=apocalyptic")).status == 400


async def test_the_live_socket_checks_origin_and_session_then_streams(console, http):
    ann = await signed_in(http, console, "ann")
    url = f"{console.url}/alerts/api/live"
    for headers, status in (({"Cookie": f"{COOKIE}={ann.cookie}"}, 403),  # no Origin
                            ({"Cookie": f"{COOKIE}={ann.cookie}",
                              "Origin": "https://evil.example"}, 403),
                            ({"Origin": console.origin}, 401)):
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(url, headers=headers)
        assert info.value.status == status
    aud = await signed_in(http, console, "aud")
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await http.ws_connect(url, headers={"Cookie": f"{COOKIE}={aud.cookie}",
                                            "Origin": console.origin})
    assert info.value.status == 403  # auditors do not watch live
    async with http.ws_connect(url, headers={"Cookie": f"{COOKIE}={ann.cookie}",
                                             "Origin": console.origin}) as ws:
        hello = await ws.receive_json(timeout=5)
        assert hello["type"] == "hello" and hello["dispatch"]["suspended"] is False
        await an_alert(console, "live1")
        event = await ws.receive_json(timeout=5)
        assert event["type"] == "alert" and event["alert"]["alert_id"] == "live1"
        assert event["alert"]["status"] == "open" and event["alert"]["boxes"]


async def test_accounts_suspension_and_evidence_locks_are_audited(console, http):
    await an_alert(console, with_frame=True)
    adm = await signed_in(http, console, "adm")
    r = await adm.post("/api/users", {"login": "new.op", "role": "operator",
                                      "password": "short"})
    assert r.status == 400 and "12" in (await r.json())["error"]
    r = await adm.post("/api/users", {"login": "new.op", "role": "operator",
                                      "password": "a long enough password"})
    assert r.status == 201
    assert (await Session(http, console).login("new.op", "a long enough password")).status == 200
    r = await adm.post("/api/users/new.op", {"disabled": True})
    assert r.status == 200
    assert (await Session(http, console).login("new.op", "a long enough password")).status == 401
    assert (await adm.post("/api/users/adm", {"disabled": True})).status == 400
    sue = await signed_in(http, console, "sue")
    assert (await sue.post("/api/dispatch", {"suspended": True})).status == 400  # why?
    r = await sue.post("/api/dispatch", {"suspended": True, "reason": "flooding drill"})
    assert (await r.json())["suspended"] is True
    assert (await sue.post("/api/alerts/h1/evidence-lock",
                           {"locked": True, "reason": "case 2026-88"})).status == 200
    records = await read_audit(console.bus)
    actions = [(r.action, r.actor) for r in records]
    assert (AuditAction.AUDIT_ACTION_ACCOUNT_CHANGE, "operator:adm") in actions
    assert (AuditAction.AUDIT_ACTION_DISPATCH_SUSPENSION, "operator:sue") in actions
    assert (AuditAction.AUDIT_ACTION_EVIDENCE_LOCK, "operator:sue") in actions
    for r in records:  # no password, ever
        assert "a long enough password" not in json.dumps(dict(r.details))
    detail = await (await sue.get("/api/alerts/h1")).json()
    assert detail["evidence_locked"] is True and detail["evidence_lock_reason"] == "case 2026-88"


async def _camera(console: Console, camera_id: str = "cam-1") -> None:
    await console.bus.publish(CAMERAS, camera_id, Camera(camera_id=camera_id, name="Gate",
                                                         enabled=True))
    for _ in range(100):
        if console.service.cameras.get(camera_id):
            return
        await asyncio.sleep(0.02)


async def test_the_editor_says_when_the_rules_service_is_unreachable(console, http):
    await _camera(console)
    ann = await signed_in(http, console, "ann")
    r = await ann.get("/api/rule-kinds")
    assert r.status == 503 and "rules service" in (await r.json())["error"]
    r = await ann.post("/api/rules", {"camera_id": "cam-1", "kind": "zone_intrusion",
                                      "points": [[0.1, 0.1], [0.5, 0.5]], "duration": "1h"})
    assert r.status == 503 and "rules service" in (await r.json())["error"]
    r = await ann.post("/api/rules", {"camera_id": "nope", "kind": "zone_intrusion",
                                      "points": [[0.1, 0.1], [0.5, 0.5]], "duration": "1h"})
    assert r.status == 404
    cams = await (await ann.get("/api/cameras")).json()
    assert cams["cameras"][0]["name"] == "Gate" and cams["cameras"][0]["lat"] is None


@pytest.fixture
async def editor(tmp_path) -> AsyncIterator[tuple[Console, FakeRules]]:
    """The console with a stand-in RulesService (in process, over gRPC)."""
    rules = FakeRules()
    target = await rules.start()
    bus = MemoryBus("editor-test")
    running = await start(["alerts"], CoreSettings(http_port=0, grpc_port=0, data_dir=tmp_path),
                          bus, {"alerts": {"database_url": f"sqlite:///{tmp_path / 'e.db'}",
                                           "rules_target": target}})
    service = running.services[0]
    assert isinstance(service, AlertsService)
    for login, role in (("ann", "operator"), ("aud", "auditor")):
        auth.create_user(service.store.accounts, login, role, PASSWORDS[login], "test", 12)
    try:
        yield Console(running, bus, service, f"http://127.0.0.1:{running.http_port}"), rules
    finally:
        await running.stop()
        await rules.stop()


async def test_the_editor_offers_the_rule_kinds_of_the_rules_service(editor, http):
    console, rules = editor
    await _camera(console)
    ann = await signed_in(http, console, "ann")
    kinds = (await (await ann.get("/api/rule-kinds")).json())["kinds"]
    # drawable ones only (wrong_way needs a direction), built-in kinds first, plug-ins after
    assert [(k["name"], k["geometry"], k["fields"]) for k in kinds] == [
        ("zone_intrusion", "zone", []), ("loitering", "zone", ["max_dwell_s"]),
        ("line_crossing", "line", ["min_count"]), ("zone_occupancy", "zone", ["min_count"])]
    assert kinds[0]["title"] == "Zone intrusion"
    aud = await signed_in(http, console, "aud")
    assert (await aud.get("/api/rule-kinds")).status == 403  # for those who draw rules
    # a plug-in kind is drawn by its name, its fields sent along
    r = await ann.post("/api/rules", {"camera_id": "cam-1", "kind": "zone_occupancy",
                                      "points": [[0.1, 0.1], [0.5, 0.5]], "duration": "1h",
                                      "min_count": 4})
    assert r.status == 201, await r.text()
    assert (await r.json())["rule"]["kind"] == "zone_occupancy"
    (rule,) = rules.rules.values()
    assert rule.kind_name == "zone_occupancy" and rule.thresholds.min_count == 4
    assert rules.operators == ["ann"]
    listed = (await (await ann.get("/api/rules?camera_id=cam-1")).json())["rules"]
    assert [r["kind"] for r in listed] == ["zone_occupancy"]
    for kind, points, problem in (
            ("zone_intrusion", [[0.1, 0.1]], "two corners"),
            ("wrong_way", [[0.1, 0.1], [0.5, 0.5]], "unknown rule kind"),
            ("fire", [[0.1, 0.1], [0.5, 0.5]], "unknown rule kind")):
        r = await ann.post("/api/rules", {"camera_id": "cam-1", "kind": kind, "points": points,
                                          "duration": "1h"})
        assert r.status == 400 and problem in (await r.json())["error"], kind
