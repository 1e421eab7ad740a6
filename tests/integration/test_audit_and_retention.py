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
- `vigie audit verify --keys FILE`, the auditor's check against the public keys they were given
  (printed by `vigie audit public-key` from the key files the writers sign with, as the chart
  mounts them from its Secret): passes with the right keys; fails, naming the chain and the key,
  when the file lacks a writer's key, holds another key for it, or names a chain the trail lacks,
  and when a whole chain was written by another service's key; a malformed file is refused with
  its line and the reason, not a traceback.
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

import pytest
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from PIL import Image
from process_helpers import VIGIE, vigie_env
from vigie.audit.v1.audit_pb2 import AuditAction, AuditRecorded
from vigie.ingest.v1.ingest_service_pb2 import UploadMetadata
from vigie_core.audit import (
    AuditLog,
    decode_records,
    key_id,
    load_signing_key,
    public_key_bytes,
    record_hash,
    seal,
)
from vigie_core.bus.base import Record, TopicSpec
from vigie_core.bus.kafka import KafkaBus
from vigie_core.codec import encode, new_envelope
from vigie_core.runtime import start
from vigie_core.settings import CoreSettings
from vigie_core.topics import AUDIT, FRAMES, REGISTRY


def vigie(bootstrap: str, *args: str, stdin: str | None = None,
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VIGIE, *args], env=vigie_env(VIGIE_KAFKA_BOOTSTRAP=bootstrap),
                          capture_output=True, text=True, timeout=180, input=stdin)


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


def chain_lines(out: str) -> dict[str, str]:
    """`vigie audit verify` output by chain (the first line of each)."""
    lines: dict[str, str] = {}
    for line in out.splitlines():
        if not line.startswith(" ") and ": " in line:
            lines.setdefault(line.split(": ", 1)[0], line)
    return lines


