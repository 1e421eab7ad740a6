"""`vigie cameras add|list|rm|accept-view`: the camera registry from a terminal, through
IngestService."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from pydantic import ValidationError
from vigie.camera.v1.camera_pb2 import Camera, Purpose
from vigie.ingest.v1 import ingest_service_pb2 as pb
from vigie.ingest.v1 import ingest_service_pb2_grpc as pb_grpc
from vigie_core.auth.rpc import call_metadata, sync_channel
from vigie_core.settings import CoreSettings

DEADLINE_S = 10.0


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
                      f"{camera.source_url}")
        if not (token := reply.next_page_token):
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
    add.set_defaults(func=cmd_add)
    listing = actions.add_parser("list", help="list cameras")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=cmd_list)
    rm = actions.add_parser("rm", help="remove a camera")
    rm.add_argument("camera_id")
    rm.set_defaults(func=cmd_rm)
    accept = actions.add_parser("accept-view", help="accept the camera's view as it now is as "
                                "its reference (after a move or a lasting scene change)")
    accept.add_argument("camera_id")
    accept.set_defaults(func=cmd_accept_view)
