"""Camera resources -> `vigie.camera.v1.Camera`.

The spec uses the protobuf field names (source_url, sample_fps, face_authorisation, ...) with
friendlier values: purposes and source kinds in lower case without their enum prefix, durations as
"30d" / "72h" / "1h30m", times as RFC 3339. The checks are those ingest applies to a camera that
does not need the machine it runs on (file:// sources must still resolve under ingest's media root,
which only ingest can check), plus the privacy rule that face matching needs an authorisation.
Far-field regions are boxes normalised to the frame ({x_min, y_min, x_max, y_max} in 0..1), checked
here as detect would otherwise ignore them (with a warning in its log, not in the resource).
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from google.protobuf.duration_pb2 import Duration
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from vigie.camera.v1.camera_pb2 import (
    PURPOSE_CROWD,
    PURPOSE_FACE_MATCHING,
    PURPOSE_OBJECTS,
    PURPOSE_TRAFFIC,
    SLICING_MODE_FAR_FIELD,
    SLICING_MODE_NONE,
    SLICING_MODE_TILES,
    SOURCE_KIND_FILE,
    SOURCE_KIND_HTTP,
    SOURCE_KIND_RTSP,
    Camera,
    Purpose,
    SlicingMode,
    SourceKind,
)

from vigie_controller.domain.resources import Resource

CAMERA_ID = r"^[a-z0-9][a-z0-9._-]{0,62}$"
_CAMERA_ID = re.compile(CAMERA_ID)
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")

PURPOSES: dict[str, Purpose] = {
    "objects": PURPOSE_OBJECTS, "traffic": PURPOSE_TRAFFIC, "crowd": PURPOSE_CROWD,
    "face_matching": PURPOSE_FACE_MATCHING,
}
SOURCE_KINDS: dict[str, SourceKind] = {
    "file": SOURCE_KIND_FILE, "rtsp": SOURCE_KIND_RTSP, "http": SOURCE_KIND_HTTP,
}
SCHEMES: dict[str, str] = {
    "file": "file", "rtsp": "rtsp", "rtsps": "rtsp", "http": "http", "https": "http",
}
SLICING_MODES: dict[str, SlicingMode] = {
    "none": SLICING_MODE_NONE, "tiles": SLICING_MODE_TILES, "far_field": SLICING_MODE_FAR_FIELD,
}
MAX_FAR_FIELD_REGIONS = 16  # each one costs detect at least one more inference per frame

PurposeName = Literal["objects", "traffic", "crowd", "face_matching"]
SlicingName = Literal["none", "tiles", "far_field"]


def parse_duration(text: str) -> timedelta:
    """ "30d", "72h", "1h30m", "45s" -> timedelta; ValueError otherwise (zero included)."""
    match = _DURATION.match(text.strip().lower())
    if not text or match is None or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration like 30d, 72h, 1h30m or 45s")
    d, h, m, s = (int(g) if g else 0 for g in match.groups())
    value = timedelta(days=d, hours=h, minutes=m, seconds=s)
    if value <= timedelta(0):
        raise ValueError("a retention must be positive")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GeoSpec(_Model):
    """Where the camera is (WGS 84)."""

    lat_deg: float = Field(ge=-90, le=90, description="Latitude in decimal degrees.")
    lon_deg: float = Field(ge=-180, le=180, description="Longitude in decimal degrees.")
    accuracy_m: float | None = Field(None, ge=0, description="Horizontal accuracy radius, metres.")


class WindowSpec(_Model):
    """A time window [start, end)."""

    start: datetime = Field(description="Start (RFC 3339, with a time zone).")
    end: datetime = Field(description="End (RFC 3339, with a time zone).")

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give a time zone (e.g. 2026-01-01T08:00:00Z or +01:00)")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> WindowSpec:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class FaceAuthorisationSpec(_Model):
    """The legal act that authorises face matching on the camera, and its window."""

    reference: str = Field(min_length=1, max_length=200,
                           description='Reference of the authorising act, e.g. "ARRETE-2025-0412".')
    window: WindowSpec = Field(description="Face matching runs only inside this window.")


class RegionSpec(_Model):
    """A far-field region: a box normalised to the frame (0..1, origin top-left, y downwards)."""

    x_min: float = Field(ge=0, le=1, description="Left edge, a fraction of the frame's width.")
    y_min: float = Field(ge=0, le=1, description="Top edge, a fraction of the frame's height.")
    x_max: float = Field(ge=0, le=1, description="Right edge, a fraction of the frame's width.")
    y_max: float = Field(ge=0, le=1, description="Bottom edge, a fraction of the frame's height.")

    @model_validator(mode="after")
    def _not_empty(self) -> RegionSpec:
        if not (self.x_min < self.x_max and self.y_min < self.y_max):
            raise ValueError("a far-field region needs x_min < x_max and y_min < y_max")
        return self


class CameraSpec(_Model):
    """A Camera resource's spec."""

    camera_id: str | None = Field(None, pattern=CAMERA_ID,
                                  description="Camera id and Kafka key; default the resource name.")
    name: str | None = Field(None, max_length=200,
                             description="Name shown to operators; default the resource name.")
    source_url: str = Field(max_length=2048, description="rtsp(s)://, http(s):// or file:// URL "
                                                         "without credentials.")
    source_kind: Literal["file", "rtsp", "http"] | None = Field(
        None, description="Source type; derived from the URL scheme when unset.")
    geo: GeoSpec | None = Field(None, description="Where the camera is.")
    sample_fps: float = Field(5.0, gt=0, le=30, description="Frames per second sampled.")
    analysis_max_width: int = Field(0, ge=0, le=1920, description="Frame width cap, pixels "
                                                                  "(0: ingest's default).")
    analysis_max_height: int = Field(0, ge=0, le=1080, description="Frame height cap, pixels "
                                                                   "(0: ingest's default).")
    purposes: list[PurposeName] = Field(default_factory=lambda: list[PurposeName](["objects"]),
                                        description="Analyses the camera is authorised for.")
    face_authorisation: FaceAuthorisationSpec | None = Field(
        None, description="Required with the face_matching purpose.")
    evidence_retention: str | None = Field(None, description="Evidence kept this long, e.g. 30d.")
    frame_retention: str | None = Field(None, description="Sampled frames kept this long, e.g. 1h.")
    enabled: bool = Field(True, description="Disabled cameras are configured but not ingested.")
    labels: dict[str, str] = Field(default_factory=dict, description="Grouping labels.")
    credentials_ref: str = Field("", max_length=253,
                                 description="Secret holding the stream credentials.")
    view_accepted_at: datetime | None = Field(
        None, description="The view as it is from this time on is the camera's reference "
                          "(RFC 3339): detect's scene stage learns it afresh (after a move).")
    slicing_mode: SlicingName | None = Field(
        None, description="How detect slices the frames for small, far objects: none (full frame "
                          "only), tiles (full frame + tiles over the frame or the far-field "
                          "regions), far_field (full frame + each far-field region magnified); "
                          "unset: detect's VIGIE_DETECT_SLICING (none by default).")
    far_field_regions: list[RegionSpec] = Field(
        default_factory=list, max_length=MAX_FAR_FIELD_REGIONS,
        description="Parts of the frame where objects are small and far (normalised boxes): "
                    "magnified with far_field, tiled with tiles.")

    @field_validator("view_accepted_at")
    @classmethod
    def _aware_time(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("needs a time zone (RFC 3339)")
        return value

    @field_validator("sample_fps")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @field_validator("source_url")
    @classmethod
    def _source(cls, url: str) -> str:
        if any(c in url for c in "\r\n\t ") or not url:
            raise ValueError("must be a URL without whitespace")
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise ValueError(f"scheme {scheme or '(none)'!r} is not allowed; use one of "
                             f"{', '.join(sorted(SCHEMES))}")
        if parts.username or parts.password:
            raise ValueError("credentials must not be in the URL: use credentials_ref")
        if scheme == "file":
            if parts.netloc not in ("", "localhost"):
                raise ValueError("file URLs must be local (file:///path)")
        elif not parts.hostname:
            raise ValueError("has no host")
        return url

    @field_validator("purposes")
    @classmethod
    def _once(cls, value: list[PurposeName]) -> list[PurposeName]:
        if len(set(value)) != len(value):
            raise ValueError("a purpose is listed twice")
        return value

    @field_validator("evidence_retention", "frame_retention")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CameraSpec:
        scheme_kind = SCHEMES[urlsplit(self.source_url).scheme.lower()]
        if self.source_kind is not None and self.source_kind != scheme_kind:
            raise ValueError(f"source_kind {self.source_kind} does not match the URL scheme "
                             f"({scheme_kind})")
        if "face_matching" in self.purposes and self.face_authorisation is None:
            raise ValueError("face_matching needs face_authorisation (the authorising act and "
                             "its window)")
        if self.slicing_mode == "far_field" and not self.far_field_regions:
            raise ValueError("slicing_mode far_field needs far_field_regions (the parts of the "
                             "frame to magnify)")
        return self


def _duration_pb(value: timedelta) -> Duration:
    d = Duration()
    d.FromTimedelta(value)
    return d


def _path(loc: tuple[int | str, ...]) -> str:
    out = "spec"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def problems_of(exc: ValidationError) -> list[str]:
    """One "spec.field: what is wrong" line per problem."""
    out = []
    for error in exc.errors():
        message = "unknown field" if error["type"] == "extra_forbidden" else (
            "required" if error["type"] == "missing" else error["msg"])
        message = message.removeprefix("Value error, ")
        out.append(f"{_path(tuple(error['loc']))}: {message}")
    return out


def camera_key(resource: Resource) -> str | None:
    """The key the resource claims on vigie.cameras.v1, if it is a valid camera id."""
    raw: Any = resource.spec.get("camera_id") or resource.name
    return raw if isinstance(raw, str) and _CAMERA_ID.match(raw) else None


def camera_from_resource(resource: Resource) -> tuple[Camera | None, list[str]]:
    """(the Camera, []) or (None, problems). `updated_by` names the resource; `updated_at` is left
    for the publisher to stamp."""
    try:
        spec = CameraSpec.model_validate(dict(resource.spec))
    except ValidationError as exc:
        return None, problems_of(exc)
    camera_id = spec.camera_id or resource.name
    if not _CAMERA_ID.match(camera_id):
        return None, [f"metadata.name: {camera_id!r} is not a camera id (1-63 of a-z, 0-9, '.', "
                      "'_', '-'): set spec.camera_id"]
    camera = Camera(
        camera_id=camera_id,
        name=spec.name or resource.name,
        source_url=spec.source_url,
        source_kind=SOURCE_KINDS[spec.source_kind or SCHEMES[urlsplit(spec.source_url)
                                                            .scheme.lower()]],
        sample_fps=spec.sample_fps,
        analysis_max_width=spec.analysis_max_width,
        analysis_max_height=spec.analysis_max_height,
        purposes=[PURPOSES[p] for p in spec.purposes],
        enabled=spec.enabled,
        labels=spec.labels,
        updated_by=resource.owner,
        credentials_ref=spec.credentials_ref,
    )
    if spec.geo is not None:
        camera.geo.lat_deg, camera.geo.lon_deg = spec.geo.lat_deg, spec.geo.lon_deg
        if spec.geo.accuracy_m is not None:
            camera.geo.accuracy_m = spec.geo.accuracy_m
    if spec.face_authorisation is not None:
        auth = camera.face_authorisation
        auth.reference = spec.face_authorisation.reference
        auth.window.start.FromDatetime(spec.face_authorisation.window.start)
        auth.window.end.FromDatetime(spec.face_authorisation.window.end)
    if spec.evidence_retention is not None:
        camera.evidence_retention.CopyFrom(_duration_pb(parse_duration(spec.evidence_retention)))
    if spec.frame_retention is not None:
        camera.frame_retention.CopyFrom(_duration_pb(parse_duration(spec.frame_retention)))
    if spec.view_accepted_at is not None:
        camera.view_accepted_at.FromDatetime(spec.view_accepted_at)
    if spec.slicing_mode is not None:
        camera.slicing_mode = SLICING_MODES[spec.slicing_mode]
    for region in spec.far_field_regions:
        camera.far_field_regions.add(x_min=region.x_min, y_min=region.y_min,
                                     x_max=region.x_max, y_max=region.y_max)
    return camera, []
