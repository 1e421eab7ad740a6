"""The rules engine: the pure core per core, and the Faust worker against a plain consumer.

    ~/.cache/vigie/venv/bin/python bench/rules/bench_rules.py [--quick] [--bootstrap HOST:PORT]

Input: synthetic camera streams (tests/rules_scenarios.py `walkers`): people walking through a
zone and over a counting line, about 4 tracked people per frame, 10 frames/s of event time, on
--cameras cameras; each camera has a zone-intrusion and a line-crossing rule (the two kinds every
city deploys). The same frames feed every mode.

  core         `evaluate` in a loop, one state per camera, no bus: frames/s and detections/s
               per core (process CPU time; the engine is single-threaded)
  plain        reference: a confluent-kafka Consumer (librdkafka, a new group, from the start of
               vigie.detections.v1) decoding each record with vigie_core.codec and running the
               same `evaluate`, publishing alerts and counts with a confluent-kafka Producer
               (acks=all) and waiting for them, states in a dict, no state persistence
  faust        the rules service as it runs on Kafka: the Faust worker (agents keyed by camera,
               per-camera state written to a table with a changelog on every record, outputs
               durable before the state, manual acks), timed from start until every record is
               evaluated
Both Kafka modes read the same records from a throw-away single-node broker (started here unless
--bootstrap is given; then the topic must hold only this bench's records). The Kafka modes are
timed as wall-clock records/s from the consumer's first record to its last, so group joins and
Faust's table recovery are outside the timing, and as a ratio faust / plain.
Results go to bench/results/rules-<date>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from confluent_kafka import Consumer, Producer  # noqa: E402
from rules_scenarios import rules_for, walkers  # noqa: E402
from vigie.detect.v1.detection_pb2 import ObjectsDetected  # noqa: E402
from vigie_core.bus.kafka import KafkaBus  # noqa: E402
from vigie_core.codec import decode, encode, new_envelope  # noqa: E402
from vigie_core.runtime import start  # noqa: E402
from vigie_core.settings import CoreSettings  # noqa: E402
from vigie_core.topics import ALERTS, DETECTIONS, REGISTRY, RULES, STATS  # noqa: E402
from vigie_rules.domain.engine import CameraState, evaluate  # noqa: E402
from vigie_rules.metrics import FRAMES  # noqa: E402

EVALUATED = FRAMES.labels("faust", "evaluated")

log = logging.getLogger("bench.rules")


def scenario(cameras: int, frames: int) -> tuple[list, list[ObjectsDetected]]:
    run = uuid.uuid4().hex[:6]
    cams = [f"bench-{run}-{i}" for i in range(cameras)]
    rules = [r for c in cams for r in rules_for(c)]
    streams = [walkers(c, frames) for c in cams]
    interleaved = [s[i] for i in range(frames) for s in streams]  # c0 f0, c1 f0, ...
    return rules, interleaved


def bench_core(rules: list, frames: list[ObjectsDetected]) -> dict[str, float]:
    states: dict[str, CameraState] = {}
    alerts = 0
    started = time.process_time()
    for frame in frames:
        state = states.get(frame.camera_id) or CameraState(camera_id=frame.camera_id)
        states[frame.camera_id], raised, _ = evaluate(state, rules, frame)
        alerts += len(raised)
    cpu = time.process_time() - started
    detections = sum(len(f.detections) for f in frames)
    return {"frames_per_cpu_s": len(frames) / cpu, "detections_per_cpu_s": detections / cpu,
            "alerts": alerts}


async def publish(bootstrap: str, rules: list, frames: list[ObjectsDetected]) -> None:
    bus = KafkaBus(bootstrap, "bench-rules")
    try:
        await bus.ensure_topics(REGISTRY)
        for rule in rules:
            await bus.publish(RULES, rule.rule_id, rule)
        for frame in frames:
            await bus.publish(DETECTIONS, frame.camera_id, frame, event_id=frame.frame_id)
        await bus.flush()
    finally:
        await bus.close()


def bench_plain(bootstrap: str, rules: list, total: int) -> float:
    """Records/s of a bare librdkafka loop running the same core, outputs acknowledged."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"plain-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": True})
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "enable.idempotence": True, "linger.ms": 5,
                         "partitioner": "murmur2_random"})
    consumer.subscribe([DETECTIONS.name])
    states: dict[str, CameraState] = {}
    seen = 0
    first = last = 0.0
    try:
        while seen < total:
            for msg in consumer.consume(500, 1.0):
                if msg.error():
                    continue
                if not first:
                    first = time.perf_counter()
                event = decode(DETECTIONS, msg.key(), msg.value(), msg.headers())
                frame = event.message
                state = states.get(frame.camera_id) or CameraState(camera_id=frame.camera_id)
                states[frame.camera_id], alerts, windows = evaluate(state, rules, frame)
                outputs = [(ALERTS, a.camera_id, a, a.alert_id) for a in alerts] + [
                    (STATS, w.camera_id, w, f"{w.camera_id}/{w.rule_id}") for w in windows]
                for topic, key, message, event_id in outputs:
                    value, headers = encode(message, new_envelope(topic, "bench", event_id,
                                                                  None))
                    producer.produce(topic.name, value, key.encode(), headers=list(headers))
                if outputs:
                    producer.flush(30)  # durable before moving on, like the service
                seen += 1
                last = time.perf_counter()
    finally:
        consumer.close()
    return seen / (last - first)


