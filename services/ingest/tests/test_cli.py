"""`vigie cameras add|update|list` and a camera's slicing (mode, far-field regions): what reaches
IngestService, what the listing shows, and the options refused before any call. A stub records the
requests (tests/integration/test_cli.py runs the commands against a running ingest)."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import field_mask_pb2
from vigie.camera.v1.camera_pb2 import (
    SLICING_MODE_FAR_FIELD,
    SLICING_MODE_TILES,
    SLICING_MODE_UNSPECIFIED,
    Camera,
)
from vigie.ingest.v1 import ingest_service_pb2 as pb
from vigie_core.cli import main
from vigie_ingest import cli

Capture = pytest.CaptureFixture[str]


class Registry:
    """IngestService's camera RPCs over a dict, update masks applied as ingest applies them."""

    def __init__(self) -> None:
        self.cameras: dict[str, Camera] = {}
        self.requests: list[Any] = []

    def RegisterCamera(self, request: pb.RegisterCameraRequest) -> pb.RegisterCameraResponse:
        self.requests.append(request)
        self.cameras[request.camera.camera_id] = request.camera
        return pb.RegisterCameraResponse(camera=request.camera)

    def UpdateCamera(self, request: pb.UpdateCameraRequest) -> pb.UpdateCameraResponse:
        self.requests.append(request)
        camera = Camera()
        camera.CopyFrom(self.cameras[request.camera.camera_id])
        mask = field_mask_pb2.FieldMask(paths=list(request.update_mask.paths))
        assert mask.IsValidForDescriptor(Camera.DESCRIPTOR)
        mask.MergeMessage(request.camera, camera, replace_repeated_field=True,
                          replace_message_field=True)
        self.cameras[camera.camera_id] = camera
        return pb.UpdateCameraResponse(camera=camera)

    def ListCameras(self, request: pb.ListCamerasRequest) -> pb.ListCamerasResponse:
        return pb.ListCamerasResponse(cameras=list(self.cameras.values()))


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Registry:
    fake = Registry()
    monkeypatch.setattr(cli, "_stub", lambda args: fake)
    monkeypatch.setattr(cli, "_call", lambda fn, request: fn(request))
    return fake


def boxes(camera: Camera) -> list[tuple[float, ...]]:
    return [(r.x_min, r.y_min, r.x_max, r.y_max) for r in camera.far_field_regions]


def test_add_sets_the_slicing_mode_and_far_field_regions(registry: Registry,
                                                         capsys: Capture) -> None:
    assert main(["cameras", "add", "cam-1", "rtsp://h/s", "--slicing", "far_field",
                 "--far-field", "0.25,0,0.75,0.5", "--far-field", "0,0.5,0.5,1"]) == 0
    camera = registry.requests[-1].camera
    assert camera.slicing_mode == SLICING_MODE_FAR_FIELD
    assert boxes(camera) == [(0.25, 0, 0.75, 0.5), (0, 0.5, 0.5, 1)]
    assert main(["cameras", "list"]) == 0
    assert "far_field (2 regions)" in capsys.readouterr().out


def test_add_without_slicing_leaves_it_to_detect(registry: Registry, capsys: Capture) -> None:
    assert main(["cameras", "add", "cam-1", "rtsp://h/s"]) == 0
    camera = registry.requests[-1].camera
    assert camera.slicing_mode == SLICING_MODE_UNSPECIFIED and boxes(camera) == []
    assert main(["cameras", "list", "--json"]) == 0
    assert "slicingMode" not in capsys.readouterr().out


def test_update_changes_only_what_it_is_given(registry: Registry, capsys: Capture) -> None:
    main(["cameras", "add", "cam-1", "rtsp://h/s", "--fps", "2", "--far-field", "0,0,1,0.5"])
    assert main(["cameras", "update", "cam-1", "--slicing", "tiles"]) == 0
    request = registry.requests[-1]
    assert list(request.update_mask.paths) == ["slicing_mode"]
    camera = registry.cameras["cam-1"]
    assert camera.slicing_mode == SLICING_MODE_TILES and camera.sample_fps == 2
    assert boxes(camera) == [(0, 0, 1, 0.5)]  # kept
    assert "updated cam-1: slicing tiles (1 region)" in capsys.readouterr().out

    assert main(["cameras", "update", "cam-1", "--far-field", "0.5,0,1,0.25"]) == 0
    assert list(registry.requests[-1].update_mask.paths) == ["far_field_regions"]
    assert boxes(registry.cameras["cam-1"]) == [(0.5, 0, 1, 0.25)]  # replaced, not appended

    assert main(["cameras", "update", "cam-1", "--slicing", "default", "--clear-far-field"]) == 0
    assert sorted(registry.requests[-1].update_mask.paths) == ["far_field_regions",
                                                               "slicing_mode"]
    camera = registry.cameras["cam-1"]
    assert camera.slicing_mode == SLICING_MODE_UNSPECIFIED and boxes(camera) == []
    assert "updated cam-1: slicing -" in capsys.readouterr().out


def test_far_field_without_regions_after_an_update_is_pointed_out(registry: Registry,
                                                                  capsys: Capture) -> None:
    main(["cameras", "add", "cam-1", "rtsp://h/s"])
    assert main(["cameras", "update", "cam-1", "--slicing", "far_field"]) == 0
    assert "detect infers its full frame only" in capsys.readouterr().err


@pytest.mark.parametrize("argv, expected", [
    (["add", "c", "rtsp://h/s", "--slicing", "sahi"], "argument --slicing: invalid choice: 'sahi'"),
    (["add", "c", "rtsp://h/s", "--slicing", "default"], "invalid choice: 'default'"),
    (["add", "c", "rtsp://h/s", "--far-field", "0,0,1"], "'0,0,1' is not X0,Y0,X1,Y1"),
    (["add", "c", "rtsp://h/s", "--far-field", "a,0,1,1"], "is not X0,Y0,X1,Y1"),
    (["add", "c", "rtsp://h/s", "--far-field", "0,0,1.2,1"], "between 0 and 1"),
    (["add", "c", "rtsp://h/s", "--far-field=-0.1,0,1,1"], "between 0 and 1"),
    (["add", "c", "rtsp://h/s", "--far-field", "0,0,nan,1"], "between 0 and 1"),
    (["add", "c", "rtsp://h/s", "--far-field", "0.5,0,0.5,1"], "needs X0 < X1 and Y0 < Y1"),
    (["add", "c", "rtsp://h/s", "--far-field", "0,0.8,1,0.2"], "needs X0 < X1 and Y0 < Y1"),
    (["add", "c", "rtsp://h/s", "--slicing", "far_field"],
     "--slicing far_field needs at least one --far-field"),
    (["add", "c", "rtsp://h/s", *["--far-field", "0,0,1,1"] * 17], "at most 16 --far-field"),
    (["update", "c"], "nothing to update"),
    (["update", "c", "--far-field", "0,0,1,1", "--clear-far-field"], "give one"),
    (["update", "c", "--slicing", "far_field", "--clear-far-field"],
     "--slicing far_field needs far-field regions"),
])
def test_invalid_slicing_options_are_refused_before_any_call(
        registry: Registry, capsys: Capture, argv: list[str], expected: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["cameras", *argv])
    assert exited.value.code == 2
    assert expected in capsys.readouterr().err
    assert registry.requests == []
