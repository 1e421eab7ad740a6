"""The rules engine as a Faust app on real Kafka: the alerts of a clean run, poison records
dead-lettered without stopping the stream, a failed output never acknowledged, and SIGKILLs of
the worker mid-stream that end with exactly the alert set of a clean run."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka import TopicPartition as AioPartition
from aiokafka.structs import OffsetAndMetadata
from confluent_kafka import Consumer, Producer, TopicPartition
from kafka_broker import committed_to_end, create_topic
from process_helpers import vigie_env
from rules_scenarios import (
    cameras,
    car_frame,
    clean_run,
    lamp_frame,
    red_light_rule,
    rules_for,
    walkers,
)
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.camera.v1.camera_pb2 import Camera
from vigie.common.v1.common_pb2 import GeoPoint
from vigie.face.v1.face_match_pb2 import FaceMatched
from vigie.ingest.v1.report_pb2 import ReportReceived
from vigie.rules.v1.rule_pb2 import Rule, RuleKind, RuleThresholds
from vigie_core.bus.base import murmur2_partition
from vigie_core.bus.kafka import KafkaBus
from vigie_core.codec import decode, header
from vigie_core.runtime import Running, start
from vigie_core.settings import CoreSettings
from vigie_core.topics import (
    ALERTS,
    CAMERAS,
    DETECTIONS,
    FACES,
    FRAMES,
    REGISTRY,
    REPORTS,
    RULES,
)
from vigie_rules.domain.engine import DEFAULT_TOLERANCE_MS


async def publish_scenario(bootstrap: str, cams: list[str], frames_per_camera: int,
                           garbage_after: int | None = None) -> dict[str, AlertRaised]:
    """Rules and frames of `cams` on the real topics; returns the clean run's alerts."""
    rules, frames = scenario(cams, frames_per_camera)
    await publish(bootstrap, rules, frames, garbage_after)
    return clean_run(frames, rules)


def scenario(cams: list[str], frames_per_camera: int) -> tuple[list[Rule], list]:
    rules = [r for c in cams for r in rules_for(c)]
    return rules, [f for c in cams for f in walkers(c, frames_per_camera)]


async def publish(bootstrap: str, rules: list[Rule], frames: list, garbage_after: int | None = None,
                  frames_per_second: float | None = None) -> None:
    """Publish `rules`, then `frames` (at `frames_per_second` when given, like live cameras)."""
    bus = KafkaBus(bootstrap, "scenario")
    try:
        await bus.ensure_topics(REGISTRY)
        for rule in rules:
            await bus.publish(RULES, rule.rule_id, rule)
        for i, frame in enumerate(frames):
            await bus.publish(DETECTIONS, frame.camera_id, frame, event_id=frame.frame_id)
            if i == garbage_after:  # not protobuf, no CloudEvents headers, on a camera's key
                await bus.produce(DETECTIONS.name, frame.camera_id.encode(), b"\xffnot a frame", ())
            if frames_per_second:
                await bus.flush()
                await asyncio.sleep(1 / frames_per_second)
        await bus.flush()
    finally:
        await bus.close()


async def alerts_on_kafka(bootstrap: str, cams: list[str]) -> list[AlertRaised]:
    """Every AlertRaised of `cams` on vigie.alerts.v1 (duplicates included)."""
    bus = KafkaBus(bootstrap, "alert-reader")
    try:
        records = await bus.read_all(ALERTS.name)
    finally:
        await bus.close()
    wanted = {c.encode() for c in cams}
    return [decode(ALERTS, r.key, r.value, r.headers).message for r in records
            if r.key in wanted]


async def wait_for_alerts(bootstrap: str, cams: list[str], count: int,
                          timeout: float = 120) -> set[str]:
    deadline = time.monotonic() + timeout
    ids: set[str] = set()
    while time.monotonic() < deadline:
        ids = {a.alert_id for a in await alerts_on_kafka(bootstrap, cams)}
        if len(ids) >= count:
            break
        await asyncio.sleep(1)
    return ids


