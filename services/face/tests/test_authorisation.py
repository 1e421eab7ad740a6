"""Privacy invariant 1: faces are processed only on authorised cameras, inside the authorisation
window, and never in no-biometrics mode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from vigie.camera.v1.camera_pb2 import PURPOSE_FACE_MATCHING, PURPOSE_TRAFFIC, Camera
from vigie_face.domain.authorisation import face_processing_refusal

START = datetime(2026, 2, 14, 14, 0, tzinfo=UTC)  # carnival parade, 14:00-18:00
END = START + timedelta(hours=4)


def camera(purposes=(PURPOSE_FACE_MATCHING,), reference="arrete-2026-041", window=True,
           enabled=True):
    cam = Camera(camera_id="cam-massena", enabled=enabled, purposes=list(purposes))
    cam.face_authorisation.reference = reference
    if window:
        cam.face_authorisation.window.start.FromDatetime(START)
        cam.face_authorisation.window.end.FromDatetime(END)
    return cam


@pytest.mark.parametrize(("cam", "at", "no_biometrics", "refusal"), [
    (camera(), START + timedelta(hours=1), False, None),
    (camera(), START, False, None),
    (camera(), END, False, "outside the authorisation window"),
    (camera(), START - timedelta(seconds=1), False, "outside the authorisation window"),
    (camera(), START + timedelta(hours=1), True, "no-biometrics mode"),
    (camera(purposes=[PURPOSE_TRAFFIC]), START + timedelta(hours=1), False,
     "camera not authorised for face matching"),
    (camera(reference=""), START + timedelta(hours=1), False, "no authorisation reference"),
    (camera(window=False), START + timedelta(hours=1), False, "no authorisation window"),
    (camera(enabled=False), START + timedelta(hours=1), False, "camera disabled"),
    (None, START + timedelta(hours=1), False, "unknown camera"),
])
def test_face_processing_needs_purpose_reference_window_and_biometrics_on(cam, at, no_biometrics,
                                                                          refusal):
    assert face_processing_refusal(cam, at, no_biometrics) == refusal
