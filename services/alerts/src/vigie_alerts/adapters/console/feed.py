"""The console's live feed: a WebSocket (/alerts/api/live) pushing every stored alert, decision,
snapshot, delivery outcome and dispatch switch change. The core middleware checked the caller,
its role and, for a cookie session, our Origin; the session is checked again every minute."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web
from vigie_alerts.adapters.console.sessions import ConsoleSessions
from vigie_alerts.adapters.console.views import alert_json, decision_json
from vigie_alerts.adapters.console.web import caller_session, error
from vigie_alerts.adapters.live import LiveEvent, LiveHub
from vigie_alerts.app import AlertDesk, DispatchSwitch
from vigie_alerts.domain.roles import Permission, roles_with
from vigie_core.auth.authenticator import bearer
from vigie_core.auth.model import Identity, allow
from vigie_core.auth.web import declare, identity

SESSION_CHECK_S = 60


class ConsoleFeed:
    def __init__(self, hub: LiveHub, desk: AlertDesk, switch: DispatchSwitch,
                 sessions: ConsoleSessions,
                 authenticator: Callable[[str], Awaitable[Identity | None]]) -> None:
        self.hub, self.desk, self.switch, self.sessions = hub, desk, switch, sessions
        self.authenticator = authenticator
        self.sockets: set[web.WebSocketResponse] = set()

    def routes(self) -> list[web.RouteDef]:
        return [declare(web.get("/api/live", self.live),
                        allow(*roles_with(Permission.VIEW_FEED), max_body_bytes=1024))]

    def event_json(self, event: LiveEvent, role: str) -> dict[str, Any]:
        if event.kind == "dispatch":
            return {"type": "dispatch", "dispatch": event.state}
        assert event.alert is not None
        body: dict[str, Any] = {
            "type": event.kind, "seq": event.seq,
            "alert": alert_json(event.alert, role, self.desk.camera(event.alert.alert.camera_id))}
        if event.decision is not None:
            body["decision"] = decision_json(event.decision)
        return body

    async def _still_valid(self, request: web.Request) -> bool:
        caller = identity(request)
        if caller is None:
            return False
        if caller.via_session:
            return await self.sessions.session(request) is not None
        token = bearer(request.headers.get("Authorization"))
        return bool(token) and await self.authenticator(token or "") is not None

    async def live(self, request: web.Request) -> web.StreamResponse:
        caller = identity(request)
        if caller is None:
            return error(401, "not signed in")
        session = caller_session(caller, Permission.VIEW_FEED)
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=4096)
        await ws.prepare(request)
        self.sockets.add(ws)
        subscriber = self.hub.subscribe(lambda _: True)
        reader = asyncio.ensure_future(self._read_until_closed(ws))
        try:
            await ws.send_json({"type": "hello", "login": session.login,
                                "dispatch": await self.switch.dispatch_state()})
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
                if now - last_check > SESSION_CHECK_S:  # the session may have ended meanwhile
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