async def start_rules(bootstrap: str, app_id: str, tmp_path, **settings: object) -> Running:
    core = CoreSettings(kafka_bootstrap=bootstrap, http_port=0, grpc_port=0, data_dir=tmp_path,
                        audit_replica=uuid.uuid4().hex[:8])
    return await start(["rules"], core, KafkaBus(bootstrap, f"rules-{app_id}"),
                       {"rules": {"faust_app_id": app_id, **settings}})


async def alerts_after_a_restart(bootstrap: str, app_id: str, tmp_path, cams: list[str],
                                 count: int) -> set[str]:
    """The alert ids on Kafka once a new worker of `app_id` has replayed what was left."""
    again = await start_rules(bootstrap, app_id, tmp_path)
    try:
        return await wait_for_alerts(bootstrap, cams, count)
    finally:
        await again.stop()


def committed(bootstrap: str, group: str, topic: str, partition: int) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        [tp] = consumer.committed([TopicPartition(topic, partition)], timeout=10)
        return tp.offset
    finally:
        consumer.close()


async def test_the_faust_worker_raises_the_alerts_of_a_clean_run_and_dead_letters_poison(
        kafka, tmp_path):
    cams = cameras(3)
    expected = await publish_scenario(kafka.bootstrap, cams, 200, garbage_after=100)
    assert len(expected) >= 3 * 15
    app_id = f"rules-test-{uuid.uuid4().hex[:6]}"
    running = await start_rules(kafka.bootstrap, app_id, tmp_path)
    try:
        assert running.status()["services"]["rules"]["runtime"] == "faust"
        found = await wait_for_alerts(kafka.bootstrap, cams, len(expected))
    finally:
        await running.stop()
    assert found == expected.keys()
    raised = {a.alert_id: a for a in await alerts_on_kafka(kafka.bootstrap, cams)}
    assert all(raised[k] == expected[k] for k in expected)  # same content, not only ids

    bus = KafkaBus(kafka.bootstrap, "dlq-reader")
    dead = [r for r in await bus.read_all(DETECTIONS.dlq) if r.key == cams[0].encode()
            and header(r.headers, "dlq_group") == app_id]
    await bus.close()
    # One record dead-lettered (at least once: a rebalance may replay it before its commit).
    assert {(header(r.headers, "dlq_partition"), header(r.headers, "dlq_offset"))
            for r in dead} == {(header(dead[0].headers, "dlq_partition"),
                                header(dead[0].headers, "dlq_offset"))}
    assert header(dead[0].headers, "dlq_stage") == "decode"
    assert "ce_type" in (header(dead[0].headers, "dlq_error") or "")


async def test_a_failed_output_is_never_acknowledged_and_is_replayed_on_restart(
        kafka, tmp_path):
    cams = cameras(1)
    expected = await publish_scenario(kafka.bootstrap, cams, 150)
    victim = sorted(expected.values(), key=lambda a: a.raised_at.ToMilliseconds())[5]
    app_id = f"rules-test-{uuid.uuid4().hex[:6]}"
    running = await start_rules(kafka.bootstrap, app_id, tmp_path)
    service = running.services[0]
    real_emit = service.app.emit

    async def failing_emit(outputs):
        if any(o.event_id == victim.alert_id for o in outputs):
            raise ConnectionError("broker refused the alert (injected)")
        await real_emit(outputs)

    service.app.emit = failing_emit
    try:
        [task] = [t for t in service.tasks if t.get_name() == "rules:faust"]
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(task, 120)
        await asyncio.sleep(3)  # commits keep running: none may pass the failed frame
        partition = murmur2_partition(cams[0].encode(), DETECTIONS.partitions)
        offset = committed(kafka.bootstrap, app_id, DETECTIONS.name, partition)
    finally:
        await running.stop()
    found = {a.alert_id for a in await alerts_on_kafka(kafka.bootstrap, cams)}
    assert victim.alert_id not in found
    assert len(found) < len(expected)
    # The frame that released the victim's frame from the reorder buffer (500 ms later) was
    # being handled when the output failed: the committed offset must not have passed it.
    bus = KafkaBus(kafka.bootstrap, "offset-reader")
    records = [r for r in await bus.read_all(DETECTIONS.name)
               if r.key == cams[0].encode() and r.partition == partition]
    await bus.close()
    released_at = victim.raised_at.ToMilliseconds() + DEFAULT_TOLERANCE_MS
    failed_offset = next(r.offset for r in records if _frame_time(r) >= released_at)
    assert 0 <= offset <= failed_offset

    assert await alerts_after_a_restart(kafka.bootstrap, app_id, tmp_path, cams,
                                        len(expected)) == expected.keys()


