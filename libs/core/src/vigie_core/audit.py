"""The audit trail: hash-chained `AuditRecorded` events on vigie.audit.v1 (DESIGN invariant 4).

Every writer (one service replica) appends to a chain of its own, keyed by the chain name, so a
chain always has a single writer and needs no coordination. Record n carries the hash of record
n-1 (`prev_hash`, 32 zero bytes for the first) and its own hash: SHA-256 over the deterministic
serialisation of the record with `hash` cleared. Editing, deleting or reordering any record
breaks the hash or the link of that record or of the next one, which `verify_chain` reports.
Truncating a chain's tail is only visible against a head hash kept elsewhere (`VerifyChain`
returns the head hash for exactly that).

The pure part (`seal`, `verify_chain`, `verify_records`) knows nothing of Kafka; `AuditLog` is the
writer a service holds, resuming its chain from the topic when it starts.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from vigie.audit.v1.audit_pb2 import AuditAction, AuditRecorded

from vigie_core.bus.base import Bus, Record
from vigie_core.codec import DecodeError, decode
from vigie_core.topics import AUDIT

log = logging.getLogger(__name__)

GENESIS_HASH = bytes(32)
"""prev_hash of a chain's first record."""


def record_hash(record: AuditRecorded) -> bytes:
    """SHA-256 of the record's deterministic serialisation with `hash` cleared."""
    content = AuditRecorded()
    content.CopyFrom(record)
    content.ClearField("hash")
    return hashlib.sha256(content.SerializeToString(deterministic=True)).digest()


def seal(record: AuditRecorded, previous: AuditRecorded | None) -> AuditRecorded:
    """Link `record` after `previous` (None: the chain's first record) and set its hash.
    Returns a new record; sequence, chain and prev_hash come from `previous`."""
    sealed = AuditRecorded()
    sealed.CopyFrom(record)
    if previous is None:
        sealed.sequence, sealed.prev_hash = 1, GENESIS_HASH
    else:
        sealed.sequence, sealed.prev_hash = previous.sequence + 1, previous.hash
        sealed.chain = previous.chain
    sealed.hash = record_hash(sealed)
    return sealed


@dataclass(frozen=True)
class Verification:
    """Outcome of checking one chain; mirrors vigie.audit.v1.VerifyChainResponse."""

    chain: str
    valid: bool
    records_checked: int
    first_invalid_sequence: int = 0
    error: str = ""
    head_hash: bytes = b""


def _record_problem(record: AuditRecorded, chain: str, expected_seq: int,
                    previous_hash: bytes | None) -> str:
    """Why `record` cannot follow in `chain` at `expected_seq`; empty when it can."""
    if record.chain != chain:
        return f"record {record.sequence} belongs to chain {record.chain!r}"
    if record.sequence != expected_seq:
        what = ("missing or out of order" if record.sequence > expected_seq
                else "out of order or repeated")
        return f"expected sequence {expected_seq}, found {record.sequence}: records {what}"
    if record_hash(record) != record.hash:
        return f"record {record.sequence} was altered: its hash does not match its content"
    if previous_hash is not None and record.prev_hash != previous_hash:
        return (f"record {record.sequence} does not link to the previous record "
                "(prev_hash mismatch)")
    return ""


def verify_chain(records: Iterable[AuditRecorded], chain: str = "", *,
                 from_sequence: int = 1) -> Verification:
    """Check one chain's records in the order they were stored: sequences consecutive from
    `from_sequence`, each hash right, each prev_hash equal to the previous record's hash (the
    first record's link is only checked when verification starts at sequence 1)."""
    expected_seq = max(from_sequence, 1)
    previous_hash: bytes | None = GENESIS_HASH if expected_seq == 1 else None
    checked = 0
    head = b""
    for record in records:
        if checked == 0 and record.sequence < expected_seq:
            continue  # before the requested range
        checked += 1
        if problem := _record_problem(record, chain, expected_seq, previous_hash):
            return Verification(chain, False, checked, record.sequence or expected_seq, problem,
                                head)
        previous_hash = head = record.hash
        expected_seq += 1
    return Verification(chain, True, checked, 0, "", head)


def verify_records(records: Iterable[AuditRecorded]) -> dict[str, Verification]:
    """Verify every chain found in `records` (in stored order), by chain name."""
    chains: dict[str, list[AuditRecorded]] = {}
    for record in records:
        chains.setdefault(record.chain, []).append(record)
    return {name: verify_chain(chain, name) for name, chain in sorted(chains.items())}


def decode_records(records: Iterable[Record]) -> list[AuditRecorded]:
    """AuditRecorded messages of raw topic records; undecodable ones become unsealed records,
    so that verification fails on them instead of skipping them silently."""
    out = []
    for raw in records:
        try:
            message = decode(AUDIT, raw.key, raw.value, raw.headers).message
        except DecodeError:
            message = None
        if not isinstance(message, AuditRecorded):
            message = AuditRecorded(chain=(raw.key or b"").decode(errors="replace"))
        out.append(message)
    return out


class AuditLog:
    """The audit writer of one service replica: appends sealed records to its chain.

    `start` reads the chain's last record from the topic, so a restarted writer goes on where it
    stopped; appends are serialised by a lock so the chain never forks inside the process. Two
    processes must never share a chain name (CoreSettings.audit_replica tells replicas apart).
    """

    def __init__(self, bus: Bus, chain: str, actor: str) -> None:
        self.bus = bus
        self.chain = chain
        self.actor = actor  # default actor, e.g. "service:face"
        self._head: AuditRecorded | None = None
        self._lock = asyncio.Lock()
        self._started = False

    @property
    def head(self) -> AuditRecorded | None:
        return self._head

    async def start(self) -> None:
        if self._started:
            return
        head = None
        for record in decode_records(await self.bus.read_all(AUDIT.name)):
            if record.chain == self.chain and (head is None or record.sequence > head.sequence):
                head = record
        self._head = head
        self._started = True
        log.info("audit chain %s resumes after sequence %d", self.chain,
                 head.sequence if head else 0)

    async def record(self, action: int, subject_ref: str, *,
                     event_id: str = "", actor: str | None = None,
                     details: Mapping[str, str] | None = None,
                     occurred_at: datetime | None = None) -> AuditRecorded:
        """Append one record and return it once it is durable on the topic. `details` must never
        hold images, embeddings, templates or secrets."""
        await self.start()
        async with self._lock:
            draft = AuditRecorded(event_id=event_id, actor=actor or self.actor,
                                  action=AuditAction.ValueType(action), subject_ref=subject_ref,
                                  details=dict(details or {}), chain=self.chain)
            draft.occurred_at.FromDatetime(occurred_at or datetime.now(UTC))
            sealed = seal(draft, self._head)
            delivery = await self.bus.publish(AUDIT, self.chain, sealed,
                                              event_id=f"{self.chain}/{sealed.sequence}")
            self._head = sealed
        await delivery
        return sealed


async def read_audit(bus: Bus) -> list[AuditRecorded]:
    """Every audit record on the topic, in stored order."""
    return decode_records(await bus.read_all(AUDIT.name))
