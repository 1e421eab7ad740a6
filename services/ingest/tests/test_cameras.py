"""Camera configurations: what is refused, and why."""

from __future__ import annotations

from pathlib import Path

import pytest
from vigie.camera.v1.camera_pb2 import SOURCE_KIND_FILE, SOURCE_KIND_HTTP, SOURCE_KIND_RTSP, Camera
from vigie_ingest.domain.cameras import CameraLimits, SourceRefused, camera_errors, check_source

MEDIA = Path("/srv/vigie/media")
LIMITS = CameraLimits(media_root=MEDIA)


def camera(**fields) -> Camera:
    base = dict(camera_id="gare-nord-1", name="Gare du Nord", sample_fps=5.0,
                source_url="rtsp://10.1.2.3:554/stream1")
    base.update(fields)
    return Camera(**base)


def test_a_sensible_camera_has_no_errors():
    cam = camera()
    cam.geo.lat_deg, cam.geo.lon_deg = 43.7, 7.26
    assert camera_errors(cam, LIMITS) == []


@pytest.mark.parametrize(("fields", "error"), [
    (dict(camera_id="Gare Nord"), "camera_id:"),
    (dict(camera_id=""), "camera_id:"),
    (dict(name="  "), "name: required"),
    (dict(sample_fps=0.0), "sample_fps:"),
    (dict(sample_fps=120.0), "sample_fps:"),
    (dict(sample_fps=float("nan")), "sample_fps:"),
    (dict(source_url="ftp://cam/stream"), "scheme 'ftp' is not allowed"),
    (dict(source_url="concat:/a.mp4|/b.mp4"), "scheme 'concat' is not allowed"),
    (dict(source_url="/srv/vigie/media/a.mp4"), "scheme '(none)' is not allowed"),
    (dict(source_url="rtsp://admin:secret@cam/stream"), "credentials must not be in the URL"),
    (dict(source_url="rtsp:///stream"), "no host"),
    (dict(source_url="file:///etc/passwd"), "must be under the media root"),
    (dict(source_url="file:///srv/vigie/media/../../etc/passwd"), "must be under the media root"),
    (dict(source_url="file://evil.example/srv/vigie/media/a.mp4"), "must be local"),
    (dict(source_url="rtsp://cam/stream -vf foo"), "whitespace"),
    (dict(analysis_max_width=8000), "analysis_max_width"),
])
def test_bad_configurations_are_refused_with_the_field_named(fields, error):
    errors = camera_errors(camera(**fields), LIMITS)
    assert any(error in e for e in errors), errors


def test_out_of_range_geo_is_refused():
    cam = camera()
    cam.geo.lat_deg, cam.geo.lon_deg = 91.0, 7.0
    assert camera_errors(cam, LIMITS) == [
        "geo: latitude must be in [-90, 90] and longitude in [-180, 180]"]


def test_file_sources_are_refused_when_no_media_root_is_configured():
    with pytest.raises(SourceRefused, match="file sources are disabled"):
        check_source("file:///srv/vigie/media/a.mp4", CameraLimits(media_root=None))


@pytest.mark.parametrize(("url", "kind"), [
    ("file:///srv/vigie/media/car%20park.mp4", SOURCE_KIND_FILE),
    ("rtsps://cam.example:322/live", SOURCE_KIND_RTSP),
    ("https://cam.example/live.m3u8", SOURCE_KIND_HTTP),
])
def test_allowed_sources_and_their_kind(url, kind):
    assert check_source(url, LIMITS) == kind