async def test_a_changelog_write_never_delivered_fails_the_worker_and_is_replayed(
        kafka, tmp_path):
    """After a partition leader moved, aiokafka was seen retrying a changelog write forever
    and the worker stopped evaluating without a word: a write pending past the timeout must
    fail the worker (the process exits, to be restarted) with nothing committed past it."""
    cams = cameras(1)
    rules, frames = scenario(cams, 150)
    expected = clean_run(frames, rules)
    await publish(kafka.bootstrap, rules, [])  # known from the start, as in the clean run
    app_id = f"rules-test-{uuid.uuid4().hex[:6]}"
    running = await start_rules(kafka.bootstrap, app_id, tmp_path, faust_write_timeout_s=2)
    table = running.services[0].faust.camera_states
    real_send = table.send_changelog
    writes = 0

    def send_never_answered_from_the_80th(partition, key, value):
        nonlocal writes
        writes += key == cams[0].encode()
        if writes < 80:
            return real_send(partition, key, value)
        return asyncio.get_running_loop().create_future()  # the broker never answers

    table.send_changelog = send_never_answered_from_the_80th
    try:
        await publish(kafka.bootstrap, [], frames)
        [task] = [t for t in running.services[0].tasks if t.get_name() == "rules:faust"]
        with pytest.raises(TimeoutError, match="not delivered after 2 s"):
            await asyncio.wait_for(task, 120)
        partition = murmur2_partition(cams[0].encode(), DETECTIONS.partitions)
        offset = committed(kafka.bootstrap, app_id, DETECTIONS.name, partition)
    finally:
        await running.stop()
    bus = KafkaBus(kafka.bootstrap, "offset-reader")
    records = [r for r in await bus.read_all(DETECTIONS.name)
               if r.key == cams[0].encode() and r.partition == partition]
    await bus.close()
    # The 80th frame's state never landed: its offset is not committed.
    assert records[0].offset < offset <= records[79].offset

    assert await alerts_after_a_restart(kafka.bootstrap, app_id, tmp_path, cams,
                                        len(expected)) == expected.keys()


async def test_a_rebalance_restarts_each_partition_at_its_committed_offset(kafka):
    """The Faust worker leaves positions to aiokafka (faust_worker._ConsumerThread: Faust's
    own seek after a recovery dropped records). That relies on this: after a rebalance, a
    consumer that keeps a partition restarts it at its committed offset, or at the beginning
    if it has none, not where its fetcher was."""
    topic, other = kafka.unique_topic("rebalance"), kafka.unique_topic("other")
    create_topic(kafka.bootstrap, topic, partitions=2)
    create_topic(kafka.bootstrap, other, partitions=1)
    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    for partition in range(2):
        for i in range(10):
            producer.produce(topic, f"{partition}-{i}".encode(), partition=partition)
    assert producer.flush(30) == 0
    never, at_four = AioPartition(topic, 0), AioPartition(topic, 1)
    group = f"rebalance-{uuid.uuid4().hex[:6]}"
    assignments = 0

    class Count(ConsumerRebalanceListener):
        async def on_partitions_revoked(self, revoked): ...

        async def on_partitions_assigned(self, assigned):
            nonlocal assignments
            assignments += 1

    kept = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=group,
                            auto_offset_reset="earliest", enable_auto_commit=False)
    kept.subscribe([topic], listener=Count())
    joining = AIOKafkaConsumer(other, bootstrap_servers=kafka.bootstrap, group_id=group)
    await kept.start()
    try:
        read = 0
        while read < 20:  # everything fetched: the positions are at the end
            read += sum(len(r) for r in (await kept.getmany(timeout_ms=1000)).values())
        await kept.commit({at_four: OffsetAndMetadata(4, "")})
        assert {tp: await kept.position(tp) for tp in (never, at_four)} == {never: 10,
                                                                             at_four: 10}
        await joining.start()  # a new member: the group rebalances, `kept` keeps `topic`
        first: dict[AioPartition, int] = {}  # first offset fetched again, by partition
        deadline = time.monotonic() + 60
        while len(first) < 2 and time.monotonic() < deadline:
            for tp, records in (await kept.getmany(timeout_ms=500)).items():
                first.setdefault(tp, records[0].offset)
            await joining.getmany(timeout_ms=100)
        assert assignments == 2 and kept.assignment() == {never, at_four}
        assert first == {never: 0, at_four: 4}
    finally:
        await joining.stop()
        await kept.stop()


