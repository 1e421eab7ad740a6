"""`vigie cameras add|list|update|rm|accept-view`: the camera registry from a terminal, through
IngestService."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from pydantic import ValidationError
from vigie.camera.v1.camera_pb2 import (
    SLICING_MODE_FAR_FIELD,
    SLICING_MODE_NONE,
    SLICING_MODE_TILES,
    SLICING_MODE_UNSPECIFIED,
    Camera,
    Purpose,
    SlicingMode,
)
from vigie.common.v1.common_pb2 import BoundingBox
from vigie.ingest.v1 import ingest_service_pb2 as pb
from vigie.ingest.v1 import ingest_service_pb2_grpc as pb_grpc
from vigie_core.auth.rpc import call_metadata, sync_channel
from vigie_core.settings import CoreSettings

DEADLINE_S = 10.0
# --slicing: how detect slices a camera's frames for small, far objects; "default" (update only
# needs it: add leaves the mode unset) is detect's VIGIE_DETECT_SLICING.
SLICING: dict[str, SlicingMode] = {
    "default": SLICING_MODE_UNSPECIFIED, "none": SLICING_MODE_NONE, "tiles": SLICING_MODE_TILES,
    "far_field": SLICING_MODE_FAR_FIELD,
}
SLICING_NAMES = {v: k for k, v in SLICING.items()}
MAX_FAR_FIELD_REGIONS = 16  # as the Camera CRD: each one costs detect another inference per frame


def far_field_region(text: str) -> BoundingBox:
    """ "X0,Y0,X1,Y1" (fractions of the frame, 0..1, origin top-left) -> a BoundingBox."""
    try:
        x0, y0, x1, y1 = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not X0,Y0,X1,Y1 (four fractions of the frame, e.g. 0,0,1,0.4)") from None
    if not all(math.isfinite(v) and 0 <= v <= 1 for v in (x0, y0, x1, y1)):
        raise argparse.ArgumentTypeError(f"{text!r}: coordinates are fractions of the frame, "
                                         "between 0 and 1")
    if not (x0 < x1 and y0 < y1):
        raise argparse.ArgumentTypeError(f"{text!r}: needs X0 < X1 and Y0 < Y1 (left, top, "
                                         "right, bottom)")
    return BoundingBox(x_min=x0, y_min=y0, x_max=x1, y_max=y1)


def _check_slicing(parser: argparse.ArgumentParser, mode: str | None,
                   regions: list[BoundingBox]) -> None:
    if len(regions) > MAX_FAR_FIELD_REGIONS:
        parser.error(f"at most {MAX_FAR_FIELD_REGIONS} --far-field regions")
    if mode == "far_field" and not regions:
        parser.error("--slicing far_field needs at least one --far-field X0,Y0,X1,Y1 (the parts "
                     "of the frame to magnify)")


def slicing_text(camera: Camera) -> str:
    """The listing's slicing column: the mode ("-": detect's setting), and how many regions."""
    mode = SLICING_NAMES.get(camera.slicing_mode, str(camera.slicing_mode))
    text = "-" if mode == "default" else mode
    if n := len(camera.far_field_regions):
        text += f" ({n} region{'s' if n > 1 else ''})"
    return text


def _core() -> CoreSettings:
    try:
        return CoreSettings()
    except ValidationError as exc:
        sys.exit(f"vigie cameras: invalid settings: {exc}")


def _stub(args: argparse.Namespace) -> pb_grpc.IngestServiceStub:
    """TLS as configured (VIGIE_TLS_CA_FILE, VIGIE_TLS_CLIENT_CERT_FILE) for a remote
    endpoint; the credential is VIGIE_AUTH_TOKEN_FILE, or the embedded runtime's local token."""
    return pb_grpc.IngestServiceStub(  # type: ignore[no-untyped-call]
        sync_channel(args.endpoint, _core()))


def _call(fn: Callable[..., Any], request: Message) -> Any:
    try:
        return fn(request, timeout=DEADLINE_S, metadata=call_metadata(_core()))
    except grpc.RpcError as exc:
        hint = ""
        if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
            hint = (" (set VIGIE_AUTH_TOKEN_FILE to a file holding a token from `vigie tokens "
                    "create`, or run on the machine of `vigie run`)")
        sys.exit(f"vigie cameras: {exc.code().name}: {exc.details()}{hint}")
    except OSError as exc:
        sys.exit(f"vigie cameras: cannot read the token file: {exc}")


