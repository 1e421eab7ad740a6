"""The audit trail: chains that verify, tampering that is caught, writers that resume."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from harness import unique
from vigie.audit.v1.audit_pb2 import AuditAction, AuditRecorded
from vigie_core.audit import (
    GENESIS_HASH,
    AuditLog,
    read_audit,
    record_hash,
    seal,
    verify_chain,
    verify_records,
)
from vigie_core.topics import AUDIT, REGISTRY

MATCH = AuditAction.AUDIT_ACTION_MATCH
DECISION = AuditAction.AUDIT_ACTION_DECISION


def chain_of(n: int, name: str = "face/0") -> list[AuditRecorded]:
    records: list[AuditRecorded] = []
    for i in range(n):
        draft = AuditRecorded(chain=name, actor="service:face", action=MATCH,
                              subject_ref=f"subject:s{i}", event_id=f"m{i}",
                              details={"camera_id": "cam-1", "score": f"0.{50 + i}"})
        draft.occurred_at.FromDatetime(datetime(2026, 12, 1, 12, 0, i, tzinfo=UTC))
        records.append(seal(draft, records[-1] if records else None))
    return records


def test_a_sealed_chain_links_every_record_and_verifies():
    records = chain_of(5)
    assert [r.sequence for r in records] == [1, 2, 3, 4, 5]
    assert records[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))
    result = verify_chain(records, "face/0")
    assert result.valid and result.records_checked == 5
    assert result.head_hash == records[-1].hash


def _edit_detail(records: list[AuditRecorded]) -> None:
    records[2].details["score"] = "0.99"


def _edit_actor_and_rehash_it_alone(records: list[AuditRecorded]) -> None:
    # A forger who recomputes the edited record's own hash still breaks the next link.
    records[2].actor = "operator:mallory"
    records[2].hash = seal(records[2], records[1]).hash


def _delete(records: list[AuditRecorded]) -> None:
    del records[2]


def _swap(records: list[AuditRecorded]) -> None:
    records[1], records[2] = records[2], records[1]


def _duplicate(records: list[AuditRecorded]) -> None:
    records.insert(3, records[2])


def _move_from_another_chain(records: list[AuditRecorded]) -> None:
    records[2] = chain_of(5, "alerts/0")[2]


@pytest.mark.parametrize(("tamper", "first_bad", "words"), [
    (_edit_detail, 3, "altered"),
    (_edit_actor_and_rehash_it_alone, 4, "does not link"),
    (_delete, 4, "missing"),
    (_swap, 3, "out of order"),
    (_duplicate, 3, "out of order or repeated"),
    (_move_from_another_chain, 3, "belongs to chain"),
])
def test_tampering_is_caught_at_the_first_bad_record(tamper, first_bad, words):
    records = chain_of(6)
    tamper(records)
    result = verify_chain(records, "face/0")
    assert not result.valid
    assert result.first_invalid_sequence == first_bad
    assert words in result.error


def test_verify_records_checks_each_chain_on_its_own():
    face, alerts = chain_of(3, "face/0"), chain_of(4, "alerts/0")
    interleaved = [face[0], alerts[0], alerts[1], face[1], alerts[2], face[2], alerts[3]]
    results = verify_records(interleaved)
    assert {k: (v.valid, v.records_checked) for k, v in results.items()} == {
        "alerts/0": (True, 4), "face/0": (True, 3)}
    alerts[1].details["x"] = "y"
    assert not verify_records(interleaved)["alerts/0"].valid
    assert verify_records(interleaved)["face/0"].valid


def test_verification_can_start_inside_a_chain():
    records = chain_of(6)
    result = verify_chain(records, "face/0", from_sequence=3)
    assert result.valid and result.records_checked == 4


async def test_an_audit_log_appends_durably_and_a_new_writer_resumes_its_chain(harness):
    bus = harness.bus()
    await bus.ensure_topics(REGISTRY)
    chain = unique("alerts")
    log = AuditLog(bus, chain, "service:alerts")
    for i in range(3):
        await log.record(DECISION, f"alert:a{i}", actor="operator:alice", event_id=f"d{i}",
                         details={"decision": "confirmed"})
    # A restart: a new writer on a new client reads the head back from the topic.
    resumed = AuditLog(harness.bus(), chain, "service:alerts")
    fourth = await resumed.record(DECISION, "alert:a3", event_id="d3")
    assert fourth.sequence == 4

    stored = [r for r in await read_audit(harness.bus()) if r.chain == chain]
    assert [r.event_id for r in stored] == ["d0", "d1", "d2", "d3"]
    assert stored[0].actor == "operator:alice" and stored[3].actor == "service:alerts"
    assert verify_records(stored)[chain].valid


async def test_concurrent_appends_in_one_process_never_fork_the_chain():
    import asyncio

    from vigie_core.bus.memory import MemoryBus

    bus = MemoryBus()
    await bus.ensure_topics(REGISTRY)
    log = AuditLog(bus, "face/0", "service:face")
    await asyncio.gather(*(log.record(MATCH, f"subject:{i}", event_id=str(i))
                           for i in range(20)))
    records = await read_audit(bus)
    assert len(records) == 20
    assert verify_chain(records, "face/0").valid
    assert AUDIT.partitions == 1  # one partition keeps every chain in append order


# -- signatures: what a writer to the topic without the chain's key cannot do -------------------

def signed_chain(n: int, key, name: str = "face/0") -> list[AuditRecorded]:
    records: list[AuditRecorded] = []
    for i in range(n):
        draft = AuditRecorded(chain=name, actor="service:face", action=MATCH,
                              subject_ref=f"subject:s{i}", event_id=f"m{i}")
        draft.occurred_at.FromDatetime(datetime(2026, 12, 1, 12, 0, i, tzinfo=UTC))
        records.append(seal(draft, records[-1] if records else None, key))
    return records


def forged_next(records: list[AuditRecorded], key) -> AuditRecorded:
    """What an attacker with write access to the topic appends: a record that links to the head
    and hashes right, signed with a key of theirs (or none)."""
    draft = AuditRecorded(chain=records[-1].chain, actor="operator:ann",
                          action=DECISION, subject_ref="alert:forged")
    draft.occurred_at.FromDatetime(datetime(2026, 12, 2, tzinfo=UTC))
    return seal(draft, records[-1], key)


def test_a_signed_chain_verifies_and_names_its_key():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from vigie_core.audit import key_id, public_key_bytes

    key = Ed25519PrivateKey.generate()
    result = verify_chain(signed_chain(4, key), "face/0")
    assert result.valid and result.signed
    assert result.public_keys == (public_key_bytes(key),) and len(key_id(public_key_bytes(key)))


@pytest.mark.parametrize(("forge", "words"), [
    ("own key", "signed by another key"),
    ("no key", "unsigned in a signed chain"),
    ("copied public key", "bad signature"),
])
def test_a_record_appended_without_the_chains_key_is_caught(forge, words):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    writer, attacker = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    records = signed_chain(4, writer)
    if forge == "own key":
        records.append(forged_next(records, attacker))
    elif forge == "no key":
        records.append(forged_next(records, None))
    else:  # claims the writer's key (which the hash covers), signs with the attacker's
        forged = forged_next(records, attacker)
        forged.public_key = records[0].public_key
        forged.hash = record_hash(forged)
        forged.signature = attacker.sign(forged.hash)
        records.append(forged)
    result = verify_chain(records, "face/0")
    assert not result.valid and result.first_invalid_sequence == 5
    assert words in result.error


def test_trusted_keys_accept_a_rotation_and_refuse_anything_else():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from vigie_core.audit import public_key_bytes

    old, new, other = (Ed25519PrivateKey.generate() for _ in range(3))
    records = signed_chain(3, old)
    records.append(forged_next(records, new))  # the writer restarted with a new key
    assert "another key" in verify_chain(records, "face/0").error
    trusted = {public_key_bytes(old), public_key_bytes(new)}
    assert verify_chain(records, "face/0", trusted=trusted).valid
    assert "not trusted" in verify_chain(records, "face/0",
                                         trusted={public_key_bytes(other)}).error
    assert not verify_chain(chain_of(3), "face/0", trusted=trusted).valid  # unsigned


def test_an_unsigned_legacy_chain_still_verifies_but_says_so():
    result = verify_chain(chain_of(3), "face/0")
    assert result.valid and not result.signed


def test_the_writer_signs_and_keeps_its_key(tmp_path):
    from vigie_core.audit import load_signing_key, public_key_bytes

    path = tmp_path / "audit" / "face_0.key"
    key = load_signing_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert public_key_bytes(load_signing_key(path)) == public_key_bytes(key)  # the same again


async def test_a_writer_that_lost_its_key_goes_on_in_a_chain_of_its_own():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from vigie_core.audit import key_id, public_key_bytes
    from vigie_core.bus.memory import MemoryBus

    bus = MemoryBus("audit-keys")
    await bus.ensure_topics(REGISTRY)
    first, second = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    before = AuditLog(bus, "rules/0", "service:rules", first)
    await before.record(MATCH, "subject:a")
    await before.record(MATCH, "subject:b")
    after = AuditLog(bus, "rules/0", "service:rules", second)  # a new pod, a new key file
    await after.record(MATCH, "subject:c")
    again = AuditLog(bus, "rules/0", "service:rules", second)  # and its restart, same key
    await again.record(MATCH, "subject:d")
    results = verify_records(await read_audit(bus))
    new_chain = f"rules/0~{key_id(public_key_bytes(second))}"
    assert set(results) == {"rules/0", new_chain}
    assert all(r.valid and r.signed for r in results.values())
    assert results["rules/0"].records_checked == 2 and results[new_chain].records_checked == 2
