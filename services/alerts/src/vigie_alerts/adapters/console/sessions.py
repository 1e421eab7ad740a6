"""Signing in and out of the console. Sessions are a cookie (`__Host-vigie-session`: Secure,
HttpOnly, SameSite=Strict, Path=/) created by POST /alerts/api/session with login and password;
they end after an idle time and a maximum age, and when the account is disabled or its password
or role changes. The process authenticator resolves them (`resolve`), so the core middleware
knows the caller on every route."""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import timedelta

from aiohttp import web
from vigie_alerts import metrics
from vigie_alerts.adapters import auth
from vigie_alerts.adapters.console.web import Api, ApiError, error, ok
from vigie_alerts.adapters.store import Database, SessionInfo
from vigie_alerts.app import DispatchSwitch
from vigie_alerts.config import Settings
from vigie_alerts.domain.roles import permissions
from vigie_core.auth.model import Identity, public
from vigie_core.auth.web import declare

log = logging.getLogger(__name__)


class ConsoleSessions:
    def __init__(self, settings: Settings, db: Database, api: Api,
                 switch: DispatchSwitch) -> None:
        self.settings, self.db, self.api, self.switch = settings, db, api, switch
        self.store = db.store.sessions
        self.cookie = "__Host-vigie-session" if settings.cookie_secure else "vigie-session"
        self.idle = timedelta(seconds=settings.session_idle_timeout_s)
        self.max_age = timedelta(seconds=settings.session_max_age_s)

    def routes(self) -> list[web.RouteDef]:
        sign_in = public("console sign-in: argon2id, lock-out after failures, the same answer "
                         "whatever failed", max_body_bytes=self.settings.max_request_bytes)
        return [declare(web.post("/api/session", self.login), sign_in),
                self.api.route(None, "DELETE", "/api/session", self.logout),
                self.api.route(None, "GET", "/api/me", self.me)]

    async def session(self, request: web.Request) -> SessionInfo | None:
        """The live session of the request's cookie."""
        token = request.cookies.get(self.cookie, "")
        if not token or len(token) > 200:
            return None
        return await self.db(self.store.session, token, self.idle, self.max_age)

    async def resolve(self, token: str) -> Identity | None:
        """The process authenticator's view of a console session cookie."""
        session = await self.db(self.store.session, token, self.idle, self.max_age)
        if session is None:
            return None
        return Identity(session.login, frozenset({session.role}), "account", csrf=session.csrf,
                        via_session=True)

    def _origin_ok(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        origins = {f"{request.scheme}://{request.host}"}
        if self.settings.public_url:
            origins.add(self.settings.public_url.rstrip("/"))
        return origin is None or origin in origins

    async def login(self, request: web.Request) -> web.Response:
        try:
            if (request.content_length or 0) > self.settings.max_request_bytes:
                raise ApiError(413, "request body too large", "too_large")
            if not self._origin_ok(request):
                raise ApiError(403, "cross-site login refused", "csrf")
            body = await self.api.body(request)
        except ApiError as exc:
            metrics.REFUSED.labels(exc.reason).inc()
            return error(exc.status, exc.message)
        login, password = body.get("login"), body.get("password")
        if not isinstance(login, str) or not isinstance(password, str) or len(password) > 1024:
            return error(400, "login and password are required")
        identity = await self.db(auth.authenticate, self.db.store.accounts,
                                 login.strip().lower(), password,
                                 self.settings.login_max_failures,
                                 timedelta(seconds=self.settings.login_lockout_s))
        if identity is None:
            metrics.LOGINS.labels("failed").inc()
            log.info("console login failed")
            await asyncio.sleep(0.2)
            return error(401, "login failed: wrong login or password, or account locked")
        token, csrf = auth.new_token(), secrets.token_urlsafe(32)
        await self.db(self.store.create_session, token, identity.login, csrf)
        metrics.LOGINS.labels("ok").inc()
        response = ok({"login": identity.login, "role": identity.role, "csrf": csrf,
                       "permissions": permissions(identity.role)})
        response.set_cookie(self.cookie, token, path="/", secure=self.settings.cookie_secure,
                            httponly=True, samesite="Strict",
                            max_age=int(self.settings.session_max_age_s))
        return response

    async def logout(self, request: web.Request, _: SessionInfo) -> web.Response:
        await self.db(self.store.delete_session, request.cookies.get(self.cookie, ""))
        response = ok({"signed_out": True})
        response.del_cookie(self.cookie, path="/", secure=self.settings.cookie_secure,
                            httponly=True, samesite="Strict")
        return response

    async def me(self, _: web.Request, session: SessionInfo) -> web.Response:
        return ok({"login": session.login, "role": session.role, "csrf": session.csrf,
                   "permissions": permissions(session.role),
                   "dispatch": await self.switch.dispatch_state()})
