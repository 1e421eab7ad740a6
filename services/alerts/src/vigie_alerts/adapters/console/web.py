"""What every console route shares: headers, JSON answers and errors, the route declaration with
its roles (enforced by vigie_core.auth.web), the caller handed to the handler, and JSON bodies
read within the size cap."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from vigie_alerts import metrics
from vigie_alerts.adapters.store import SessionInfo, now_utc
from vigie_alerts.domain.roles import Permission, allowed, roles_with
from vigie_core.auth.model import AUTHENTICATED, Identity, allow
from vigie_core.auth.web import declare, identity

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

Handler = Callable[[web.Request, SessionInfo], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    def __init__(self, status: int, message: str, reason: str = "bad_request") -> None:
        super().__init__(message)
        self.status, self.message, self.reason = status, message, reason


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=API_HEADERS)


def ok(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, headers=API_HEADERS,
                             dumps=lambda o: json.dumps(o, default=str))


_ROLE_ORDER = ["operator", "supervisor", "auditor", "admin"]


def acting_role(caller: Identity, permission: Permission | None) -> str:
    """The role a caller acts with: an account's own; for a machine with several roles, the
    first (in _ROLE_ORDER) that holds `permission`."""
    ordered = sorted(caller.roles, key=lambda r: (_ROLE_ORDER.index(r)
                                                  if r in _ROLE_ORDER else 99, r))
    for role in ordered:
        if permission is None or allowed(role, permission):
            return role
    return ordered[0] if ordered else ""


def caller_session(caller: Identity, permission: Permission | None) -> SessionInfo:
    """The caller as handlers see it: login, the role it acts with, its CSRF token."""
    now = now_utc()
    return SessionInfo(caller.name, acting_role(caller, permission), caller.csrf, now, now)


class Api:
    """Declares API routes and reads their bodies, within `max_request_bytes`."""

    def __init__(self, max_request_bytes: int) -> None:
        self.max_request_bytes = max_request_bytes

    def route(self, permission: Permission | None, method: str, path: str,
              handler: Handler) -> web.RouteDef:
        """A route declared for the roles holding `permission` (None: any caller), its handler
        given the caller as a SessionInfo."""
        allowed_roles = roles_with(permission) if permission is not None else {AUTHENTICATED}

        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                caller = identity(request)
                if caller is None:  # the middleware let nobody through: never here
                    raise ApiError(401, "not signed in", "unauthenticated")
                return await handler(request, caller_session(caller, permission))
            except ApiError as exc:
                metrics.REFUSED.labels(exc.reason).inc()
                return error(exc.status, exc.message)
        return declare(web.route(method, path, guarded),
                       allow(*allowed_roles, max_body_bytes=self.max_request_bytes))

    async def body(self, request: web.Request) -> dict[str, Any]:
        if request.content_type != "application/json":
            raise ApiError(415, "send JSON (Content-Type: application/json)")
        data = await request.content.read(self.max_request_bytes + 1)
        if len(data) > self.max_request_bytes:
            raise ApiError(413, "request body too large", "too_large")
        try:
            body = json.loads(data or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object")
        return body