def cmd_add(args: argparse.Namespace) -> int:
    camera = Camera(camera_id=args.camera_id, name=args.name or args.camera_id,
                    source_url=args.source, sample_fps=args.fps, enabled=True,
                    purposes=[Purpose.Value(f"PURPOSE_{p.upper()}") for p in args.purpose])
    if args.lat is not None and args.lon is not None:
        camera.geo.lat_deg, camera.geo.lon_deg = args.lat, args.lon
    _check_slicing(args.parser, args.slicing, args.far_field)
    if args.slicing is not None:
        camera.slicing_mode = SLICING[args.slicing]
    camera.far_field_regions.extend(args.far_field)
    reply = _call(_stub(args).RegisterCamera, pb.RegisterCameraRequest(camera=camera))
    print(f"registered {reply.camera.camera_id}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    token = ""
    while True:
        reply = _call(_stub(args).ListCameras, pb.ListCamerasRequest(page_token=token))
        for camera in reply.cameras:
            if args.json:
                print(json_format.MessageToJson(camera, indent=None))
            else:
                geo = f"{camera.geo.lat_deg:.5f},{camera.geo.lon_deg:.5f}" if camera.HasField(
                    "geo") else "-"
                print(f"{camera.camera_id:24} {camera.sample_fps:5.1f} fps  {geo:22} "
                      f"{slicing_text(camera):22} {camera.source_url}")
        if not (token := reply.next_page_token):
            return 0


def cmd_update(args: argparse.Namespace) -> int:
    """Change the given fields only (UpdateCamera with them in the mask); the others stay."""
    if args.far_field and args.clear_far_field:
        args.parser.error("--far-field and --clear-far-field together: give one")
    request = pb.UpdateCameraRequest(camera=Camera(camera_id=args.camera_id))
    if args.slicing is not None:
        if args.slicing == "far_field" and args.clear_far_field:
            args.parser.error("--slicing far_field needs far-field regions: not with "
                              "--clear-far-field")
        request.camera.slicing_mode = SLICING[args.slicing]
        request.update_mask.paths.append("slicing_mode")
    if args.far_field or args.clear_far_field:
        if len(args.far_field) > MAX_FAR_FIELD_REGIONS:
            args.parser.error(f"at most {MAX_FAR_FIELD_REGIONS} --far-field regions")
        request.camera.far_field_regions.extend(args.far_field)  # replaces the camera's list
        request.update_mask.paths.append("far_field_regions")
    if not request.update_mask.paths:
        args.parser.error("nothing to update: give --slicing, --far-field or --clear-far-field")
    reply = _call(_stub(args).UpdateCamera, request)
    camera = reply.camera
    print(f"updated {camera.camera_id}: slicing {slicing_text(camera)}")
    if camera.slicing_mode == SLICING_MODE_FAR_FIELD and not camera.far_field_regions:
        print(f"vigie cameras: warning: {camera.camera_id} has slicing far_field but no far-field "
              "regions: detect infers its full frame only (add some with --far-field)",
              file=sys.stderr)
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    _call(_stub(args).RemoveCamera, pb.RemoveCameraRequest(camera_id=args.camera_id))
    print(f"removed {args.camera_id}")
    return 0


def cmd_accept_view(args: argparse.Namespace) -> int:
    """The camera's view as it now is becomes its reference (detect's scene stage relearns)."""
    camera = Camera(camera_id=args.camera_id)
    camera.view_accepted_at.GetCurrentTime()
    request = pb.UpdateCameraRequest(camera=camera)
    request.update_mask.paths.append("view_accepted_at")
    reply = _call(_stub(args).UpdateCamera, request)
    print(f"{reply.camera.camera_id}: view accepted as the reference at "
          f"{reply.camera.view_accepted_at.ToJsonString()}")
    return 0


def _slicing_options(parser: argparse.ArgumentParser, adding: bool) -> None:
    parser.add_argument(
        "--slicing", choices=[m for m in SLICING if m != "default" or not adding],
        help="how detect slices the frames for small, far objects: none (the full frame only), "
             "tiles (full frame + tiles over the frame, or over the far-field regions), "
             "far_field (full frame + each far-field region magnified)"
             + (", default (detect's VIGIE_DETECT_SLICING)" if not adding else
                "; unset: detect's VIGIE_DETECT_SLICING (none unless set)")
             + ". Each tile or region costs about one more inference per frame")
    parser.add_argument(
        "--far-field", action="append", default=[], type=far_field_region,
        metavar="X0,Y0,X1,Y1",
        help="a far-field region in fractions of the frame (0..1, origin top-left), e.g. "
             "0.3,0,0.7,0.35; repeat for several" + ("" if adding else
                                                     " (replaces the camera's regions)"))


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cameras = subparsers.add_parser("cameras", help="camera registry (through IngestService)")
    cameras.add_argument("--endpoint", default=os.environ.get("VIGIE_INGEST_ENDPOINT",
                                                              "127.0.0.1:50051"),
                         help="IngestService address (default: $VIGIE_INGEST_ENDPOINT or "
                              "127.0.0.1:50051)")
    actions = cameras.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="register a camera")
    add.add_argument("camera_id")
    add.add_argument("source", help="rtsp://, rtsps://, http(s):// or file:// URL")
    add.add_argument("--name")
    add.add_argument("--fps", type=float, default=5.0, help="sampling rate (frames/s)")
    add.add_argument("--lat", type=float)
    add.add_argument("--lon", type=float)
    add.add_argument("--purpose", action="append", default=[],
                     choices=["objects", "traffic", "crowd", "face_matching"])
    _slicing_options(add, adding=True)
    add.set_defaults(func=cmd_add, parser=add)
    listing = actions.add_parser("list", help="list cameras")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=cmd_list)
    update = actions.add_parser("update", help="change a camera's slicing mode and far-field "
                                "regions (the other fields stay)")
    update.add_argument("camera_id")
    _slicing_options(update, adding=False)
    update.add_argument("--clear-far-field", action="store_true",
                        help="remove the camera's far-field regions")
    update.set_defaults(func=cmd_update, parser=update)
    rm = actions.add_parser("rm", help="remove a camera")
    rm.add_argument("camera_id")
    rm.set_defaults(func=cmd_rm)
    accept = actions.add_parser("accept-view", help="accept the camera's view as it now is as "
                                "its reference (after a move or a lasting scene change)")
    accept.add_argument("camera_id")
    accept.set_defaults(func=cmd_accept_view)