def _evaluated() -> float:
    return float(EVALUATED._value.get())  # the counter child itself: no registry scan


async def bench_faust(bootstrap: str, total: int, tmp: Path) -> float:
    """Records/s of the Faust worker, from its first evaluated record to its last."""
    core = CoreSettings(kafka_bootstrap=bootstrap, http_port=0, grpc_port=0, data_dir=tmp,
                        audit_replica=uuid.uuid4().hex[:8], log_level="WARNING")
    running = await start(["rules"], core, KafkaBus(bootstrap, "bench-faust"),
                          {"rules": {"faust_app_id": f"bench-{uuid.uuid4().hex[:6]}"}})
    base = _evaluated()
    first = last = 0.0
    try:
        deadline = time.monotonic() + 600
        while _evaluated() - base < total and time.monotonic() < deadline:
            done = _evaluated() - base
            now = time.perf_counter()
            if done and not first:
                first, first_done = now, done
            await asyncio.sleep(0.01)
        last = time.perf_counter()
    finally:
        await running.stop()
    return (_evaluated() - base - first_done) / (last - first)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames, one round")
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--bootstrap", help="an existing broker (topic must be fresh)")
    args = parser.parse_args()
    frames_per_camera = 300 if args.quick else 1500
    rounds = 1 if args.quick else 3
    logging.basicConfig(level=logging.WARNING)
    rules, frames = scenario(args.cameras, frames_per_camera)
    total = len(frames)

    core_runs = [bench_core(rules, frames) for _ in range(rounds)]
    cluster = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        from kafka_broker import KafkaCluster

        cluster = KafkaCluster.start()
        bootstrap = cluster.bootstrap
    results: dict[str, list[float]] = {"plain": [], "faust": [], "ratio": []}
    import tempfile

    try:
        await publish(bootstrap, rules, frames)
        for _ in range(rounds):
            plain = await asyncio.to_thread(bench_plain, bootstrap, rules, total)
            with tempfile.TemporaryDirectory() as tmp:
                faust = await bench_faust(bootstrap, total, Path(tmp))
            results["plain"].append(plain)
            results["faust"].append(faust)
            results["ratio"].append(faust / plain)
    finally:
        if cluster is not None:
            cluster.stop()

    med = statistics.median
    detections = sum(len(f.detections) for f in frames)
    print(f"\nrules engine, {args.cameras} cameras x {frames_per_camera} frames "
          f"({total} frames, {detections} detections, {len(rules)} rules), {rounds} round(s)\n")
    print(f"{'mode':8} {'frames/s':>12} {'detections/s':>14}  note")
    print(f"{'core':8} {med(r['frames_per_cpu_s'] for r in core_runs):12.0f} "
          f"{med(r['detections_per_cpu_s'] for r in core_runs):14.0f}  per CPU-second, no bus "
          f"({core_runs[0]['alerts']} alerts)")
    for mode in ("plain", "faust"):
        print(f"{mode:8} {med(results[mode]):12.0f} "
              f"{med(results[mode]) * detections / total:14.0f}  wall clock, Kafka")
    print(f"\nfaust / plain: {med(results['ratio']):.2f} "
          f"(min {min(results['ratio']):.2f}, max {max(results['ratio']):.2f})")
    out = ROOT / "bench/results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    (out / f"rules-{stamp}.json").write_text(json.dumps(
        {"cameras": args.cameras, "frames": total, "detections": detections,
         "core": core_runs, **results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
