"""The use cases of the alerts service, whoever drives them (the consume loop, the gRPC servicer,
the console). service.py builds them; the adapters call them.

- AlertDesk: an alert consumed from vigie.alerts.v1 is stored once (by alert_id), pushed to the
  live feed, planned for `trigger: raised` routes (never for face matches), and handed to the
  snapshots. A decision consumed from vigie.alert-decisions.v1 is stored once (by decision_id)
  and folded into the alert's status in the same transaction; the fold that releases dispatch
  plans the `trigger: confirmed` routes. `decide` checks the caller's permission and the
  lifecycle, publishes the decision (durable), appends the DECISION audit record (durable), then
  waits briefly for its own consumer to fold it, so it answers with the status everyone will see.
- DispatchSwitch: the suspend switch, kept in the database (shared by replicas), audited, and
  pushed live.
- Snapshots: the alert's frame from the buffer, faces (and, on alerts about people, head areas)
  blurred, written to the evidence store with its retention deadline; the zone editor's image.
  For a camera_tampering alert (attribute `view_problem`) also its "before" image: the camera's
  reference view from detect's camera-health report of the alert's frame, faces blurred the
  same way, stored beside the snapshot with the same retention (and the report's own "after"
  image as the snapshot when the frame is not in the buffer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.alerts.v1.decision_pb2 import AlertDecided
from vigie.audit.v1.audit_pb2 import AuditAction
from vigie.camera.v1.camera_health_pb2 import CameraHealthChanged
from vigie.camera.v1.camera_pb2 import Camera
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie.rules.v1.rule_pb2 import RuleKind
from vigie_core.audit import AuditLog
from vigie_core.bus.base import Bus
from vigie_core.topics import ALERT_DECISIONS
from vigie_core.view import CompactedView

from vigie_alerts import metrics
from vigie_alerts.adapters.live import LiveEvent, LiveHub
from vigie_alerts.adapters.snapshots import EvidenceStore, FaceBlurrer
from vigie_alerts.adapters.store import (
    Database,
    NewDelivery,
    StoredAlert,
    delivery_id,
    now_utc,
)
from vigie_alerts.adapters.store.state import DISPATCH_STATE
from vigie_alerts.domain import lifecycle
from vigie_alerts.domain.camera_health import BEFORE, ViewReport, ViewReports, wants_before
from vigie_alerts.domain.frames import BufferedFrame, FrameBuffer
from vigie_alerts.domain.policy import Policy
from vigie_alerts.domain.privacy import Box, involves_persons
from vigie_alerts.domain.retention import evidence_retention, expires_at
from vigie_alerts.domain.roles import Permission, allowed
from vigie_alerts.domain.routing import AlertFacts, PastDispatch, Planned, plan

log = logging.getLogger(__name__)

DECISION_WAIT_S = 5.0
VIEW_REPORTS_MAX_BYTES = 8 * 1024 * 1024
"""Images of detect's recent view-change reports kept for tamper alerts (two thumbnails of at
most 160 px each, a few KB: thousands of reports)."""


class DecisionRefused(Exception):
    """A decision the lifecycle or the caller's role does not allow."""

    def __init__(self, message: str, kind: str = "precondition") -> None:
        super().__init__(message)
        self.kind = kind  # precondition, not_found, permission, invalid


@dataclass(frozen=True)
class DecisionResult:
    decision: AlertDecided
    status: int
    confirmations: int
    required: int


def facts(alert: AlertRaised) -> AlertFacts:
    return AlertFacts(alert.alert_id, alert.rule_id, alert.rule_kind, alert.camera_id,
                      alert.severity, alert.raised_at.ToDatetime(UTC))


def camera_place(cameras: CompactedView[Camera], camera_id: str
                 ) -> tuple[str, float | None, float | None]:
    """A camera's name and position (lat, lon), as far as the camera view knows them."""
    camera = cameras.get(camera_id)
    if camera is None:
        return camera_id, None, None
    if camera.HasField("geo"):
        return camera.name or camera_id, camera.geo.lat_deg, camera.geo.lon_deg
    return camera.name or camera_id, None, None


