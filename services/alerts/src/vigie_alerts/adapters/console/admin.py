"""The console's administration: the dispatch suspend switch and console accounts, every
change audited."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiohttp import web
from vigie.audit.v1.audit_pb2 import AuditAction
from vigie_alerts.adapters import auth
from vigie_alerts.adapters.console.web import Api, ApiError, ok
from vigie_alerts.adapters.store import Database, SessionInfo
from vigie_alerts.app import DispatchSwitch
from vigie_alerts.domain.messages import iso
from vigie_alerts.domain.roles import Permission, parse_role
from vigie_core.audit import AuditLog


class ConsoleAdmin:
    def __init__(self, db: Database, api: Api, switch: DispatchSwitch, audit: AuditLog,
                 password_min_chars: int) -> None:
        self.db, self.accounts = db, db.store.accounts
        self.api, self.switch, self.audit = api, switch, audit
        self.password_min_chars = password_min_chars

    def routes(self) -> list[web.RouteDef]:
        route = self.api.route
        return [route(Permission.VIEW_FEED, "GET", "/api/dispatch", self.dispatch_state),
                route(Permission.SUSPEND_DISPATCH, "POST", "/api/dispatch", self.set_dispatch),
                route(Permission.MANAGE_USERS, "GET", "/api/users", self.list_users),
                route(Permission.MANAGE_USERS, "POST", "/api/users", self.create_user),
                route(Permission.MANAGE_USERS, "POST", "/api/users/{login}", self.update_user)]

    # -- suspend switch -----------------------------------------------------------------------
    async def dispatch_state(self, _: web.Request, __: SessionInfo) -> web.Response:
        return ok(await self.switch.dispatch_state())

    async def set_dispatch(self, request: web.Request, session: SessionInfo) -> web.Response:
        body = await self.api.body(request)
        suspended, reason = body.get("suspended"), str(body.get("reason", "")).strip()
        if not isinstance(suspended, bool):
            raise ApiError(400, "suspended must be true or false")
        if suspended and not reason:
            raise ApiError(400, "say why dispatch is suspended")
        return ok(await self.switch.set_suspended(suspended, f"operator:{session.login}",
                                                  reason))

    # -- accounts -----------------------------------------------------------------------------
    async def list_users(self, _: web.Request, __: SessionInfo) -> web.Response:
        users = await self.db(self.accounts.list_users)
        return ok({"users": [{"login": u.login, "role": u.role, "disabled": u.disabled,
                              "created_at": iso(u.created_at), "created_by": u.created_by}
                             for u in users]})

    async def create_user(self, request: web.Request, session: SessionInfo) -> web.Response:
        body = await self.api.body(request)
        login = str(body.get("login", "")).strip().lower()
        role, password = str(body.get("role", "")), str(body.get("password", ""))
        try:
            await self.db(auth.create_user, self.accounts, login, role, password,
                          f"operator:{session.login}", self.password_min_chars)
        except auth.AccountError as exc:
            raise ApiError(400, str(exc)) from None
        await self.audit.record(AuditAction.AUDIT_ACTION_ACCOUNT_CHANGE, f"account:{login}",
                                event_id=f"account-{uuid.uuid4().hex}",
                                actor=f"operator:{session.login}",
                                details={"change": "created", "role": role, "via": "console"})
        return ok({"login": login, "role": role}, status=201)

    async def update_user(self, request: web.Request, session: SessionInfo) -> web.Response:
        login = request.match_info["login"]
        body = await self.api.body(request)
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
                auth.check_password(str(body["password"]), self.password_min_chars)
            except auth.AccountError as exc:
                raise ApiError(400, str(exc)) from None
            values["password_hash"] = await asyncio.to_thread(auth.hash_password,
                                                              str(body["password"]))
        if not values:
            raise ApiError(400, "nothing to change (disabled, role, password)")
        if not await self.db(self.accounts.update_user, login, **values):
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
        return ok({"login": login, "changed": changed})
