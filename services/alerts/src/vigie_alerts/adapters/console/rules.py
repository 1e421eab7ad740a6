"""The console's zone and line editor: the rule kinds it can draw (the rules service's
ListRuleKinds: nothing here lists kinds), the camera's rules, and rules drawn by an operator,
written through RulesService (which validates them and records the RULE_CHANGE audit event with
the operator as actor). When the rules service cannot be reached, the editor says so (503)."""

from __future__ import annotations

import logging
import uuid

from aiohttp import web
from vigie.camera.v1.camera_pb2 import Camera
from vigie_alerts.adapters.console.views import rule_json, rule_kind_json
from vigie_alerts.adapters.console.web import Api, ApiError, ok
from vigie_alerts.adapters.rules_client import RuleRejected, RulesClient, RulesUnavailable
from vigie_alerts.adapters.store import SessionInfo, now_utc
from vigie_alerts.domain.drawing import (
    Drawing,
    DrawingError,
    RuleKindInfo,
    editor_kinds,
    rule_from_drawing,
)
from vigie_alerts.domain.roles import Permission
from vigie_core.view import CompactedView

log = logging.getLogger(__name__)


class ConsoleRules:
    def __init__(self, api: Api, rules: RulesClient, cameras: CompactedView[Camera]) -> None:
        self.api, self.rules, self.cameras = api, rules, cameras

    def routes(self) -> list[web.RouteDef]:
        route = self.api.route
        return [route(Permission.EDIT_RULES, "GET", "/api/rule-kinds", self.list_kinds),
                route(Permission.EDIT_RULES, "GET", "/api/rules", self.list_rules),
                route(Permission.EDIT_RULES, "POST", "/api/rules", self.create_rule),
                route(Permission.EDIT_RULES, "DELETE", "/api/rules/{rule_id}", self.delete_rule)]

    async def _kinds(self) -> list[RuleKindInfo]:
        try:
            return editor_kinds(await self.rules.kinds())
        except RulesUnavailable as exc:
            raise ApiError(503, str(exc)) from None

    async def list_kinds(self, _: web.Request, __: SessionInfo) -> web.Response:
        return ok({"kinds": [rule_kind_json(k) for k in await self._kinds()]})

    async def list_rules(self, request: web.Request, _: SessionInfo) -> web.Response:
        try:
            rules = await self.rules.list(request.query.get("camera_id", ""))
        except RulesUnavailable as exc:
            raise ApiError(503, str(exc)) from None
        return ok({"rules": [rule_json(r) for r in rules]})

    async def create_rule(self, request: web.Request, session: SessionInfo) -> web.Response:
        body = await self.api.body(request)
        try:
            points = [(float(x), float(y)) for x, y in body.get("points", [])]
            drawing = Drawing(
                camera_id=str(body.get("camera_id", "")), kind=str(body.get("kind", "")),
                points=points, duration=str(body.get("duration", "")),
                name=str(body.get("name", "")), severity=str(body.get("severity", "medium")),
                class_names=[str(c) for c in body.get("class_names", [])],
                max_dwell_s=float(body.get("max_dwell_s", 0) or 0),
                max_stop_s=float(body.get("max_stop_s", 0) or 0),
                min_count=int(body.get("min_count", 0) or 0))
        except (TypeError, ValueError):
            raise ApiError(400, "points must be [[x, y], ...] numbers") from None
        if self.cameras.get(drawing.camera_id) is None:
            raise ApiError(404, "no such camera")
        kinds = {k.name: k for k in await self._kinds()}
        try:
            rule = rule_from_drawing(drawing, kinds, f"console-{uuid.uuid4().hex[:12]}",
                                     session.login, now_utc())
            stored = await self.rules.put(rule, session.login)
        except DrawingError as exc:
            raise ApiError(400, str(exc)) from None
        except RuleRejected as exc:
            return ok({"error": str(exc), "errors": [
                {"field": f, "message": m} for f, m in exc.errors]}, status=422)
        except RulesUnavailable as exc:
            raise ApiError(503, str(exc)) from None
        log.info("rule %s created from the console", stored.rule_id)
        return ok({"rule": rule_json(stored)}, status=201)

    async def delete_rule(self, request: web.Request, session: SessionInfo) -> web.Response:
        rule_id = request.match_info["rule_id"]
        try:
            await self.rules.delete(rule_id, session.login)
        except RulesUnavailable as exc:
            raise ApiError(503, str(exc)) from None
        return ok({"deleted": rule_id})
