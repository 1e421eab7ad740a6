"""What a Vigie service is to the runtime: subscriptions, gRPC servicers, start and stop.

A service package registers its Service subclass under the `vigie.services` entry-point group, so
the `vigie` command and both runtimes find it without importing it by name.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, ClassVar

import grpc
from aiohttp import web
from pydantic_settings import BaseSettings

from vigie_core.audit import AuditLog, load_signing_key
from vigie_core.auth.authenticator import Authenticator
from vigie_core.bus.base import Bus
from vigie_core.processing import StreamProcessor, Subscription
from vigie_core.settings import CoreSettings
from vigie_core.topics import Topic
from vigie_core.view import CompactedView

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "vigie.services"
COMMANDS_GROUP = "vigie.commands"  # extra `vigie` subcommands a service package contributes


class Health:
    """Readiness by component; /readyz and the gRPC health service answer from it."""

    def __init__(self) -> None:
        self._components: dict[str, tuple[bool, str]] = {}
        self.listeners: list[Callable[[str, bool], None]] = []

    def set(self, component: str, ready: bool, reason: str = "") -> None:
        self._components[component] = (ready, reason)
        for listener in self.listeners:
            listener(component, ready)

    @property
    def ready(self) -> bool:
        return bool(self._components) and all(ok for ok, _ in self._components.values())

    def report(self) -> dict[str, dict[str, Any]]:
        return {name: {"ready": ok, "reason": reason}
                for name, (ok, reason) in sorted(self._components.items())}


@dataclass(frozen=True)
class GrpcBinding:
    """A servicer with its generated `add_XServicer_to_server` function and full service name,
    the roles that may call each of its methods (a method missing here is refused to everyone)
    and the largest request message it accepts."""

    add_to_server: Callable[[Any, grpc.aio.Server], None]
    servicer: Any
    service_name: str
    roles: Mapping[str, frozenset[str]] = field(default_factory=dict)
    max_message_bytes: int = 4 * 1024 * 1024


@dataclass(frozen=True)
class Check:
    """One `vigie doctor` finding: status is ok, warn or fail; `fix` says what to do."""

    name: str
    status: str
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Stream:
    """Subscriptions consumed together as one member of `group`."""

    group: str
    subscriptions: list[Subscription]
    store_offsets: bool = True
    concurrency: int = 1


@dataclass
class ServiceContext:
    core: CoreSettings
    bus: Bus
    health: Health = field(default_factory=Health)
    # The ports the process's servers bound (set before any service starts; useful when the
    # settings ask for port 0, e.g. a service calling another one in the same process).
    http_port: int = 0
    grpc_port: int = 0
    # Who may call what: shared by the gRPC interceptor and the HTTP middleware; services add
    # their own token and session resolvers to it (the alerts console's accounts).
    auth: Authenticator = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.auth is None:
            self.auth = Authenticator(self.core)


class Service:
    """Base class: override `subscriptions` (or `streams`), `grpc_bindings`, `http_routes`,
    `on_start`, `on_stop`, `status` and `doctor`."""

    name: ClassVar[str]
    settings_class: ClassVar[type[BaseSettings] | None] = None

    def __init__(self, ctx: ServiceContext, settings: BaseSettings | None = None) -> None:
        self.ctx = ctx
        self.bus = ctx.bus
        self.settings = settings
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.processors: dict[str, StreamProcessor] = {}
        self._audit: AuditLog | None = None

    @property
    def audit(self) -> AuditLog:
        """This replica's audit chain, `<name>/<audit_replica>` (resumed from the topic on first
        use; call `await self.audit.start()` in on_start to resume before serving), signed with
        the replica's key (CoreSettings.audit_key_path, created at first use)."""
        if self._audit is None:
            chain = f"{self.name}/{self.ctx.core.audit_replica}"
            self._audit = AuditLog(self.bus, chain, f"service:{self.name}",
                                   load_signing_key(self.ctx.core.audit_key_path(chain)))
        return self._audit

    @property
    def group(self) -> str:
        return f"vigie-{self.name}"

    def subscriptions(self) -> list[Subscription]:
        """What the service consumes in its own group, `vigie-<name>`."""
        return []

    def views(self) -> dict[Topic, CompactedView[Any]]:
        """Compacted topics this process keeps whole in memory (cameras, rules, watchlist)."""
        return {}

    def streams(self) -> list[Stream]:
        streams = []
        if subscriptions := self.subscriptions():
            streams.append(Stream(self.group, subscriptions))
        if views := self.views():
            # Every instance reads every partition from the start, in a group of its own that
            # never commits, so a restart or a new replica always rebuilds the whole view.
            streams.append(Stream(f"{self.group}-views-{self.ctx.core.instance}",
                                  [Subscription(t, v.handle) for t, v in views.items()],
                                  store_offsets=False))
        return streams

    def grpc_bindings(self) -> list[GrpcBinding]:
        return []

    def http_routes(self) -> list[web.RouteDef]:
        """Routes served under /<service name>/ on the process's HTTP server, each declared
        with `vigie_core.auth.web.declare` (an undeclared route is refused to everyone)."""
        return []

    @classmethod
    def doctor(cls, settings: BaseSettings | None) -> list[Check]:
        """Installation checks (models present, files readable) for `vigie doctor`."""
        return []

    def status(self) -> dict[str, Any]:
        return {}

    async def on_start(self) -> None:
        """Load models, open stores: runs before the service reports ready."""

    async def on_stop(self) -> None:
        """Release what on_start took; runs after consumption stopped."""

    async def start(self) -> None:
        await self.on_start()
        for stream in self.streams():
            processor = StreamProcessor(self.bus, stream.group, stream.subscriptions,
                                        store_offsets=stream.store_offsets,
                                        concurrency=stream.concurrency)
            self.processors[stream.group] = processor
            self._tasks.append(asyncio.create_task(processor.run(self._stop),
                                                   name=f"{self.name}:{stream.group}"))
        self.ctx.health.set(self.name, True)

    async def stop(self) -> None:
        self.ctx.health.set(self.name, False, "stopping")
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.on_stop()

    @property
    def tasks(self) -> list[asyncio.Task[None]]:
        return self._tasks


def installed_commands() -> dict[str, EntryPoint]:
    """`vigie` subcommands contributed by service packages: callables taking the subparsers."""
    return {ep.name: ep for ep in entry_points(group=COMMANDS_GROUP)}


def installed_services() -> dict[str, EntryPoint]:
    """Installed services by name, without importing them."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_service(name: str) -> type[Service]:
    services = installed_services()
    if name not in services:
        raise LookupError(f"no service {name!r} installed (installed: {', '.join(services)})")
    cls = services[name].load()
    if not (isinstance(cls, type) and issubclass(cls, Service)):
        raise TypeError(f"entry point {name!r} is not a vigie_core.service.Service")
    return cls
