"""Tracker checkpoints on vigie.tracker-state.v1, so that a restarted (or re-assigned) detect goes
on with the same track ids, hence the same alert ids downstream.

The contract, per camera:
- a checkpoint is the tracker state after frame F (plus the camera's measured frame rate), taken
  in the batcher's worker in frame order, at most every `interval` of stream time, and published
  only once the detections of F are durable (so: once every earlier detection of the camera is);
- the offset of every analysed frame is stored only once a checkpoint at or after it is durable
  (`Covers`), so the committed offset never passes the latest durable checkpoint;
- on start, and whenever the frames partition is assigned again (the consumer's `generation`),
  a camera's first frame waits for its latest checkpoint (`CheckpointReader`: a backward scan of
  the camera's partition); frames captured at or before it are already tracked and skipped, the
  others are tracked from the restored state: the same ids as if nothing had happened.
A camera with frames waiting for cover gets a checkpoint after `interval` of wall time without
one (the end of a file, a paused camera), and every camera on stop.

`Turns` keeps each camera's frames in order through the awaits this needs (reading a checkpoint,
waiting for a delivery) while frames of other cameras overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from vigie.detect.v1.tracker_pb2 import TrackerCheckpointed
from vigie_core.bus.base import Bus, Record, murmur2_partition
from vigie_core.codec import DecodeError, decode
from vigie_core.topics import TRACKER_STATE

log = logging.getLogger(__name__)


class Turns:
    """One turn at a time per camera, in the order turns were taken (take before any await)."""

    def __init__(self) -> None:
        self._last: dict[str, asyncio.Future[None]] = {}

    def take(self, camera_id: str) -> Turn:
        previous = self._last.get(camera_id)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._last[camera_id] = mine
        return Turn(self, camera_id, previous, mine)

    def _release(self, camera_id: str, mine: asyncio.Future[None]) -> None:
        if not mine.done():
            mine.set_result(None)
        if self._last.get(camera_id) is mine:
            del self._last[camera_id]


@dataclass
class Turn:
    turns: Turns
    camera_id: str
    previous: asyncio.Future[None] | None
    mine: asyncio.Future[None]

    async def __aenter__(self) -> Turn:
        if self.previous is not None:
            await asyncio.shield(self.previous)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        self.turns._release(self.camera_id, self.mine)


class Covers:
    """Futures that resolve once a durable checkpoint covers a frame (captured at or after it)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._waiting: dict[str, deque[tuple[int, float, asyncio.Future[Record]]]] = {}
        self._clock = clock

    def add(self, camera_id: str, captured_us: int) -> asyncio.Future[Record]:
        future: asyncio.Future[Record] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(camera_id, deque()).append((captured_us, self._clock(),
                                                             future))
        return future

    def covered(self, camera_id: str, captured_us: int, record: Record) -> None:
        waiting = self._waiting.get(camera_id)
        if not waiting:
            return
        kept: deque[tuple[int, float, asyncio.Future[Record]]] = deque()
        for entry in waiting:  # mostly in capture order; a redelivery may come out of it
            if entry[0] <= captured_us:
                if not entry[2].done():
                    entry[2].set_result(record)
            else:
                kept.append(entry)
        if kept:
            self._waiting[camera_id] = kept
        else:
            self._waiting.pop(camera_id, None)

    def failed(self, camera_id: str, error: BaseException) -> None:
        for _, _, future in self._waiting.pop(camera_id, ()):
            if not future.done():
                future.set_exception(error)

    def pending(self, waiting_s: float = 0.0) -> list[str]:
        """Cameras with a frame waiting for cover for at least `waiting_s`."""
        now = self._clock()
        return [c for c, waiting in self._waiting.items()
                if waiting and now - waiting[0][1] >= waiting_s]


