"""Protobuf codec with CloudEvents-style headers (Kafka protocol binding, binary content mode).

A record's value is the serialized protobuf message; its headers carry the CloudEvents attributes
(`ce_id`, `ce_type`, `ce_source`, `ce_time`, `ce_specversion`) and `content-type`. `ce_type` is
the message's protobuf full name, so a consumer rejects a record of the wrong type instead of
misreading it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message

from vigie_core.topics import Topic

CONTENT_TYPE = "application/protobuf"
SPEC_VERSION = "1.0"

Headers = tuple[tuple[str, bytes], ...]
M = TypeVar("M", bound=Message)


class DecodeError(ValueError):
    """A record that cannot be turned into its topic's message: it goes to the DLQ."""


@dataclass(frozen=True)
class Envelope:
    """The CloudEvents attributes of one record."""

    id: str
    type: str
    source: str
    time: datetime

    def headers(self) -> Headers:
        return (
            ("ce_specversion", SPEC_VERSION.encode()),
            ("ce_id", self.id.encode()),
            ("ce_type", self.type.encode()),
            ("ce_source", self.source.encode()),
            ("ce_time", self.time.isoformat().encode()),
            ("content-type", CONTENT_TYPE.encode()),
        )


@dataclass(frozen=True)
class Event(Generic[M]):
    """A decoded record: key, message (None for a tombstone) and envelope."""

    key: str | None
    message: M | None
    envelope: Envelope


def new_envelope(
    topic: Topic, source: str, event_id: str | None = None, time: datetime | None = None
) -> Envelope:
    """Envelope for a new event. Pass a deterministic `event_id` where replays must agree."""
    return Envelope(
        id=event_id or str(uuid.uuid4()),
        type=topic.type_name,
        source=source,
        time=time or datetime.now(UTC),
    )


def encode(message: Message | None, envelope: Envelope) -> tuple[bytes | None, Headers]:
    """Serialize deterministically; None (tombstone) stays None."""
    value = None if message is None else message.SerializeToString(deterministic=True)
    return value, envelope.headers()


def header(headers: Sequence[tuple[str, bytes | None]] | None, name: str) -> str | None:
    """The last value of a header as text, or None."""
    found = None
    for k, v in headers or ():
        if k == name and v is not None:
            found = v.decode("utf-8", errors="replace")
    return found


def decode(
    topic: Topic,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]] | None,
) -> Event[Message]:
    """Decode a record of `topic`, or raise DecodeError saying what is wrong with it."""
    ce_type = header(headers, "ce_type")
    if ce_type is None:
        raise DecodeError("missing ce_type header: not a Vigie event")
    if ce_type != topic.type_name:
        raise DecodeError(f"ce_type {ce_type!r} does not match topic type {topic.type_name!r}")
    ce_id = header(headers, "ce_id")
    if not ce_id:
        raise DecodeError("missing ce_id header")
    try:
        time = datetime.fromisoformat(header(headers, "ce_time") or "")
    except ValueError as exc:
        raise DecodeError(f"bad ce_time header: {exc}") from None
    try:
        key_text = None if key is None else key.decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("record key is not UTF-8") from None
    message: Message | None = None
    if value is not None:
        message = topic.message_type()
        try:
            message.ParseFromString(value)
        except (ProtobufDecodeError, RuntimeError) as exc:  # RuntimeError: recursion limit
            raise DecodeError(f"invalid {topic.type_name} payload: {exc}") from None
    envelope = Envelope(ce_id, ce_type, header(headers, "ce_source") or "", time)
    return Event(key_text, message, envelope)