@pytest.mark.timeout(480)  # nine `vigie` processes, each a few seconds on a busy 2-core machine
async def test_audit_verify_keys_as_an_auditor_runs_it(kafka, tmp_path):
    run = uuid.uuid4().hex[:8]
    bus = KafkaBus(kafka.bootstrap, "audit-keys-e2e")
    try:
        await bus.ensure_topics(REGISTRY)
        # The chart's Secret, as the pods find it: one key file per service.
        secret = tmp_path / "secret"
        secret.mkdir()
        for service in ("rules", "alerts"):
            (secret / f"{service}.pem").write_bytes(Ed25519PrivateKey.generate().private_bytes(
                Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
        # Two pods of each service, each on a chain of its own, signing with its service's key
        # (VIGIE_AUDIT_KEY_FILE), as Service.audit builds its writer; two records each.
        chains = []
        for service in ("rules", "alerts"):
            for pod in ("a", "b"):
                core = CoreSettings(kafka_bootstrap=kafka.bootstrap, data_dir=tmp_path / pod,
                                    audit_replica=f"vigie-{service}-{run}-{pod}",
                                    audit_key_file=secret / f"{service}.pem")
                chain = f"{service}/{core.audit_replica}"
                writer = AuditLog(bus, chain, f"service:{service}",
                                  load_signing_key(core.audit_key_path(chain)))
                for n in range(2):
                    await writer.record(AuditAction.AUDIT_ACTION_RULE_CHANGE, f"rule:r{n}")
                assert writer.chain == chain  # the Secret's key: the same chain, never ~<id>
                chains.append(chain)
        assert not list(tmp_path.glob("[ab]/**/*.key"))  # no pod made a key of its own
        # An export of the trail with these chains (the live topic holds other tests' chains).
        mine = [r for r in await bus.read_all(AUDIT.name) if r.key.decode() in chains]
        assert len(mine) == 8
        export = await copy_topic(bus, mine)

        # What the operator hands the auditor: `vigie audit public-key` over each key file
        # (the documented command pipes it from the Secret: stdin here too).
        printed = {}
        for service in ("rules", "alerts"):
            out = vigie(kafka.bootstrap, "audit", "public-key", "--chain", f"{service}/*", "-",
                        stdin=(secret / f"{service}.pem").read_text())
            assert out.returncode == 0, out.stderr
            printed[service] = out.stdout
        keys = tmp_path / "audit-keys.txt"
        keys.write_text(printed["rules"] + printed["alerts"])

        def verify(keys_text: str | None) -> subprocess.CompletedProcess[str]:
            args = ["audit", "verify", "--topic", export]
            if keys_text is not None:
                keys.write_text(keys_text)
                args += ["--keys", str(keys)]
            return vigie(kafka.bootstrap, *args)

        # the right keys (through stdin, as `kubectl exec -i ... --keys -` passes them): every
        # chain verifies, exit 0
        good = vigie(kafka.bootstrap, "audit", "verify", "--topic", export, "--keys", "-",
                     stdin=printed["rules"] + printed["alerts"])
        assert good.returncode == 0, good.stdout + good.stderr
        rules_id = printed["rules"].rsplit("# key ", 1)[1].strip()
        alerts_id = printed["alerts"].rsplit("# key ", 1)[1].strip()
        lines = chain_lines(good.stdout)
        assert set(lines) == set(chains)
        for chain in chains:
            signer = rules_id if chain.startswith("rules/") else alerts_id
            assert f"{chain}: ok, 2 records, signed by {signer}, head " in lines[chain]

        # a file without alerts' key: the alerts chains fail, named, with the key they carry
        missing = verify(printed["rules"])
        assert missing.returncode == 1, missing.stdout
        lines = chain_lines(missing.stdout)
        for chain in chains:
            if chain.startswith("alerts/"):
                assert lines[chain] == (f"{chain}: INVALID at sequence 1: record 1 is signed by "
                                        f"key {alerts_id}, which is not trusted")
                assert f"  {keys} trusts for {chain}: no key" in missing.stdout
            else:
                assert lines[chain].startswith(f"{chain}: ok, 2 records")

        # a file with another key for alerts: the same, and which key the file trusts instead;
        # and a chain the file names exactly but the export lacks (deleted whole): MISSING
        other = public_key_bytes(Ed25519PrivateKey.generate())
        gone = f"rules/vigie-rules-{run}-c"
        rules_hex = printed["rules"].split()[1]
        wrong = verify(printed["rules"] + f"alerts/* {other.hex()}\n{gone} {rules_hex}\n")
        assert wrong.returncode == 1
        for chain in chains:
            if chain.startswith("alerts/"):
                assert f"{chain}: INVALID at sequence 1: record 1 is signed by key {alerts_id}" \
                    in wrong.stdout
                assert f"  {keys} trusts for {chain}: {key_id(other)}" in wrong.stdout
            else:
                assert chain_lines(wrong.stdout)[chain].startswith(f"{chain}: ok, 2 records")
        assert f"{gone}: MISSING: {keys} names it, but {export} has no record of it" \
            in wrong.stdout

        # a whole chain started by someone holding rules' key, posing as an alerts pod: the
        # chain is sound in itself (verify without keys passes), only the keys tell
        intruder = AuditLog(bus, f"alerts/vigie-alerts-{run}-x", "service:alerts",
                            load_signing_key(secret / "rules.pem"))
        await intruder.record(AuditAction.AUDIT_ACTION_DECISION, "alert:x")
        posed = [r for r in await bus.read_all(AUDIT.name) if r.key == intruder.chain.encode()]
        export2 = await copy_topic(bus, mine + posed)
        unkeyed = vigie(kafka.bootstrap, "audit", "verify", "--topic", export2)
        assert unkeyed.returncode == 0, unkeyed.stdout
        keys.write_text(printed["rules"] + printed["alerts"])
        keyed = vigie(kafka.bootstrap, "audit", "verify", "--topic", export2, "--keys", str(keys))
        assert keyed.returncode == 1
        assert (f"{intruder.chain}: INVALID at sequence 1: record 1 is signed by key {rules_id}, "
                "which is not trusted") in keyed.stdout

        # a malformed file (the commonest mistake: the Secret's private key instead of the
        # public one): exit 2, the line and the reason, no traceback, nothing of the key echoed
        # (more malformed files: libs/core/tests/test_audit_cli.py)
        pasted = (secret / "rules.pem").read_text()
        bad = verify(f"alerts/* {printed['alerts'].split()[1]}\n" + pasted)
        assert bad.returncode == 2, bad.stdout + bad.stderr
        assert (f"{keys}:2: a PEM block, not a public key (this is a PRIVATE key: keep it "
                "secret") in bad.stderr
        assert "Traceback" not in bad.stderr and bad.stdout == ""
        assert pasted.splitlines()[1] not in bad.stderr

        # and an export that does not exist (a mistyped name) proves nothing: exit 1
        typo = vigie(kafka.bootstrap, "audit", "verify", "--topic", f"{export}-typo")
        assert typo.returncode == 1 and f"no audit records on {export}-typo" in typo.stdout
    finally:
        await bus.close()