async def test_records_fetched_while_the_flow_is_paused_are_read_again(kafka, tmp_path):
    """Faust throws away what a fetch returns once its flow is paused (as in every rebalance)
    and relied on a seek the worker turns off: those records are fetched again, each frame is
    evaluated once, and commits reach the end (a loss found by the SIGKILL suite: its garbage
    record, thrown away so, was never dead-lettered)."""
    cams = cameras(2)
    rules, frames = scenario(cams, 150)
    expected = clean_run(frames, rules)
    app_id = f"rules-pause-{uuid.uuid4().hex[:6]}"
    running = await start_rules(kafka.bootstrap, app_id, tmp_path)
    try:
        service = running.services[0]
        evaluated: Counter[str] = Counter()
        step = service.app.step_detections

        def counted(state, frame):
            evaluated[frame.frame_id] += 1
            return step(state, frame)

        service.app.step_detections = counted  # the worker looks it up per record
        consumer = service.faust.app.consumer
        stream = asyncio.create_task(publish(kafka.bootstrap, rules, frames,
                                             frames_per_second=40))
        deadline = time.monotonic() + 60
        while len(await alerts_on_kafka(kafka.bootstrap, cams)) < 3:  # the stream is flowing
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)
        for _ in range(3):  # frames keep arriving while it is paused
            consumer.stop_flow()
            await asyncio.sleep(1.0)
            consumer.resume_flow()
            await asyncio.sleep(1.0)
        await stream
        found = await wait_for_alerts(kafka.bootstrap, cams, len(expected))
        partitions = {murmur2_partition(c.encode(), DETECTIONS.partitions) for c in cams}
        deadline = time.monotonic() + 60
        while True:  # and it commits to the end, past nothing it skipped
            positions = [await asyncio.to_thread(committed_to_end, kafka.bootstrap, app_id,
                                                 DETECTIONS.name, p) for p in partitions]
            behind = [(committed, end) for committed, end in positions if committed != end]
            if not behind or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
    finally:
        await running.stop()
    assert {f.frame_id: evaluated[f.frame_id] for f in frames} == {f.frame_id: 1 for f in frames}
    assert found == expected.keys()
    assert not behind


def _frame_time(record) -> int:
    return decode(DETECTIONS, record.key, record.value, record.headers).message.captured_at \
        .ToMilliseconds()


