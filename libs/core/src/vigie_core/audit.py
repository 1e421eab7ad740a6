"""The audit trail: hash-chained, signed `AuditRecorded` events on vigie.audit.v1 (DESIGN
invariant 4).

Every writer (one service replica) appends to a chain of its own, keyed by the chain name, so a
chain always has a single writer and needs no coordination. Record n carries the hash of record
n-1 (`prev_hash`, 32 zero bytes for the first) and its own hash: SHA-256 over the deterministic
serialisation of the record with `hash` and `signature` cleared. Editing, deleting or reordering
any record breaks the hash or the link of that record or of the next one, which `verify_chain`
reports.

A hash chain alone does not stop someone who can write to the topic from appending a record
that links correctly (SHA-256 needs no secret). So each writer also signs every record's hash
with an Ed25519 key of its own (`public_key` in the record, `signature` over `hash`): a record
appended by anyone without that key fails verification, as does a change of key within a chain
unless the verifier trusts the new key too (`trusted`: a deliberate rotation). A writer that
finds its chain signed by another key (its key file was lost) goes on in a chain of its own,
`<chain>~<key id>`, rather than break the old one. A chain whose first record is unsigned was
written before signing existed; verification then reports it as unsigned (its tail could be
extended unnoticed).
Truncating a chain's tail is only visible against a head hash kept elsewhere (`VerifyChain` and
`vigie audit verify` print the head hash for exactly that).

The pure part (`seal`, `verify_chain`, `verify_records`) knows nothing of Kafka; `AuditLog` is the
writer a service holds, resuming its chain from the topic when it starts, with its key from
`load_signing_key` (`VIGIE_AUDIT_KEY_FILE`, mounted from a Secret by the Helm chart; else a file
kept with the service's data, created at first start).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)
from vigie.audit.v1.audit_pb2 import AuditAction, AuditRecorded

from vigie_core.bus.base import Bus, Record
from vigie_core.codec import DecodeError, decode
from vigie_core.topics import AUDIT

log = logging.getLogger(__name__)

GENESIS_HASH = bytes(32)
"""prev_hash of a chain's first record."""


def record_hash(record: AuditRecorded) -> bytes:
    """SHA-256 of the record's deterministic serialisation with `hash` and `signature`
    cleared (records written before signing existed hash as they always did)."""
    content = AuditRecorded()
    content.CopyFrom(record)
    content.ClearField("hash")
    content.ClearField("signature")
    return hashlib.sha256(content.SerializeToString(deterministic=True)).digest()


