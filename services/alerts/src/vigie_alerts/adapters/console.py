"""The operator console over HTTP, under /alerts/: the page, a JSON API and a live WebSocket.

Security, on every route (each declares its roles: vigie_core.auth.web enforces them, with the
process's other routes, and refuses any undeclared one):
- Authentication by a session cookie (`__Host-vigie-session`: Secure, HttpOnly, SameSite=Strict,
  Path=/), created by POST /alerts/api/session with login and password; sessions end after an
  idle time and a maximum age, and when the account is disabled or its password or role changes.
  The console registers its sessions (and its accounts' personal API tokens) with the process's
  authenticator, so the core middleware resolves them; bearer tokens work on the API too.
- Authorisation by role (domain/roles.py: the roles of each permission) on every API route and
  on the WebSocket; decisions are taken by persons (accounts) only.
- CSRF (core middleware): state-changing requests of a cookie session need the session's token
  in X-CSRF-Token and, when the browser sends one, an Origin equal to this server's; the
  WebSocket needs our Origin. Bodies are JSON only (an HTML form cannot send it).
- Request bodies are capped (max_request_bytes); images and API answers are never cached.
- The page's CSP allows only this server's own scripts, styles, images and connections.
- Logs carry ids, never logins, reasons, phone numbers or images.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from aiohttp import WSMsgType, web
from vigie.alerts.v1.decision_pb2 import AlertDecided
from vigie.audit.v1.audit_pb2 import AuditAction, AuditRecorded
from vigie.camera.v1.camera_pb2 import Camera
from vigie.rules.v1.rule_pb2 import RuleKind
from vigie_alerts import metrics
from vigie_alerts.adapters import auth
from vigie_alerts.adapters.desk import AlertDesk, DecisionRefused
from vigie_alerts.adapters.dispatch import Context, cap_document
from vigie_alerts.adapters.grpc_api import verify
from vigie_alerts.adapters.live import LiveEvent, LiveHub
from vigie_alerts.adapters.rules_client import RuleRejected, RulesClient, RulesUnavailable
from vigie_alerts.adapters.snapshots import EvidenceStore
from vigie_alerts.adapters.store import (
    AlertQuery,
    Database,
    Delivery,
    SessionInfo,
    StoredAlert,
    now_utc,
)
from vigie_alerts.config import Settings
from vigie_alerts.domain import lifecycle
from vigie_alerts.domain.cap import CapIdentity
from vigie_alerts.domain.drawing import Drawing, DrawingError, rule_from_drawing
from vigie_alerts.domain.messages import iso, kind_name, severity_name
from vigie_alerts.domain.policy import KIND_BY_NAME, SEVERITY_BY_NAME
from vigie_alerts.domain.roles import (
    Permission,
    allowed,
    parse_role,
    permissions,
    roles_with,
)
from vigie_core.audit import AuditLog, read_audit
from vigie_core.auth.authenticator import bearer
from vigie_core.auth.model import AUTHENTICATED, Access, Identity, allow, public
from vigie_core.auth.web import declare, identity
from vigie_core.bus.base import Bus
from vigie_core.view import CompactedView

log = logging.getLogger(__name__)

CSRF_HEADER = "X-CSRF-Token"
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: "
            "data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'")
COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                  "X-Frame-Options": "DENY", "Cross-Origin-Opener-Policy": "same-origin",
                  "Cross-Origin-Resource-Policy": "same-origin",
                  "Permissions-Policy": "camera=(), microphone=(), geolocation=()"}
API_HEADERS = {**COMMON_HEADERS, "Cache-Control": "no-store"}
PAGE_HEADERS = {**COMMON_HEADERS, "Content-Security-Policy": PAGE_CSP,
                "Cache-Control": "no-cache"}
WEB_FILES = {"console": ("console.html", "text/html"),
             "console.js": ("console.js", "text/javascript"),
             "console.css": ("console.css", "text/css")}
AUDIT_PAGE_MAX = 500
ACTION_NAMES = {v: n.removeprefix("AUDIT_ACTION_").lower() for n, v in AuditAction.items()}

Handler = Callable[[web.Request, SessionInfo], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    def __init__(self, status: int, message: str, reason: str = "bad_request") -> None:
        super().__init__(message)
        self.status, self.message, self.reason = status, message, reason


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=API_HEADERS)


def _ok(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, headers=API_HEADERS,
                             dumps=lambda o: json.dumps(o, default=str))


async def _nobody(_: str) -> Identity | None:
    return None


_ROLE_ORDER = ["operator", "supervisor", "auditor", "admin"]


def _acting_role(caller: Identity, permission: Permission | None) -> str:
    """The role a caller acts with: an account's own; for a machine with several roles, the
    first (in _ROLE_ORDER) that holds `permission`."""
    ordered = sorted(caller.roles, key=lambda r: (_ROLE_ORDER.index(r)
                                                  if r in _ROLE_ORDER else 99, r))
    for role in ordered:
        if permission is None or allowed(role, permission):
            return role
    return ordered[0] if ordered else ""


def _ts(message: Any, name: str) -> str | None:
    return iso(getattr(message, name).ToDatetime(UTC)) if message.HasField(name) else None


def decision_json(d: AlertDecided) -> dict[str, Any]:
    return {"decision_id": d.decision_id, "alert_id": d.alert_id, "operator": d.operator,
            "role": d.role, "decision": lifecycle.DECISION_NAMES.get(d.decision, "unspecified"),
            "reason": d.reason, "decided_at": _ts(d, "decided_at")}


def delivery_json(d: Delivery) -> dict[str, Any]:
    return {"route": d.route, "channel": d.channel, "kind": d.kind, "trigger": d.trigger,
            "status": d.status, "reason": d.reason, "attempts": d.attempts,
            "last_error": d.last_error, "created_at": iso(d.created_at),
            "delivered_at": iso(d.delivered_at) if d.delivered_at else None}


class Console:
    def __init__(self, settings: Settings, db: Database, desk: AlertDesk, hub: LiveHub,
                 cameras: CompactedView[Camera], rules: RulesClient, bus: Bus,
                 audit: AuditLog, evidence: EvidenceStore,
                 authenticator: Callable[[str], Awaitable[Identity | None]] | None = None
                 ) -> None:
        self.settings, self.db, self.desk, self.hub = settings, db, desk, hub
        self.authenticator = authenticator or _nobody
        self.cameras, self.rules, self.bus, self.audit = cameras, rules, bus, audit
        self.evidence = evidence
        self.cookie = "__Host-vigie-session" if settings.cookie_secure else "vigie-session"
        self.idle = timedelta(seconds=settings.session_idle_timeout_s)
        self.max_age = timedelta(seconds=settings.session_max_age_s)
        self.sockets: set[web.WebSocketResponse] = set()

    # -- plumbing -----------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        api = self._api
        page = public("the console's page, script and style: they show nothing before sign-in",
                      max_body_bytes=1024)
        sign_in = public("console sign-in: argon2id, lock-out after failures, the same answer "
                         "whatever failed", max_body_bytes=self.settings.max_request_bytes)
        return [
            declare(web.get("/", self.index), page), *self._static(page),
            declare(web.post("/api/session", self.login), sign_in),
            api(None, "DELETE", "/api/session", self.logout),
            api(None, "GET", "/api/me", self.me),
            api(Permission.VIEW_HISTORY, "GET", "/api/alerts", self.list_alerts),
            api(Permission.VIEW_HISTORY, "GET", "/api/alerts/{alert_id}", self.alert_detail),
            api(Permission.DECIDE, "POST", "/api/alerts/{alert_id}/decisions", self.decide),
            api(Permission.VIEW_SNAPSHOT, "GET", "/api/alerts/{alert_id}/snapshot.jpg",
                self.snapshot),
            api(Permission.VIEW_HISTORY, "GET", "/api/alerts/{alert_id}/cap.xml", self.cap),
            api(Permission.LOCK_EVIDENCE, "POST", "/api/alerts/{alert_id}/evidence-lock",
                self.evidence_lock),
            api(Permission.VIEW_FEED, "GET", "/api/cameras", self.list_cameras),
            api(Permission.VIEW_SNAPSHOT, "GET", "/api/cameras/{camera_id}/frame.jpg",
                self.camera_frame),
            api(Permission.EDIT_RULES, "GET", "/api/rules", self.list_rules),
            api(Permission.EDIT_RULES, "POST", "/api/rules", self.create_rule),
            api(Permission.EDIT_RULES, "DELETE", "/api/rules/{rule_id}", self.delete_rule),
            api(Permission.VIEW_AUDIT, "GET", "/api/audit", self.list_audit),
            api(Permission.VIEW_AUDIT, "POST", "/api/audit/verify", self.verify_audit),
            api(Permission.VIEW_FEED, "GET", "/api/dispatch", self.dispatch_state),
            api(Permission.SUSPEND_DISPATCH, "POST", "/api/dispatch", self.set_dispatch),
            api(Permission.MANAGE_USERS, "GET", "/api/users", self.list_users),
            api(Permission.MANAGE_USERS, "POST", "/api/users", self.create_user),
            api(Permission.MANAGE_USERS, "POST", "/api/users/{login}", self.update_user),
            declare(web.get("/api/live", self.live),
                    allow(*roles_with(Permission.VIEW_FEED), max_body_bytes=1024)),
        ]

    def _static(self, access: Access) -> list[web.RouteDef]:
        routes = []
        for path, (filename, content_type) in WEB_FILES.items():
            body = (resources.files("vigie_alerts") / "web" / filename).read_bytes()

            async def serve(_: web.Request, body: bytes = body, ctype: str = content_type
                            ) -> web.Response:
                return web.Response(body=body, content_type=ctype, charset="utf-8",
                                    headers=PAGE_HEADERS)

            routes.append(declare(web.get(f"/{path}", serve), access))
        return routes

    async def index(self, _: web.Request) -> web.Response:
        raise web.HTTPFound("/alerts/console", headers=COMMON_HEADERS)

    def _origins(self, request: web.Request) -> set[str]:
        origins = {f"{request.scheme}://{request.host}"}
        if self.settings.public_url:
            origins.add(self.settings.public_url.rstrip("/"))
        return origins

    def _origin_ok(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        return origin is None or origin in self._origins(request)

    async def _session(self, request: web.Request) -> SessionInfo | None:
        token = request.cookies.get(self.cookie, "")
        if not token or len(token) > 200:
            return None
        return await self.db(self.db.store.session, token, self.idle, self.max_age)

    async def resolve_session(self, token: str) -> Identity | None:
        """The process authenticator's view of a console session cookie."""
        session = await self.db(self.db.store.session, token, self.idle, self.max_age)
        if session is None:
            return None
        return Identity(session.login, frozenset({session.role}), "account", csrf=session.csrf,
                        via_session=True)

    def _api(self, permission: Permission | None, method: str, path: str,
             handler: Handler) -> web.RouteDef:
        """A route declared for the roles holding `permission` (None: any caller), its handler
        given the caller as a SessionInfo (login, the role it acts with, CSRF token)."""
        allowed_roles = roles_with(permission) if permission is not None else {AUTHENTICATED}

        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                caller = identity(request)
                if caller is None:  # the middleware let nobody through: never here
                    raise ApiError(401, "not signed in", "unauthenticated")
                now = now_utc()
                session = SessionInfo(caller.name, _acting_role(caller, permission),
                                      caller.csrf, now, now)
                return await handler(request, session)
            except ApiError as exc:
                metrics.REFUSED.labels(exc.reason).inc()
                return _error(exc.status, exc.message)
        return declare(web.route(method, path, guarded),
                       allow(*allowed_roles, max_body_bytes=self.settings.max_request_bytes))

    async def _body(self, request: web.Request) -> dict[str, Any]:
        if request.content_type != "application/json":
            raise ApiError(415, "send JSON (Content-Type: application/json)")
        data = await request.content.read(self.settings.max_request_bytes + 1)
        if len(data) > self.settings.max_request_bytes:
            raise ApiError(413, "request body too large", "too_large")
        try:
            body = json.loads(data or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object")
        return body

    # -- session ------------------------------------------------------------------------------
    async def login(self, request: web.Request) -> web.Response:
        try:
            if (request.content_length or 0) > self.settings.max_request_bytes:
                raise ApiError(413, "request body too large", "too_large")
            if not self._origin_ok(request):
                raise ApiError(403, "cross-site login refused", "csrf")
            body = await self._body(request)
        except ApiError as exc:
            metrics.REFUSED.labels(exc.reason).inc()
            return _error(exc.status, exc.message)
        login, password = body.get("login"), body.get("password")
        if not isinstance(login, str) or not isinstance(password, str) or len(password) > 1024:
            return _error(400, "login and password are required")
        identity = await self.db(auth.authenticate, self.db.store, login.strip().lower(),
                                 password, self.settings.login_max_failures,
                                 timedelta(seconds=self.settings.login_lockout_s))
        if identity is None:
            metrics.LOGINS.labels("failed").inc()
            log.info("console login failed")
            await asyncio.sleep(0.2)
            return _error(401, "login failed: wrong login or password, or account locked")
        token, csrf = auth.new_token(), secrets.token_urlsafe(32)
        await self.db(self.db.store.create_session, token, identity.login, csrf)
        metrics.LOGINS.labels("ok").inc()
        response = _ok({"login": identity.login, "role": identity.role, "csrf": csrf,
                        "permissions": permissions(identity.role)})
        response.set_cookie(self.cookie, token, path="/", secure=self.settings.cookie_secure,
                            httponly=True, samesite="Strict",
                            max_age=int(self.settings.session_max_age_s))
        return response

    async def logout(self, request: web.Request, _: SessionInfo) -> web.Response:
        await self.db(self.db.store.delete_session, request.cookies.get(self.cookie, ""))
        response = _ok({"signed_out": True})
        response.del_cookie(self.cookie, path="/", secure=self.settings.cookie_secure,
                            httponly=True, samesite="Strict")
        return response

    async def me(self, _: web.Request, session: SessionInfo) -> web.Response:
        return _ok({"login": session.login, "role": session.role, "csrf": session.csrf,
                    "permissions": permissions(session.role),
                    "dispatch": await self.desk.dispatch_state()})

    # -- alerts -------------------------------------------------------------------------------
    def alert_json(self, stored: StoredAlert, role: str) -> dict[str, Any]:
        a = stored.alert
        name, lat, lon = self.desk.camera(a.camera_id)
        if a.HasField("geo"):
            lat, lon = a.geo.lat_deg, a.geo.lon_deg
        has_snapshot = bool(stored.snapshot_path) and stored.evidence_deleted_at is None
        body: dict[str, Any] = {
            "alert_id": a.alert_id, "title": a.title, "kind": kind_name(a.rule_kind),
            "severity": severity_name(a.severity), "rule_id": a.rule_id,
            "camera_id": a.camera_id, "camera_name": name, "lat": lat, "lon": lon,
            "raised_at": _ts(a, "raised_at"), "started_at": _ts(a, "started_at"),
            "status": lifecycle.STATUS_NAMES.get(stored.status, "unspecified"),
            "confirmations": stored.confirmations, "required": stored.required,
            "face_match": a.rule_kind == RuleKind.RULE_KIND_FACE_MATCH,
            "boxes": [[round(b.x_min, 4), round(b.y_min, 4), round(b.x_max, 4),
                       round(b.y_max, 4)] for b in a.boxes],
            "track_ids": list(a.track_ids), "attributes": dict(a.attributes),
            "frame_id": a.frame_id, "has_snapshot": has_snapshot,
            "evidence_locked": stored.evidence_locked,
            "evidence_deleted": stored.evidence_deleted_at is not None,
        }
        if allowed(role, Permission.VIEW_FEED):
            body["subject_id"] = a.subject_id
        if has_snapshot and allowed(role, Permission.VIEW_SNAPSHOT):
            body["snapshot_url"] = f"/alerts/api/alerts/{a.alert_id}/snapshot.jpg"
            body["snapshot_sha256"] = stored.snapshot_sha256
        return body

    def _query(self, request: web.Request) -> AlertQuery:
        q = request.query
        try:
            severities = [SEVERITY_BY_NAME[s] for s in q.getall("severity", [])]
            kinds = [KIND_BY_NAME[k] for k in q.getall("kind", [])]
            statuses = [lifecycle.STATUSES_BY_NAME[s] for s in q.getall("status", [])]
            since = datetime.fromisoformat(q["since"]) if "since" in q else None
            until = datetime.fromisoformat(q["until"]) if "until" in q else None
        except (KeyError, ValueError) as exc:
            raise ApiError(400, f"bad filter: {exc}") from None
        return AlertQuery(camera_ids=q.getall("camera_id", []), severities=severities,
                          rule_kinds=kinds, statuses=statuses, since=since, until=until,
                          text=q.get("q", "")[:100])

    async def list_alerts(self, request: web.Request, session: SessionInfo) -> web.Response:
        try:
            limit = min(max(1, int(request.query.get("limit", self.settings.page_size_default))),
                        500)
        except ValueError:
            raise ApiError(400, "limit must be a number") from None
        try:
            page, cursor = await self.db(self.db.store.list_alerts, self._query(request), limit,
                                         request.query.get("cursor", ""))
        except ValueError:
            raise ApiError(400, "invalid cursor") from None
        return _ok({"alerts": [self.alert_json(s, session.role) for s in page],
                    "next_cursor": cursor})

    async def _stored(self, request: web.Request) -> StoredAlert:
        stored = await self.db(self.db.store.get_alert, request.match_info["alert_id"])
        if stored is None:
            raise ApiError(404, "no such alert")
        return stored

    async def alert_detail(self, request: web.Request, session: SessionInfo) -> web.Response:
        stored = await self._stored(request)
        body = self.alert_json(stored, session.role)
        body["decisions"] = [decision_json(d) for d in
                             await self.db(self.db.store.decisions, stored.alert.alert_id)]
        body["deliveries"] = [delivery_json(d) for d in
                              await self.db(self.db.store.deliveries_of, stored.alert.alert_id)]
        body["evidence_lock_reason"] = (stored.evidence_lock_reason
                                        if allowed(session.role, Permission.LOCK_EVIDENCE)
                                        else "")
        return _ok(body)

    async def decide(self, request: web.Request, session: SessionInfo) -> web.Response:
        caller = identity(request)
        if caller is None or not caller.person:
            raise ApiError(403, "decisions are taken by persons: sign in with a console "
                                "account", "forbidden")
        body = await self._body(request)
        decision = lifecycle.DECISIONS_BY_NAME.get(str(body.get("decision", "")))
        reason = body.get("reason", "")
        if decision is None:
            raise ApiError(400, "decision must be acknowledged, confirmed or dismissed")
        if not isinstance(reason, str):
            raise ApiError(400, "reason must be text")
        try:
            result = await self.desk.decide(session.login, session.role,
                                            request.match_info["alert_id"], decision, reason)
        except DecisionRefused as exc:
            status = {"not_found": 404, "permission": 403, "invalid": 400}.get(exc.kind, 409)
            raise ApiError(status, str(exc)) from None
        return _ok({"decision": decision_json(result.decision),
                    "status": lifecycle.STATUS_NAMES.get(result.status, "unspecified"),
                    "confirmations": result.confirmations, "required": result.required})

    async def snapshot(self, request: web.Request, _: SessionInfo) -> web.StreamResponse:
        stored = await self._stored(request)
        path = (self.evidence.resolve(stored.snapshot_path)
                if stored.evidence_deleted_at is None else None)
        if path is None:
            raise ApiError(404, "no snapshot for this alert (none taken, or deleted by "
                                "retention)")
        data = await asyncio.to_thread(path.read_bytes)
        return web.Response(body=data, content_type="image/jpeg",
                            headers={**API_HEADERS, "Cache-Control": "private, no-store"})

    async def cap(self, request: web.Request, _: SessionInfo) -> web.Response:
        stored = await self._stored(request)
        name, lat, lon = self.desk.camera(stored.alert.camera_id)
        delivery = Delivery("preview", stored.alert.alert_id, "", "", "cap", 0,
                            "confirmed" if stored.status == lifecycle.CONFIRMED else "raised",
                            "", "", 0, None, "", now_utc(), None, stored.alert.camera_id,
                            stored.alert.rule_id, now_utc())
        identity = self.desk.dispatcher.identity if self.desk.dispatcher else CapIdentity()
        xml = cap_document(Context(delivery, stored, name, lat, lon), identity)
        return web.Response(body=xml, content_type="application/xml", charset="utf-8",
                            headers=API_HEADERS)

    async def evidence_lock(self, request: web.Request, session: SessionInfo) -> web.Response:
        body = await self._body(request)
        locked, reason = body.get("locked"), str(body.get("reason", "")).strip()
        if not isinstance(locked, bool):
            raise ApiError(400, "locked must be true or false")
        if not reason:
            raise ApiError(400, "a reason is required (legal hold reference)")
        stored = await self._stored(request)
        await self.db(self.db.store.set_evidence_lock, stored.alert.alert_id, locked, reason)
        await self.audit.record(AuditAction.AUDIT_ACTION_EVIDENCE_LOCK,
                                f"alert:{stored.alert.alert_id}",
                                event_id=f"lock-{uuid.uuid4().hex}",
                                actor=f"operator:{session.login}",
                                details={"locked": str(locked).lower(), "reason": reason[:500],
                                         "sha256": stored.snapshot_sha256})
        return _ok({"evidence_locked": locked})

    # -- cameras ------------------------------------------------------------------------------
    async def list_cameras(self, _: web.Request, __: SessionInfo) -> web.Response:
        open_counts = await self.db(self.db.store.open_counts_by_camera, [
            lifecycle.OPEN, lifecycle.ACKNOWLEDGED, lifecycle.PARTIALLY_CONFIRMED])
        cameras = []
        for c in self.cameras:
            frame = self.desk.frames.latest(c.camera_id)
            cameras.append({
                "camera_id": c.camera_id, "name": c.name or c.camera_id, "enabled": c.enabled,
                "lat": c.geo.lat_deg if c.HasField("geo") else None,
                "lon": c.geo.lon_deg if c.HasField("geo") else None,
                "open_alerts": open_counts.get(c.camera_id, 0),
                "has_frame": frame is not None,
                "frame_size": [frame.width, frame.height] if frame else None})
        return _ok({"cameras": cameras})

    async def camera_frame(self, request: web.Request, _: SessionInfo) -> web.StreamResponse:
        latest = await self.desk.blurred_latest(request.match_info["camera_id"])
        if latest is None:
            raise ApiError(404, "no recent frame from this camera")
        frame, data = latest
        return web.Response(body=data, content_type="image/jpeg",
                            headers={**API_HEADERS, "Cache-Control": "private, no-store",
                                     "X-Frame-Id": frame.frame_id})

    # -- rules (zone / line editor) -----------------------------------------------------------
    @staticmethod
    def rule_json(rule: Any) -> dict[str, Any]:
        return {"rule_id": rule.rule_id, "name": rule.name, "camera_id": rule.camera_id,
                "kind": kind_name(rule.kind), "severity": severity_name(rule.severity),
                "enabled": rule.enabled, "created_by": rule.created_by,
                "zone": [[p.x, p.y] for p in rule.geometry.zone],
                "line": ([[rule.geometry.line.start.x, rule.geometry.line.start.y],
                          [rule.geometry.line.end.x, rule.geometry.line.end.y]]
                         if rule.geometry.HasField("line") else None),
                "valid_until": _ts(rule.schedule, "valid_until")}

    async def list_rules(self, request: web.Request, _: SessionInfo) -> web.Response:
        try:
            rules = await self.rules.list(request.query.get("camera_id", ""))
        except RulesUnavailable as exc:
            raise ApiError(503, str(exc)) from None
        return _ok({"rules": [self.rule_json(r) for r in rules]})

    async def create_rule(self, request: web.Request, session: SessionInfo) -> web.Response:
        body = await self._body(request)
        try:
            points = [(float(x), float(y)) for x, y in body.get("points", [])]
            drawing = Drawing(
                camera_id=str(body.get("camera_id", "")), kind=str(body.get("kind", "")),
                points=points, duration=str(body.get("duration", "")),
                name=str(body.get("name", "")), severity=str(body.get("severity", "medium")),
                class_names=[str(c) for c in body.get("class_names", [])],
                max_dwell_s=float(body.get("max_dwell_s", 0) or 0),
                min_count=int(body.get("min_count", 0) or 0))
        except (TypeError, ValueError):
            raise ApiError(400, "points must be [[x, y], ...] numbers") from None
        if self.cameras.get(drawing.camera_id) is None:
            raise ApiError(404, "no such camera")
        try:
            rule = rule_from_drawing(drawing, f"console-{uuid.uuid4().hex[:12]}", session.login,
                                     now_utc())
            stored = await self.rules.put(rule, session.login)
        except DrawingError as exc:
            raise ApiError(400, str(exc)) from None
        except RuleRejected as exc:
            return _ok({"error": str(exc), "errors": [
                {"field": f, "message": m} for f, m in exc.errors]}, status=422)
        except RulesUnavailable as exc:
            raise ApiError(503, str(exc)) from None
        # The rules service records the RULE_CHANGE audit event, with this operator as actor.
        log.info("rule %s created from the console", stored.rule_id)
        return _ok({"rule": self.rule_json(stored)}, status=201)

    async def delete_rule(self, request: web.Request, session: SessionInfo) -> web.Response:
        rule_id = request.match_info["rule_id"]
        try:
            await self.rules.delete(rule_id, session.login)
        except RulesUnavailable as exc:
            raise ApiError(503, str(exc)) from None
        return _ok({"deleted": rule_id})

    # -- audit --------------------------------------------------------------------------------
    @staticmethod
    def audit_json(r: AuditRecorded) -> dict[str, Any]:
        return {"chain": r.chain, "sequence": r.sequence, "event_id": r.event_id,
                "occurred_at": _ts(r, "occurred_at"), "actor": r.actor,
                "action": ACTION_NAMES.get(r.action, str(r.action)),
                "subject_ref": r.subject_ref, "details": dict(sorted(r.details.items())),
                "hash": r.hash.hex(), "prev_hash": r.prev_hash.hex()}

    async def list_audit(self, request: web.Request, _: SessionInfo) -> web.Response:
        q = request.query
        try:
            limit = min(max(1, int(q.get("limit", 100))), AUDIT_PAGE_MAX)
            offset = max(0, int(q.get("offset", 0)))
        except ValueError:
            raise ApiError(400, "limit and offset are numbers") from None
        actions = {a for a, name in ACTION_NAMES.items() if name in q.getall("action", [])}
        records = [r for r in await read_audit(self.bus)
                   if (not q.get("chain") or r.chain == q["chain"])
                   and (not actions or r.action in actions)
                   and (not q.get("actor") or r.actor == q["actor"])
                   and (not q.get("subject") or r.subject_ref == q["subject"])]
        records.reverse()  # newest first
        return _ok({"records": [self.audit_json(r) for r in records[offset:offset + limit]],
                    "total": len(records)})

    async def verify_audit(self, _: web.Request, __: SessionInfo) -> web.Response:
        result = verify(await read_audit(self.bus), "", 0, 0)
        return _ok({"valid": result.valid, "records_checked": result.records_checked,
                    "error": result.error,
                    "chains": [{"chain": c.chain, "valid": c.valid,
                                "records_checked": c.records_checked,
                                "first_invalid_sequence": c.first_invalid_sequence,
                                "error": c.error, "head_hash": c.head_hash.hex()}
                               for c in result.chains]})

    # -- suspend switch -----------------------------------------------------------------------
    async def dispatch_state(self, _: web.Request, __: SessionInfo) -> web.Response:
        return _ok(await self.desk.dispatch_state())

    async def set_dispatch(self, request: web.Request, session: SessionInfo) -> web.Response:
        body = await self._body(request)
        suspended, reason = body.get("suspended"), str(body.get("reason", "")).strip()
        if not isinstance(suspended, bool):
            raise ApiError(400, "suspended must be true or false")
        if suspended and not reason:
            raise ApiError(400, "say why dispatch is suspended")
        state = await self.desk.set_suspended(suspended, f"operator:{session.login}", reason)
        return _ok(state)

    # -- accounts -----------------------------------------------------------------------------
    async def list_users(self, _: web.Request, __: SessionInfo) -> web.Response:
        users = await self.db(self.db.store.list_users)
        return _ok({"users": [{"login": u.login, "role": u.role, "disabled": u.disabled,
                               "created_at": iso(u.created_at), "created_by": u.created_by}
                              for u in users]})

    async def create_user(self, request: web.Request, session: SessionInfo) -> web.Response:
        body = await self._body(request)
        login = str(body.get("login", "")).strip().lower()
        role, password = str(body.get("role", "")), str(body.get("password", ""))
        try:
            await self.db(auth.create_user, self.db.store, login, role, password,
                          f"operator:{session.login}", self.settings.password_min_chars)
        except auth.AccountError as exc:
            raise ApiError(400, str(exc)) from None
        await self.audit.record(AuditAction.AUDIT_ACTION_ACCOUNT_CHANGE, f"account:{login}",
                                event_id=f"account-{uuid.uuid4().hex}",
                                actor=f"operator:{session.login}",
                                details={"change": "created", "role": role, "via": "console"})
        return _ok({"login": login, "role": role}, status=201)

    async def update_user(self, request: web.Request, session: SessionInfo) -> web.Response:
        login = request.match_info["login"]
        body = await self._body(request)
        values: dict[str, Any] = {}
        if "disabled" in body:
            if not isinstance(body["disabled"], bool):
                raise ApiError(400, "disabled must be true or false")
            if login == session.login and body["disabled"]:
                raise ApiError(400, "you cannot disable your own account")
            values["disabled"] = body["disabled"]
        if "role" in body:
            if parse_role(str(body["role"])) is None:
                raise ApiError(400, "unknown role")
            values["role"] = str(body["role"])
        if "password" in body:
            try:
                auth.check_password(str(body["password"]), self.settings.password_min_chars)
            except auth.AccountError as exc:
                raise ApiError(400, str(exc)) from None
            values["password_hash"] = await asyncio.to_thread(auth.hash_password,
                                                              str(body["password"]))
        if not values:
            raise ApiError(400, "nothing to change (disabled, role, password)")
        if not await self.db(self.db.store.update_user, login, **values):
            raise ApiError(404, "no such account")
        changed = sorted(k if k != "password_hash" else "password" for k in values)
        await self.audit.record(AuditAction.AUDIT_ACTION_ACCOUNT_CHANGE, f"account:{login}",
                                event_id=f"account-{uuid.uuid4().hex}",
                                actor=f"operator:{session.login}",
                                details={"change": ",".join(changed), "via": "console",
                                         **({"role": values["role"]} if "role" in values
                                            else {}),
                                         **({"disabled": str(values["disabled"]).lower()}
                                            if "disabled" in values else {})})
        return _ok({"login": login, "changed": changed})

    # -- live feed ----------------------------------------------------------------------------
    def event_json(self, event: LiveEvent, role: str) -> dict[str, Any]:
        if event.kind == "dispatch":
            return {"type": "dispatch", "dispatch": event.state}
        assert event.alert is not None
        body: dict[str, Any] = {"type": event.kind, "seq": event.seq,
                                "alert": self.alert_json(event.alert, role)}
        if event.decision is not None:
            body["decision"] = decision_json(event.decision)
        return body

    async def _still_valid(self, request: web.Request) -> bool:
        caller = identity(request)
        if caller is None:
            return False
        if caller.via_session:
            return await self._session(request) is not None
        token = bearer(request.headers.get("Authorization"))
        return bool(token) and await self.authenticator(token or "") is not None

    async def live(self, request: web.Request) -> web.StreamResponse:
        # The middleware checked the caller, its role and, for a cookie session, our Origin.
        caller = identity(request)
        if caller is None:
            return _error(401, "not signed in")
        session = SessionInfo(caller.name, _acting_role(caller, Permission.VIEW_FEED),
                              caller.csrf, now_utc(), now_utc())
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=4096)
        await ws.prepare(request)
        self.sockets.add(ws)
        subscriber = self.hub.subscribe(lambda _: True)
        reader = asyncio.ensure_future(self._read_until_closed(ws))
        try:
            await ws.send_json({"type": "hello", "login": session.login,
                                "dispatch": await self.desk.dispatch_state()})
            last_check = asyncio.get_running_loop().time()
            while not ws.closed:
                getter = asyncio.ensure_future(subscriber.next())
                done, _ = await asyncio.wait([getter, reader], timeout=30,
                                             return_when=asyncio.FIRST_COMPLETED)
                if reader in done:
                    getter.cancel()
                    break
                if getter in done:
                    event = getter.result()
                    if event is None:  # fell behind or shutting down
                        await ws.close(code=4008, message=b"too slow, reload")
                        break
                    await ws.send_str(json.dumps(self.event_json(event, session.role),
                                                 default=str))
                else:
                    getter.cancel()
                now = asyncio.get_running_loop().time()
                if now - last_check > 60:  # the session may have ended meanwhile
                    last_check = now
                    if not await self._still_valid(request):
                        await ws.close(code=4001, message=b"session ended")
                        break
        finally:
            reader.cancel()
            self.hub.unsubscribe(subscriber)
            self.sockets.discard(ws)
            with contextlib.suppress(Exception):
                await ws.close()
        return ws

    @staticmethod
    async def _read_until_closed(ws: web.WebSocketResponse) -> None:
        async for message in ws:
            if message.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                return

    async def close(self) -> None:
        for ws in list(self.sockets):
            with contextlib.suppress(Exception):
                await ws.close(code=1001, message=b"server shutting down")
