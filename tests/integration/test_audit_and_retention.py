"""The audit trail and retention on real Kafka, as an auditor and an attacker with broker access
would meet them.

- Records are appended by a real service (ingest deleting expired citizen uploads: one signed,
  hash-chained RETENTION_DELETION record each); `vigie audit verify` passes, and
  `vigie retention report` lists every deletion with the SHA-256 and dates of what was deleted.
- The three things someone who can write to the topics can do, each flagged by `vigie audit
  verify`: append a forged record to a chain (on the audit topic itself, signed with a key of
  their own, or unsigned, or claiming the writer's key), delete a record by rewriting the chain
  into a new topic (as compaction-like tooling would), reorder records in an exported copy. A
  copy missing the chain's tail verifies (nothing inside it is wrong) but its head hash differs
  from the one verify printed before: truncation shows against a head kept elsewhere.
- `vigie topics check` reports topics whose configuration drifted from the registry (retention,
  and the audit topic below its 183-day floor) and `vigie topics create` sets them back.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import subprocess
import time
import uuid
from collections.abc import AsyncIterator

from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image
from process_helpers import VIGIE, vigie_env
from vigie.audit.v1.audit_pb2 import AuditAction, AuditRecorded
from vigie.ingest.v1.ingest_service_pb2 import UploadMetadata
from vigie_core.audit import decode_records, record_hash, seal
from vigie_core.bus.base import Record, TopicSpec
from vigie_core.bus.kafka import KafkaBus
from vigie_core.codec import encode, new_envelope
from vigie_core.runtime import start
from vigie_core.settings import CoreSettings
from vigie_core.topics import AUDIT, FRAMES, REGISTRY


def vigie(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VIGIE, *args], env=vigie_env(VIGIE_KAFKA_BOOTSTRAP=bootstrap),
                          capture_output=True, text=True, timeout=180)


def photo(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (160, 120), colour).save(out, format="JPEG")
    return out.getvalue()


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def chain_records(bus: KafkaBus, chain: str) -> list[Record]:
    return [r for r in await bus.read_all(AUDIT.name) if r.key == chain.encode()]


async def copy_topic(bus: KafkaBus, records: list[Record]) -> str:
    """Write `records`, as they are, to a new one-partition topic (an export, a rewrite)."""
    name = f"audit-copy-{uuid.uuid4().hex[:8]}"
    await bus.create_topics([TopicSpec(name, 1, {"cleanup.policy": "delete"})])
    for r in records:
        await bus.produce(name, r.key, r.value, r.headers)
    await bus.flush()
    return name


async def test_audit_verify_catches_forgery_deletion_and_reordering(kafka, tmp_path):
    replica = uuid.uuid4().hex[:8]
    chain = f"ingest/{replica}"
    bus = KafkaBus(kafka.bootstrap, "audit-e2e")
    try:
        await _attacks(kafka, tmp_path, bus, replica, chain)
    finally:
        await bus.close()


async def _attacks(kafka, tmp_path, bus: KafkaBus, replica: str, chain: str) -> None:
    await bus.ensure_topics(REGISTRY)
    core = CoreSettings(kafka_bootstrap=kafka.bootstrap, http_port=0, grpc_port=0,
                        data_dir=tmp_path, audit_replica=replica)
    running = await start(["ingest"], core, KafkaBus(kafka.bootstrap, "ingest-audit"),
                          {"ingest": {"citizen_evidence_retention_days": 2 / 86400,
                                      "retention_interval_s": 0.5}})
    uploads = [photo((40 * i, 90, 160)) for i in range(1, 4)]
    try:
        ingest = running.services[0]
        for data in uploads:
            meta = UploadMetadata(media_type="image/jpeg")
            meta.geo.lat_deg, meta.geo.lon_deg = 45.75, 4.85
            await ingest.citizen.upload(meta, chunks(data))
        deadline = time.monotonic() + 60
        while len(await chain_records(bus, chain)) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
    finally:
        await running.stop()
    genuine = await chain_records(bus, chain)
    assert len(genuine) == 3

    ok = vigie(kafka.bootstrap, "audit", "verify")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    [line] = [x for x in ok.stdout.splitlines() if x.startswith(f"{chain}:")]
    assert "ok, 3 records, signed by" in line
    head = line.rsplit("head ", 1)[1]

    reported = vigie(kafka.bootstrap, "retention", "report", "--format", "json")
    assert reported.returncode == 0, reported.stdout + reported.stderr
    rows = [r for r in json.loads(reported.stdout) if r["chain"] == chain]
    assert sorted(r["sha256"] for r in rows) == sorted(hashlib.sha256(d).hexdigest()
                                                       for d in uploads)
    assert all(r["what"] == "citizen upload" and r["chain_verified"] and r["captured_at"]
               and r["expired_at"] and r["size_bytes"] for r in rows)
    text = vigie(kafka.bootstrap, "retention", "report")
    assert all(hashlib.sha256(d).hexdigest() in text.stdout for d in uploads)

    # deletion: the chain rewritten into a new topic without its second record
    cut = await copy_topic(bus, [genuine[0], genuine[2]])
    deleted = vigie(kafka.bootstrap, "audit", "verify", "--topic", cut)
    assert deleted.returncode == 1
    assert f"{chain}: INVALID at sequence 3: expected sequence 2, found 3: records missing" \
        in deleted.stdout
    # reordering in an exported copy
    swapped = await copy_topic(bus, [genuine[1], genuine[0], genuine[2]])
    reordered = vigie(kafka.bootstrap, "audit", "verify", "--topic", swapped)
    assert reordered.returncode == 1 and f"{chain}: INVALID at sequence 2" in reordered.stdout
    assert "out of order" in reordered.stdout
    # a truncated copy verifies, but its head is not the head verify printed
    truncated = await copy_topic(bus, genuine[:2])
    short = vigie(kafka.bootstrap, "audit", "verify", "--topic", truncated)
    assert short.returncode == 0 and head not in short.stdout

    # forgery: records appended to the real chain by someone with write access to the topic
    records = decode_records(genuine)
    attacker = Ed25519PrivateKey.generate()

    def forged(key: Ed25519PrivateKey | None, claim_writer_key: bool = False) -> AuditRecorded:
        draft = AuditRecorded(chain=chain, actor="operator:mallory",
                              action=AuditAction.AUDIT_ACTION_DECISION, subject_ref="alert:x")
        draft.occurred_at.GetCurrentTime()
        record = seal(draft, records[-1], key)
        if claim_writer_key:
            record.public_key = records[-1].public_key
            record.hash = record_hash(record)
            record.signature = attacker.sign(record.hash)
        return record

    for attempt, (record, words) in enumerate([
            (forged(attacker), "is signed by another key"),
            (forged(None), "is unsigned in a signed chain"),
            (forged(attacker, claim_writer_key=True), "has a bad signature")]):
        target = AUDIT.name if attempt == 0 else await copy_topic(bus, genuine)
        value, headers = encode(record, new_envelope(AUDIT, "mallory", f"{chain}/4"))
        await (await bus.produce(target, chain.encode(), value, headers))
        args = ["audit", "verify"] if target == AUDIT.name else ["audit", "verify", "--topic",
                                                                 target]
        caught = vigie(kafka.bootstrap, *args)
        assert caught.returncode == 1, caught.stdout
        assert f"{chain}: INVALID at sequence 4: record 4 {words}" in caught.stdout
    # the deletions recorded before the forged record are still proven
    after = vigie(kafka.bootstrap, "retention", "report", "--format", "json")
    assert all(r["chain_verified"] for r in json.loads(after.stdout) if r["chain"] == chain)


def _set_retention(bootstrap: str, topic: str, ms: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", str(ms), incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(timeout=30)


async def test_topics_check_reports_drift_and_create_sets_the_registry_retention_back(kafka):
    created = vigie(kafka.bootstrap, "topics", "create")
    assert created.returncode == 0, created.stdout + created.stderr
    clean = vigie(kafka.bootstrap, "topics", "check")
    assert clean.returncode == 0 and "every existing topic matches the registry" in clean.stdout
    # someone shortened the audit trail and lengthened the frames topic by hand
    await asyncio.to_thread(_set_retention, kafka.bootstrap, AUDIT.name, 30 * 86_400_000)
    await asyncio.to_thread(_set_retention, kafka.bootstrap, FRAMES.name, 7 * 86_400_000)
    drifted = vigie(kafka.bootstrap, "topics", "check")
    assert drifted.returncode == 1
    assert (f"{AUDIT.name}: retention.ms is 2592000000, the registry says "
            f"{AUDIT.kafka_config()['retention.ms']}") in drifted.stdout
    assert f"{AUDIT.name} keeps records 30 days, below the 183-day audit floor" in drifted.stdout
    assert f"{FRAMES.name}: retention.ms is 604800000, the registry says 3600000" \
        in drifted.stdout
    fixed = vigie(kafka.bootstrap, "topics", "create")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert f"{FRAMES.name}: retention.ms is 604800000, the registry says 3600000: set" \
        in fixed.stdout
    again = vigie(kafka.bootstrap, "topics", "check")
    assert again.returncode == 0, again.stdout
