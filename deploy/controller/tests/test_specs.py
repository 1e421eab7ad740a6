"""Camera and Rule specs -> the protos on the topics (tables), and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from vigie.camera.v1.camera_pb2 import (
    PURPOSE_CROWD,
    PURPOSE_FACE_MATCHING,
    PURPOSE_OBJECTS,
    SLICING_MODE_FAR_FIELD,
    SLICING_MODE_TILES,
    SLICING_MODE_UNSPECIFIED,
    SOURCE_KIND_FILE,
    SOURCE_KIND_HTTP,
    SOURCE_KIND_RTSP,
)
from vigie_controller.domain.cameras import camera_from_resource, parse_duration
from vigie_controller.domain.resources import Resource, parse_owner
from vigie_controller.domain.rules import rule_from_resource
from vigie_rules.domain.spec import load_rules

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def res(spec: dict[str, Any], name: str = "cam-1", status: dict[str, Any] | None = None,
        generation: int = 1) -> Resource:
    return Resource("Camera", "city", name, "u1", generation, "1", NOW, spec, status or {})


@pytest.mark.parametrize("url, kind", [
    ("rtsp://10.0.0.5:554/s1", SOURCE_KIND_RTSP),
    ("rtsps://cam.example/s1", SOURCE_KIND_RTSP),
    ("https://cam.example/mjpeg", SOURCE_KIND_HTTP),
    ("http://cam.example/snapshot.jpg", SOURCE_KIND_HTTP),
    ("file:///media/clips/demo.mp4", SOURCE_KIND_FILE),
])
def test_source_kind_follows_the_scheme(url: str, kind: int) -> None:
    camera, problems = camera_from_resource(res({"source_url": url}))
    assert problems == []
    assert camera is not None and camera.source_kind == kind


def test_every_field_reaches_the_proto() -> None:
    spec = {
        "camera_id": "cam-bellecour-01", "name": "Bellecour", "source_url": "rtsp://h/s",
        "geo": {"lat_deg": 45.7578, "lon_deg": 4.832, "accuracy_m": 3},
        "sample_fps": 2.5, "analysis_max_width": 1280, "analysis_max_height": 720,
        "purposes": ["objects", "crowd", "face_matching"],
        "face_authorisation": {"reference": "ARRETE-2026-0412",
                               "window": {"start": "2026-12-01T08:00:00+01:00",
                                          "end": "2026-12-01T20:00:00+01:00"}},
        "evidence_retention": "30d", "frame_retention": "1h30m", "enabled": False,
        "labels": {"district": "2e"}, "credentials_ref": "bellecour-rtsp",
        "view_accepted_at": "2026-12-07T10:00:00+01:00",
        "slicing_mode": "far_field",
        "far_field_regions": [{"x_min": 0.25, "y_min": 0, "x_max": 0.75, "y_max": 0.5},
                              {"x_min": 0, "y_min": 0.125, "x_max": 0.5, "y_max": 1}],
    }
    camera, problems = camera_from_resource(res(spec, name="anything"))
    assert problems == [] and camera is not None
    assert (camera.camera_id, camera.name, camera.source_url) == ("cam-bellecour-01",
                                                                  "Bellecour", "rtsp://h/s")
    assert (camera.geo.lat_deg, camera.geo.lon_deg, camera.geo.accuracy_m) == (45.7578, 4.832, 3)
    assert camera.sample_fps == 2.5
    assert (camera.analysis_max_width, camera.analysis_max_height) == (1280, 720)
    assert list(camera.purposes) == [PURPOSE_OBJECTS, PURPOSE_CROWD, PURPOSE_FACE_MATCHING]
    auth = camera.face_authorisation
    assert auth.reference == "ARRETE-2026-0412"
    assert auth.window.start.ToDatetime(tzinfo=UTC) == datetime(2026, 12, 1, 7, tzinfo=UTC)
    assert auth.window.end.ToDatetime(tzinfo=UTC) == datetime(2026, 12, 1, 19, tzinfo=UTC)
    assert camera.evidence_retention.ToTimedelta() == timedelta(days=30)
    assert camera.frame_retention.ToTimedelta() == timedelta(hours=1, minutes=30)
    assert camera.enabled is False
    assert dict(camera.labels) == {"district": "2e"}
    assert camera.view_accepted_at.ToDatetime(tzinfo=UTC) == datetime(2026, 12, 7, 9, tzinfo=UTC)
    assert camera.slicing_mode == SLICING_MODE_FAR_FIELD
    assert [(r.x_min, r.y_min, r.x_max, r.y_max) for r in camera.far_field_regions] == [
        (0.25, 0, 0.75, 0.5), (0, 0.125, 0.5, 1)]
    assert camera.credentials_ref == "bellecour-rtsp"
    assert parse_owner(camera.updated_by) == ("city", "anything")


def test_defaults_come_from_the_resource_and_the_crd() -> None:
    camera, problems = camera_from_resource(res({"source_url": "rtsp://h/s"}, name="cam-9"))
    assert problems == [] and camera is not None
    assert (camera.camera_id, camera.name, camera.sample_fps, camera.enabled) == (
        "cam-9", "cam-9", 5.0, True)
    assert list(camera.purposes) == [PURPOSE_OBJECTS]
    assert not camera.HasField("geo") and not camera.HasField("face_authorisation")
    assert camera.slicing_mode == SLICING_MODE_UNSPECIFIED  # detect's VIGIE_DETECT_SLICING
    assert list(camera.far_field_regions) == []


def test_tiles_may_cover_the_whole_frame_or_the_far_field_regions() -> None:
    whole, problems = camera_from_resource(res({"source_url": "rtsp://h/s",
                                                "slicing_mode": "tiles"}))
    assert problems == [] and whole is not None
    assert whole.slicing_mode == SLICING_MODE_TILES and list(whole.far_field_regions) == []
    region = {"x_min": 0, "y_min": 0, "x_max": 1, "y_max": 0.5}
    top, problems = camera_from_resource(res({"source_url": "rtsp://h/s",
                                              "slicing_mode": "tiles",
                                              "far_field_regions": [region]}))
    assert problems == [] and top is not None
    assert [(r.x_min, r.y_min, r.x_max, r.y_max) for r in top.far_field_regions] == [
        (0, 0, 1, 0.5)]


@pytest.mark.parametrize("spec, name, expected", [
    ({"source_url": "rtsp://user:secret@h/s"}, "c", "spec.source_url: credentials must not be"),
    ({"source_url": "ftp://h/s"}, "c", "scheme 'ftp' is not allowed"),
    ({"source_url": "rtsp:///s"}, "c", "spec.source_url: has no host"),
    ({"source_url": "file://nas/clips/a.mp4"}, "c", "file URLs must be local"),
    ({"source_url": "rtsp://h/s", "sample_fps": 0}, "c", "spec.sample_fps"),
    ({"source_url": "rtsp://h/s", "sample_fps": 60}, "c", "spec.sample_fps"),
    ({"source_url": "rtsp://h/s", "purposes": ["face_matching"]}, "c",
     "face_matching needs face_authorisation"),
    ({"source_url": "rtsp://h/s", "purposes": ["objects", "objects"]}, "c", "listed twice"),
    ({"source_url": "rtsp://h/s", "face_authorisation": {
        "reference": "A", "window": {"start": "2026-12-02T00:00:00Z",
                                     "end": "2026-12-01T00:00:00Z"}}}, "c",
     "end must be after start"),
    ({"source_url": "rtsp://h/s", "evidence_retention": "30 days"}, "c",
     "spec.evidence_retention"),
    ({"source_url": "rtsp://h/s", "source_kind": "http"}, "c", "does not match the URL scheme"),
    ({"source_url": "rtsp://h/s", "fps": 5}, "c", "spec.fps: unknown field"),
    ({"source_url": "rtsp://h/s", "geo": {"lat_deg": 91, "lon_deg": 0}}, "c", "spec.geo.lat_deg"),
    ({"source_url": "rtsp://h/s"}, "Cam.Upper", "metadata.name"),
    ({"source_url": "rtsp://h/s", "slicing_mode": "sahi"}, "c",
     "spec.slicing_mode: Input should be 'none', 'tiles' or 'far_field'"),
    ({"source_url": "rtsp://h/s", "slicing_mode": "far_field"}, "c",
     "far_field needs far_field_regions"),
    ({"source_url": "rtsp://h/s", "far_field_regions": [
        {"x_min": 0.5, "y_min": 0, "x_max": 0.5, "y_max": 1}]}, "c",
     "spec.far_field_regions[0]: a far-field region needs x_min < x_max and y_min < y_max"),
    ({"source_url": "rtsp://h/s", "far_field_regions": [
        {"x_min": 0, "y_min": 0, "x_max": 1, "y_max": 0.5},
        {"x_min": 0, "y_min": 0.6, "x_max": 1.2, "y_max": 1}]}, "c",
     "spec.far_field_regions[1].x_max: Input should be less than or equal to 1"),
    ({"source_url": "rtsp://h/s", "far_field_regions": [
        {"x_min": -0.1, "y_min": 0, "x_max": 1, "y_max": 1}]}, "c",
     "spec.far_field_regions[0].x_min: Input should be greater than or equal to 0"),
    ({"source_url": "rtsp://h/s", "far_field_regions": [
        {"x_min": 0, "y_min": 0, "x_max": 1}]}, "c", "spec.far_field_regions[0].y_max: required"),
    ({"source_url": "rtsp://h/s", "far_field_regions": [
        {"x_min": 0, "y_min": 0, "x_max": 1, "y_max": 1}] * 17}, "c",
     "spec.far_field_regions: List should have at most 16 items"),
])
def test_refused_cameras_say_which_field(spec: dict[str, Any], name: str, expected: str) -> None:
    camera, problems = camera_from_resource(res(spec, name=name))
    assert camera is None
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize("text, expected", [
    ("30d", timedelta(days=30)), ("72h", timedelta(hours=72)), ("1h30m", timedelta(minutes=90)),
    ("45s", timedelta(seconds=45)),
])
def test_retention_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "0s", "1w", "h", "-1d"])
def test_bad_retention_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


RULE_FILE = """\
rule_id: loiter-bellecour-north
name: Loitering at the north entrance
camera_id: cam-bellecour-01
kind: loitering
severity: high
zone: [[0.1, 0.5], [0.45, 0.5], [0.45, 0.95], [0.1, 0.95]]
max_dwell_s: 120
classes: [person]
schedule:
  time_zone: Europe/Paris
  windows: [{days: [mon, tue, wed, thu, fri], start: "18:00", end: "06:00"}]
  duration: 2h