class AlertDesk:
    def __init__(self, db: Database, bus: Bus, audit: AuditLog, hub: LiveHub,
                 policy: Policy, cameras: CompactedView[Camera], snapshots: Snapshots,
                 wake_dispatcher: Callable[[], None]) -> None:
        self.db, self.history = db, db.store.history
        self.bus, self.audit, self.hub = bus, audit, hub
        self.policy, self.cameras, self.snapshots = policy, cameras, snapshots
        self.wake_dispatcher = wake_dispatcher
        self._decision_waiters: dict[str, asyncio.Event] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.counts: dict[str, int] = defaultdict(int)

    def camera(self, camera_id: str) -> tuple[str, float | None, float | None]:
        return camera_place(self.cameras, camera_id)

    # -- consumed events --------------------------------------------------------------------------
    async def on_alert(self, alert: AlertRaised, published_at: datetime | None = None) -> None:
        if not alert.alert_id:
            self.counts["alerts_without_id"] += 1
            return
        if not alert.HasField("geo"):
            camera = self.cameras.get(alert.camera_id)
            if camera is not None and camera.HasField("geo"):
                alert.geo.CopyFrom(camera.geo)
        required = lifecycle.required_confirmations(alert.rule_kind, alert.requires_confirmations)
        # Deliveries of `trigger: raised` routes go in with the alert, in one transaction, when
        # no route needs the dispatch history (cooldowns, rate limits); else they are planned
        # once the alert is stored.
        early = None if self._limited("raised") else self._deliveries(
            alert, plan(self.policy, facts(alert), "raised", []))
        recorded = await self.db(self.history.add_alert, alert, required, early or ())
        if not recorded.seq:
            metrics.ALERTS.labels("duplicate").inc()
            self.counts["duplicate_alerts"] += 1
            return
        metrics.ALERTS.labels("stored").inc()
        self.counts["alerts"] += 1
        stored = StoredAlert(alert, recorded.status, required, recorded.confirmations,
                             recorded.released, now_utc())
        self.hub.publish(LiveEvent(recorded.seq, "alert", stored))
        if published_at is not None:
            metrics.FANOUT_SECONDS.observe(max(0.0, (now_utc() - published_at).total_seconds()))
        if early is None:
            await self._plan(stored, "raised")
        elif early:
            self.wake_dispatcher()
        if recorded.released:
            await self._plan(stored, "confirmed")
        self.snapshots.queue(alert)

    async def on_decision(self, decision: AlertDecided) -> None:
        recorded = await self.db(self.history.add_decision, decision)
        waiter = self._decision_waiters.get(decision.decision_id)
        if not recorded.seq:
            if waiter is not None:
                waiter.set()
            return
        self.counts["decisions"] += 1
        stored = await self.db(self.history.get_alert, decision.alert_id)
        if stored is not None:
            self.hub.publish(LiveEvent(recorded.seq, "decision", stored, decision))
            if recorded.released:
                await self._plan(stored, "confirmed")
        if waiter is not None:
            waiter.set()

    async def on_settled(self, seq: int, stored: StoredAlert | None) -> None:
        """A delivery reached its outcome: the console shows it live."""
        if stored is not None:
            self.hub.publish(LiveEvent(seq, "delivery", stored))

    # -- routing ----------------------------------------------------------------------------------
    def _limited(self, trigger: str) -> list[Any]:
        """Routes of `trigger` whose planning needs the dispatch history."""
        return [r for r in self.policy.routes if r.trigger == trigger
                and (r.cooldown_s > 0 or r.rate_limit_count > 0)]

    def _deliveries(self, alert: AlertRaised, planned: list[Planned]) -> list[NewDelivery]:
        items = []
        now = now_utc()
        for p in planned:
            channel = self.policy.channels[p.channel]
            for recipient in range(channel.recipients()):
                items.append(NewDelivery(
                    delivery_id(alert.alert_id, p.route, p.channel, recipient), p.route,
                    p.channel, channel.kind, recipient, p.trigger,
                    "pending" if p.outcome == "send" else "suppressed", p.reason,
                    now if p.outcome == "send" else None))
                if p.outcome != "send":
                    metrics.DISPATCHES.labels(channel.kind, "suppressed").inc()
        return items

    async def _plan(self, stored: StoredAlert, trigger: str) -> None:
        if not self.policy.routes:
            return
        alert = stored.alert
        about = facts(alert)
        history: list[PastDispatch] = []
        limited = self._limited(trigger)
        if limited:  # only routes with cooldowns or rate limits need the past
            rate_limited = any(r.rate_limit_count > 0 for r in limited)
            span = timedelta(seconds=max([r.cooldown_s for r in limited]
                                         + [r.rate_limit_period_s for r in limited
                                            if r.rate_limit_count > 0]))
            past = await self.db(self.db.store.outbox.dispatch_history,
                                 [r.name for r in limited], about.raised_at, span,
                                 None if rate_limited else alert.camera_id,
                                 None if rate_limited else alert.rule_id)
            history = [PastDispatch(*p) for p in past]
        items = self._deliveries(alert, plan(self.policy, about, trigger,  # type: ignore[arg-type]
                                             history))
        if not items:
            return
        inserted: list[str] = await self.db(self.db.store.outbox.add_deliveries, alert, items)
        if inserted:
            self.wake_dispatcher()

    # -- decisions --------------------------------------------------------------------------------
    async def decide(self, login: str, role: str, alert_id: str, decision: int,
                     reason: str) -> DecisionResult:
        if not allowed(role, Permission.DECIDE):
            metrics.DECISIONS_REFUSED.labels("permission").inc()
            raise DecisionRefused(f"the {role} role may not decide on alerts", "permission")
        async with self._locks[alert_id]:
            try:
                return await self._decide(login, role, alert_id, decision, reason.strip())
            finally:
                if not self._locks[alert_id].locked():
                    self._locks.pop(alert_id, None)

    async def _decide(self, login: str, role: str, alert_id: str, decision: int,
                      reason: str) -> DecisionResult:
        stored = await self.db(self.history.get_alert, alert_id)
        if stored is None:
            metrics.DECISIONS_REFUSED.labels("not_found").inc()
            raise DecisionRefused(f"no alert {alert_id!r}", "not_found")
        before = await self.db(self.history.decisions, alert_id)
        state = lifecycle.fold_decided(stored.required, before)
        if why := lifecycle.refusal(state, login, decision, reason):
            metrics.DECISIONS_REFUSED.labels("lifecycle").inc()
            raise DecisionRefused(why, "invalid" if "reason" in why or "must be" in why
                                  else "precondition")
        made = AlertDecided(decision_id=f"dec-{uuid.uuid4().hex}", alert_id=alert_id,
                            operator=login, role=role, reason=reason)
        made.decision = decision  # type: ignore[assignment]
        made.decided_at.FromDatetime(now_utc())
        waiter = self._decision_waiters[made.decision_id] = asyncio.Event()
        try:
            await (await self.bus.publish(ALERT_DECISIONS, alert_id, made,
                                          event_id=made.decision_id))
            after = lifecycle.apply(state, lifecycle.DecisionFact(
                made.decision_id, login, decision, reason))
            await self.audit.record(
                AuditAction.AUDIT_ACTION_DECISION, f"alert:{alert_id}",
                event_id=made.decision_id, actor=f"operator:{login}",
                details={"decision": lifecycle.DECISION_NAMES.get(decision, str(decision)),
                         "role": role, "reason": reason[:500],
                         "rule_kind": str(stored.alert.rule_kind),
                         "camera_id": stored.alert.camera_id,
                         "confirmations": f"{after.confirmations}/{after.required}",
                         "status": lifecycle.STATUS_NAMES.get(after.status, "")})
            metrics.DECISIONS.labels(lifecycle.DECISION_NAMES.get(decision, "other")).inc()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wait(), DECISION_WAIT_S)
        finally:
            self._decision_waiters.pop(made.decision_id, None)
        now = await self.db(self.history.get_alert, alert_id)
        if now is not None and waiter.is_set():
            return DecisionResult(made, now.status, now.confirmations, now.required)
        return DecisionResult(made, after.status, after.confirmations, after.required)


