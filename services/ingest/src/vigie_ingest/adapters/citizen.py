"""Citizen media: uploaded clips and photos become frames (source=citizen) and a report.

The upload is streamed to disk under a size cap, named by its SHA-256 (the same file uploaded
twice is the same report), decoded under a duration cap, and kept as evidence, with a small
sidecar (`<report_id>.json`: SHA-256, size, media type, when received). Anything that is not
decodable video or image is refused with the reason, and nothing is published for it.

Retention (DESIGN invariant 6): `expired` lists the uploads received longer ago than the
retention, `delete` removes one (media and sidecar) and returns the `Deletion` the service then
records in its audit trail (SHA-256 and dates of what was deleted).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vigie.camera.v1.camera_pb2 import SOURCE_KIND_CITIZEN
from vigie.common.v1.common_pb2 import GeoPoint
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie.ingest.v1.ingest_service_pb2 import UploadMetadata
from vigie.ingest.v1.report_pb2 import ReportChannel, ReportReceived
from vigie_core.hashing import file_sha256
from vigie_core.retention import Deletion, due

from vigie_ingest import metrics
from vigie_ingest.adapters.runner import (
    FramePipeline,
    RunnerSettings,
    _Activity,
    decode_into,
    frame_event,
    start_decoder,
)
from vigie_ingest.adapters.source import SourceError, SourceLimits, VideoSource
from vigie_ingest.domain.sampling import FrameGate

log = logging.getLogger(__name__)

MEDIA_TYPES = ("video/", "image/jpeg", "image/png")
MAX_TEXT = 2000


class UploadRejected(ValueError):
    def __init__(self, message: str, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


def check_metadata(meta: UploadMetadata) -> None:
    if not meta.HasField("geo"):
        raise UploadRejected("geo is required: where was this filmed?")
    if not (-90 <= meta.geo.lat_deg <= 90 and -180 <= meta.geo.lon_deg <= 180):
        raise UploadRejected("geo: latitude must be in [-90, 90] and longitude in [-180, 180]")
    if not meta.media_type.startswith(MEDIA_TYPES):
        raise UploadRejected(f"media_type {meta.media_type!r} is not accepted: send video/*, "
                             "image/jpeg or image/png")
    if len(meta.text) > MAX_TEXT:
        raise UploadRejected(f"text longer than {MAX_TEXT} characters")


def citizen_camera_id(report_id: str) -> str:
    return f"citizen-{report_id}"


@dataclass(frozen=True)
class StoredUpload:
    """A citizen upload kept as evidence."""

    report_id: str
    path: Path
    received_at: datetime
    sha256: str  # empty when no sidecar recorded it (computed at deletion)
    size_bytes: int
    media_type: str


class CitizenMedia:
    def __init__(self, evidence_dir: Path, max_bytes: int, max_duration_s: float,
                 settings: RunnerSettings, publish_frame: Callable[[FrameSampled], Awaitable[Any]],
                 publish_report: Callable[[ReportReceived], Awaitable[Any]]) -> None:
        self.evidence_dir = evidence_dir
        self.max_bytes, self.max_duration_s = max_bytes, max_duration_s
        self.settings = settings
        self.publish_frame, self.publish_report = publish_frame, publish_report

    async def upload(self, meta: UploadMetadata, chunks: AsyncIterator[bytes],
                     channel: int = ReportChannel.REPORT_CHANNEL_UPLOAD) -> tuple[str, int]:
        """Store, decode and publish an upload; returns (report_id, frames published)."""
        check_metadata(meta)
        self.evidence_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.evidence_dir, prefix=".upload-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise UploadRejected(f"upload larger than {self.max_bytes} bytes",
                                             too_large=True)
                    digest.update(chunk)
                    await asyncio.to_thread(out.write, chunk)
            if size == 0:
                raise UploadRejected("empty upload")
            report_id = "rpt-" + digest.hexdigest()[:24]
            stored = self.evidence_dir / f"{report_id}.media"
            await asyncio.to_thread(tmp.replace, stored)
        finally:
            await asyncio.to_thread(tmp.unlink, missing_ok=True)
        received = datetime.now(UTC)
        await asyncio.to_thread(self._write_sidecar, report_id, digest.hexdigest(), size,
                                meta.media_type, received)
        try:
            frames = await self._publish_frames(stored, report_id, meta.geo, received)
        except SourceError as exc:
            stored.unlink(missing_ok=True)
            self._sidecar(report_id).unlink(missing_ok=True)
            raise UploadRejected(f"not a usable video or image: {exc}") from None
        report = ReportReceived(report_id=report_id, text=meta.text, channel=channel,  # type: ignore[arg-type]
                                reporter=meta.reporter[:100])
        report.received_at.FromDatetime(received)
        report.geo.CopyFrom(meta.geo)
        report.media.uri = stored.as_uri()
        report.media.sha256 = digest.hexdigest()
        report.media.media_type = meta.media_type
        report.media.size_bytes = size
        report.media.captured_at.FromDatetime(received)
        await self.publish_report(report)
        metrics.REPORTS.labels("upload").inc()
        log.info("citizen upload %s: %d bytes, %d frames", report_id, size, frames)
        return report_id, frames

    # -- evidence kept, and its retention ---------------------------------------------------------
    def _sidecar(self, report_id: str) -> Path:
        return self.evidence_dir / f"{report_id}.json"

    def _write_sidecar(self, report_id: str, sha256: str, size: int, media_type: str,
                       received: datetime) -> None:
        """The first receipt counts: the same media uploaded again keeps its first date."""
        path = self._sidecar(report_id)
        if path.exists():
            return
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"report_id": report_id, "sha256": sha256,
                                   "size_bytes": size, "media_type": media_type,
                                   "received_at": received.isoformat()}))
        os.chmod(tmp, 0o600)
        tmp.replace(path)

    def stored(self) -> list[StoredUpload]:
        """Every upload kept (the file's modification time when its sidecar is missing)."""
        out: list[StoredUpload] = []
        if not self.evidence_dir.is_dir():
            return out
        for media in sorted(self.evidence_dir.glob("rpt-*.media")):
            report_id = media.stem
            try:
                meta = json.loads(self._sidecar(report_id).read_text())
                received = datetime.fromisoformat(meta["received_at"])
                out.append(StoredUpload(report_id, media, received, str(meta["sha256"]),
                                        int(meta["size_bytes"]), str(meta["media_type"])))
            except (OSError, ValueError, KeyError, TypeError):
                try:
                    stat = media.stat()
                except OSError:
                    continue
                out.append(StoredUpload(report_id, media,
                                        datetime.fromtimestamp(stat.st_mtime, UTC), "",
                                        stat.st_size, ""))
        return out

    def expired(self, retention: timedelta, now: datetime) -> list[StoredUpload]:
        return [u for u in self.stored() if due(u.received_at, retention, now)]

    def delete(self, upload: StoredUpload, retention: timedelta) -> Deletion:
        """Delete an upload (media and sidecar); the proof to record in the audit trail. The
        SHA-256 is the one computed at upload, checked against the file when it is there."""
        digest = upload.sha256
        found = upload.path.exists()
        if found:
            actual = file_sha256(upload.path)
            if digest and actual != digest:
                log.warning("citizen upload %s changed on disk since it was received",
                            upload.report_id)
            digest = actual
        upload.path.unlink(missing_ok=True)
        self._sidecar(upload.report_id).unlink(missing_ok=True)
        return Deletion("citizen-upload", upload.report_id, f"report:{upload.report_id}",
                        "citizen upload", "evidence retention",
                        camera_id=citizen_camera_id(upload.report_id), sha256=digest,
                        size_bytes=upload.size_bytes, captured_at=upload.received_at,
                        expired_at=upload.received_at + retention, retention=retention,
                        file_found=found,
                        extra={"media_type": upload.media_type} if upload.media_type else {})

    async def _publish_frames(self, path: Path, report_id: str, geo: GeoPoint,
                              started: datetime) -> int:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue(maxsize=4)
        gate = FrameGate(self.settings.sample_fps, min_motion=0.0, keepalive_s=1e9)
        source = VideoSource(path.as_uri(), SourceLimits(media_root=path.parent))
        stop = start_decoder(loop, queue, decode_into, source, FramePipeline(gate, self.settings),
                             _Activity(), self.max_duration_s)
        frames: list[FrameSampled] = []
        try:
            while (item := await queue.get())[0] != "end":
                if item[0] == "error":
                    raise item[1]
                if item[0] == "frame":
                    frames.append(frame_event(citizen_camera_id(report_id), len(frames), started,
                                              item[1], SOURCE_KIND_CITIZEN, geo, report_id))
        finally:
            stop.set()
        if not frames:
            raise SourceError("no decodable frame", permanent=True)
        for frame in frames:  # published only once the whole media decoded within its caps
            await self.publish_frame(frame)
        metrics.PUBLISHED.labels("citizen").inc(len(frames))
        return len(frames)
