"""Synthetic camera streams for rules tests: people walking through a zone and over a counting
line, as ObjectsDetected frames, with the alerts a clean sequential run of the pure engine gives."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable, Sequence

from PIL import Image, ImageDraw
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.common.v1.common_pb2 import BoundingBox, Point
from vigie.detect.v1.detection_pb2 import Detection, ObjectsDetected
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie.rules.v1.rule_pb2 import Direction, Line, Rule, RuleGeometry, RuleKind, RuleThresholds
from vigie_rules.domain.engine import CameraState, evaluate

T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z, aligned on a counting window
STEP_MS = 100  # 10 frames per second


def cameras(n: int, prefix: str = "cam") -> list[str]:
    run = uuid.uuid4().hex[:6]
    return [f"{prefix}-{run}-{i}" for i in range(n)]


def rules_for(camera_id: str) -> list[Rule]:
    """A zone on the right half (intrusion) and a vertical counting line in the middle that
    alerts every 3 crossings a window."""
    zone = [Point(x=0.55, y=0.0), Point(x=1.0, y=0.0), Point(x=1.0, y=1.0), Point(x=0.55, y=1.0)]
    return [
        Rule(rule_id=f"{camera_id}-zone", name="right half", camera_id=camera_id, enabled=True,
             kind=RuleKind.RULE_KIND_ZONE_INTRUSION, class_names=["person"],
             geometry=RuleGeometry(zone=zone)),
        Rule(rule_id=f"{camera_id}-line", name="middle line", camera_id=camera_id, enabled=True,
             kind=RuleKind.RULE_KIND_LINE_CROSSING,
             geometry=RuleGeometry(line=Line(start=Point(x=0.5, y=0.0),
                                             end=Point(x=0.5, y=1.0))),
             thresholds=RuleThresholds(min_count=3)),
    ]


def walkers(camera_id: str, frames: int, *, every: int = 12, speed: float = 0.02,
            offset: int = 0) -> list[ObjectsDetected]:
    """A person enters on the left every `every` frames and walks right at `speed` per frame;
    track ids are unique per person."""
    out = []
    for i in range(frames):
        detections = []
        for person in range(i // every + 1):
            x = 0.02 + (i - person * every) * speed
            if not 0.0 < x < 0.98:
                continue
            y = 0.3 + 0.05 * (person % 8)
            detections.append(Detection(
                box=BoundingBox(x_min=x - 0.02, y_min=y - 0.12, x_max=x + 0.02, y_max=y),
                confidence=0.9, class_name="person", class_id=0, track_id=person + 1))
        t = T0_MS + (offset + i) * STEP_MS
        frame = ObjectsDetected(frame_id=f"{camera_id}:{t * 1000}", camera_id=camera_id,
                                image_width=640, image_height=480, model_id="synthetic",
                                detections=detections)
        frame.captured_at.FromMilliseconds(t)
        out.append(frame)
    return out


def clean_run(frames: Iterable[ObjectsDetected], rules: Sequence[Rule]) -> dict[str, AlertRaised]:
    """Alerts by id of one sequential pass of the pure engine, camera by camera."""
    states: dict[str, CameraState] = {}
    alerts: dict[str, AlertRaised] = {}
    for frame in frames:
        state = states.get(frame.camera_id) or CameraState(camera_id=frame.camera_id)
        states[frame.camera_id], raised, _ = evaluate(state, rules, frame)
        alerts.update((a.alert_id, a) for a in raised)
    return alerts


def lamp_frame(camera_id: str, t_ms: int, lit: str) -> FrameSampled:
    """A 320x240 street frame, dark grey, with a signal head at the top right whose red or
    green lamp is lit."""
    image = Image.new("RGB", (320, 240), (60, 62, 65))
    draw = ImageDraw.Draw(image)
    draw.rectangle((270, 10, 290, 70), fill=(20, 20, 20))  # the signal head
    colour = {"red": (255, 40, 30), "green": (40, 255, 90)}[lit]
    centre = 20 if lit == "red" else 60
    draw.ellipse((274, centre - 7, 286, centre + 7), fill=colour)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    frame = FrameSampled(frame_id=f"{camera_id}:{t_ms * 1000}", camera_id=camera_id,
                         jpeg=out.getvalue(), width=320, height=240)
    frame.captured_at.FromMilliseconds(t_ms)
    return frame


def car_frame(camera_id: str, t_ms: int, y: float) -> ObjectsDetected:
    f = ObjectsDetected(frame_id=f"{camera_id}:{t_ms * 1000}", camera_id=camera_id,
                        image_width=320, image_height=240, detections=[Detection(
                            box=BoundingBox(x_min=0.4, y_min=y - 0.15, x_max=0.5, y_max=y),
                            confidence=0.9, class_name="car", track_id=7)])
    f.captured_at.FromMilliseconds(t_ms)
    return f


def red_light_rule(camera_id: str) -> Rule:
    return Rule(rule_id=f"{camera_id}-red", name="stop line", camera_id=camera_id, enabled=True,
                kind=RuleKind.RULE_KIND_RED_LIGHT,
                geometry=RuleGeometry(line=Line(start=Point(x=0.1, y=0.6),
                                                end=Point(x=0.9, y=0.6)),
                                      direction=Direction(dx=0.0, dy=-1.0),
                                      signal_region=BoundingBox(x_min=0.83, y_min=0.03,
                                                                x_max=0.92, y_max=0.3)))
