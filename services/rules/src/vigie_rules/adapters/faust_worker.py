"""The rules engine as a Faust app, run inside the rules service process on Kafka.

One agent per input topic, concurrency 1, keyed by camera (detections are keyed by camera_id, so
a camera's frames arrive in order on one partition and one worker). Per-camera engine state lives
in a Faust table (memory store, changelog topic `<app id>-camera-state-changelog`, recovered on
start and on rebalance), with the offset of the last frame applied.

At-least-once with idempotent outputs, in this order for every record:
  1. decode; an undecodable record goes to `<topic>.dlq` (with the error) and is acknowledged;
  2. a frame at or below the offset stored with the camera's state was already applied (a
     redelivery after a crash): acknowledged, nothing else;
  3. evaluate (pure); if the engine raises, the record is poison: DLQ, acknowledged;
  4. publish the alerts and counts and wait until Kafka has them all;
  5. write the new state (and the frame's offset) to the table;
  6. acknowledge. Faust commits only contiguous acknowledged offsets, after flushing the table
     changelog, so a committed offset never runs ahead of the state.
If step 4 fails, the record is not acknowledged, the agent stops taking records and the service
fails (the process exits and is restarted): the record is replayed, never skipped. A crash
between 4 and 5 replays the record and republishes the same alert ids, which consumers
de-duplicate; a crash after 5 finds the offset in the state and skips the record.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

import faust
from vigie_core import telemetry
from vigie_core.bus.base import Record
from vigie_core.codec import DecodeError, decode
from vigie_core.processing import dlq_headers
from vigie_core.settings import CoreSettings
from vigie_core.topics import DETECTIONS, Topic

from vigie_rules import metrics
from vigie_rules.config import Settings
from vigie_rules.domain.engine_state import CameraState

if TYPE_CHECKING:
    from vigie_rules.service import RulesService

log = logging.getLogger(__name__)

for noisy in ("faust", "mode", "aiokafka", "kafka"):
    logging.getLogger(noisy).setLevel(logging.WARNING)


class FaustWorker:
    """A Faust app whose agents drive RulesService's steps; `start`/`stop` follow the service."""

    def __init__(self, service: RulesService, bootstrap: str, settings: Settings,
                 core: CoreSettings) -> None:
        self.service = service
        self.group = settings.faust_app_id
        self.app = faust.App(
            settings.faust_app_id,
            broker=[f"kafka://{server.strip()}" for server in bootstrap.split(",")],
            store="memory://",
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
        )
        self.states = self.app.Table("camera-state", partitions=DETECTIONS.partitions,
                                     key_type=bytes, value_type=bytes)
        self._failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._source = self.app.topic(DETECTIONS.name, key_serializer="raw",
                                      value_serializer="raw")
        self.app.agent(self._source, name=f"{self.group}.detections",
                       concurrency=1)(self._detections)

    async def start(self) -> None:
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
            try:
                await asyncio.wait_for(asyncio.shield(self._failed), 0.5)
            except TimeoutError:
                pass

    def cameras(self) -> int:
        return len(self.states)

    def _fail(self, exc: BaseException) -> None:
        if not self._failed.done():
            self._failed.set_exception(exc)

    # -- agents ------------------------------------------------------------------------------------

    async def _detections(self, stream: Any) -> None:
        async for event in stream.noack().events():
            try:
                await self._on_detections(_record(event))
            except Exception as exc:
                # Not acknowledged, and nothing after it is taken: a restart replays it.
                log.error("rules agent stopped on %s[%d]@%d: %r", event.message.topic,
                          event.message.partition, event.message.offset, exc)
                self._fail(exc)
                await asyncio.Event().wait()
            event.ack()

    async def _on_detections(self, record: Record) -> None:
        try:
            detected = decode(DETECTIONS, record.key, record.value, record.headers).message
        except DecodeError as exc:
            await self._dead_letter(DETECTIONS, record, "decode", str(exc))
            return
        if detected is None:
            return
        camera_id = detected.camera_id
        stored = self.states.get(camera_id.encode())
        offset, state = _load(stored, camera_id)
        if offset is not None and record.offset <= offset:
            metrics.FRAMES.labels("faust", "redelivered").inc()
            return
        try:
            state, outputs = self.service.step_detections(state, detected)
        except Exception as exc:  # the engine is pure: retrying gives the same error
            log.warning("rules engine refused frame %s: %r", detected.frame_id, exc,
                        extra={"camera_id": camera_id, "event_id": detected.frame_id})
            await self._dead_letter(DETECTIONS, record, "handler", repr(exc))
            return
        await self.service.emit(outputs)
        self.states[camera_id.encode()] = _dump(record.offset, state)
        metrics.FRAMES.labels("faust", "evaluated").inc()
        telemetry.BUS_CONSUMED.labels(self.group, record.topic).inc()

    async def _dead_letter(self, topic: Topic, record: Record, stage: str, error: str) -> None:
        telemetry.BUS_DLQ.labels(self.group, record.topic, stage).inc()
        metrics.FRAMES.labels("faust", "dead_lettered").inc()
        delivery = await self.service.bus.produce(
            topic.dlq, record.key, record.value, dlq_headers(record, self.group, stage, error))
        await delivery


def _record(event: Any) -> Record:
    message = event.message
    headers = message.headers
    if isinstance(headers, dict):
        headers = list(headers.items())
    return Record(message.topic, message.partition, message.offset, message.key, message.value,
                  tuple((str(k), v) for k, v in headers or ()), int(message.timestamp * 1000))


def _dump(offset: int, state: CameraState) -> bytes:
    return json.dumps({"offset": offset, "state": state.to_dict()}, separators=(",", ":"),
                      sort_keys=True).encode()


def _load(stored: bytes | None, camera_id: str) -> tuple[int | None, CameraState]:
    if stored is None:
        return None, CameraState(camera_id=camera_id)
    data = json.loads(stored)
    return int(data["offset"]), CameraState.from_dict(data["state"])
