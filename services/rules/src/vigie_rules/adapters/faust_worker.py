"""The rules engine as a Faust app, run inside the rules service process on Kafka.

Agents, each concurrency 1:
  cameras   vigie.detections.v1 + vigie.signals.v1 (co-partitioned: 12 partitions, key
            camera_id, so a camera's frames and signals reach one worker in order) -> the
            engine; per-camera state in the table `camera-state` with the offset of the last
            record applied from each topic;
  faces     vigie.faces.v1 -> FACE_MATCH rules; per-camera state in the table `face-state`;
  reports   vigie.reports.v1 -> CITIZEN_REPORT rules; stateless;
  camera-health
            vigie.camera-health.v1 -> camera_tampering rules (detect's reports of view
            problems; ingest's are skipped); stateless;
  frames    vigie.frames.v1 -> signal observations of colour-read red lights; stateless.
Tables use the memory store with changelog topics `<app id>-<table>-changelog`, recovered on
start and on rebalance.

At-least-once with idempotent outputs, in this order for every record:
  1. decode; an undecodable record goes to `<topic>.dlq` (with the error) and is acknowledged;
  2. a record at or below the offset stored with its key's state was already applied (a
     redelivery after a crash): acknowledged, nothing else;
  3. evaluate (pure); if the engine raises, the record is poison: DLQ, acknowledged;
  4. publish the alerts and counts and wait until Kafka has them all;
  5. write the new state (and the record's offset) to the table;
  6. acknowledge once that changelog record is on Kafka (a delivery callback: the next record
     does not wait). Faust commits only contiguous acknowledged offsets, so a committed offset
     never runs ahead of a durable state. (Faust's own flush before a commit gives up after
     100 ms with records still in its buffer: acking on table writes alone loses state under
     load, which the SIGKILL test caught.)
If step 4 fails, the record is not acknowledged, the agent stops taking records and the service
fails (the process exits and is restarted): the record is replayed, never skipped. A crash
between 4 and 5 replays the record and republishes the same alert ids, which consumers
de-duplicate; a crash after 5 finds the offset in the state and skips the record. A changelog
write still undelivered after `faust_write_timeout_s` fails the service the same way (after a
partition leader moved, aiokafka was seen retrying one forever).

Positions are aiokafka's own: after every rebalance it starts each partition at its committed
offset. Faust's second seek after its table recovery is turned off (`_ConsumerThread`): it
rewound records already being processed and Faust then dropped them as duplicates, with the
unprocessed ones after them (frames skipped for good, found by the SIGKILL test). Records a
fetch returns while the flow is paused are fetched again (`_Consumer._wait_next_records`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from vigie_core import telemetry
from vigie_core.bus.base import Record, TopicSpec
from vigie_core.bus.kafka import KafkaBus
from vigie_core.codec import DecodeError, decode
from vigie_core.processing import dlq_headers
from vigie_core.settings import CoreSettings
from vigie_core.topics import CAMERA_HEALTH, DETECTIONS, FACES, FRAMES, REPORTS, SIGNALS, Topic

from vigie_rules import metrics
from vigie_rules.app import Output, RulesApp
from vigie_rules.config import Settings
from vigie_rules.domain.engine_state import CameraState
from vigie_rules.domain.kinds.face_match import FaceState

Handler = Callable[[Record, Any], Awaitable["asyncio.Future[Any] | None"]]

log = logging.getLogger(__name__)

for noisy in ("faust", "mode", "aiokafka", "kafka"):
    logging.getLogger(noisy).setLevel(logging.WARNING)


def broker_credentials(core: CoreSettings) -> faust.auth.Credentials | None:
    """The Kafka security settings of every Vigie client (VIGIE_KAFKA_SECURITY_PROTOCOL, ...),
    for Faust's aiokafka clients."""
    protocol = core.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = core.kafka_ssl_context()
    if protocol.startswith("SASL"):
        return faust.SASLCredentials(username=core.kafka_sasl_username,
                                     password=core.kafka_sasl_password(),
                                     ssl_context=context, mechanism=core.kafka_sasl_mechanism)
    return faust.SSLCredentials(context)


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    async def seek_to_committed(self) -> dict[TP, int | None]:  # type: ignore[override]
        """Leaves every position where aiokafka put it. After each rebalance aiokafka starts
        every assigned partition at its committed offset (or the reset policy), which is
        right; Faust then seeks there again after its table recovery, but it resumes the
        partitions before seeking, so records from the committed offset on are already being
        processed: the seek rewinds them and Faust's read-offset bookkeeping then drops them
        as duplicates, together with the ones after them not yet processed (the SIGKILL test
        lost 10 to 265 frames a partition that way). No offset (None) also makes Faust
        forget the read offsets it would drop records by."""
        return {tp: None for tp in self.assignment()}


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _wait_next_records(self, timeout: float) -> tuple[Any, Any]:
        """Faust's, but records fetched while the flow was being paused (a rebalance) are
        fetched again later: Faust throws them away and relies on its seek, which is off
        (`_ConsumerThread`). A fetch can outlast a whole rebalance; what it returns for the
        new assignment was lost so (a CI run of the SIGKILL suite lost its garbage record)."""
        records, active = await super()._wait_next_records(timeout)
        if records and not self.flow_active:
            for tp, batch in records.items():
                if batch:
                    with contextlib.suppress(Exception):  # not assigned any more: not ours
                        await self.seek(tp, batch[0].offset)
            return {}, active
        return records, active


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class FaustWorker:
    """A Faust app whose agents drive the app's steps; `start`/`stop` follow the service."""

    def __init__(self, app: RulesApp, bus: KafkaBus, settings: Settings,
                 core: CoreSettings) -> None:
        self.rules_app = app
        self.bus = bus
        bootstrap = bus.bootstrap
        self.group = settings.faust_app_id
        self.write_timeout_s = settings.faust_write_timeout_s
        # Changelog deliveries in the order sent, with their deadline (checked in run_until).
        self._writes: deque[tuple[float, asyncio.Future[Any], Record]] = deque()
        self.app = faust.App(
            settings.faust_app_id,
            broker=[f"kafka://{server.strip()}" for server in bootstrap.split(",")],
            store="memory://",
            datadir=str(core.data_dir / "faust"),  # not the working directory (read-only in pods)
            web_enabled=False,
            autodiscover=False,
            processing_guarantee="at_least_once",
            stream_publish_on_commit=False,
            stream_wait_empty=False,  # never wait at stop for a record that may not be acked
            broker_commit_interval=settings.faust_commit_interval_s,
            consumer_auto_offset_reset="earliest",
            topic_partitions=DETECTIONS.partitions,
            topic_replication_factor=core.kafka_replication_factor,
            table_standby_replicas=settings.faust_standby_replicas,
            producer_acks=-1,
            # Batches expire (and their delivery fails) after this, not Faust's 20 min default.
            producer_request_timeout=settings.faust_write_timeout_s,
            broker_credentials=broker_credentials(core),
        )
        self.app.transport = _Transport(self.app.conf.broker_consumer, self.app)
        self.camera_states = self.app.Table("camera-state", partitions=DETECTIONS.partitions,
                                            key_type=bytes, value_type=bytes)
        self.face_states = self.app.Table("face-state", partitions=FACES.partitions,
                                          key_type=bytes, value_type=bytes)
        self._decoded: dict[str, tuple[bytes, dict[str, int], CameraState]] = {}
        self._failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._agent("cameras", [DETECTIONS, SIGNALS], self._on_camera_event)
        self._agent("faces", [FACES], self._on_face_match)
        self._agent("reports", [REPORTS], self._on_report)
        self._agent("camera-health", [CAMERA_HEALTH], self._on_camera_health)
        self._agent("frames", [FRAMES], self._on_frame)

    async def start(self) -> None:
        # Changelogs created before the app starts: Faust creating them itself races its own
        # metadata (a table write then sees a 0-partition changelog and fails).
        await self.bus.create_topics([
            TopicSpec(table.changelog_topic.get_topic_name(), partitions,
                      {"cleanup.policy": "compact"})
            for table, partitions in ((self.camera_states, DETECTIONS.partitions),
                                      (self.face_states, FACES.partitions))])
        await self.app.start()

    async def stop(self) -> None:
        await self.app.stop()

    async def run_until(self, stop: asyncio.Event) -> None:
        """Returns when `stop` is set; raises as soon as an agent or the app failed (the service
        then stops and the process exits with an error, to be restarted)."""
        while not stop.is_set():
            if self._failed.done():
                self._failed.result()
            if self.app.crashed:
                raise RuntimeError(f"the Faust app crashed: {self.app.crash_reason!r}")
            self._check_writes()
            try:
                await asyncio.wait_for(asyncio.shield(self._failed), 0.5)
            except TimeoutError:
                pass

    def cameras(self) -> int:
        return len(self.camera_states)

    def _fail(self, exc: BaseException) -> None:
        if not self._failed.done():
            self._failed.set_exception(exc)

    # -- agents ------------------------------------------------------------------------------------

    def _agent(self, name: str, topics: list[Topic], handler: Handler) -> None:
        by_name = {t.name: t for t in topics}
        channel = self.app.topic(*by_name, key_serializer="raw", value_serializer="raw")

        async def agent(stream: Any) -> None:
            async for event in stream.noack().events():
                record = _record(event)
                try:
                    written = await self._handle(by_name[record.topic], record, handler)
                except Exception as exc:
                    # Not acknowledged, and nothing after it is taken: a restart replays it.
                    log.error("rules agent %s stopped on %s[%d]@%d: %r", name, record.topic,
                              record.partition, record.offset, exc)
                    self._fail(exc)
                    await asyncio.Event().wait()
                if written is None:
                    event.ack()
                else:  # acknowledged once its state is on the changelog, not before
                    written.add_done_callback(functools.partial(self._ack_written, event))

        self.app.agent(channel, name=f"{self.group}.{name}", concurrency=1)(agent)

    def _ack_written(self, event: Any, written: asyncio.Future[Any]) -> None:
        error = written.exception() if not written.cancelled() else asyncio.CancelledError()
        if error is None:
            event.ack()
        else:  # never acknowledged: the commit stops short of it and a restart replays it
            log.error("table changelog write failed on %s[%d]@%d: %r", event.message.topic,
                      event.message.partition, event.message.offset, error)
            self._fail(error)

    async def _handle(self, topic: Topic, record: Record,
                      handler: Handler) -> asyncio.Future[Any] | None:
        """Handle one record; the changelog write of the state it changed, if any."""
        try:
            message = decode(topic, record.key, record.value, record.headers).message
        except DecodeError as exc:
            await self._dead_letter(topic, record, "decode", str(exc))
            return None
        if message is None:
            return None
        written = await handler(record, message)
        telemetry.BUS_CONSUMED.labels(self.group, record.topic).inc()
        return written

    def _write(self, table: Any, key: bytes, value: bytes, record: Record) -> asyncio.Future[Any]:
        """Set a table key and send its changelog record to the input's partition (what
        `table[key] = value` does), returning the changelog delivery. Faust's own commit
        flush gives up after 100 ms on a slow broker and could commit an offset whose state
        is still in its buffer: acknowledging on this future instead keeps every committed
        offset behind a durable state. A delivery still pending after `write_timeout_s` fails
        the worker: after a partition leader moved, aiokafka was seen retrying one forever."""
        written: asyncio.Future[Any] = table.send_changelog(record.partition, key, value)
        table.data[key] = value
        self._writes.append((time.monotonic() + self.write_timeout_s, written, record))
        return written

    def _check_writes(self) -> None:
        """Fails the worker if the oldest changelog delivery still pending is past its deadline
        (deadlines grow in sending order: the oldest pending one is the first due)."""
        while self._writes and self._writes[0][1].done():
            self._writes.popleft()
        if self._writes and self._writes[0][0] < time.monotonic():
            _, _, record = self._writes[0]
            self._fail(TimeoutError(
                f"table changelog write for {record.topic}[{record.partition}]@{record.offset} "
                f"not delivered after {self.write_timeout_s:g} s"))

    async def _step(self, topic: Topic, record: Record, step: Callable[[], Any]) -> Any:
        """Run a pure step; None (after dead-lettering the record) if the engine refused it."""
        try:
            return step()
        except Exception as exc:  # the engine is pure: retrying gives the same error
            log.warning("rules engine refused %s[%d]@%d: %r", record.topic, record.partition,
                        record.offset, exc)
            await self._dead_letter(topic, record, "handler", repr(exc))
            return None

    def _camera_state(self, camera_id: str) -> tuple[dict[str, int], CameraState]:
        """The camera's (offsets, state) from the table; decoded again only when the table holds
        other bytes than this worker last wrote (recovered from the changelog)."""
        stored = self.camera_states.get(camera_id.encode())
        cached = self._decoded.get(camera_id)
        if cached is not None and cached[0] is stored:
            return cached[1], cached[2]
        offsets, state = _load(stored, lambda: CameraState(camera_id=camera_id),
                               CameraState.from_dict)
        return offsets, state

    async def _on_camera_event(self, record: Record, message: Any) -> asyncio.Future[Any] | None:
        camera_id: str = message.camera_id
        offsets, state = self._camera_state(camera_id)
        if record.offset <= offsets.get(record.topic, -1):
            metrics.FRAMES.labels("faust", "redelivered").inc()
            return None
        is_frame = record.topic == DETECTIONS.name
        step = self.rules_app.step_detections if is_frame else self.rules_app.step_signal
        topic = DETECTIONS if is_frame else SIGNALS
        done = await self._step(topic, record, lambda: step(state, message))
        if done is None:
            return None
        state, outputs = done
        await self._emit(outputs)
        offsets = {**offsets, record.topic: record.offset}
        stored = _dump(offsets, state.to_dict())
        written = self._write(self.camera_states, camera_id.encode(), stored, record)
        self._decoded[camera_id] = (stored, offsets, state)  # the engine never mutates a state
        if is_frame:
            metrics.FRAMES.labels("faust", "evaluated").inc()
        return written

    async def _on_face_match(self, record: Record, match: Any) -> asyncio.Future[Any] | None:
        camera_id: str = match.camera_id
        offsets, state = _load(self.face_states.get(camera_id.encode()),
                               lambda: FaceState(camera_id=camera_id), FaceState.from_dict)
        if record.offset <= offsets.get(record.topic, -1):
            return None
        done = await self._step(FACES, record,
                                lambda: self.rules_app.step_face_match(state, match))
        if done is None:
            return None
        state, outputs = done
        await self._emit(outputs)
        return self._write(self.face_states, camera_id.encode(),
                           _dump({record.topic: record.offset}, state.to_dict()), record)

    async def _on_report(self, record: Record, report: Any) -> None:
        outputs = await self._step(REPORTS, record, lambda: self.rules_app.step_report(report))
        if outputs is not None:
            await self._emit(outputs)

    async def _on_camera_health(self, record: Record, report: Any) -> None:
        outputs = await self._step(CAMERA_HEALTH, record,
                                   lambda: self.rules_app.step_camera_health(report))
        if outputs is not None:
            await self._emit(outputs)

    async def _on_frame(self, record: Record, frame: Any) -> None:
        outputs = await self._step(FRAMES, record,
                                   lambda: self.rules_app.signal_observations(frame))
        if outputs is not None:
            await self._emit(outputs)

    async def _emit(self, outputs: list[Output]) -> None:
        await self.rules_app.emit(outputs)  # raises if Kafka refuses one: the caller fails

    async def _dead_letter(self, topic: Topic, record: Record, stage: str, error: str) -> None:
        telemetry.BUS_DLQ.labels(self.group, record.topic, stage).inc()
        if topic is DETECTIONS:
            metrics.FRAMES.labels("faust", "dead_lettered").inc()
        delivery = await self.bus.produce(
            topic.dlq, record.key, record.value, dlq_headers(record, self.group, stage, error))
        await delivery


def _record(event: Any) -> Record:
    message = event.message
    headers = message.headers
    if isinstance(headers, dict):
        headers = list(headers.items())
    return Record(message.topic, message.partition, message.offset, message.key, message.value,
                  tuple((str(k), v) for k, v in headers or ()), int(message.timestamp * 1000))


def _dump(offsets: dict[str, int], state: dict[str, Any]) -> bytes:
    return json.dumps({"offsets": offsets, "state": state}, separators=(",", ":"),
                      sort_keys=True).encode()


def _load(stored: bytes | None, fresh: Callable[[], Any],
          from_dict: Callable[[dict[str, Any]], Any]) -> tuple[dict[str, int], Any]:
    """(offset applied per topic, state) of a table value; nothing applied yet when None."""
    if stored is None:
        return {}, fresh()
    data = json.loads(stored)
    return {str(k): int(v) for k, v in data["offsets"].items()}, from_dict(data["state"])