@dataclass
class _PartitionScan:
    generation: int
    found: dict[str, TrackerCheckpointed] = field(default_factory=dict)
    before: int | None = None  # next chunk ends here (None: at the partition's end)
    exhausted: bool = False
    scanned: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class CheckpointReader:
    """Latest checkpoint of a camera: its partition read backwards in chunks, the latest record
    of each key kept (per assignment generation, so a re-assignment reads afresh). At most
    `max_records` are read per partition; a camera whose last checkpoint is further back (idle
    for long while others kept writing) starts a fresh tracker."""

    def __init__(self, bus: Bus, *, chunk: int = 200, max_records: int = 20_000) -> None:
        self.bus, self.chunk, self.max_records = bus, chunk, max_records
        self._scans: dict[int, _PartitionScan] = {}

    async def latest(self, camera_id: str, generation: int) -> TrackerCheckpointed | None:
        partition = murmur2_partition(camera_id.encode(), TRACKER_STATE.partitions)
        scan = self._scans.get(partition)
        if scan is None or scan.generation != generation:
            scan = self._scans[partition] = _PartitionScan(generation)
        async with scan.lock:
            while camera_id not in scan.found and not scan.exhausted:
                records = await self._read(partition, scan.before)
                if not records:
                    scan.exhausted = True
                    break
                scan.before = records[0].offset
                scan.scanned += len(records)
                for record in reversed(records):  # newest first: the first seen per key wins
                    key = (record.key or b"").decode(errors="replace")
                    if key in scan.found or record.value is None:
                        continue
                    try:
                        message = decode(TRACKER_STATE, record.key, record.value,
                                         record.headers).message
                    except DecodeError:
                        continue
                    if isinstance(message, TrackerCheckpointed):
                        scan.found[key] = message
                if scan.before == 0 or scan.scanned >= self.max_records:
                    scan.exhausted = True
            return scan.found.get(camera_id)

    async def _read(self, partition: int, before: int | None, attempts: int = 20) -> list[Record]:
        """One chunk, read again while the cluster recovers (a broker down, a leader moving)."""
        for attempt in range(1, attempts + 1):
            try:
                return await self.bus.read_tail(TRACKER_STATE.name, partition, self.chunk,
                                                before=before)
            except Exception as exc:
                if attempt == attempts:
                    raise
                log.warning("reading tracker checkpoints failed (attempt %d): %r", attempt, exc)
                await asyncio.sleep(min(5.0, 0.5 * attempt))
        raise AssertionError("unreachable")


class CheckpointWriter:
    """Publishes checkpoints in order per camera, each after the detection delivery it follows,
    and resolves the covers it releases."""

    def __init__(self, bus: Bus, covers: Covers) -> None:
        self.bus, self.covers = bus, covers
        self._newest: dict[str, int] = {}  # camera -> capture time of the newest published
        self.durable: dict[str, int] = {}  # camera -> capture time of the newest durable one

    def restored(self, camera_id: str, captured_us: int) -> None:
        """The checkpoint at `captured_us` was read back from the topic: durable."""
        self.durable[camera_id] = max(self.durable.get(camera_id, -1), captured_us)
        self._newest[camera_id] = max(self._newest.get(camera_id, -1), captured_us)

    async def publish_after(self, checkpoint: TrackerCheckpointed,
                            detections: Awaitable[Any] | None) -> None:
        camera_id = checkpoint.camera_id
        captured_us = checkpoint.captured_at.ToMicroseconds()
        if detections is not None:
            try:
                await detections
            except Exception:
                return  # the consume loop stops on that failed delivery: nothing is covered
        if self._newest.get(camera_id, -1) >= captured_us:
            return  # a newer checkpoint of the camera went first; it covers this one
        self._newest[camera_id] = captured_us
        delivery = await self.bus.publish(TRACKER_STATE, camera_id, checkpoint,
                                          event_id=f"{checkpoint.frame_id}/tracker")
        delivery.add_done_callback(lambda done: self._delivered(camera_id, captured_us, done))

    def _delivered(self, camera_id: str, captured_us: int,
                   done: asyncio.Future[Record]) -> None:
        if done.cancelled():
            self.covers.failed(camera_id, asyncio.CancelledError())
        elif (error := done.exception()) is not None:
            self.covers.failed(camera_id, error)
        else:
            self.durable[camera_id] = max(self.durable.get(camera_id, -1), captured_us)
            self.covers.covered(camera_id, captured_us, done.result())


async def flush_idle(covers: Covers, checkpoint: Callable[[str], Awaitable[None]],
                     stop: asyncio.Event, done: Callable[[], bool], interval_s: float) -> None:
    """Checkpoint the cameras whose frames have waited `interval_s` for cover; once `stop` is
    set, every camera with a frame waiting, until `done()` says the consume loop has drained."""
    while not (stop.is_set() and done()):
        for camera_id in covers.pending(0.0 if stop.is_set() else interval_s):
            try:
                await checkpoint(camera_id)
            except Exception:
                log.exception("tracker checkpoint failed", extra={"camera_id": camera_id})
        if stop.is_set():
            await asyncio.sleep(0.05)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(interval_s, 1.0) / 2)
