"""Run services: all of them in one process on a MemoryBus (embedded), or one on Kafka.

The same Service objects run in both; only the Bus differs. A process owns one HTTP server and one
gRPC server shared by its services, starts them in order, and on SIGINT/SIGTERM stops consuming,
drains, flushes the producer, commits offsets and closes.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import grpc
from aiohttp import web

from vigie_core.auth.authenticator import Authenticator
from vigie_core.bus.base import Bus
from vigie_core.servers import http_app, start_grpc, start_http
from vigie_core.service import GrpcBinding, Service, ServiceContext, load_service
from vigie_core.settings import CoreSettings
from vigie_core.topics import REGISTRY

log = logging.getLogger(__name__)


@dataclass
class Running:
    """A started process: its services, bus and bound ports."""

    services: list[Service]
    bus: Bus
    context: ServiceContext
    http_port: int
    grpc_port: int
    _http: web.AppRunner
    _grpc: grpc.aio.Server
    app: web.Application | None = None
    bindings: list[GrpcBinding] = field(default_factory=list)
    _channels: list[grpc.aio.Channel] = field(default_factory=list)

    @property
    def auth(self) -> Authenticator:
        return self.context.auth

    def issue_token(self, *role_names: str, name: str = "local",
                    ttl: timedelta | None = None) -> str:
        """A new client token with `role_names` in this process's token store (tests, demos)."""
        token, _ = self.context.auth.store.create(name, role_names, ttl, "runtime")
        return token

    def channel(self, *role_names: str, name: str = "local") -> grpc.aio.Channel:
        """A channel to this process's gRPC server carrying a new token with `role_names`."""
        from vigie_core.auth.rpc import channel

        made = channel(f"127.0.0.1:{self.grpc_port}", self.context.core,
                       token=self.issue_token(*role_names, name=name), own_server=True)
        self._channels.append(made)  # kept (and closed at stop): stubs do not hold it
        return made

    def status(self) -> dict[str, Any]:
        return {
            "services": {s.name: s.status() for s in self.services},
            "ready": self.context.health.ready,
            "no_biometrics": self.context.core.no_biometrics,
            "bus": type(self.bus).__name__,
            "auth": self.context.auth.status(),
        }

    async def stop(self) -> None:
        grace = self.context.core.shutdown_grace_s
        for made in self._channels:
            await made.close()
        await self._grpc.stop(grace / 2)
        for service in reversed(self.services):
            try:
                await asyncio.wait_for(service.stop(), grace)
            except Exception:
                log.exception("service %s did not stop cleanly", service.name)
        await self.bus.close()
        await self._http.cleanup()


async def start(names: Sequence[str], core: CoreSettings, bus: Bus,
                overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Running:
    """Start `names` on `bus`; `overrides` set service settings over the environment's.
    Raises if a listener would be exposed without TLS. Every gRPC method and HTTP route is
    authenticated and authorised (vigie_core.auth) by `core`'s token store, the services'
    own resolvers, client certificates, and the process's internal token."""
    if exposed := core.insecure_listeners():
        raise PermissionError(
            f"refusing to serve {', '.join(exposed)} without TLS: set VIGIE_TLS_CERT_FILE and "
            "VIGIE_TLS_KEY_FILE, or listen on 127.0.0.1")
    classes = [load_service(name) for name in names]
    await bus.start()
    await bus.ensure_topics(REGISTRY)
    context = ServiceContext(core=core, bus=bus)
    overrides = overrides or {}
    services = [cls(context, cls.settings_class(**overrides.get(cls.name, {}))
                    if cls.settings_class else None) for cls in classes]
    for service in services:
        context.health.set(service.name, False, "starting")
    holder: dict[str, Running] = {}
    app = http_app(context.health, lambda: holder["running"].status(), context.auth,
                   public_metrics=core.auth_public_metrics,
                   public_rate_per_minute=core.http_public_rate_per_minute)
    for service in services:
        if routes := service.http_routes():
            sub_app = web.Application()
            sub_app.add_routes(routes)
            app.add_subapp(f"/{service.name}/", sub_app)
    http, http_port = await start_http(app, core)
    bindings = [b for s in services for b in s.grpc_bindings()]
    server, grpc_port = await start_grpc(bindings, context.health, core, context.auth)
    context.http_port, context.grpc_port = http_port, grpc_port
    running = Running(services, bus, context, http_port, grpc_port, http, server, app,
                      bindings)
    holder["running"] = running
    for service in services:
        await service.start()
    log.info("started %s on %s (http %d, grpc %d)", ", ".join(names), type(bus).__name__,
             http_port, grpc_port)
    return running


async def serve(names: Sequence[str], core: CoreSettings, bus: Bus,
                overrides: Mapping[str, Mapping[str, Any]] | None = None,
                then: Callable[[Running], Awaitable[None]] | None = None) -> int:
    """Run until SIGINT/SIGTERM or until a service's stream fails; return the exit code.
    `then` runs once everything started (e.g. register a demo camera)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    running = await start(names, core, bus, overrides)
    if then is not None:
        await then(running)
    tasks = [t for s in running.services for t in s.tasks]
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
    failed = [t for t in done if t is not stopper and t.exception() is not None]
    for task in failed:
        log.error("stream %s failed: %r", task.get_name(), task.exception())
    stopper.cancel()
    log.info("stopping")
    await running.stop()
    log.info("stopped")
    return 1 if failed else 0
