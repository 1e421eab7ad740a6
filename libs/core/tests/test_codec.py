"""The codec: CloudEvents headers in, the right message out, a clear error otherwise."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie_core.codec import DecodeError, decode, encode, new_envelope
from vigie_core.topics import CAMERAS, FRAMES

WHEN = datetime(2026, 7, 14, 21, 30, tzinfo=UTC)


def frame_record():
    envelope = new_envelope(FRAMES, "ingest/pod-1", "cam-1:42", WHEN)
    value, headers = encode(FrameSampled(camera_id="cam-1", sequence=42), envelope)
    return value, list(headers)


def test_an_encoded_event_decodes_to_the_same_message_and_envelope():
    value, headers = frame_record()
    event = decode(FRAMES, b"cam-1", value, headers)
    assert event.key == "cam-1"
    assert event.message == FrameSampled(camera_id="cam-1", sequence=42)
    assert (event.envelope.id, event.envelope.type, event.envelope.source, event.envelope.time) == (
        "cam-1:42", "vigie.ingest.v1.FrameSampled", "ingest/pod-1", WHEN)
    assert dict(headers)["content-type"] == b"application/protobuf"
    assert dict(headers)["ce_specversion"] == b"1.0"


def test_an_event_without_an_id_gets_a_fresh_one():
    assert new_envelope(FRAMES, "s").id != new_envelope(FRAMES, "s").id


def _without(name):
    value, headers = frame_record()
    return value, [(k, v) for k, v in headers if k != name]


def _replace(name, new):
    value, headers = frame_record()
    return value, [(k, new if k == name else v) for k, v in headers]


@pytest.mark.parametrize(("record", "topic", "error"), [
    (_without("ce_type"), FRAMES, "missing ce_type"),
    (_without("ce_id"), FRAMES, "missing ce_id"),
    (_replace("ce_time", b"yesterday"), FRAMES, "bad ce_time"),
    (frame_record(), CAMERAS, "does not match topic type"),
    ((b"\x0a\xff\xff\xff", frame_record()[1]), FRAMES, "invalid vigie.ingest.v1.FrameSampled"),
    ((b"", []), FRAMES, "missing ce_type"),
])
def test_records_that_are_not_what_the_topic_carries_are_refused(record, topic, error):
    value, headers = record
    with pytest.raises(DecodeError, match=error):
        decode(topic, b"cam-1", value, headers)


def test_a_non_utf8_key_is_refused():
    value, headers = frame_record()
    with pytest.raises(DecodeError, match="not UTF-8"):
        decode(FRAMES, b"\xff\xfe", value, headers)


def test_a_tombstone_decodes_to_no_message():
    _, headers = encode(None, new_envelope(CAMERAS, "ingest", "x", WHEN))
    assert decode(CAMERAS, b"cam-1", None, headers).message is None
