"""The `kafka` dispatch channel on a real Apache Kafka broker: a route sends raised alerts to two
downstream topics (JSON and protobuf); a plain confluent-kafka consumer, as a downstream system
would, reads what arrived: one record per alert and channel, keyed by camera, with the
delivery id as CloudEvents id, across a restart of the service and a redelivered alert."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

from alerts_fakes import make_alert
from confluent_kafka import Consumer
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie_alerts.adapters.store import delivery_id, open_store
from vigie_core.bus.kafka import KafkaBus
from vigie_core.runtime import Running, start
from vigie_core.settings import CoreSettings
from vigie_core.topics import ALERTS

CAMERA = f"cam-k-{uuid.uuid4().hex[:8]}"  # only this test's alerts are routed


async def serve(kafka: Any, tmp_path: Path, routes: Path, url: str) -> Running:
    core = CoreSettings(http_port=0, grpc_port=0, data_dir=tmp_path, instance="alerts-k")
    return await start(["alerts"], core, KafkaBus(kafka.bootstrap, "alerts-kafka-channel"),
                       {"alerts": {"routes_file": routes, "database_url": url,
                                   "dispatch_interval_s": 0.05}})


async def raise_alerts(running: Running, alert_ids: list[str]) -> None:
    for i, alert_id in enumerate(alert_ids):
        alert = make_alert(alert_id, camera_id=CAMERA, subject_id=f"subject-{i}")
        await (await running.bus.publish(ALERTS, CAMERA, alert, event_id=alert_id))


async def delivered(url: str, alert_ids: list[str], timeout: float = 60) -> None:
    store = open_store(url, 1)
    deadline = time.monotonic() + timeout
    try:
        while True:
            states = [d.status for a in alert_ids for d in store.outbox.deliveries_of(a)]
            if len(states) == 2 * len(alert_ids) and set(states) == {"delivered"}:
                return
            assert time.monotonic() < deadline, f"deliveries: {states}"
            await asyncio.sleep(0.1)
    finally:
        store.engine.dispose()


def read_topics(bootstrap: str, topics: list[str], expect: int, linger_s: float = 3.0
                ) -> list[Any]:
    """Every record of `topics` from the start (a fresh group), until `expect` arrived and
    nothing more came for linger_s."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": uuid.uuid4().hex,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe(topics)
    records: list[Any] = []
    deadline, quiet_until = time.monotonic() + 60, None
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                records.append(msg)
                quiet_until = None
            elif len(records) >= expect:
                quiet_until = quiet_until or time.monotonic() + linger_s
                if time.monotonic() > quiet_until:
                    break
    finally:
        consumer.close()
    return records


async def test_alerts_routed_to_kafka_reach_a_downstream_consumer_once_each(kafka, tmp_path,
                                                                           monkeypatch):
    json_topic, pb_topic = kafka.unique_topic("city.alerts.json"), kafka.unique_topic("city.pb")
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps({
        "channels": {"bus-json": {"kind": "kafka", "topic": json_topic, "format": "json",
                                  "partitions": 3},
                     "bus-pb": {"kind": "kafka", "topic": pb_topic, "format": "protobuf",
                                "partitions": 3}},
        "routes": [{"name": "downstream", "match": {"camera_ids": [CAMERA]},
                    "channels": ["bus-json", "bus-pb"], "trigger": "raised"}]}))
    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    first = ["k1", "k2", "k3"]
    running = await serve(kafka, tmp_path, routes, url)
    try:
        await raise_alerts(running, first)
        await delivered(url, first)
    finally:
        await running.stop()
    # a restarted process: a new alert, and an old one delivered again by the topic
    running = await serve(kafka, tmp_path, routes, url)
    try:
        await raise_alerts(running, ["k4"])
        await (await running.bus.publish(ALERTS, CAMERA, make_alert("k1", camera_id=CAMERA),
                                         event_id="k1"))
        await delivered(url, [*first, "k4"])
    finally:
        await running.stop()

    records = await asyncio.to_thread(read_topics, kafka.bootstrap, [json_topic, pb_topic], 8)
    by_topic: dict[str, list[Any]] = {json_topic: [], pb_topic: []}
    for record in records:
        by_topic[record.topic()].append(record)
    ids = {json_topic: [], pb_topic: []}
    for topic, channel in ((json_topic, "bus-json"), (pb_topic, "bus-pb")):
        for record in by_topic[topic]:
            headers = {k: v for k, v in record.headers() or []}
            if topic == json_topic:
                body = json.loads(record.value())
                alert_id = body["alert"]["alert_id"]
                assert body["type"] == "alert.raised" and body["alert"]["camera_id"] == CAMERA
                assert body["delivery_id"] == delivery_id(alert_id, "downstream", channel, 0)
                assert "subject" not in record.value().decode()
                assert headers["content-type"] == b"application/json"
                assert headers["ce_type"] == b"vigie.alert.json"
            else:
                alert = AlertRaised.FromString(record.value())
                alert_id = alert.alert_id
                assert alert.subject_id == "" and alert.camera_id == CAMERA  # minimised
                assert headers["content-type"] == b"application/protobuf"
                assert headers["ce_type"] == b"vigie.alerts.v1.AlertRaised"
            assert record.key() == CAMERA.encode()
            assert headers["ce_id"] == delivery_id(alert_id, "downstream", channel, 0).encode()
            assert headers["ce_specversion"] == b"1.0"
            ids[topic].append(alert_id)
    # exactly one record per alert and channel: not lost, not doubled by restart or redelivery
    assert sorted(ids[json_topic]) == sorted(ids[pb_topic]) == ["k1", "k2", "k3", "k4"]