def spawn_worker(bootstrap: str, app_id: str, tmp_path) -> subprocess.Popen:
    env = vigie_env(VIGIE_KAFKA_BOOTSTRAP=bootstrap, VIGIE_RULES_FAUST_APP_ID=app_id,
                    VIGIE_DATA_DIR=str(tmp_path), VIGIE_LOG_LEVEL="WARNING",
                    VIGIE_AUDIT_REPLICA=uuid.uuid4().hex[:8])
    return subprocess.Popen([sys.executable, "-m", "vigie_rules"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.timeout(900)  # frames over a minute, four worker starts, alert polls on a busy topic
async def test_sigkill_mid_stream_then_restart_gives_exactly_the_clean_run(kafka, tmp_path):
    cams = cameras(4)
    rules, frames = scenario(cams, 400)
    expected = clean_run(frames, rules)
    assert len(expected) >= 4 * 30
    # Frames arrive over about a minute, like live cameras, so each kill lands mid-stream
    # however fast the worker catches up after a restart.
    feeder = asyncio.create_task(publish(kafka.bootstrap, rules, frames, frames_per_second=25))
    try:
        app_id = f"rules-kill-{uuid.uuid4().hex[:6]}"
        kills = 0
        for fraction in (0.2, 0.45, 0.7):  # three SIGKILLs while alerts are still coming
            worker = spawn_worker(kafka.bootstrap, app_id, tmp_path)
            try:
                seen = await wait_for_alerts(kafka.bootstrap, cams, int(len(expected) * fraction))
                if len(seen) < len(expected):
                    os.kill(worker.pid, signal.SIGKILL)
                    kills += 1
            finally:
                if worker.poll() is None:
                    worker.kill()
                worker.wait(30)
        worker = spawn_worker(kafka.bootstrap, app_id, tmp_path)
        try:
            await asyncio.wait_for(feeder, 300)
            found = await wait_for_alerts(kafka.bootstrap, cams, len(expected))
            await asyncio.sleep(5)  # anything extra would show up by now
            every = await alerts_on_kafka(kafka.bootstrap, cams)
        finally:
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(60)
    finally:
        feeder.cancel()
    assert kills >= 2
    assert found == expected.keys()
    assert {a.alert_id for a in every} == expected.keys()  # nothing that a clean run lacks
    duplicates = len(every) - len(expected)
    assert duplicates <= kills * 5  # replays after a kill republish a few ids, never new ones
    assert code == 0, worker.stderr.read().decode()[-2000:] if worker.stderr else ""


async def test_the_faust_worker_reads_signal_lamps_face_matches_and_citizen_reports(
        kafka, tmp_path):
    crossroads, station, square = cameras(3, "faust-kinds")
    bus = KafkaBus(kafka.bootstrap, "kinds")
    await bus.ensure_topics(REGISTRY)
    camera = Camera(camera_id=square, name="square", enabled=True,
                    geo=GeoPoint(lat_deg=45.7578, lon_deg=4.8320))
    rules = [red_light_rule(crossroads),
             Rule(rule_id=f"{station}-watch", name="entrance", camera_id=station, enabled=True,
                  kind=RuleKind.RULE_KIND_FACE_MATCH),
             Rule(rule_id=f"{square}-reports", name="reports", camera_id=square, enabled=True,
                  kind=RuleKind.RULE_KIND_CITIZEN_REPORT,
                  thresholds=RuleThresholds(max_distance_m=250))]
    await bus.publish(CAMERAS, square, camera)
    for rule in rules:
        await bus.publish(RULES, rule.rule_id, rule)
    t0 = 1_767_225_600_000
    for i in range(60):
        t = t0 + i * 100
        await bus.publish(FRAMES, crossroads, lamp_frame(crossroads, t, "red"))
        await bus.publish(DETECTIONS, crossroads, car_frame(crossroads, t, 0.9 - 0.01 * i))
    for i in range(5):
        match = FaceMatched(match_id=f"m{i}", frame_id=f"{station}:{i}", camera_id=station,
                            subject_id="subj-1", score=0.6, threshold=0.42)
        match.captured_at.FromMilliseconds(t0 + i * 400)
        await bus.publish(FACES, station, match)
    report = ReportReceived(report_id=f"{square}-r1", text="fight",
                            geo=GeoPoint(lat_deg=45.7590, lon_deg=4.8320))
    report.received_at.FromMilliseconds(t0)
    await bus.publish(REPORTS, report.report_id, report)
    await bus.flush()
    await bus.close()

    running = await start_rules(kafka.bootstrap, f"rules-kinds-{uuid.uuid4().hex[:6]}",
                                tmp_path)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = {a.alert_id: a for a in await alerts_on_kafka(kafka.bootstrap,
                                                                  [crossroads, station, square])
                     # reports of earlier runs are near this square too: only ours
                     if a.attributes.get("report_id", report.report_id) == report.report_id}
            if len(found) >= 3:
                break
            await asyncio.sleep(1)
    finally:
        await running.stop()
    kinds = sorted((a.camera_id, RuleKind.Name(a.rule_kind)) for a in found.values())
    assert kinds == sorted([(crossroads, "RULE_KIND_RED_LIGHT"),
                            (station, "RULE_KIND_FACE_MATCH"),
                            (square, "RULE_KIND_CITIZEN_REPORT")])
    [face] = [a for a in found.values() if a.camera_id == station]
    assert face.requires_confirmations == 2 and face.subject_id == "subj-1"