def public_key_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public_key: bytes) -> str:
    """A short, printable name of a public key: its SHA-256, first 16 hex digits."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def seal(record: AuditRecorded, previous: AuditRecorded | None,
         key: Ed25519PrivateKey | None = None) -> AuditRecorded:
    """Link `record` after `previous` (None: the chain's first record), set its hash and, with
    `key`, its public key and signature. Returns a new record; sequence, chain and prev_hash
    come from `previous`."""
    sealed = AuditRecorded()
    sealed.CopyFrom(record)
    if previous is None:
        sealed.sequence, sealed.prev_hash = 1, GENESIS_HASH
    else:
        sealed.sequence, sealed.prev_hash = previous.sequence + 1, previous.hash
        sealed.chain = previous.chain
    sealed.ClearField("signature")
    if key is not None:
        sealed.public_key = public_key_bytes(key)
    else:
        sealed.ClearField("public_key")
    sealed.hash = record_hash(sealed)
    if key is not None:
        sealed.signature = key.sign(sealed.hash)
    return sealed


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 key in `path` (PEM PKCS#8, unencrypted), created there (mode 0600, its folder
    0700) when the file does not exist yet."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        key = Ed25519PrivateKey.generate()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        log.info("new audit signing key %s in %s", key_id(public_key_bytes(key)), path)
        return key
    loaded = load_pem_private_key(data, password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return loaded


@dataclass(frozen=True)
class Verification:
    """Outcome of checking one chain; mirrors vigie.audit.v1.VerifyChainResponse."""

    chain: str
    valid: bool
    records_checked: int
    first_invalid_sequence: int = 0
    error: str = ""
    head_hash: bytes = b""
    # The chain's signing keys, in order of first use (empty: an unsigned chain).
    public_keys: tuple[bytes, ...] = ()

    @property
    def signed(self) -> bool:
        return bool(self.public_keys)


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


def _signature_problem(record: AuditRecorded, keys: list[bytes],
                       trusted: Collection[bytes] | None) -> str:
    """Why `record`'s signature is not acceptable in a chain signed so far with `keys` (empty:
    nothing signed yet, or the first record); empty when it is. Appends a new key to `keys`."""
    if not record.public_key and not record.signature:
        if keys:
            return (f"record {record.sequence} is unsigned in a signed chain: appended by "
                    "someone without the chain's key")
        if trusted is not None:
            return f"record {record.sequence} is unsigned and trusted keys were given"
        return ""
    if len(record.public_key) != 32 or len(record.signature) != 64:
        return f"record {record.sequence} has a malformed public key or signature"
    try:
        Ed25519PublicKey.from_public_bytes(record.public_key).verify(record.signature,
                                                                    record.hash)
    except InvalidSignature:
        return f"record {record.sequence} has a bad signature: not written by its key's holder"
    if trusted is not None and record.public_key not in trusted:
        return (f"record {record.sequence} is signed by key {key_id(record.public_key)}, "
                "which is not trusted")
    if keys and record.public_key != keys[-1]:
        if trusted is None:
            return (f"record {record.sequence} is signed by another key "
                    f"({key_id(record.public_key)}, the chain's is {key_id(keys[-1])}): "
                    "appended by someone else, or the writer's key was replaced (give the "
                    "trusted keys to accept a rotation)")
    if not keys or record.public_key != keys[-1]:
        keys.append(record.public_key)
    return ""


def verify_chain(records: Iterable[AuditRecorded], chain: str = "", *,
                 from_sequence: int = 1,
                 trusted: Collection[bytes] | None = None) -> Verification:
    """Check one chain's records in the order they were stored: sequences consecutive from
    `from_sequence`, each hash right, each prev_hash equal to the previous record's hash (the
    first record's link is only checked when verification starts at sequence 1), each
    signature right and by the chain's key (by one of `trusted`, when given: every record must
    then be signed, and the key may change from one trusted key to another)."""
    expected_seq = max(from_sequence, 1)
    previous_hash: bytes | None = GENESIS_HASH if expected_seq == 1 else None
    checked = 0
    head = b""
    keys: list[bytes] = []
    for record in records:
        if checked == 0 and record.sequence < expected_seq:
            continue  # before the requested range
        checked += 1
        problem = _record_problem(record, chain, expected_seq, previous_hash) or \
            _signature_problem(record, keys, trusted)
        if problem:
            return Verification(chain, False, checked, record.sequence or expected_seq, problem,
                                head, tuple(keys))
        previous_hash = head = record.hash
        expected_seq += 1
    return Verification(chain, True, checked, 0, "", head, tuple(keys))


def verify_records(records: Iterable[AuditRecorded],
                   trusted: Mapping[str, Collection[bytes]] | Collection[bytes] | None = None,
                   ) -> dict[str, Verification]:
    """Verify every chain found in `records` (in stored order), by chain name. `trusted`:
    public keys accepted for every chain, or per chain name (a chain missing from the mapping
    then has no trusted key and fails)."""
    chains: dict[str, list[AuditRecorded]] = {}
    for record in records:
        chains.setdefault(record.chain, []).append(record)
    out = {}
    for name, chain in sorted(chains.items()):
        keys: Collection[bytes] | None
        if isinstance(trusted, Mapping):
            keys = trusted.get(name, ())
        else:
            keys = trusted
        out[name] = verify_chain(chain, name, trusted=keys)
    return out


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

    def __init__(self, bus: Bus, chain: str, actor: str,
                 key: Ed25519PrivateKey | None = None) -> None:
        self.bus = bus
        self.chain = chain
        self.actor = actor  # default actor, e.g. "service:face"
        self.key = key  # signs every record (None: unsigned, only tests do that)
        self._head: AuditRecorded | None = None
        self._lock = asyncio.Lock()
        self._started = False

    @property
    def head(self) -> AuditRecorded | None:
        return self._head

    async def start(self) -> None:
        if self._started:
            return
        records = decode_records(await self.bus.read_all(AUDIT.name))
        head = _head_of(records, self.chain)
        if head is not None and self.key is not None and head.public_key and \
                head.public_key != public_key_bytes(self.key):
            # Another key wrote this chain (this replica's key file was lost: a pod without a
            # persistent volume). Nobody but that key's holder may append to it: go on in a
            # chain of this key's own, so that both verify (the old one ends where it ended).
            mine = key_id(public_key_bytes(self.key))
            log.warning("audit chain %s is signed with key %s, this process has key %s: "
                        "writing chain %s~%s from now on (keep VIGIE_AUDIT_KEY_FILE across "
                        "restarts to stay on one chain)", self.chain, key_id(head.public_key),
                        mine, self.chain, mine)
            self.chain = f"{self.chain}~{mine}"
            head = _head_of(records, self.chain)
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
            sealed = seal(draft, self._head, self.key)
            delivery = await self.bus.publish(AUDIT, self.chain, sealed,
                                              event_id=f"{self.chain}/{sealed.sequence}")
            self._head = sealed
        await delivery
        return sealed


def _head_of(records: Iterable[AuditRecorded], chain: str) -> AuditRecorded | None:
    head = None
    for record in records:
        if record.chain == chain and (head is None or record.sequence > head.sequence):
            head = record
    return head


async def read_audit(bus: Bus) -> list[AuditRecorded]:
    """Every audit record on the topic, in stored order."""
    return decode_records(await bus.read_all(AUDIT.name))
