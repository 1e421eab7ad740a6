"""HTTP: access declarations on routes and the middleware that enforces them.

A service declares each route with `declare(route, access)` (or `protect`/`open_route`); the
middleware of the process's HTTP server then, for every request to a route:
- refuses a route without a declaration (403), so a new route cannot be served by accident;
- refuses a body larger than the route's `max_body_bytes` (413; Content-Length, and
  `request.read()`/`json()` are capped at it);
- rate-limits public routes per client address (429);
- authenticates a bearer token, a verified client certificate, or a service's session cookie
  (401 when none is valid), then checks the route's roles (403);
- for cookie sessions (ambient credentials a browser sends by itself), demands on every state
  change the session's CSRF token in X-CSRF-Token and, when the browser sends one, an Origin
  of this server; a WebSocket upgrade needs our Origin.
Refusals are JSON `{"error": ...}` with the header `Vigie-Refused-By: auth`.
"""

from __future__ import annotations

import functools
import hmac
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from vigie_core.auth.authenticator import ACCEPTED, REFUSED, Authenticator, bearer
from vigie_core.auth.certs import identity_from_der
from vigie_core.auth.model import Access, Identity

ACCESS_ATTR = "__vigie_access__"
IDENTITY_KEY = web.RequestKey("vigie.identity", Identity)
CSRF_HEADER = "X-CSRF-Token"
REFUSED_HEADER = "Vigie-Refused-By"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def declare(route: web.RouteDef, access: Access) -> web.RouteDef:
    """`route` with its access declaration attached to its handler."""
    inner = route.handler

    @functools.wraps(inner)
    async def handler(request: web.Request) -> web.StreamResponse:
        return await inner(request)

    setattr(handler, ACCESS_ATTR, access)
    return web.RouteDef(route.method, route.path, handler, route.kwargs)


def access_of(handler: Any) -> Access | None:
    value = getattr(handler, ACCESS_ATTR, None)
    return value if isinstance(value, Access) else None


def identity(request: web.Request) -> Identity | None:
    """The authenticated caller of `request` (None on public routes)."""
    return request.get(IDENTITY_KEY)


@dataclass(frozen=True)
class RouteInfo:
    method: str
    path: str
    handler: Any
    access: Access | None


def routes_of(app: web.Application) -> Iterator[RouteInfo]:
    """Every route of `app` and its sub-applications, with its declaration."""
    for resource in app.router.resources():
        sub = getattr(resource, "_app", None)
        if isinstance(sub, web.Application):
            yield from routes_of(sub)  # its resources carry the prefix already
            continue
        for route in resource:
            yield RouteInfo(route.method, resource.canonical, route.handler,
                            access_of(route.handler))


class RateLimiter:
    """A token bucket per (route, client address): `rate_per_minute` with as big a burst;
    the least recently seen buckets are forgotten beyond `max_buckets`."""

    def __init__(self, rate_per_minute: int, max_buckets: int = 10000) -> None:
        self.rate = rate_per_minute / 60.0
        self.capacity = float(rate_per_minute)
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()

    def take(self, key: tuple[str, str], now: float | None = None) -> float:
        """0 when allowed, else the seconds until the next request would be."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_buckets:
            self._buckets.popitem(last=False)
        return wait


def _refusal(status: int, message: str, reason: str,
             headers: dict[str, str] | None = None) -> web.Response:
    REFUSED.labels("http", reason).inc()
    return web.json_response({"error": message}, status=status, headers={
        REFUSED_HEADER: "auth", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
        **(headers or {})})


def _peer_identity(request: web.Request) -> Identity | None:
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return identity_from_der(der) if der else None


def _origins(request: web.Request, extra: tuple[str, ...]) -> set[str]:
    return {f"{request.scheme}://{request.host}", *(o.rstrip("/") for o in extra if o)}


def middleware(authenticator: Authenticator, public_rate_per_minute: int
               ) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    limiter = RateLimiter(public_rate_per_minute)

    async def authenticate(request: web.Request, access: Access
                           ) -> Identity | web.Response:
        token = bearer(request.headers.get("Authorization"))
        if token is not None:
            found = await authenticator.from_token(token)
            if found is None:
                return _refusal(401, "unknown, expired or revoked token", "bad_token",
                                {"WWW-Authenticate": 'Bearer error="invalid_token"'})
            return found
        if (peer := _peer_identity(request)) is not None:
            return peer
        if access.sessions:
            for sessions in authenticator.session_resolvers:
                cookie = request.cookies.get(sessions.cookie, "")
                if not cookie or len(cookie) > 200:
                    continue
                found = await sessions.resolve(cookie)
                if found is None:
                    continue
                if refused := _csrf(request, found, tuple(sessions.origins)):
                    return refused
                return found
        return _refusal(401, "not signed in: a bearer token (vigie tokens create), a client "
                        "certificate or a console session is needed", "unauthenticated",
                        {"WWW-Authenticate": "Bearer"})

    def _csrf(request: web.Request, found: Identity, origins: tuple[str, ...]
              ) -> web.Response | None:
        origin = request.headers.get("Origin")
        allowed = _origins(request, origins)
        if request.headers.get("Upgrade", "").lower() == "websocket":
            if origin is None or origin not in allowed:
                return _refusal(403, "cross-site WebSocket refused", "csrf")
            return None
        if request.method in SAFE_METHODS:
            return None
        given = request.headers.get(CSRF_HEADER, "")
        if not (given and found.csrf and hmac.compare_digest(given, found.csrf)
                and (origin is None or origin in allowed)):
            return _refusal(403, "missing or wrong CSRF token", "csrf")
        return None

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        match = request.match_info
        if match.http_exception is not None:  # no route: 404/405 as usual
            return await handler(request)
        access = access_of(match.handler)
        resource = match.route.resource
        path = resource.canonical if resource is not None else request.path
        if access is None:
            return _refusal(403, f"{request.method} {path} declares no access: refused",
                            "undeclared")
        if (request.content_length or 0) > access.max_body_bytes:
            return _refusal(413, f"request body larger than {access.max_body_bytes} bytes",
                            "too_large")
        request._client_max_size = access.max_body_bytes  # caps read(), json(), post()
        if access.public:
            if access.rate_limited and public_rate_per_minute:
                wait = limiter.take((path, request.remote or ""))
                if wait:
                    return _refusal(429, "too many requests from this address; retry later",
                                    "rate_limited", {"Retry-After": str(max(1, round(wait)))})
            return await handler(request)
        found = await authenticate(request, access)
        if isinstance(found, web.Response):
            return found
        if not found.may(access.roles):
            have = ", ".join(sorted(found.roles)) or "no role"
            return _refusal(403, f"the {have} role may not do this (needs "
                            f"{access.describe()})", "forbidden")
        ACCEPTED.labels("http", "session" if found.via_session else found.kind).inc()
        request[IDENTITY_KEY] = found
        return await handler(request)

    return guard
