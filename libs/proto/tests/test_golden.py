"""Wire-format stability of every topic value against the committed golden files.

The samples come from tests/golden/make_golden.py; the committed tests/golden/*.binpb and *.json
are the contract. A failure here means a change to proto/ altered the wire or JSON form of an
existing message (forbidden: fields are only added) or added a field with no golden value.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor, OneofDescriptor
from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet

REPO = Path(__file__).resolve().parents[3]
GOLDEN_DIR = REPO / "tests" / "golden"

# Every value carried on a Kafka topic (DESIGN.md, "Topics"). Adding a topic means adding here.
TOPIC_VALUES = {
    "vigie.camera.v1.Camera",
    "vigie.camera.v1.CameraHealthChanged",
    "vigie.ingest.v1.FrameSampled",
    "vigie.ingest.v1.ReportReceived",
    "vigie.detect.v1.ObjectsDetected",
    "vigie.detect.v1.TrackerCheckpointed",  # vigie.tracker-state.v1 (internal to detect)
    "vigie.face.v1.WatchlistEntry",
    "vigie.face.v1.FaceMatched",
    "vigie.rules.v1.Rule",
    "vigie.rules.v1.SignalObserved",
    "vigie.alerts.v1.AlertRaised",
    "vigie.alerts.v1.AlertDecided",
    "vigie.stats.v1.CountsAggregated",
    "vigie.audit.v1.AuditRecorded",
}


def _load_make_golden() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "vigie_make_golden", GOLDEN_DIR / "make_golden.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_golden = _load_make_golden()
SAMPLES: dict[str, Message] = make_golden.samples()


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and bool(field.message_type.GetOptions().map_entry)


def _unset_paths(message: Message, prefix: str = "") -> set[str]:
    """Paths of fields left unset in ``message``, recursing into nested Vigie messages.

    Scalars count as set when they differ from their default (proto3 has no other presence),
    so golden values must be non-zero. For a repeated message field, a nested field counts as
    covered when at least one element sets it. Well-known types (Timestamp, Duration...) only
    need to be present. For a real oneof, exactly one member must be set.
    """
    descriptor: Descriptor = message.DESCRIPTOR
    present = {field.name for field, _ in message.ListFields()}
    missing: set[str] = set()
    for oneof in descriptor.oneofs:
        if not _is_synthetic(oneof) and message.WhichOneof(oneof.name) is None:
            missing.add(f"{prefix}{oneof.name} (oneof)")
    for field in descriptor.fields:
        path = f"{prefix}{field.name}"
        oneof = field.containing_oneof
        if oneof is not None and not _is_synthetic(oneof):
            continue  # checked as a whole above
        if field.name not in present:
            missing.add(path)
            continue
        if field.message_type is None or _is_map(field) or _is_well_known(field):
            continue
        value = getattr(message, field.name)
        if field.is_repeated:
            per_element = [_unset_paths(element, f"{path}[].") for element in value]
            missing |= set.intersection(*per_element)
        else:
            missing |= _unset_paths(value, f"{path}.")
    return missing


def _is_synthetic(oneof: OneofDescriptor) -> bool:
    """proto3 `optional` wraps its field in a synthetic oneof named `_<field>`."""
    return len(oneof.fields) == 1 and oneof.name == f"_{oneof.fields[0].name}"


def _is_well_known(field: FieldDescriptor) -> bool:
    name: str = field.message_type.full_name
    return name.startswith("google.protobuf.")


def test_every_topic_value_has_a_sample() -> None:
    assert set(SAMPLES) == TOPIC_VALUES


def test_no_stale_golden_files() -> None:
    on_disk = {p.name for p in GOLDEN_DIR.iterdir() if p.suffix in {".binpb", ".json"}}
    expected = {f"{name}{ext}" for name in SAMPLES for ext in (".binpb", ".json")}
    assert on_disk == expected


def test_samples_are_deterministic() -> None:
    again = make_golden.samples()
    for name, sample in SAMPLES.items():
        assert make_golden.to_binpb(again[name]) == make_golden.to_binpb(sample), name


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_serialization_matches_committed_bytes(name: str) -> None:
    committed = (GOLDEN_DIR / f"{name}.binpb").read_bytes()
    assert make_golden.to_binpb(SAMPLES[name]) == committed


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_committed_bytes_parse_to_the_sample(name: str) -> None:
    sample = SAMPLES[name]
    parsed = type(sample)()
    parsed.ParseFromString((GOLDEN_DIR / f"{name}.binpb").read_bytes())
    assert parsed == sample
    assert len(UnknownFieldSet(parsed)) == 0


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_field_is_populated(name: str) -> None:
    assert _unset_paths(SAMPLES[name]) == set(), (
        "give these fields a non-default golden value in tests/golden/make_golden.py "
        "and regenerate the golden files"
    )


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_json_round_trip(name: str) -> None:
    sample = SAMPLES[name]
    text = make_golden.to_json(sample)
    assert json_format.Parse(text, type(sample)()) == sample
    committed = (GOLDEN_DIR / f"{name}.json").read_text(encoding="utf-8")
    assert json.loads(committed) == json.loads(text)
    assert json_format.Parse(committed, type(sample)()) == sample


def test_face_match_carries_no_embedding() -> None:
    """Privacy invariant 2: a match publishes ids and a score, never a face vector."""
    fields = SAMPLES["vigie.face.v1.FaceMatched"].DESCRIPTOR.fields
    assert not [f.name for f in fields if f.type == FieldDescriptor.TYPE_BYTES]
    assert not [f.name for f in fields if f.is_repeated]


def test_audit_sample_follows_the_documented_hash_rule() -> None:
    record = type(SAMPLES["vigie.audit.v1.AuditRecorded"])()
    record.CopyFrom(SAMPLES["vigie.audit.v1.AuditRecorded"])
    stored, signature = record.hash, record.signature
    record.ClearField("hash")
    record.ClearField("signature")
    assert stored == hashlib.sha256(record.SerializeToString(deterministic=True)).digest()
    assert len(record.prev_hash) == 32
    # The signature is the writer's Ed25519 signature over the hash (raises if not).
    Ed25519PublicKey.from_public_bytes(record.public_key).verify(signature, stored)
