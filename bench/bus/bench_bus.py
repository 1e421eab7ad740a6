"""KafkaBus throughput against Kafka's own Java perf tools, on one broker, in one run.

    ~/.cache/vigie/venv/bin/python bench/bus/bench_bus.py [--quick] [--bootstrap H:P]

Two workloads, frame-sized records (50 KiB, like vigie.frames.v1) and detection-sized records
(200 B, like vigie.detections.v1). For each:

producer side, each on its own fresh topic (same partition count), timed from the first send until
every delivery is acknowledged (flush/close included):
  * ProducerPerformance   Java reference (org.apache.kafka.tools.ProducerPerformance)
  * KafkaBus.produce      raw bytes, same payloads, same producer settings
  * KafkaBus.publish      a real protobuf (FrameSampled / ObjectsDetected) with CloudEvents headers,
                          keyed by camera id, as services publish

consumer side, each with a fresh group, reading the same N records (the KafkaBus.publish topic),
timed from partition assignment to the N-th record (Java's fetch.time.ms definition):
  * ConsumerPerformance   Java reference (org.apache.kafka.tools.ConsumerPerformance)
  * KafkaBus consumer     bare loop: poll + store
  * StreamProcessor       the service consume loop with a no-op handler (decode, metrics, store)

Shared producer settings (both clients): acks=all, enable.idempotence=true, linger.ms=5,
batch.size=1000000 (librdkafka's default, which KafkaBus uses), compression.type=none. KafkaBus
defaults to lz4; the benchmark overrides it to none because the payloads are incompressible
(JPEG-like), so compression only adds CPU on both sides. `--compression lz4` runs both with lz4.

Prints a table and writes bench/results/bus-<date>.json. `--profile` additionally runs the Python
sides under py-spy (if on PATH or given with --py-spy) and writes flame/raw profiles next to it.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

import confluent_kafka  # noqa: E402
from google.protobuf.duration_pb2 import Duration  # noqa: E402
from google.protobuf.message import Message  # noqa: E402
from google.protobuf.timestamp_pb2 import Timestamp  # noqa: E402
from kafka_broker import (  # noqa: E402
    CONSUMER_PERF,
    PRODUCER_PERF,
    KafkaCluster,
    create_topic,
    delete_topic,
)
from vigie.camera.v1.camera_pb2 import SourceKind  # noqa: E402
from vigie.common.v1.common_pb2 import BoundingBox, GeoPoint  # noqa: E402
from vigie.detect.v1.detection_pb2 import Detection, ObjectsDetected  # noqa: E402
from vigie.ingest.v1.frame_pb2 import FrameSampled  # noqa: E402
from vigie_core.bus.base import murmur2_partition  # noqa: E402
from vigie_core.bus.kafka import KafkaBus, KafkaConsumer  # noqa: E402
from vigie_core.codec import Event  # noqa: E402
from vigie_core.processing import StreamProcessor, Subscription  # noqa: E402
from vigie_core.topics import DETECTIONS, FRAMES, Topic  # noqa: E402

MIB = 1024 * 1024
RESULTS = REPO / "bench" / "results"
CAMERAS = 12  # distinct keys for KafkaBus.publish (services key by camera_id)
PAYLOAD_POOL = 32  # distinct payloads cycled through (both clients send the same ones)


# ------------------------------------------------------------------------------------ workloads
@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    records: int
    size: int  # bytes per record value
    warmup: int  # records of the warm-up run of each side
    topic: Topic  # contract of the protobuf published (KafkaBus.publish, StreamProcessor)
    build: Callable[[int, int], Message]  # (index, target size) -> message


def balanced_camera_ids(count: int, partitions: int) -> list[str]:
    """`count` camera ids spread evenly over `partitions` by Kafka's murmur2 partitioner.

    Keyed records land where their key hashes; 12 arbitrary ids would leave some partitions with
    twice the records of others (or none). Uneven partitions penalise the Java consumer: its
    fetch requests then carry caught-up partitions only, which the broker holds for
    fetch.max.wait.ms (500 ms), so ConsumerPerformance swings between ~15k and ~150k records/s.
    """
    per = -(-count // partitions)
    taken = [0] * partitions
    ids = []
    for i in range(100_000):
        cam = f"cam-{i:03d}"
        p = murmur2_partition(cam.encode(), partitions)
        if taken[p] < per:
            taken[p] += 1
            ids.append(cam)
            if len(ids) == count:
                return ids
    raise RuntimeError("could not balance camera ids")


CAMERA_IDS = balanced_camera_ids(CAMERAS, 6)


def _ts(ns: int) -> Timestamp:
    t = Timestamp()
    t.FromNanoseconds(ns)
    return t


def build_frame(i: int, size: int) -> Message:
    cam = CAMERA_IDS[i % len(CAMERA_IDS)]
    now = time.time_ns()
    msg = FrameSampled(
        frame_id=f"{cam}:{i + 1}", camera_id=cam, sequence=i + 1, captured_at=_ts(now),
        pts_s=i / 5.0, ingested_at=_ts(now), width=640, height=360, motion_score=0.12,
        source_kind=SourceKind.SOURCE_KIND_RTSP, geo=GeoPoint(lat_deg=48.8566, lon_deg=2.3522),
    )
    overhead = msg.ByteSize() + 1 + 3  # field tag + length varint of jpeg (< 2 MiB)
    msg.jpeg = random.randbytes(max(0, size - overhead))  # incompressible, like a JPEG
    return msg


def build_detections(i: int, size: int) -> Message:
    cam = CAMERA_IDS[i % len(CAMERA_IDS)]
    msg = ObjectsDetected(
        frame_id=f"{cam}:{i + 1}", camera_id=cam, captured_at=_ts(time.time_ns()),
        model_id="yolov3-tiny-coco@sha256:9f2c", inference_time=Duration(nanos=8_500_000),
        image_width=640, image_height=360,
    )
    # add detections until the message reaches the target size (~40 bytes each)
    k = 0
    while msg.ByteSize() < size - 20:
        msg.detections.append(Detection(
            box=BoundingBox(x_min=0.1 + k / 100, y_min=0.2, x_max=0.3, y_max=0.5 + k / 100),
            confidence=0.87, class_id=k % 3, class_name=("person", "bicycle", "car")[k % 3],
            track_id=1000 + i + k))
        k += 1
    return msg


def workloads(quick: bool) -> list[Workload]:
    # Counts are multiples of KafkaBus's consume batch (500): KafkaConsumer.poll fetches with
    # consume(500, timeout), which waits out the timeout when fewer records remain.
    return [
        Workload("frames-50KiB", 1000 if quick else 3000, 51200, 100 if quick else 500, FRAMES,
                 build_frame),
        Workload("detections-200B", 10_000 if quick else 100_000, 200,
                 1000 if quick else 5000, DETECTIONS, build_detections),
    ]


# ---------------------------------------------------------------------------------- measurement
@dataclasses.dataclass
class Row:
    workload: str
    side: str  # producer | consumer
    client: str
    records: int
    bytes: int  # per run
    runs: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def seconds(self) -> float:
        """Median over the runs."""
        return statistics.median(r["seconds"] for r in self.runs)

    @property
    def rps(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    @property
    def mibps(self) -> float:
        return self.bytes / MIB / self.seconds if self.seconds > 0 else 0.0


def producer_settings(compression: str) -> dict[str, str]:
    """Settings given identically to the Java producer and to librdkafka (KafkaBus)."""
    return {
        "acks": "all",
        "enable.idempotence": "true",
        "linger.ms": "5",
        "batch.size": "1000000",
        "compression.type": compression,
    }


def write_payload_file(path: Path, size: int, count: int, seed: int) -> list[bytes]:
    """`count` payloads of `size` printable ASCII bytes (ProducerPerformance reads its
    --payload-file as UTF-8 text split on newlines, so no raw binary there). Random letters like
    ProducerPerformance's own generator; with compression.type=none their content is irrelevant."""
    rng = random.Random(seed)
    alphabet = bytes(range(0x21, 0x7F))
    payloads = [bytes(rng.choices(alphabet, k=size)) for _ in range(count)]
    path.write_bytes(b"\n".join(payloads))
    return payloads