class DispatchSwitch:
    """Suspends all external dispatch (every replica reads the state from the database)."""

    def __init__(self, db: Database, audit: AuditLog, hub: LiveHub,
                 wake_dispatcher: Callable[[], None]) -> None:
        self.db, self.state = db, db.store.state
        self.audit, self.hub, self.wake_dispatcher = audit, hub, wake_dispatcher
        self._cache: tuple[float, bool] = (0.0, False)

    async def dispatch_state(self) -> dict[str, Any]:
        state = await self.db(self.state.get_state, DISPATCH_STATE)
        return state or {"suspended": False}

    async def suspended(self) -> bool:
        at, value = self._cache
        if time.monotonic() - at < 1.0:
            return value
        value = bool((await self.dispatch_state()).get("suspended"))
        self._cache = (time.monotonic(), value)
        return value

    async def set_suspended(self, suspended: bool, actor: str, reason: str) -> dict[str, Any]:
        state = {"suspended": suspended, "by": actor, "at": now_utc().isoformat(),
                 "reason": reason[:500]}
        await self.db(self.state.set_state, DISPATCH_STATE, state)
        self._cache = (time.monotonic(), suspended)
        await self.audit.record(AuditAction.AUDIT_ACTION_DISPATCH_SUSPENSION, "dispatch:all",
                                event_id=f"dispatch-{uuid.uuid4().hex}", actor=actor,
                                details={"suspended": str(suspended).lower(),
                                         "reason": reason[:500]})
        self.hub.publish(LiveEvent(0, "dispatch", None, None, state))
        if not suspended:
            self.wake_dispatcher()
        return state


