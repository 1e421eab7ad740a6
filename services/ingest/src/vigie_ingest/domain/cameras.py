"""Camera configuration rules: what a camera may be, and where its source may point."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from vigie.camera.v1.camera_pb2 import (
    SOURCE_KIND_FILE,
    SOURCE_KIND_HTTP,
    SOURCE_KIND_RTSP,
    Camera,
    SourceKind,
)

CAMERA_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
SCHEMES: dict[str, SourceKind] = {
    "file": SOURCE_KIND_FILE, "rtsp": SOURCE_KIND_RTSP, "rtsps": SOURCE_KIND_RTSP,
    "http": SOURCE_KIND_HTTP, "https": SOURCE_KIND_HTTP,
}


class SourceRefused(ValueError):
    """A source URL that ingest will not open."""


@dataclass(frozen=True)
class CameraLimits:
    media_root: Path | None  # file:// sources must resolve below it; None refuses files
    max_sample_fps: float = 30.0
    max_analysis_width: int = 1920
    max_analysis_height: int = 1080


def source_kind(url: str) -> SourceKind:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in SCHEMES:
        raise SourceRefused(f"scheme {scheme or '(none)'!r} is not allowed; use one of "
                            f"{', '.join(sorted(SCHEMES))}")
    return SCHEMES[scheme]


def resolve_file(url: str, media_root: Path | None) -> Path:
    """The local path of a file:// URL, refused unless it resolves inside `media_root`."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise SourceRefused("file URLs must be local (file:///path)")
    if media_root is None:
        raise SourceRefused("file sources are disabled: set VIGIE_INGEST_MEDIA_ROOT")
    path = Path(unquote(parts.path)).resolve()
    root = media_root.resolve()
    if not path.is_relative_to(root):
        raise SourceRefused(f"file sources must be under the media root {root}")
    return path


def check_source(url: str, limits: CameraLimits) -> SourceKind:
    """The kind of source `url` is, or SourceRefused saying why it cannot be used."""
    if any(c in url for c in "\r\n\t ") or len(url) > 2048:
        raise SourceRefused("source URL contains whitespace or is longer than 2048 characters")
    kind = source_kind(url)
    parts = urlsplit(url)
    if kind == SOURCE_KIND_FILE:
        resolve_file(url, limits.media_root)
    elif not parts.hostname:
        raise SourceRefused("source URL has no host")
    if parts.password:
        raise SourceRefused("credentials must not be in the URL: use credentials_ref")
    return kind


def camera_errors(camera: Camera, limits: CameraLimits) -> list[str]:
    """Everything wrong with a camera configuration, as `field: problem` lines."""
    errors = []
    if not CAMERA_ID.match(camera.camera_id):
        errors.append("camera_id: 1-63 characters of a-z, 0-9, '.', '_', '-', starting with a "
                      "letter or digit")
    if not camera.name.strip():
        errors.append("name: required")
    try:
        check_source(camera.source_url, limits)
    except SourceRefused as exc:
        errors.append(f"source_url: {exc}")
    if not (0 < camera.sample_fps <= limits.max_sample_fps) or math.isnan(camera.sample_fps):
        errors.append(f"sample_fps: must be in (0, {limits.max_sample_fps:g}]")
    if camera.HasField("geo"):
        lat, lon = camera.geo.lat_deg, camera.geo.lon_deg
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            errors.append("geo: latitude must be in [-90, 90] and longitude in [-180, 180]")
    if camera.analysis_max_width > limits.max_analysis_width:
        errors.append(f"analysis_max_width: at most {limits.max_analysis_width}")
    if camera.analysis_max_height > limits.max_analysis_height:
        errors.append(f"analysis_max_height: at most {limits.max_analysis_height}")
    window = camera.face_authorisation.window
    if window.HasField("start") and window.HasField("end") and (
            window.end.ToNanoseconds() <= window.start.ToNanoseconds()):
        errors.append("face_authorisation.window: end must be after start")
    return errors
