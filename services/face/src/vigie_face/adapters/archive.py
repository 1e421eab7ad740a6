"""What SearchArchive examines: frames still retained on vigie.frames.v1 for the cameras and
time range asked, and archived videos from the evidence store, sampled at a few frames/s.

Items are yielded one at a time (decoded lazily), each with the event time and an evidence
reference a hit can point at. Nothing here keeps what it decoded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse

import cv2
import numpy as np
from vigie.common.v1.common_pb2 import EvidenceRef
from vigie.face.v1.face_service_pb2 import ArchivedVideo
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie_core.bus.base import Record
from vigie_core.codec import DecodeError, decode
from vigie_core.hashing import file_sha256
from vigie_core.topics import FRAMES
from vigie_face.adapters.engine import Image


class ArchiveError(ValueError):
    pass


@dataclass
class Item:
    camera_id: str
    captured_at: datetime
    load: object  # () -> Image | None
    evidence: EvidenceRef


def frame_items(records: list[Record], cameras: set[str], start: datetime,
                end: datetime) -> list[Item]:
    items = []
    for record in records:
        try:
            frame = decode(FRAMES, record.key, record.value, record.headers).message
        except DecodeError:
            continue
        if not isinstance(frame, FrameSampled) or frame.camera_id not in cameras:
            continue
        at = frame.captured_at.ToDatetime(start.tzinfo)
        if not start <= at < end:
            continue
        if frame.HasField("evidence") and frame.evidence.uri:
            ref = EvidenceRef()
            ref.CopyFrom(frame.evidence)
        else:
            ref = EvidenceRef(uri=f"kafka:{record.topic}/{record.partition}@{record.offset}",
                              sha256=hashlib.sha256(frame.jpeg).hexdigest(),
                              media_type="image/jpeg", size_bytes=len(frame.jpeg))
            ref.captured_at.CopyFrom(frame.captured_at)
        jpeg = frame.jpeg

        def load(jpeg: bytes = jpeg) -> Image | None:
            image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            return None if image is None else image.astype(np.uint8, copy=False)

        items.append(Item(frame.camera_id, at, load, ref))
    items.sort(key=lambda i: (i.captured_at, i.camera_id))
    return items


def video_path(video: ArchivedVideo, evidence_root: Path) -> Path:
    """The local file of an archived video, refused unless it is inside the evidence store."""
    parsed = urlparse(video.evidence.uri)
    if parsed.scheme != "file":
        raise ArchiveError(f"video {video.evidence.uri!r}: only file:// URIs of the evidence "
                           "store are supported")
    path = Path(unquote(parsed.path)).resolve()
    root = evidence_root.resolve()
    if not path.is_relative_to(root):
        raise ArchiveError(f"video {path.name}: not inside the evidence store ({root})")
    if not path.is_file():
        raise ArchiveError(f"video {path.name}: no such file in the evidence store")
    if not video.evidence.HasField("captured_at"):
        raise ArchiveError(f"video {path.name}: evidence.captured_at is required")
    if video.evidence.sha256:
        if file_sha256(path) != video.evidence.sha256.lower():
            raise ArchiveError(f"video {path.name}: sha256 does not match the evidence "
                               "reference (altered evidence)")
    return path


def video_frames(path: Path, video: ArchivedVideo, fps: float, start: datetime, end: datetime,
                 limit: int) -> Iterator[tuple[datetime, Image]]:
    """Frames of the video at about `fps`, inside [start, end), at most `limit`."""
    origin = video.evidence.captured_at.ToDatetime(start.tzinfo)
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ArchiveError(f"video {path.name}: cannot be decoded")
    try:
        next_s = 0.0
        yielded = 0
        for _ in range(10_000_000):
            ok = capture.grab()
            if not ok:
                break
            pos_s = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if pos_s + 1e-6 < next_s:
                continue
            next_s = pos_s + 1.0 / fps
            at = origin + timedelta(seconds=pos_s)
            if at >= end:
                break
            if at < start:
                continue
            ok, image = capture.retrieve()
            if not ok:
                continue
            yield at, np.ascontiguousarray(image, dtype=np.uint8)
            yielded += 1
            if yielded >= limit:
                break
    finally:
        capture.release()
