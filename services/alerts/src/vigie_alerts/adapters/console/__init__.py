"""The operator console over HTTP, under /alerts/: the page, a JSON API and a live WebSocket, in
parts by concern (pages, sessions, alerts, cameras, rules, audit, admin, feed); this assembles
them.

Security, on every route (each declares its roles: vigie_core.auth.web enforces them, with the
process's other routes, and refuses any undeclared one):
- Authentication by a session cookie (sessions.py). The console registers its sessions (and its
  accounts' personal API tokens) with the process's authenticator, so the core middleware
  resolves them; bearer tokens work on the API too.
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

from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web
from vigie.camera.v1.camera_pb2 import Camera
from vigie_alerts.adapters.console import pages
from vigie_alerts.adapters.console.admin import ConsoleAdmin
from vigie_alerts.adapters.console.alerts import ConsoleAlerts
from vigie_alerts.adapters.console.audit import ConsoleAudit
from vigie_alerts.adapters.console.cameras import ConsoleCameras
from vigie_alerts.adapters.console.feed import ConsoleFeed
from vigie_alerts.adapters.console.rules import ConsoleRules
from vigie_alerts.adapters.console.sessions import ConsoleSessions
from vigie_alerts.adapters.console.web import Api
from vigie_alerts.adapters.live import LiveHub
from vigie_alerts.adapters.rules_client import RulesClient
from vigie_alerts.adapters.snapshots import EvidenceStore
from vigie_alerts.adapters.store import Database
from vigie_alerts.app import AlertDesk, DispatchSwitch, Snapshots
from vigie_alerts.config import Settings
from vigie_alerts.domain.camera_health import HealthBoard
from vigie_alerts.domain.cap import CapIdentity
from vigie_core.audit import AuditLog
from vigie_core.auth.model import Identity
from vigie_core.bus.base import Bus
from vigie_core.view import CompactedView


class _Part(Protocol):
    def routes(self) -> list[web.RouteDef]: ...


class Console:
    def __init__(self, settings: Settings, db: Database, *, desk: AlertDesk,
                 switch: DispatchSwitch, snapshots: Snapshots, hub: LiveHub,
                 cameras: CompactedView[Camera], health: HealthBoard, rules: RulesClient,
                 bus: Bus, audit: AuditLog,
                 evidence: EvidenceStore, cap_identity: CapIdentity,
                 authenticator: Callable[[str], Awaitable[Identity | None]]) -> None:
        api = Api(settings.max_request_bytes)
        self.sessions = ConsoleSessions(settings, db, api, switch)
        self.feed = ConsoleFeed(hub, desk, switch, self.sessions, authenticator)
        self.parts: list[_Part] = [
                      self.sessions,
                      ConsoleAlerts(db, api, desk, audit, evidence, cap_identity,
                                    settings.page_size_default),
                      ConsoleCameras(db, api, cameras, snapshots, health),
                      ConsoleRules(api, rules, cameras),
                      ConsoleAudit(api, bus),
                      ConsoleAdmin(db, api, switch, audit, settings.password_min_chars),
                      self.feed]

    @property
    def cookie(self) -> str:
        return self.sessions.cookie

    async def resolve_session(self, token: str) -> Identity | None:
        return await self.sessions.resolve(token)

    def routes(self) -> list[web.RouteDef]:
        return [*pages.routes(), *(r for part in self.parts for r in part.routes())]

    async def close(self) -> None:
        await self.feed.close()
