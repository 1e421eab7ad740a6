"""The console's audit view: records of every chain, newest first, filtered, and the chains'
verification."""

from __future__ import annotations

from aiohttp import web
from vigie_alerts.adapters.console.views import ACTION_NAMES, audit_json
from vigie_alerts.adapters.console.web import Api, ApiError, ok
from vigie_alerts.adapters.grpc_api import verify
from vigie_alerts.adapters.store import SessionInfo
from vigie_alerts.domain.roles import Permission
from vigie_core.audit import read_audit
from vigie_core.bus.base import Bus

PAGE_MAX = 500


class ConsoleAudit:
    def __init__(self, api: Api, bus: Bus) -> None:
        self.api, self.bus = api, bus

    def routes(self) -> list[web.RouteDef]:
        return [self.api.route(Permission.VIEW_AUDIT, "GET", "/api/audit", self.list_audit),
                self.api.route(Permission.VIEW_AUDIT, "POST", "/api/audit/verify",
                               self.verify_audit)]

    async def list_audit(self, request: web.Request, _: SessionInfo) -> web.Response:
        q = request.query
        try:
            limit = min(max(1, int(q.get("limit", 100))), PAGE_MAX)
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
        return ok({"records": [audit_json(r) for r in records[offset:offset + limit]],
                   "total": len(records)})

    async def verify_audit(self, _: web.Request, __: SessionInfo) -> web.Response:
        result = verify(await read_audit(self.bus), "", 0, 0)
        return ok({"valid": result.valid, "records_checked": result.records_checked,
                   "error": result.error,
                   "chains": [{"chain": c.chain, "valid": c.valid,
                               "records_checked": c.records_checked,
                               "first_invalid_sequence": c.first_invalid_sequence,
                               "error": c.error, "head_hash": c.head_hash.hex()}
                              for c in result.chains]})
