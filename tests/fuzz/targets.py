"""Fuzz targets: each takes arbitrary bytes and must end in one of the outcomes its contract
allows (a value, or the one exception type that means "refused"); anything else raised, or a
hang, is a bug. Shared by the short hypothesis runs of CI (tests/fuzz/test_fuzz.py) and the long
coverage-guided runs of bench/fuzz (atheris when installed, hypothesis otherwise).

- codec_decode: a record of any registry topic (key, value, CloudEvents headers) -> an Event,
  or DecodeError (the consume loop sends it to `<topic>.dlq`);
- detect_image: the bytes of a frame's JPEG -> a BGR image, or PoisonError (dead-lettered);
- ingest_media: a camera file or a citizen upload, opened and decoded by ingest's FFmpeg path
  -> frames, or SourceError (the camera fails, the upload is refused);
- ingest_upload_metadata: UploadMetadata bytes, then ingest's checks -> ok, or DecodeError or
  UploadRejected;
- rules_yaml: a rule YAML document -> rules, or RuleSpecError;
- rules_proto: a vigie.rules.v1.Rule off the topic or gRPC -> a RuleSpec, or RuleSpecError
  exactly when `rule_problems` finds problems.

Seeds (`seeds(name)`): valid inputs each target starts from (golden protobufs of every topic,
the rule examples, a JPEG/PNG and a short MP4 made here), so that mutations reach past the first
check. No test data is copied into the repository: they come from tests/golden, the rule
examples and generated media.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HEADER_NAMES = ("ce_specversion", "ce_id", "ce_type", "ce_source", "ce_time", "content-type",
                "dlq_error", "x")


class Reader:
    """Carves typed values out of fuzz bytes (atheris' FuzzedDataProvider, in plain Python)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def take(self, limit: int) -> bytes:
        n = min(self.byte() * 256 + self.byte(), limit, len(self.data) - self.pos)
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def rest(self) -> bytes:
        chunk, self.pos = self.data[self.pos:], len(self.data)
        return chunk


# -- targets ---------------------------------------------------------------------------------

def codec_decode(data: bytes) -> None:
    from vigie_core.codec import DecodeError, decode
    from vigie_core.topics import REGISTRY

    topics = list(REGISTRY)
    r = Reader(data)
    topic = topics[r.byte() % len(topics)]
    key = r.take(64) if r.byte() % 4 else None
    headers: list[tuple[str, bytes | None]] = []
    for _ in range(r.byte() % 8):
        name = HEADER_NAMES[r.byte() % len(HEADER_NAMES)]
        choice = r.byte() % 4
        value: bytes | None
        if name == "ce_type" and choice:
            value = topic.type_name.encode()  # mostly right: the payload gets parsed
        elif name == "ce_time" and choice:
            value = b"2026-12-01T12:00:00+00:00"
        else:
            value = r.take(64) if choice != 3 else None
        headers.append((name, value))
    value_bytes = r.rest() if r.byte() % 8 else None
    try:
        decode(topic, key, value_bytes, headers)
    except DecodeError:
        pass


def detect_image(data: bytes) -> None:
    from vigie_core.processing import PoisonError
    from vigie_detect.adapters.images import decode_image

    try:
        image = decode_image(data)
    except PoisonError:
        return
    assert image.ndim == 3 and image.shape[2] == 3


def ingest_media(data: bytes) -> None:
    from vigie_ingest.adapters.source import SourceError, SourceLimits, VideoSource

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "media.mp4"
        path.write_bytes(data)
        source = VideoSource(path.as_uri(), SourceLimits(Path(folder), max_width=4096,
                                                         max_height=4096))
        try:
            source.open()
            for n, frame in enumerate(source.frames()):
                assert frame.frame.width > 0 and frame.frame.height > 0
                if n >= 8:
                    break
        except SourceError:
            pass
        finally:
            source.close()


def ingest_upload_metadata(data: bytes) -> None:
    from google.protobuf.message import DecodeError
    from vigie.ingest.v1.ingest_service_pb2 import UploadMetadata
    from vigie_ingest.adapters.citizen import UploadRejected, check_metadata

    try:
        meta = UploadMetadata.FromString(data)
    except (DecodeError, RuntimeError):
        return
    try:
        check_metadata(meta)
    except UploadRejected:
        pass


def rules_yaml(data: bytes) -> None:
    from vigie_rules.domain.spec import RuleSpecError, load_rules

    try:
        rules = load_rules(data.decode("utf-8", errors="replace"), NOW)
    except RuleSpecError:
        return
    for rule in rules:
        assert rule.rule_id and (rule.kind or rule.kind_name)  # plug-in kinds: by name only


def rules_proto(data: bytes) -> None:
    from google.protobuf.message import DecodeError
    from vigie.rules.v1.rule_pb2 import Rule
    from vigie_rules.domain.spec import RuleSpecError, rule_from_proto, rule_problems

    try:
        rule = Rule.FromString(data)
    except (DecodeError, RuntimeError):
        return
    problems = rule_problems(rule)
    try:
        rule_from_proto(rule)
    except RuleSpecError:
        assert problems, "rule_from_proto refused a rule rule_problems finds nothing wrong with"
        return
    assert not problems, problems


TARGETS: dict[str, Callable[[bytes], None]] = {
    "codec_decode": codec_decode, "detect_image": detect_image, "ingest_media": ingest_media,
    "ingest_upload_metadata": ingest_upload_metadata, "rules_yaml": rules_yaml,
    "rules_proto": rules_proto,
}


# -- seeds -----------------------------------------------------------------------------------

@cache
def _image(fmt: str) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 200)).save(out, format=fmt)
    return out.getvalue()


