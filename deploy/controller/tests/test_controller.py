"""The controller end to end: the real kubernetes client over a recorded API server, publishing on
a real bus (MemoryBus here; real Kafka below), read back as ingest and rules read the topics."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fakekube import FIXTURES, FakeApiServer
from vigie.camera.v1.camera_pb2 import Camera
from vigie.rules.v1.rule_pb2 import Rule
from vigie_controller.adapters.kube import KubeApi
from vigie_controller.config import Settings
from vigie_controller.controller import Controller, fold
from vigie_controller.domain.reconcile import CAMERA_KIND, RULE_KIND
from vigie_core.bus.base import Bus
from vigie_core.bus.memory import MemoryBus
from vigie_core.codec import header
from vigie_core.topics import CAMERAS, RULES

NOW = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
SETTINGS = Settings(resync_s=3600, debounce_s=0.0, retry_s=0.1, watch_timeout_s=30)


def events(fixture: str) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in (FIXTURES / fixture).read_text().splitlines() if ln]


def seeded() -> FakeApiServer:
    """Two cameras and a rule, as the recorded ADDED events describe them."""
    server = FakeApiServer()
    for e in events("cameras-watch.jsonl") + events("rules-watch.jsonl")[:1]:
        if e["type"] == "ADDED":
            server.put(e["object"])
    return server


def controller(server: FakeApiServer, bus: Bus, namespaces: list[str] | None = None
               ) -> Controller:
    return Controller(KubeApi(server.custom_objects_api(), namespaces or []), bus, SETTINGS,
                      clock=lambda: NOW)


async def topic(bus: Bus, name: str) -> list[tuple[str, bytes | None, str]]:
    """(key, value, ce_id) of every record on a topic."""
    return [((r.key or b"").decode(), r.value, header(r.headers, "ce_id") or "")
            for r in await bus.read_all(name)]


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def memory_bus() -> MemoryBus:
    bus = MemoryBus("vigie-controller/test")
    await bus.ensure_topics([CAMERAS, RULES])
    return bus


async def test_resources_become_records_and_status() -> None:
    server, bus = seeded(), await memory_bus()
    c = controller(server, bus)
    await c.resync(CAMERA_KIND)
    await c.resync(RULE_KIND)
    cameras = fold(CAMERAS, await bus.read_all(CAMERAS.name))
    assert sorted(cameras) == ["cam-bellecour-01", "cam-gare-part-dieu"]
    bellecour = cameras["cam-bellecour-01"]
    assert isinstance(bellecour, Camera)
    assert (bellecour.name, bellecour.source_url, bellecour.credentials_ref) == (
        "Place Bellecour nord", "rtsp://10.20.0.11:554/stream1", "cam-bellecour-rtsp")
    assert bellecour.updated_by == "k8s:city/cam-bellecour-01"
    rules = fold(RULES, await bus.read_all(RULES.name))
    rule = rules["loiter-bellecour-north"]
    assert isinstance(rule, Rule)
    assert rule.camera_id == "cam-bellecour-01"
    assert rule.thresholds.max_dwell.seconds == 120
    # The status reports the record the topic holds, event id included.
    records = await topic(bus, CAMERAS.name)
    status = server.get("cameras", "city", "cam-bellecour-01")["status"]
    assert status["cameraId"] == "cam-bellecour-01"
    assert status["conditions"][0]["status"] == "True"
    assert status["eventId"] in {ce_id for key, _, ce_id in records if key == "cam-bellecour-01"}
    rule_status = server.get("rules", "city", "loiter-bellecour-north")["status"]
    assert rule_status["validUntil"] == "2026-11-30T11:30:00Z"  # "2h" from when it was applied


async def test_restart_on_an_unchanged_cluster_publishes_and_writes_nothing() -> None:
    server, bus = seeded(), await memory_bus()
    first = controller(server, bus)
    for kind in (CAMERA_KIND, RULE_KIND):
        await first.resync(kind)
    records = {t: await topic(bus, t) for t in (CAMERAS.name, RULES.name)}
    patches = len(server.status_patches())
    again = controller(server, bus)  # a new process: nothing in memory
    for kind in (CAMERA_KIND, RULE_KIND):
        await again.resync(kind)
    assert {t: await topic(bus, t) for t in records} == records
    assert len(server.status_patches()) == patches


async def test_a_resource_deleted_while_down_is_tombstoned_at_start() -> None:
    server, bus = seeded(), await memory_bus()
    await controller(server, bus).resync(CAMERA_KIND)
    server.delete("cameras", "city", "cam-gare-part-dieu")
    await controller(server, bus).resync(CAMERA_KIND)
    last = (await topic(bus, CAMERAS.name))[-1]
    assert last[0] == "cam-gare-part-dieu" and last[1] is None  # tombstone
    assert last[2].startswith("k8s:city/cam-gare-part-dieu/deleted/")
    assert sorted(fold(CAMERAS, await bus.read_all(CAMERAS.name))) == ["cam-bellecour-01"]


async def test_cameras_registered_over_grpc_survive() -> None:
    server, bus = seeded(), await memory_bus()
    other = Camera(camera_id="cam-grpc", source_url="rtsp://h/s", updated_by="operator-12")
    await (await bus.publish(CAMERAS, "cam-grpc", other))
    c = controller(server, bus)
    await c.resync(CAMERA_KIND)
    assert "cam-grpc" in fold(CAMERAS, await bus.read_all(CAMERAS.name))


async def test_watch_events_are_applied_as_they_come() -> None:
    """Recorded events: cam-bellecour-01 added then edited (10 fps), cam-gare-part-dieu added
    then deleted; the rule added, edited, deleted. Events that arrive together are reconciled
    together, so what must hold is the end state, reached without a resync."""
    server, bus = FakeApiServer(), await memory_bus()
    server.queue_watch("cameras", "cameras-watch.jsonl")
    server.queue_watch("rules", "rules-watch.jsonl")
    c = controller(server, bus)
    stop = asyncio.Event()
    task = asyncio.create_task(c.run(stop))

    async def settled() -> bool:
        # Every recorded event seen (the last resourceVersions) and reconciled ...
        seen = (c.versions.get(("Camera", None)) == "52044"
                and c.versions.get(("Rule", None)) == "53019" and not c.dirty
                and not any(lock.locked() for lock in c.locks.values()))
        cameras = fold(CAMERAS, await bus.read_all(CAMERAS.name))
        bellecour = cameras.get("cam-bellecour-01")
        status = server.objects.get(("cameras", "city", "cam-bellecour-01"), {}).get("status")
        # ... and the end state published.
        return (seen and isinstance(bellecour, Camera) and bellecour.sample_fps == 10
                and bool(status) and status["observedGeneration"] == 2)
    try:
        await wait_for(settled)
        assert c.health.ready
    finally:
        stop.set()
        server.closed.set()
        await asyncio.wait_for(task, 10)
    assert not c.health.ready  # stopping
    cameras = fold(CAMERAS, await bus.read_all(CAMERAS.name))
    assert sorted(cameras) == ["cam-bellecour-01"]
    assert fold(RULES, await bus.read_all(RULES.name)) == {}
    # Nothing published twice for the same content.
    ids = [ce_id for _, _, ce_id in await topic(bus, CAMERAS.name)]
    assert len(ids) == len(set(ids))
    # The initial list was empty: everything came from the watch.
    watches = [r for r in server.requests if r.query.get("watch") == ["true"]]
    assert {r.path for r in watches} == {"/apis/vigie.io/v1alpha1/cameras",
                                         "/apis/vigie.io/v1alpha1/rules"}


@pytest.mark.timeout(240)
async def test_publishes_on_real_kafka(kafka: Any) -> None:
    from vigie_core.bus.kafka import KafkaBus

    bus = KafkaBus(kafka.bootstrap, "vigie-controller/test")
    await bus.start()
    try:
        await bus.ensure_topics([CAMERAS, RULES])
        # Topics may hold records of earlier tests: only this test's keys are looked at.
        server = FakeApiServer()
        suffix = str(int(datetime.now(UTC).timestamp() * 1000))
        for name in (f"cam-kafka-a-{suffix}", f"cam-kafka-b-{suffix}"):
            server.put({"apiVersion": "vigie.io/v1alpha1", "kind": "Camera",
                        "metadata": {"name": name, "namespace": f"kafka-{suffix}"},
                        "spec": {"source_url": "rtsp://127.0.0.1:9/none", "sample_fps": 4}})
        scoped = [f"kafka-{suffix}"]
        await controller(server, bus, scoped).resync(CAMERA_KIND)
        cameras = fold(CAMERAS, await bus.read_all(CAMERAS.name))
        assert {f"cam-kafka-a-{suffix}", f"cam-kafka-b-{suffix}"} <= set(cameras)
        before = await bus.read_all(CAMERAS.name)
        await controller(server, bus, scoped).resync(CAMERA_KIND)  # idempotent on Kafka too
        assert len(await bus.read_all(CAMERAS.name)) == len(before)
        server.delete("cameras", f"kafka-{suffix}", f"cam-kafka-b-{suffix}")
        await controller(server, bus, scoped).resync(CAMERA_KIND)
        cameras = fold(CAMERAS, await bus.read_all(CAMERAS.name))
        assert f"cam-kafka-a-{suffix}" in cameras and f"cam-kafka-b-{suffix}" not in cameras
        # Leave the shared broker as found: the last one goes too.
        server.delete("cameras", f"kafka-{suffix}", f"cam-kafka-a-{suffix}")
        await controller(server, bus, scoped).resync(CAMERA_KIND)
        assert not {k for k in fold(CAMERAS, await bus.read_all(CAMERAS.name)) if suffix in k}
    finally:
        await bus.close()