"""


def test_a_rule_resource_is_the_rule_file_under_spec() -> None:
    """The same document as `vigie rules add` reads gives the same Rule (but its writer)."""
    import yaml

    spec = yaml.safe_load(RULE_FILE)
    r = Resource("Rule", "city", "loiter-bellecour-north", "u", 1, "1", NOW, spec, {})
    rule, problems, extra = rule_from_resource(r, NOW)
    assert problems == [] and rule is not None
    (expected,) = load_rules(RULE_FILE, NOW, created_by="k8s:city/loiter-bellecour-north")
    assert rule == expected
    assert extra == {"anchor": "2026-11-30T09:00:00Z", "validUntil": "2026-11-30T11:00:00Z"}


def test_rule_id_and_name_default_to_the_resource_name() -> None:
    spec = {"camera_id": "c", "kind": "zone_intrusion", "zone": [[0, 0], [1, 0], [1, 1]]}
    r = Resource("Rule", "city", "intrusion-quai", "u", 1, "1", NOW, spec, {})
    rule, problems, _ = rule_from_resource(r, NOW)
    assert problems == [] and rule is not None
    assert (rule.rule_id, rule.name) == ("intrusion-quai", "intrusion-quai")


def test_rule_anchor_is_reused_only_for_the_same_generation() -> None:
    spec = {"camera_id": "c", "kind": "zone_intrusion", "zone": [[0, 0], [1, 0], [1, 1]],
            "schedule": {"duration": "1h"}}
    status = {"observedGeneration": 3, "anchor": "2026-11-30T07:00:00Z"}
    same = Resource("Rule", "city", "r", "u", 3, "1", NOW, spec, status)
    rule, _, extra = rule_from_resource(same, NOW)
    assert rule is not None and extra["validUntil"] == "2026-11-30T08:00:00Z"
    newer = Resource("Rule", "city", "r", "u", 4, "1", NOW, spec, status)
    rule, _, extra = rule_from_resource(newer, NOW)
    assert rule is not None and extra["validUntil"] == "2026-11-30T10:00:00Z"
