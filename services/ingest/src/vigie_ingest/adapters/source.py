"""Opening and decoding video with PyAV, with every FFmpeg option chosen here, never by users."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import av.error
from vigie.camera.v1.camera_pb2 import SOURCE_KIND_FILE, SOURCE_KIND_HTTP, SOURCE_KIND_RTSP

from vigie_ingest.domain.cameras import SourceRefused, resolve_file, source_kind

PROTOCOLS = {
    SOURCE_KIND_FILE: "file",
    SOURCE_KIND_RTSP: "rtsp,rtsps,rtp,tcp,udp,tls",
    SOURCE_KIND_HTTP: "http,https,tcp,tls,crypto,hls",
}
# A file, an HTTP or RTSP error that retrying cannot mend.
PERMANENT = (av.error.FileNotFoundError, av.error.PermissionError, av.error.IsADirectoryError,
             av.error.HTTPNotFoundError, av.error.HTTPForbiddenError,
             av.error.HTTPUnauthorizedError, av.error.ProtocolNotFoundError,
             av.error.DemuxerNotFoundError, av.error.DecoderNotFoundError)


class SourceError(Exception):
    """Opening or reading a source failed; `permanent` says whether retrying can help."""

    def __init__(self, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class SourceLimits:
    media_root: Path | None
    open_timeout_s: float = 10.0
    read_timeout_s: float = 5.0
    max_width: int = 7680
    max_height: int = 4320


@dataclass(frozen=True)
class Decoded:
    pts_s: float
    frame: av.VideoFrame


def _target(url: str, limits: SourceLimits) -> tuple[str, dict[str, str]]:
    kind = source_kind(url)
    options = {"protocol_whitelist": PROTOCOLS[kind]}
    if kind == SOURCE_KIND_FILE:
        return str(resolve_file(url, limits.media_root)), options
    if kind == SOURCE_KIND_RTSP:
        options.update(rtsp_transport="tcp", rtsp_flags="prefer_tcp")
    return url, options


class VideoSource:
    """One connection to a source; iterate `frames()` in a worker thread (it blocks)."""

    def __init__(self, url: str, limits: SourceLimits) -> None:
        self.url, self.limits = url, limits
        self._container: Any = None
        self.kind = SOURCE_KIND_FILE

    def open(self) -> None:
        try:
            self.kind = source_kind(self.url)
            target, options = _target(self.url, self.limits)
            timeout = None if self.kind == SOURCE_KIND_FILE else (
                self.limits.open_timeout_s, self.limits.read_timeout_s)
            # metadata_errors: found by fuzzing, metadata that is not UTF-8 raised
            # UnicodeDecodeError out of av.open; ingest never reads it anyway
            self._container = av.open(target, options=options, timeout=timeout,
                                      metadata_errors="replace")
        except SourceRefused as exc:
            raise SourceError(str(exc), permanent=True) from None
        except av.error.FFmpegError as exc:
            permanent = isinstance(exc, PERMANENT) or (
                self.kind == SOURCE_KIND_FILE and isinstance(exc, av.error.InvalidDataError))
            raise SourceError(f"cannot open source: {_describe(exc)}", permanent) from None
        if not self._container.streams.video:
            self.close()
            raise SourceError("no video stream in source", permanent=True)
        stream = self._container.streams.video[0]
        if stream.codec_context is None:  # found by fuzzing: a stream FFmpeg has no decoder for
            self.close()
            raise SourceError("video stream with no decoder", permanent=True)
        width, height = stream.codec_context.width, stream.codec_context.height
        if width > self.limits.max_width or height > self.limits.max_height:
            self.close()
            raise SourceError(f"frame size {width}x{height} exceeds "
                              f"{self.limits.max_width}x{self.limits.max_height}", permanent=True)
        stream.thread_type = "AUTO"

    def frames(self) -> Iterator[Decoded]:
        """Decoded frames with their stream time in seconds; ends at end of stream."""
        stream = self._container.streams.video[0]
        first: float | None = None
        try:
            for frame in self._container.decode(stream):
                if frame.width > self.limits.max_width or frame.height > self.limits.max_height:
                    raise SourceError(f"frame size {frame.width}x{frame.height} exceeds the cap",
                                      permanent=True)
                if frame.pts is None or frame.time_base is None:
                    continue
                pts_s = float(frame.pts * frame.time_base)
                first = pts_s if first is None else first
                yield Decoded(pts_s - first, frame)
        except av.error.FFmpegError as exc:
            permanent = self.kind == SOURCE_KIND_FILE and not isinstance(exc, av.error.EOFError)
            raise SourceError(f"read failed: {_describe(exc)}", permanent) from None

    def close(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            except av.error.FFmpegError:
                pass
            self._container = None


def _describe(exc: av.error.FFmpegError) -> str:
    """FFmpeg's message without the URL (which may carry a host name of a private network)."""
    return f"{type(exc).__name__}: {exc.strerror or exc}"