@cache
def _video() -> bytes:
    import av
    import numpy as np

    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(5):
            pixels = np.full((48, 64, 3), 40 * i, np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def _golden() -> list[bytes]:
    return [p.read_bytes() for p in sorted((REPO / "tests/golden").glob("*.binpb"))]


def seeds(name: str) -> list[bytes]:
    """Valid inputs of a target (empty for none)."""
    if name == "codec_decode":
        # a Reader prefix picking topic 0..n, a key, right headers, then a golden payload
        out = []
        for i, payload in enumerate(_golden()):
            out.append(bytes([i, 1, 0, 3, 2, 1, 0, 2, 2, 1, 1, 0, 1, 65, 7]) + payload)
        return out
    findings = REPO / "tests/fuzz/findings"
    if name == "detect_image":
        return [_image("JPEG"), _image("PNG"), (findings / "detect-image-oom.png").read_bytes()]
    if name == "ingest_media":
        return [_video(), _image("JPEG"),
                (findings / "ingest-media-no-decoder.mp4").read_bytes(),
                (findings / "ingest-media-bad-metadata.mp4").read_bytes()]
    if name == "ingest_upload_metadata":
        from vigie.ingest.v1.ingest_service_pb2 import UploadMetadata

        meta = UploadMetadata(media_type="video/mp4", text="a report", filename="clip.mp4")
        meta.geo.lat_deg, meta.geo.lon_deg = 45.76, 4.83
        return [meta.SerializeToString()]
    if name == "rules_yaml":
        return [p.read_bytes() for p in sorted((REPO / "services/rules/examples").glob("*.yaml"))]
    if name == "rules_proto":
        from vigie_rules.domain.spec import load_rules

        return [rule.SerializeToString() for p in
                sorted((REPO / "services/rules/examples").glob("*.yaml"))
                for rule in load_rules(p.read_text(), NOW)]
    raise KeyError(name)


def mutate(seed: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    """`seed` with byte edits (position, kind, value): flip, insert, delete, truncate."""
    data = bytearray(seed)
    for position, kind, value in edits:
        if not data:
            data.append(value)
            continue
        i = position % len(data)
        if kind % 4 == 0:
            data[i] ^= 1 << (value % 8)
        elif kind % 4 == 1:
            data.insert(i, value)
        elif kind % 4 == 2:
            del data[i]
        else:
            del data[i:]
    return bytes(data)
