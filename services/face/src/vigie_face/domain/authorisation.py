"""Privacy invariant 1: face processing only where and while a camera's config authorises it,
and never in no-biometrics mode."""

from __future__ import annotations

from datetime import datetime

from vigie.camera.v1.camera_pb2 import PURPOSE_FACE_MATCHING, Camera


def face_processing_refusal(camera: Camera | None, at: datetime, no_biometrics: bool) -> str | None:
    """Why face processing is not allowed for `camera` at time `at`, or None when it is."""
    if no_biometrics:
        return "no-biometrics mode"
    if camera is None:
        return "unknown camera"
    if not camera.enabled:
        return "camera disabled"
    if PURPOSE_FACE_MATCHING not in camera.purposes:
        return "camera not authorised for face matching"
    authorisation = camera.face_authorisation
    if not authorisation.reference:
        return "no authorisation reference"
    window = authorisation.window
    if not (window.HasField("start") and window.HasField("end")):
        return "no authorisation window"
    if not window.start.ToDatetime(at.tzinfo) <= at < window.end.ToDatetime(at.tzinfo):
        return "outside the authorisation window"
    return None