class Snapshots:
    """Recent frames (a byte-bounded buffer) and the snapshots taken from them, blurred; recent
    view-change reports of detect and the "before" images of tamper alerts taken from them."""

    def __init__(self, db: Database, hub: LiveHub, cameras: CompactedView[Camera], *,
                 frames: FrameBuffer, blurrer: FaceBlurrer, evidence: EvidenceStore,
                 wait_s: float, jpeg_quality: int, default_retention: timedelta,
                 view_reports: ViewReports | None = None) -> None:
        self.db, self.evidence_index = db, db.store.evidence
        self.hub, self.cameras = hub, cameras
        self.frames, self.blurrer, self.evidence = frames, blurrer, evidence
        self.view_reports = view_reports or ViewReports(VIEW_REPORTS_MAX_BYTES)
        self.wait_s, self.jpeg_quality = wait_s, jpeg_quality
        self.default_retention = default_retention
        self._frame_waiters: dict[str, asyncio.Event] = {}
        self._report_waiters: dict[str, asyncio.Event] = {}
        self._queue: asyncio.Queue[AlertRaised] = asyncio.Queue(maxsize=200)
        self._cv = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alerts-blur")
        self.counts: dict[str, int] = defaultdict(int)

    def on_frame(self, frame: FrameSampled) -> None:
        self.frames.add(BufferedFrame(frame.frame_id, frame.camera_id,
                                      frame.captured_at.ToMilliseconds(), bytes(frame.jpeg),
                                      frame.width, frame.height))
        waiter = self._frame_waiters.pop(frame.frame_id, None)
        if waiter is not None:
            waiter.set()

    def on_camera_health(self, report: CameraHealthChanged) -> None:
        """Keep the images of a detect report of a view change, for the alerts naming its
        frame."""
        view = ViewReport.of(report)
        if view is None:
            return
        self.view_reports.add(view)
        waiter = self._report_waiters.pop(view.frame_id, None)
        if waiter is not None:
            waiter.set()

    def queue(self, alert: AlertRaised) -> None:
        """Take the alert's snapshot (and a tamper alert's "before" image) in the background
        (run)."""
        if alert.HasField("snapshot") and alert.snapshot.uri:
            metrics.SNAPSHOTS.labels("provided").inc()
        elif not alert.frame_id:
            metrics.SNAPSHOTS.labels("no_frame").inc()
        if not (_wants_snapshot(alert) or wants_before(alert)):
            return
        try:
            self._queue.put_nowait(alert)
        except asyncio.QueueFull:
            metrics.SNAPSHOTS.labels("dropped").inc()
            self.counts["snapshots_dropped"] += 1

    async def run(self, stop: asyncio.Event, concurrency: int = 32) -> None:
        """Take queued snapshots, up to `concurrency` at once (most of them wait for their frame;
        blurring itself runs on one worker thread)."""
        slots = asyncio.Semaphore(concurrency)
        running: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set():
                getter = asyncio.ensure_future(self._queue.get())
                stopper = asyncio.ensure_future(stop.wait())
                done, _ = await asyncio.wait([getter, stopper],
                                             return_when=asyncio.FIRST_COMPLETED)
                stopper.cancel()
                if getter not in done:
                    getter.cancel()
                    return
                await slots.acquire()
                task = asyncio.create_task(self._job(getter.result(), slots))
                running.add(task)
                task.add_done_callback(running.discard)
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _job(self, alert: AlertRaised, slots: asyncio.Semaphore) -> None:
        try:
            if _wants_snapshot(alert):
                await self.take(alert)
            if wants_before(alert):
                await self.take_before(alert)
        except Exception:
            metrics.SNAPSHOTS.labels("failed").inc()
            log.exception("snapshot failed", extra={"event_id": alert.alert_id})
        finally:
            slots.release()

    async def take(self, alert: AlertRaised) -> bool:
        """The alert's snapshot, blurred, stored and pushed live; False without its frame."""
        frame = self.frames.get(alert.frame_id)
        if frame is None and self.wait_s > 0:
            waiter = self._frame_waiters.setdefault(alert.frame_id, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wait(), self.wait_s)
            self._frame_waiters.pop(alert.frame_id, None)
            frame = self.frames.get(alert.frame_id)
        if frame is None:  # a tamper alert: detect's report has the frame, small
            report = self.view_reports.get(alert.frame_id)
            if report is not None and report.current_jpeg and report.camera_id == alert.camera_id:
                frame = BufferedFrame(alert.frame_id, alert.camera_id,
                                      alert.raised_at.ToMilliseconds(), report.current_jpeg, 0, 0)
        if frame is None:
            metrics.SNAPSHOTS.labels("no_frame").inc()
            self.counts["snapshots_without_frame"] += 1
            return False
        boxes = [Box(b.x_min, b.y_min, b.x_max, b.y_max) for b in alert.boxes]
        face_match = alert.rule_kind == RuleKind.RULE_KIND_FACE_MATCH
        loop = asyncio.get_running_loop()
        jpeg, blurred = await loop.run_in_executor(
            self._cv, self.blurrer.blur, frame.jpeg, boxes, face_match, self.jpeg_quality,
            involves_persons(alert))
        captured = datetime.fromtimestamp(frame.captured_ms / 1000, UTC)
        written = await loop.run_in_executor(self._cv, self.evidence.write, alert.camera_id,
                                             captured, alert.alert_id, jpeg)
        retention = self._retention(alert.camera_id)
        updated = AlertRaised()
        updated.CopyFrom(alert)
        updated.snapshot.uri = f"vigie-evidence:snapshots/{written.path}"
        updated.snapshot.sha256 = written.sha256
        updated.snapshot.media_type = "image/jpeg"
        updated.snapshot.size_bytes = written.size
        updated.snapshot.captured_at.FromDatetime(captured)
        seq = await self.db(self.evidence_index.set_snapshot, alert.alert_id, updated,
                            written.path, written.sha256, written.size, captured,
                            expires_at(captured, retention, now_utc()))
        metrics.SNAPSHOTS.labels("written").inc()
        if blurred > 0:
            metrics.FACES_BLURRED.inc(blurred)
        self.counts["snapshots"] += 1
        stored = await self.db(self.db.store.history.get_alert, alert.alert_id)
        if stored is not None:
            self.hub.publish(LiveEvent(seq, "snapshot", stored))
        return True

    async def take_before(self, alert: AlertRaised) -> bool:
        """A tamper alert's "before" image: the camera's reference view from detect's report of
        the alert's frame (waiting up to wait_s for it), faces blurred like a snapshot's, stored
        beside the snapshot with the camera's evidence retention counted from when the problem
        began, and pushed live; False without the report."""
        report = self.view_reports.get(alert.frame_id)
        if report is None and self.wait_s > 0:
            waiter = self._report_waiters.setdefault(alert.frame_id, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wait(), self.wait_s)
            self._report_waiters.pop(alert.frame_id, None)
            report = self.view_reports.get(alert.frame_id)
        if report is None or not report.reference_jpeg or report.camera_id != alert.camera_id:
            metrics.SNAPSHOTS.labels("no_before").inc()
            self.counts["before_without_report"] += 1
            return False
        loop = asyncio.get_running_loop()
        jpeg, blurred = await loop.run_in_executor(
            self._cv, self.blurrer.blur, report.reference_jpeg, [], False, self.jpeg_quality,
            False)
        # The reference view is the view until the problem began (its own capture time is not
        # reported): its retention counts from then, like a snapshot's from its frame.
        captured = report.since or alert.started_at.ToDatetime(UTC)
        written = await loop.run_in_executor(self._cv, self.evidence.write, alert.camera_id,
                                             captured, alert.alert_id, jpeg, BEFORE)
        seq = await self.db(self.evidence_index.set_item, alert.alert_id, BEFORE,
                            alert.camera_id, written.path, written.sha256, written.size,
                            captured, expires_at(captured, self._retention(alert.camera_id),
                                                 now_utc()))
        metrics.SNAPSHOTS.labels("before_written").inc()
        if blurred > 0:
            metrics.FACES_BLURRED.inc(blurred)
        self.counts["before_images"] += 1
        stored = await self.db(self.db.store.history.get_alert, alert.alert_id)
        if stored is not None:
            self.hub.publish(LiveEvent(seq, "evidence", stored))
        return True

    def _retention(self, camera_id: str) -> timedelta:
        camera = self.cameras.get(camera_id)
        retention_s = (camera.evidence_retention.ToTimedelta().total_seconds()
                       if camera is not None and camera.HasField("evidence_retention") else None)
        return evidence_retention(retention_s, self.default_retention)

    async def blurred_latest(self, camera_id: str) -> tuple[BufferedFrame, bytes] | None:
        """A camera's latest frame for the zone editor, every face blurred."""
        frame = self.frames.latest(camera_id)
        if frame is None:
            return None
        data = await asyncio.get_running_loop().run_in_executor(
            self._cv, lambda: self.blurrer.blur(frame.jpeg, [], False, self.jpeg_quality)[0])
        return frame, data

    def close(self) -> None:
        self._cv.shutdown(wait=True)


def _wants_snapshot(alert: AlertRaised) -> bool:
    return bool(alert.frame_id) and not (alert.HasField("snapshot") and alert.snapshot.uri)
