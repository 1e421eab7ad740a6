"""Vigie's Kafka clients over TLS with client certificates (VIGIE_KAFKA_SECURITY_PROTOCOL=SSL):
a real Apache Kafka 3.9.1 broker on 127.0.0.1 whose only client listener is SSL with
ssl.client.auth=required, certificates from `vigie certs` (PEM key stores). With our CA and a
client certificate, KafkaBus creates topics, publishes and consumes; without the certificate, or
in plaintext, the broker is unreachable. SASL is passed through the same way but not run here
(it needs a broker with SCRAM users; see docs/operations.md)."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import required_inputs as inputs
from kafka_broker import fetch, find_free_base_port
from vigie.camera.v1.camera_pb2 import Camera
from vigie_core.auth import certs
from vigie_core.bus.kafka import KafkaBus
from vigie_core.settings import CoreSettings
from vigie_core.topics import CAMERAS

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    inputs.need(inputs.java)
    home = fetch()
    work = tmp_path_factory.mktemp("kafka-tls")
    pki = work / "tls"
    certs.create_ca(pki)
    broker = certs.issue(pki, "broker", server_names=["localhost", "127.0.0.1"], client=True)
    certs.issue(pki, "vigie", role_names=["service"])
    keystore = work / "broker.pem"  # key + chain, PKCS#8: Kafka's PEM key store
    keystore.write_bytes(broker.key.read_bytes() + broker.cert.read_bytes())
    port = find_free_base_port(2)
    properties = work / "server.properties"
    properties.write_text("\n".join([
        "process.roles=broker,controller", "node.id=0",
        f"controller.quorum.voters=0@127.0.0.1:{port + 1}",
        f"listeners=SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{port + 1}",
        f"advertised.listeners=SSL://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER", "inter.broker.listener.name=SSL",
        "listener.security.protocol.map=SSL:SSL,CONTROLLER:PLAINTEXT",
        "ssl.keystore.type=PEM", f"ssl.keystore.location={keystore}",
        "ssl.truststore.type=PEM", f"ssl.truststore.location={pki / 'ca.crt'}",
        "ssl.client.auth=required",
        f"log.dirs={work / 'data'}", "num.partitions=1", "auto.create.topics.enable=false",
        "offsets.topic.replication.factor=1", "offsets.topic.num.partitions=1",
        "transaction.state.log.replication.factor=1", "transaction.state.log.min.isr=1",
        "group.initial.rebalance.delay.ms=0", "num.network.threads=1", "num.io.threads=2"]))
    classpath = str(home / "libs" / "*")
    cluster = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=").replace("-", "a")
    subprocess.run(["java", "-Xmx256m", "-cp", classpath, "kafka.tools.StorageTool", "format",
                    "-t", cluster, "-c", str(properties), "--ignore-formatted"],
                   check=True, capture_output=True, timeout=120)
    log = (work / "broker.log").open("wb")
    proc = subprocess.Popen(["java", "-Xmx384m", "-XX:+UseSerialGC", "-cp", classpath,
                             f"-Dkafka.logs.dir={work}", "kafka.Kafka", str(properties)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not _port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the TLS broker did not start:\n"
                            + (work / "broker.log").read_text()[-3000:])
            time.sleep(0.5)
        yield f"127.0.0.1:{port}", pki
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def settings(bootstrap: str, pki: Path, **extra: object) -> CoreSettings:
    values: dict[str, object] = {
        "kafka_bootstrap": bootstrap, "kafka_security_protocol": "SSL",
        "kafka_ssl_ca_file": pki / "ca.crt", "kafka_ssl_cert_file": pki / "vigie.crt",
        "kafka_ssl_key_file": pki / "vigie.key", **extra}
    return CoreSettings(**values)  # type: ignore[arg-type]


def bus(core: CoreSettings, name: str) -> KafkaBus:
    return KafkaBus(core.kafka_bootstrap, name, client_config={
        **core.kafka_client_config(), "socket.timeout.ms": 5000, "message.timeout.ms": 20000})


async def test_kafka_bus_publishes_and_consumes_over_tls_with_a_client_certificate(tls_broker):
    bootstrap, pki = tls_broker
    core = settings(bootstrap, pki)
    producer = bus(core, "tls-producer")
    try:
        for _ in range(60):  # the broker's own SSL listener may still be warming up
            try:
                await producer.ping(timeout=5)
                break
            except ConnectionError:
                await asyncio.sleep(1)
        await producer.ensure_topics([CAMERAS])
        await producer.start()
        await (await producer.publish(CAMERAS, "cam-tls", Camera(camera_id="cam-tls",
                                                               name="over TLS")))
        records = await producer.read_all(CAMERAS.name)
        assert [r.key for r in records] == [b"cam-tls"]
        assert Camera.FromString(records[0].value).name == "over TLS"
    finally:
        await producer.close()


@pytest.mark.parametrize("change", ["no client certificate", "plaintext"])
async def test_without_the_certificate_or_tls_the_broker_is_unreachable(tls_broker, change):
    bootstrap, pki = tls_broker
    if change == "plaintext":
        core = CoreSettings(kafka_bootstrap=bootstrap)
    else:
        core = settings(bootstrap, pki, kafka_ssl_cert_file=None, kafka_ssl_key_file=None)
    with pytest.raises(ConnectionError):
        await bus(core, "tls-refused").ping(timeout=5)


def test_faust_gets_the_same_tls_settings(tls_broker):
    from vigie_rules.adapters.faust_worker import broker_credentials

    bootstrap, pki = tls_broker
    credentials = broker_credentials(settings(bootstrap, pki))
    assert type(credentials).__name__ == "SSLCredentials"
    assert credentials.context.verify_mode.name == "CERT_REQUIRED"  # type: ignore[union-attr]
