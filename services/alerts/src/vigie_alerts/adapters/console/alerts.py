"""The console's alerts: history search, an alert's detail (decisions, deliveries), decisions,
the snapshot and, for a camera_tampering alert, the camera's view before it (only to roles that
may see images, never cached), its CAP rendering, and evidence locks."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from vigie.audit.v1.audit_pb2 import AuditAction
from vigie_alerts.adapters.channels.base import Context
from vigie_alerts.adapters.channels.documents import cap_document
from vigie_alerts.adapters.console.views import alert_json, decision_json, delivery_json
from vigie_alerts.adapters.console.web import API_HEADERS, Api, ApiError, ok
from vigie_alerts.adapters.snapshots import EvidenceStore
from vigie_alerts.adapters.store import (
    AlertQuery,
    Database,
    Delivery,
    SessionInfo,
    StoredAlert,
    now_utc,
)
from vigie_alerts.app import AlertDesk, DecisionRefused
from vigie_alerts.domain import lifecycle
from vigie_alerts.domain.camera_health import BEFORE
from vigie_alerts.domain.cap import CapIdentity
from vigie_alerts.domain.policy import KIND_BY_NAME, SEVERITY_BY_NAME
from vigie_alerts.domain.roles import Permission, allowed
from vigie_core.audit import AuditLog
from vigie_core.auth.web import identity

PAGE_MAX = 500


class ConsoleAlerts:
    def __init__(self, db: Database, api: Api, desk: AlertDesk, audit: AuditLog,
                 evidence: EvidenceStore, cap_identity: CapIdentity,
                 page_size_default: int) -> None:
        self.db, self.history = db, db.store.history
        self.api, self.desk, self.audit, self.evidence = api, desk, audit, evidence
        self.cap_identity, self.page_size_default = cap_identity, page_size_default

    def routes(self) -> list[web.RouteDef]:
        route = self.api.route
        return [
            route(Permission.VIEW_HISTORY, "GET", "/api/alerts", self.list_alerts),
            route(Permission.VIEW_HISTORY, "GET", "/api/alerts/{alert_id}", self.alert_detail),
            route(Permission.DECIDE, "POST", "/api/alerts/{alert_id}/decisions", self.decide),
            route(Permission.VIEW_SNAPSHOT, "GET", "/api/alerts/{alert_id}/snapshot.jpg",
                  self.snapshot),
            route(Permission.VIEW_SNAPSHOT, "GET", "/api/alerts/{alert_id}/before.jpg",
                  self.before),
            route(Permission.VIEW_HISTORY, "GET", "/api/alerts/{alert_id}/cap.xml", self.cap),
            route(Permission.LOCK_EVIDENCE, "POST", "/api/alerts/{alert_id}/evidence-lock",
                  self.evidence_lock),
        ]

    def alert_json(self, stored: StoredAlert, role: str) -> dict[str, Any]:
        return alert_json(stored, role, self.desk.camera(stored.alert.camera_id))

    @staticmethod
    def _query(request: web.Request) -> AlertQuery:
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
            limit = min(max(1, int(request.query.get("limit", self.page_size_default))),
                        PAGE_MAX)
        except ValueError:
            raise ApiError(400, "limit must be a number") from None
        try:
            page, cursor = await self.db(self.history.list_alerts, self._query(request), limit,
                                         request.query.get("cursor", ""))
        except ValueError:
            raise ApiError(400, "invalid cursor") from None
        return ok({"alerts": [self.alert_json(s, session.role) for s in page],
                   "next_cursor": cursor})

    async def _stored(self, request: web.Request) -> StoredAlert:
        stored = await self.db(self.history.get_alert, request.match_info["alert_id"])
        if stored is None:
            raise ApiError(404, "no such alert")
        return stored

    async def alert_detail(self, request: web.Request, session: SessionInfo) -> web.Response:
        stored = await self._stored(request)
        alert_id = stored.alert.alert_id
        body = self.alert_json(stored, session.role)
        body["decisions"] = [decision_json(d) for d in
                             await self.db(self.history.decisions, alert_id)]
        body["deliveries"] = [delivery_json(d) for d in
                              await self.db(self.db.store.outbox.deliveries_of, alert_id)]
        body["evidence_lock_reason"] = (stored.evidence_lock_reason
                                        if allowed(session.role, Permission.LOCK_EVIDENCE)
                                        else "")
        return ok(body)

    async def decide(self, request: web.Request, session: SessionInfo) -> web.Response:
        caller = identity(request)
        if caller is None or not caller.person:
            raise ApiError(403, "decisions are taken by persons: sign in with a console "
                                "account", "forbidden")
        body = await self.api.body(request)
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
        return ok({"decision": decision_json(result.decision),
                   "status": lifecycle.STATUS_NAMES.get(result.status, "unspecified"),
                   "confirmations": result.confirmations, "required": result.required})

    async def snapshot(self, request: web.Request, _: SessionInfo) -> web.StreamResponse:
        stored = await self._stored(request)
        path = (self.evidence.resolve(stored.snapshot_path)
                if stored.evidence_deleted_at is None else None)
        if path is None:
            raise ApiError(404, "no snapshot for this alert (none taken, or deleted by "
                                "retention)")
        return await self._image(path)

    async def before(self, request: web.Request, _: SessionInfo) -> web.StreamResponse:
        """A camera_tampering alert's "before" image: the camera's reference view (faces
        blurred), as detect reported it with the change."""
        stored = await self._stored(request)
        item = stored.evidence(BEFORE)
        path = self.evidence.resolve(item.path) if item is not None and item.available else None
        if path is None:
            raise ApiError(404, "no before image for this alert (not a camera tampering "
                                "alert, none reported, or deleted by retention)")
        return await self._image(path)

    @staticmethod
    async def _image(path: Path) -> web.Response:
        data = await asyncio.to_thread(path.read_bytes)
        return web.Response(body=data, content_type="image/jpeg",
                            headers={**API_HEADERS, "Cache-Control": "private, no-store"})

    async def cap(self, request: web.Request, _: SessionInfo) -> web.Response:
        """The alert as the CAP channel would send it now."""
        stored = await self._stored(request)
        name, lat, lon = self.desk.camera(stored.alert.camera_id)
        delivery = Delivery("preview", stored.alert.alert_id, "", "", "cap", 0,
                            "confirmed" if stored.status == lifecycle.CONFIRMED else "raised",
                            "", "", 0, None, "", now_utc(), None, stored.alert.camera_id,
                            stored.alert.rule_id, now_utc())
        xml = cap_document(Context(delivery, stored, name, lat, lon), self.cap_identity)
        return web.Response(body=xml, content_type="application/xml", charset="utf-8",
                            headers=API_HEADERS)

    async def evidence_lock(self, request: web.Request, session: SessionInfo) -> web.Response:
        body = await self.api.body(request)
        locked, reason = body.get("locked"), str(body.get("reason", "")).strip()
        if not isinstance(locked, bool):
            raise ApiError(400, "locked must be true or false")
        if not reason:
            raise ApiError(400, "a reason is required (legal hold reference)")
        stored = await self._stored(request)
        await self.db(self.db.store.evidence.set_evidence_lock, stored.alert.alert_id, locked,
                      reason)
        await self.audit.record(AuditAction.AUDIT_ACTION_EVIDENCE_LOCK,
                                f"alert:{stored.alert.alert_id}",
                                event_id=f"lock-{uuid.uuid4().hex}",
                                actor=f"operator:{session.login}",
                                details={"locked": str(locked).lower(), "reason": reason[:500],
                                         "sha256": stored.snapshot_sha256,
                                         **{f"{e.name}_sha256": e.sha256
                                            for e in stored.extra_evidence if e.available}})
        return ok({"evidence_locked": locked})