class Bench:
    def __init__(self, cluster: KafkaCluster, args: argparse.Namespace) -> None:
        self.cluster = cluster
        self.bootstrap = cluster.bootstrap
        self.args = args
        self.settings = producer_settings(args.compression)
        self.topics: list[str] = []
        self.rows: list[Row] = []
        self.tmp = RESULTS / f".tmp-{os.getpid()}"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.profiles: list[str] = []
        self.owned_broker = cluster.owned
        self.loadavg_start = os.getloadavg()

    # -------------------------------------------------------------------- helpers
    def new_topic(self, workload: str, what: str) -> str:
        name = f"bench-{workload}-{what}-{uuid.uuid4().hex[:8]}"
        create_topic(self.bootstrap, name, partitions=self.args.partitions, rf=1)
        self.topics.append(name)
        return name

    def log(self, msg: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    # -------------------------------------------------------------------- producers
    def java_producer(self, topic: str, n: int, payload_file: Path) -> tuple[float, float, str]:
        props = [f"bootstrap.servers={self.bootstrap}",
                 *(f"{k}={v}" for k, v in self.settings.items())]
        res = self.cluster.run_java_tool(PRODUCER_PERF, [
            "--topic", topic, "--num-records", str(n), "--payload-file", str(payload_file),
            "--throughput", "-1", "--producer-props", *props,
        ], timeout=600)
        line = next((ln for ln in res.stdout.splitlines() if "50th" in ln), None)
        if res.returncode != 0 or line is None:
            raise RuntimeError(f"ProducerPerformance failed ({res.returncode}):\n"
                               f"{res.stdout[-2000:]}\n{res.stderr[-4000:]}")
        m = re.match(r"\s*(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\)", line)
        if m is None or int(m.group(1)) != n:
            raise RuntimeError(f"unexpected ProducerPerformance output: {line}")
        return float(m.group(2)), float(m.group(3)), line.strip()

    def kafka_bus(self, **kw: Any) -> KafkaBus:
        return KafkaBus(self.bootstrap, source="bench-bus",
                        producer_config={**self.settings, **kw}, consumer_config={})

    async def py_produce(self, topic: str, n: int, payloads: list[bytes]) -> tuple[float, int]:
        bus = self.kafka_bus()
        await bus.start()
        p = len(payloads)
        total = sum(len(payloads[i % p]) for i in range(n))
        futures = []
        t0 = time.perf_counter()
        for i in range(n):
            futures.append(await bus.produce(topic, None, payloads[i % p]))
        await bus.flush(timeout=300)
        await asyncio.gather(*futures)
        elapsed = time.perf_counter() - t0
        await bus.close()
        return elapsed, total

    async def py_publish(self, topic: Topic, n: int, messages: list[Message],
                         **config: Any) -> tuple[float, int]:
        bus = self.kafka_bus(**config)
        await bus.start()
        m = len(messages)
        keys = [msg.camera_id for msg in messages]  # type: ignore[attr-defined]
        futures = []
        t0 = time.perf_counter()
        for i in range(n):
            futures.append(await bus.publish(topic, keys[i % m], messages[i % m]))
        await bus.flush(timeout=300)
        records = await asyncio.gather(*futures)
        elapsed = time.perf_counter() - t0
        await bus.close()
        total = sum(len(r.value or b"") for r in records)  # value bytes, like ProducerPerformance
        return elapsed, total

    # -------------------------------------------------------------------- consumers
    def java_consumer(self, topic: str, n: int) -> dict[str, Any]:
        res = self.cluster.run_java_tool(CONSUMER_PERF, [
            "--bootstrap-server", self.bootstrap, "--topic", topic, "--messages", str(n),
            "--timeout", "60000", "--group", f"bench-java-{uuid.uuid4().hex[:8]}",
        ], timeout=600)
        lines = [ln for ln in res.stdout.splitlines()
                 if ln.strip() and not ln.startswith("WARNING")]
        header = next((i for i, ln in enumerate(lines) if ln.startswith("start.time")), None)
        if res.returncode != 0 or header is None or header + 1 >= len(lines):
            raise RuntimeError(f"ConsumerPerformance failed ({res.returncode}):\n"
                               f"{res.stdout[-2000:]}\n{res.stderr[-4000:]}")
        cols = [c.strip() for c in lines[header].split(",")]
        vals = [v.strip() for v in lines[header + 1].split(",")]
        out = dict(zip(cols, vals, strict=True))
        if int(out["data.consumed.in.nMsg"]) != n:
            raise RuntimeError(f"ConsumerPerformance read {out['data.consumed.in.nMsg']} of {n}")
        return out

    def timed_consumer_bus(self, assigned: list[float]) -> KafkaBus:
        """A KafkaBus whose consumers note when they are first assigned partitions: the end of
        Java's rebalance.time.ms, so fetch time is measured the same way on both sides.
        (KafkaConsumer.assignment() cannot be polled for this: it blocks while a consume() is in
        flight.) The re-subscribe only adds an on_assign callback, before the first poll."""

        class TimedConsumer(KafkaConsumer):
            def __init__(self, config: dict[str, Any], topics: list[str]) -> None:
                super().__init__(config, topics)

                def on_assign(_consumer: Any, _partitions: Any) -> None:
                    if not assigned:
                        assigned.append(time.perf_counter())

                self._consumer.subscribe(topics, on_assign=on_assign)

        class TimedBus(KafkaBus):
            def consumer(self, group: str, topics: Any) -> KafkaConsumer:
                c = TimedConsumer({**self._consumer_config, "group.id": group}, list(topics))
                self._consumers.append(c)
                return c

        return TimedBus(self.bootstrap, source="bench-bus", consumer_config={})

    async def py_consume(self, topic: str, n: int) -> dict[str, Any]:
        assigned: list[float] = []
        bus = self.timed_consumer_bus(assigned)
        t_start = time.perf_counter()
        consumer = bus.consumer(f"bench-bare-{uuid.uuid4().hex[:8]}", [topic])
        count = nbytes = 0
        deadline = time.monotonic() + 120
        while count < n:
            record = await consumer.poll(1.0)
            if record is None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"bare consumer read {count} of {n}")
                continue
            count += 1
            nbytes += len(record.key or b"") + len(record.value or b"")
            consumer.store(record)
        t_end = time.perf_counter()
        await bus.close()
        return {"t_start": t_start, "t_assigned": assigned[0], "t_end": t_end, "bytes": nbytes}

    async def py_stream_processor(self, topic: Topic, n: int) -> dict[str, Any]:
        assigned: list[float] = []
        bus = self.timed_consumer_bus(assigned)
        stop = asyncio.Event()
        count = 0
        t_end = 0.0

        async def handler(event: Event[Any]) -> None:  # no-op: count and stop at n
            nonlocal count, t_end
            count += 1
            if count == n:
                t_end = time.perf_counter()
                stop.set()

        processor = StreamProcessor(bus, f"bench-sp-{uuid.uuid4().hex[:8]}",
                                    [Subscription(topic, handler)])
        t_start = time.perf_counter()
        run = asyncio.create_task(processor.run(stop))
        try:
            await asyncio.wait_for(asyncio.shield(run), timeout=180)
        except TimeoutError:
            stop.set()
            await run
            raise RuntimeError(f"StreamProcessor read {count} of {n}") from None
        await bus.close()
        if count != n:
            raise RuntimeError(f"StreamProcessor read {count} of {n}")
        return {"t_start": t_start, "t_assigned": assigned[0], "t_end": t_end}

    # -------------------------------------------------------------------- profiling
    async def profiled(self, label: str | None, coro: Awaitable[Any]) -> Any:
        """Run `coro` with py-spy attached to this process (all threads) when profiling."""
        if not self.args.profile or label is None:
            return await coro
        out = RESULTS / f"profile-{label}-{time.strftime('%Y%m%d-%H%M%S')}.txt"
        spy = await asyncio.create_subprocess_exec(
            self.args.py_spy, "record", "--pid", str(os.getpid()), "--rate", "250",
            "--format", "raw", "--threads", "--nonblocking", "--output", str(out),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await asyncio.sleep(1.0)  # let py-spy attach
        try:
            return await coro
        finally:
            spy.send_signal(signal.SIGINT)  # py-spy writes its output and exits
            await asyncio.wait_for(spy.wait(), timeout=30)
            self.profiles.append(str(out))

    # -------------------------------------------------------------------- workload
    def add(self, w: Workload, side: str, client: str, nbytes: int, seconds: float,
            **detail: Any) -> None:
        """Record one timed run; runs of the same client form one row (median)."""
        row = next((r for r in self.rows if r.workload == w.name and r.client == client), None)
        if row is None:
            row = Row(w.name, side, client, w.records, nbytes)
            self.rows.append(row)
        row.runs.append({"seconds": round(seconds, 6), "records_per_s": round(w.records / seconds),
                         **detail})
        self.log(f"  {client:<22} {w.records / seconds:>10,.0f} rec/s")

    async def run_workload(self, w: Workload) -> None:
        n, size = w.records, w.size
        payload_file = self.tmp / f"payloads-{size}.txt"
        payloads = write_payload_file(payload_file, size, PAYLOAD_POOL, seed=size)
        messages = [w.build(i, size) for i in range(PAYLOAD_POOL * 4)]
        msg_size = sum(m.ByteSize() for m in messages) / len(messages)
        self.log(f"{w.name}: {n} records of {size} B (protobuf {msg_size:.0f} B), "
                 f"{self.args.partitions} partitions, {self.args.repeat} round(s)")
        topic = dataclasses.replace(w.topic, partitions=self.args.partitions)

        def fresh(what: str) -> Topic:
            return dataclasses.replace(topic, name=self.new_topic(w.name, what))

        # ---- producer side: warm up each client once, then rounds of the three, interleaved so
        # that load from elsewhere on the machine hits them alike; every run on a fresh topic.
        self.log("  warm-up producers")
        self.java_producer(fresh("warm-java").name, w.warmup, payload_file)
        await self.py_produce(fresh("warm-produce").name, w.warmup, payloads)
        warm_pub = fresh("warm-publish")
        await self.py_publish(warm_pub, w.warmup, messages)

        pub_topic: Topic | None = None
        for rnd in range(self.args.repeat):
            rps, _, line = self.java_producer(fresh("java").name, n, payload_file)
            self.add(w, "producer", "ProducerPerformance", n * size, n / rps, tool_line=line)

            label = f"{w.name}-produce" if rnd == 0 else None
            secs, total = await self.profiled(label, self.py_produce(fresh("produce").name, n,
                                                                     payloads))
            self.add(w, "producer", "KafkaBus.produce", total, secs)

            t_pub = fresh("publish")
            pub_topic = pub_topic or t_pub  # the consumers all read the first one
            label = f"{w.name}-publish" if rnd == 0 else None
            secs, total = await self.profiled(label, self.py_publish(t_pub, n, messages))
            self.add(w, "producer", "KafkaBus.publish", total, secs)

            if self.args.lz4_row and self.args.compression != "lz4":
                secs, total = await self.py_publish(fresh("publish-lz4"), n, messages,
                                                    **{"compression.type": "lz4"})
                self.add(w, "producer", "KafkaBus.publish[lz4]", total, secs)
        assert pub_topic is not None

        # ---- consumer side: all read the N records of the first KafkaBus.publish topic, each
        # run with a fresh group, timed from partition assignment to the N-th record.
        self.log("  warm-up consumers")
        self.java_consumer(warm_pub.name, w.warmup)
        await self.py_consume(warm_pub.name, w.warmup)
        await self.py_stream_processor(warm_pub, w.warmup)

        for rnd in range(self.args.repeat):
            out = self.java_consumer(pub_topic.name, n)
            mib = float(out["data.consumed.in.MB"])
            self.add(w, "consumer", "ConsumerPerformance", round(mib * MIB),
                     int(out["fetch.time.ms"]) / 1000, rebalance_ms=int(out["rebalance.time.ms"]),
                     tool=out)

            label = f"{w.name}-consume" if rnd == 0 else None
            r = await self.profiled(label, self.py_consume(pub_topic.name, n))
            consumed = r["bytes"]  # key + value bytes, as ConsumerPerformance counts them
            self.add(w, "consumer", "KafkaBus consumer", consumed, r["t_end"] - r["t_assigned"],
                     rebalance_ms=round((r["t_assigned"] - r["t_start"]) * 1000))

            label = f"{w.name}-streamprocessor" if rnd == 0 else None
            r = await self.profiled(label, self.py_stream_processor(pub_topic, n))
            self.add(w, "consumer", "StreamProcessor", consumed, r["t_end"] - r["t_assigned"],
                     rebalance_ms=round((r["t_assigned"] - r["t_start"]) * 1000))

    def cleanup(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
        if not self.cluster.owned:  # an external broker: leave it as we found it
            for name in self.topics:
                try:
                    delete_topic(self.bootstrap, name)
                except Exception as exc:
                    self.log(f"could not delete {name}: {exc}")


# ------------------------------------------------------------------------------------- report
REFERENCE = {"producer": "ProducerPerformance", "consumer": "ConsumerPerformance"}


def table(rows: list[Row]) -> str:
    out = [f"{'workload':<16} {'side':<8} {'client':<22} {'records/s':>10} {'(min-max)':>17} "
           f"{'MiB/s':>7}  ratio (median records/s)"]
    out.append("-" * 124)
    for r in rows:
        ref_name = REFERENCE[r.side]
        ref = next(x for x in rows if x.workload == r.workload and x.client == ref_name)
        ratio = ("1.00 (reference)" if r.client == ref_name else
                 f"{r.client} / {ref_name} = {r.rps / ref.rps:.2f}")
        lo = min(x["records_per_s"] for x in r.runs)
        hi = max(x["records_per_s"] for x in r.runs)
        spread = f"({lo:,}-{hi:,})"
        out.append(f"{r.workload:<16} {r.side:<8} {r.client:<22} {r.rps:>10,.0f} {spread:>17} "
                   f"{r.mibps:>7.1f}  {ratio}")
    return "\n".join(out)


def as_json(rows: list[Row], args: argparse.Namespace, bench: Bench, wall: float) -> dict[str, Any]:
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    result = []
    for r in rows:
        ref = next(x for x in rows if x.workload == r.workload and x.client == REFERENCE[r.side])
        result.append({
            "workload": r.workload, "side": r.side, "client": r.client, "records": r.records,
            "bytes": r.bytes, "median_seconds": round(r.seconds, 4),
            "records_per_s": round(r.rps, 1), "mib_per_s": round(r.mibps, 2),
            "reference": ref.client, "ratio_vs_reference": round(r.rps / ref.rps, 4),
            "runs": r.runs,
        })
    return {
        "benchmark": "bus",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "partitions": args.partitions,
        "rounds": args.repeat,
        "producer_settings": bench.settings,
        "timing": {
            "producer": "first send -> every delivery acknowledged (ProducerPerformance: its own "
                        "records/sec, which includes producer.close())",
            "consumer": "partition assignment -> N-th record returned (ConsumerPerformance: "
                        "fetch.time.ms = end - start - rebalance.time.ms)",
            "mib": "value bytes for producers, key+value bytes for consumers; MiB = 2^20",
        },
        "environment": {
            "python": sys.version.split()[0], "platform": platform.platform(),
            "cpus": os.cpu_count(), "loadavg_end": os.getloadavg(),
            "loadavg_start": bench.loadavg_start,
            "confluent_kafka": confluent_kafka.__version__,
            "librdkafka": confluent_kafka.libversion()[0],
            "java": java.splitlines()[0] if java else "?", "kafka": "3.9.1",
            "broker": "owned, 1 KRaft node" if bench.owned_broker else "external",
        },
        "wall_seconds": round(wall, 1),
        "rows": result,
        "profiles": bench.profiles,
    }


# ---------------------------------------------------------------------------------------- main
def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer records (smoke run, ~1 min)")
    p.add_argument("--bootstrap", default=os.environ.get("VIGIE_KAFKA_BOOTSTRAP"),
                   help="use this broker instead of starting one (default $VIGIE_KAFKA_BOOTSTRAP)")
    p.add_argument("--partitions", type=int, default=6)
    p.add_argument("--repeat", type=int, help="timed runs per client; the table shows the median "
                   "(default 3, --quick 1)")
    p.add_argument("--compression", choices=["none", "lz4"], default="none",
                   help="compression.type for both producers (default none)")
    p.add_argument("--lz4-row", action="store_true",
                   help="add a KafkaBus.publish row with KafkaBus's default lz4 (informative)")
    p.add_argument("--only", choices=["frames", "detections"], help="run one workload")
    p.add_argument("--frames", type=int, help="override the frame record count")
    p.add_argument("--detections", type=int, help="override the detection record count")
    p.add_argument("--profile", action="store_true",
                   help="record py-spy profiles of the Python sides (slows them down)")
    p.add_argument("--py-spy", default=shutil.which("py-spy") or "py-spy")
    p.add_argument("--out", type=Path, help="JSON output (default bench/results/bus-<date>.json)")
    return p.parse_args()


async def amain(args: argparse.Namespace) -> int:
    started = time.monotonic()
    if args.bootstrap:
        os.environ["VIGIE_KAFKA_BOOTSTRAP"] = args.bootstrap
    cluster = KafkaCluster.start()
    print(f"broker: {cluster}", file=sys.stderr)
    bench = Bench(cluster, args)
    try:
        for w in workloads(args.quick):
            if args.only and not w.name.startswith(args.only):
                continue
            if w.name.startswith("frames") and args.frames:
                w = dataclasses.replace(w, records=args.frames)
            if w.name.startswith("detections") and args.detections:
                w = dataclasses.replace(w, records=args.detections)
            await bench.run_workload(w)
    finally:
        bench.cleanup()
        cluster.stop()
    wall = time.monotonic() - started
    print()
    print(table(bench.rows))
    print()
    print(f"producer settings (both clients): {bench.settings}")
    print("records/s: producers = first send -> all acks; consumers = assignment -> N-th record "
          "(Java: fetch.nMsg.sec)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = args.out or RESULTS / f"bus-{datetime.now().strftime('%Y-%m-%d-%H%M%S')}.json"
    out.write_text(json.dumps(as_json(bench.rows, args, bench, wall), indent=2) + "\n")
    print(f"wrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out} "
          f"(wall {wall:.0f} s)")
    return 0


def main() -> int:
    args = parse_args()
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    global CAMERA_IDS
    CAMERA_IDS = balanced_camera_ids(max(CAMERAS, args.partitions), args.partitions)
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
