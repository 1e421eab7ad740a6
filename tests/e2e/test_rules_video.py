"""A real street clip through ingest, detect and rules, with a zone and a counting line drawn on
it: zone-intrusion alerts and per-minute line counts come out, embedded (one process, in-memory
bus, the builtin rules runtime) and as separate processes on real Kafka with the rules engine
as a Faust worker. The clip is replayed in a loop at stream speed (event time then runs on,
loop after loop, as a live camera's would) until a minute boundary passes and a counting window
closes."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import grpc
from process_helpers import VIGIE, free_port
from process_helpers import vigie_env as env
from vigie.camera.v1.camera_pb2 import PURPOSE_OBJECTS, Camera
from vigie.common.v1.common_pb2 import Point
from vigie.ingest.v1 import ingest_service_pb2 as ingest_pb
from vigie.ingest.v1 import ingest_service_pb2_grpc as ingest_grpc
from vigie.rules.v1 import rules_service_pb2 as rules_pb
from vigie.rules.v1 import rules_service_pb2_grpc as rules_grpc
from vigie.rules.v1.rule_pb2 import Line, Rule, RuleGeometry, RuleKind, Severity
from vigie_core.auth.rpc import bearer_metadata, metadata_interceptors
from vigie_core.auth.tokens import TokenStore
from vigie_core.bus.base import Bus
from vigie_core.bus.kafka import KafkaBus
from vigie_core.bus.memory import MemoryBus
from vigie_core.codec import decode
from vigie_core.runtime import start
from vigie_core.settings import CoreSettings
from vigie_core.topics import ALERTS, CAMERAS, REGISTRY, RULES, STATS

TIMEOUT_S = 300  # a window closes within 60 s of stream time; detection keeps up at 5 fps


def street(clips: Path) -> Path:
    return clips.parent / "mot15/TUD-Stadtmitte/TUD-Stadtmitte.mp4"


def drawn_rules(camera_id: str) -> list[Rule]:
    """What an operator draws on TUD-Stadtmitte: the left half of the pavement as a zone, and a
    line down the middle of the image that counts people walking across it."""
    zone = [Point(x=0.0, y=0.4), Point(x=0.5, y=0.4), Point(x=0.5, y=1.0), Point(x=0.0, y=1.0)]
    return [
        Rule(rule_id=f"{camera_id}-zone", name="left pavement", camera_id=camera_id,
             kind=RuleKind.RULE_KIND_ZONE_INTRUSION, class_names=["person"], enabled=True,
             severity=Severity.SEVERITY_LOW, geometry=RuleGeometry(zone=zone)),
        Rule(rule_id=f"{camera_id}-line", name="middle line", camera_id=camera_id,
             kind=RuleKind.RULE_KIND_LINE_CROSSING, class_names=["person"], enabled=True,
             severity=Severity.SEVERITY_INFO,
             geometry=RuleGeometry(line=Line(start=Point(x=0.5, y=0.3),
                                             end=Point(x=0.5, y=1.0)))),
    ]


async def outcome(bus: Bus, camera_id: str) -> tuple[list, dict[str, int]]:
    """(zone alerts, line crossings counted in closed windows by key) of the camera so far."""
    alerts = [decode(ALERTS, r.key, r.value, r.headers).message
              for r in await bus.read_all(ALERTS.name) if r.key == camera_id.encode()]
    counts: dict[str, int] = {}
    for r in await bus.read_all(STATS.name):
        if r.key != camera_id.encode():
            continue
        window = decode(STATS, r.key, r.value, r.headers).message
        if window.rule_id == f"{camera_id}-line":
            for c in window.counts:
                if ":" in c.key:
                    counts[c.key] = counts.get(c.key, 0) + c.value
    return [a for a in alerts if a.rule_id == f"{camera_id}-zone"], counts


async def wait_for_outcome(bus: Bus, camera_id: str) -> tuple[list, dict[str, int]]:
    deadline = time.monotonic() + TIMEOUT_S
    alerts, counts = [], {}
    while time.monotonic() < deadline:
        alerts, counts = await outcome(bus, camera_id)
        if alerts and sum(counts.values()) > 0:
            break
        await asyncio.sleep(1)
    return alerts, counts


def check(alerts: list, counts: dict[str, int]) -> None:
    assert alerts, "no zone-intrusion alert"
    assert all(a.track_ids and a.track_ids[0] > 0 for a in alerts)  # tracked people
    assert all(a.boxes and a.boxes[0].x_max > a.boxes[0].x_min for a in alerts)
    assert len({a.alert_id for a in alerts}) == len(alerts)
    assert set(counts) <= {"in:person", "out:person"}, counts
    assert sum(counts.values()) >= 1, counts  # people cross the middle of the street


async def test_embedded_zone_alerts_and_line_counts_on_a_real_street(clips, tmp_path):
    clip = street(clips)
    bus = MemoryBus("rules-video")
    running = await start(["ingest", "detect", "rules"],
                          CoreSettings(http_port=0, grpc_port=0, data_dir=tmp_path), bus,
                          {"ingest": {"media_root": clip.parent, "loop_files": True,
                                      "file_speed": 1.0}})
    camera_id = f"stadtmitte-{uuid.uuid4().hex[:6]}"
    try:
        for rule in drawn_rules(camera_id):
            await bus.publish(RULES, rule.rule_id, rule)
        await asyncio.sleep(0.2)
        await bus.publish(CAMERAS, camera_id, Camera(
            camera_id=camera_id, name="Stadtmitte", source_url=clip.as_uri(), sample_fps=5,
            enabled=True, purposes=[PURPOSE_OBJECTS]))
        alerts, counts = await wait_for_outcome(bus, camera_id)
        status = running.status()["services"]["rules"]
    finally:
        await running.stop()
    check(alerts, counts)
    assert status["runtime"] == "builtin"


async def test_zone_alerts_and_line_counts_over_kafka_with_the_faust_worker(
        kafka, clips, tmp_path):
    clip = street(clips)
    setup = KafkaBus(kafka.bootstrap, "rules-video")
    await setup.ensure_topics(REGISTRY)
    await setup.close()
    common = dict(VIGIE_KAFKA_BOOTSTRAP=kafka.bootstrap, VIGIE_DATA_DIR=str(tmp_path),
                  VIGIE_LOG_LEVEL="WARNING")
    ingest_port, rules_port = free_port(), free_port()
    procs = [
        subprocess.Popen([VIGIE, "ingest"], stdout=subprocess.DEVNULL, env=env(
            VIGIE_GRPC_PORT=str(ingest_port), VIGIE_INGEST_MEDIA_ROOT=str(clip.parent),
            VIGIE_INGEST_LOOP_FILES="true", VIGIE_INGEST_FILE_SPEED="1",
            VIGIE_AUDIT_REPLICA=uuid.uuid4().hex[:8],
            **common)),
        subprocess.Popen([VIGIE, "detect"], stdout=subprocess.DEVNULL, env=env(**common)),
        subprocess.Popen([sys.executable, "-m", "vigie_rules"], stdout=subprocess.DEVNULL,
                         env=env(VIGIE_GRPC_PORT=str(rules_port),
                                 VIGIE_RULES_FAUST_APP_ID=f"rules-video-{uuid.uuid4().hex[:6]}",
                                 VIGIE_AUDIT_REPLICA=uuid.uuid4().hex[:8], **common)),
    ]
    camera_id = f"stadtmitte-{uuid.uuid4().hex[:6]}"
    reader = KafkaBus(kafka.bootstrap, "rules-video-reader")
    # every process reads the token store of the shared data dir: an integrator's token
    token, _ = TokenStore(tmp_path / "auth" / "tokens.json").create(
        "rules-video", ["admin", "integrator"], None, "test")
    auth = metadata_interceptors(bearer_metadata(token))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{rules_port}",
                                             interceptors=auth) as channel:
            await asyncio.wait_for(channel.channel_ready(), 90)
            api = rules_grpc.RulesServiceStub(channel)
            for rule in drawn_rules(camera_id):  # as an integrator would
                await api.PutRule(rules_pb.PutRuleRequest(rule=rule), timeout=30,
                                  wait_for_ready=True)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{ingest_port}",
                                             interceptors=auth) as channel:
            await asyncio.wait_for(channel.channel_ready(), 90)
            await ingest_grpc.IngestServiceStub(channel).RegisterCamera(
                ingest_pb.RegisterCameraRequest(camera=Camera(
                    camera_id=camera_id, name="Stadtmitte", source_url=clip.as_uri(),
                    sample_fps=5, enabled=True, purposes=[PURPOSE_OBJECTS])),
                timeout=30, wait_for_ready=True)
        alerts, counts = await wait_for_outcome(reader, camera_id)
    finally:
        await reader.close()
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(timeout=60) for proc in procs]
    check(alerts, counts)
    assert codes == [0, 0, 0]
