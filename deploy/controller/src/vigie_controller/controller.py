"""The controller loop: list and watch resources, read the topics, reconcile, publish, write status.

- At start and every `resync_s`: list every kind in every scope, read its compacted topic whole
  (`Bus.read_all`: the latest value per key, whoever wrote it), reconcile, apply. This is where
  resources deleted while the controller was down get their tombstones, and where records someone
  else wrote over a resource's are put back.
- In between: watch events update a cache of resources and the affected kind is reconciled
  (debounced) against the last topic snapshot plus the records the controller has published since.
- A plan is applied in order: each record is published and acknowledged (acks=all on Kafka)
  before the status that reports it is written, so a status never claims more than the topic has.
- Failures (Kafka, API server) are logged and retried after `retry_s`; the plan is recomputed, so
  a retry never repeats work already done.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message
from prometheus_client import Counter, Gauge, Histogram
from vigie_core.bus.base import Bus, Record
from vigie_core.codec import DecodeError, decode
from vigie_core.service import Health
from vigie_core.topics import Topic

from vigie_controller.adapters.kube import KubeApi, WatchEvent, WatchExpired
from vigie_controller.config import Settings
from vigie_controller.domain.reconcile import KINDS, Kind, Plan, reconcile
from vigie_controller.domain.resources import Resource

log = logging.getLogger(__name__)

PUBLISHED = Counter("vigie_controller_published_records_total",
                    "Records published on the compacted topics, by kind and reason "
                    "(created, changed, adopted, deleted).", ["kind", "reason"])
STATUS_WRITES = Counter("vigie_controller_status_writes_total",
                        "Status patches written to resources.", ["kind"])
ERRORS = Counter("vigie_controller_errors_total",
                 "Failed steps (list, watch, read, publish, status), retried.", ["kind", "stage"])
RECONCILE_SECONDS = Histogram("vigie_controller_reconcile_seconds",
                              "Time to compute one kind's plan.", ["kind"])
RESOURCES = Gauge("vigie_controller_resources", "Resources in the cache, by kind.", ["kind"])


def fold(topic: Topic, records: Sequence[Record]) -> dict[str, Message]:
    """The latest value of every key of a compacted topic (tombstones remove keys)."""
    latest: dict[str, Message] = {}
    for record in records:
        try:
            event = decode(topic, record.key, record.value, record.headers)
        except DecodeError as exc:
            log.warning("skipping an undecodable record of %s at %d/%d: %s", topic.name,
                        record.partition, record.offset, exc)
            continue
        if event.key is None:
            continue
        if event.message is None:
            latest.pop(event.key, None)
        else:
            latest[event.key] = event.message
    return latest


class Controller:
    def __init__(self, api: KubeApi, bus: Bus, settings: Settings, *,
                 kinds: Sequence[Kind] = KINDS, health: Health | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.api, self.bus, self.settings = api, bus, settings
        self.kinds = list(kinds)
        self.health = health or Health()
        self.clock = clock
        self.cache: dict[str, dict[str, Resource]] = {k.name: {} for k in self.kinds}
        self.published: dict[str, dict[str, Message]] = {k.name: {} for k in self.kinds}
        self.versions: dict[tuple[str, str | None], str] = {}
        self.locks = {k.name: asyncio.Lock() for k in self.kinds}
        self.dirty: set[str] = set()
        self.wake = asyncio.Event()
        self.last_sync: dict[str, str] = {}
        self.health.set("controller", False, "starting")

    # -- state ------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return {k.name: {"resources": len(self.cache[k.name]),
                         "records": len(self.published[k.name]),
                         "last_sync": self.last_sync.get(k.name)} for k in self.kinds}

    def on_event(self, kind: Kind, scope: str | None, event: WatchEvent) -> None:
        """Fold one watch event into the cache (called on the event loop)."""
        if event.resource_version:
            self.versions[(kind.name, scope)] = event.resource_version
        resource = event.resource
        if resource is None:
            return  # BOOKMARK: only the version moves
        cache = self.cache[kind.name]
        if event.type == "DELETED":
            cache.pop(resource.uid, None)
        else:
            cache[resource.uid] = resource
        RESOURCES.labels(kind.name).set(len(cache))
        self.dirty.add(kind.name)
        self.wake.set()

    # -- steps ------------------------------------------------------------------------------
    async def resync(self, kind: Kind) -> None:
        """List the kind everywhere, re-read its topic, reconcile and apply."""
        async with self.locks[kind.name]:
            resources: dict[str, Resource] = {}
            for scope in self.api.scopes:
                items, version = await asyncio.to_thread(self.api.list, kind, scope)
                resources.update((r.uid, r) for r in items)
                self.versions[(kind.name, scope)] = version
            records = await self.bus.read_all(kind.topic.name)
            self.published[kind.name] = fold(kind.topic, records)
            self.cache[kind.name] = resources
            RESOURCES.labels(kind.name).set(len(resources))
            self.dirty.discard(kind.name)
            await self._sync(kind)

    async def sync(self, kind: Kind) -> None:
        async with self.locks[kind.name]:
            self.dirty.discard(kind.name)
            await self._sync(kind)

    async def _sync(self, kind: Kind) -> None:
        started = time.perf_counter()
        plan = reconcile(kind, list(self.cache[kind.name].values()),
                         self.published[kind.name], self.clock(), in_scope=self.api.in_scope)
        RECONCILE_SECONDS.labels(kind.name).observe(time.perf_counter() - started)
        await self.apply(kind, plan)
        self.last_sync[kind.name] = self.clock().isoformat()

    async def apply(self, kind: Kind, plan: Plan) -> None:
        published = self.published[kind.name]
        for p in plan.publishes:
            delivery = await self.bus.publish(p.topic, p.key, p.message, event_id=p.event_id)
            await delivery
            if p.message is None:
                published.pop(p.key, None)
            else:
                published[p.key] = p.message
            PUBLISHED.labels(kind.name, p.reason).inc()
            log.info("%s %s %s on %s (%s)", kind.name.lower(), p.key, p.reason, p.topic.name,
                     p.owner, extra={"event_id": p.event_id,
                                     **({"camera_id": p.key} if kind.name == "Camera" else {})})
        cache = self.cache[kind.name]
        by_ref = {(r.namespace, r.name): r for r in cache.values()}
        for s in plan.statuses:
            updated = await asyncio.to_thread(self.api.patch_status, kind, s)
            STATUS_WRITES.labels(kind.name).inc()
            old = by_ref.get((s.namespace, s.name))
            if updated is not None:
                cache[updated.uid] = updated
            elif old is not None:
                cache.pop(old.uid, None)  # gone meanwhile: its DELETED event is on the way

    # -- loops ------------------------------------------------------------------------------
    async def _retry(self, kind: Kind, stage: str, step: Callable[[Kind], Any],
                     stop: asyncio.Event) -> bool:
        """Run `step(kind)` until it succeeds or `stop`; False if stopped first."""
        while not stop.is_set():
            try:
                await step(kind)
                return True
            except Exception:
                ERRORS.labels(kind.name, stage).inc()
                log.exception("%s of %s failed; retrying in %gs", stage, kind.plural,
                              self.settings.retry_s)
                try:
                    await asyncio.wait_for(stop.wait(), self.settings.retry_s)
                except TimeoutError:
                    pass
        return False

    def _pump(self, kind: Kind, scope: str | None, version: str,
              loop: asyncio.AbstractEventLoop) -> None:
        """In a thread: one watch request, each event handed to the event loop."""
        for event in self.api.watch(kind, scope, version, self.settings.watch_timeout_s):
            loop.call_soon_threadsafe(self.on_event, kind, scope, event)

    async def _watch(self, kind: Kind, scope: str | None, stop: asyncio.Event,
                     executor: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            version = self.versions.get((kind.name, scope), "")
            try:
                await loop.run_in_executor(executor, self._pump, kind, scope, version, loop)
            except WatchExpired:
                log.info("watch of %s expired; listing again", kind.plural)
                await self._retry(kind, "resync", self.resync, stop)
            except Exception:
                if stop.is_set():
                    return
                ERRORS.labels(kind.name, "watch").inc()
                log.exception("watch of %s failed; retrying in %gs", kind.plural,
                              self.settings.retry_s)
                try:
                    await asyncio.wait_for(stop.wait(), self.settings.retry_s)
                except TimeoutError:
                    pass

    async def run(self, stop: asyncio.Event) -> None:
        """Initial sync of every kind, then watch and resync until `stop`."""
        for kind in self.kinds:
            if not await self._retry(kind, "resync", self.resync, stop):
                return
        self.health.set("controller", True, "synced")
        scopes = [(k, s) for k in self.kinds for s in self.api.scopes]
        executor = ThreadPoolExecutor(max_workers=len(scopes), thread_name_prefix="watch")
        watchers = [asyncio.create_task(self._watch(k, s, stop, executor),
                                        name=f"watch:{k.plural}:{s or '*'}") for k, s in scopes]
        loop = asyncio.get_running_loop()
        next_resync = loop.time() + self.settings.resync_s
        try:
            while not stop.is_set():
                stopping = asyncio.ensure_future(stop.wait())
                woken = asyncio.ensure_future(self.wake.wait())
                await asyncio.wait([stopping, woken], timeout=max(0.0, next_resync - loop.time()),
                                   return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                woken.cancel()
                if stop.is_set():
                    break
                if loop.time() >= next_resync:
                    for kind in self.kinds:
                        await self._retry(kind, "resync", self.resync, stop)
                    next_resync = loop.time() + self.settings.resync_s
                    continue
                self.wake.clear()
                await asyncio.sleep(self.settings.debounce_s)
                for kind in [k for k in self.kinds if k.name in self.dirty]:
                    await self._retry(kind, "sync", self.sync, stop)
        finally:
            self.health.set("controller", False, "stopping")
            self.api.stop()
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            executor.shutdown(wait=False, cancel_futures=True)
