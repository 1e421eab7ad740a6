"""Which faces a snapshot must blur (DESIGN invariant 7), and what logs may say.

Every detected face is blurred, except, on a face-match alert, the face of the matched person:
the face box the alert carries (the face service's face_box). For each such box at most one
detected face is kept: among the faces whose centre lies inside the box and which overlap it by
at least half their own area, the one that fits the box best (highest intersection over union),
with its duplicates (detections overlapping it by more than half).
Every other face, bystanders included (even one standing right behind the matched person), is
blurred. Boxes are normalised (0..1) like the contracts'.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.rules.v1.rule_pb2 import RuleKind


@dataclass(frozen=True)
class Box:
    x_min: float
    y_min: float
    x_max: float
    y_max: float

    @property
    def area(self) -> float:
        return max(0.0, self.x_max - self.x_min) * max(0.0, self.y_max - self.y_min)

    def intersection(self, other: Box) -> float:
        w = min(self.x_max, other.x_max) - max(self.x_min, other.x_min)
        h = min(self.y_max, other.y_max) - max(self.y_min, other.y_min)
        return max(0.0, w) * max(0.0, h)

    def contains_point(self, x: float, y: float) -> bool:
        return self.x_min <= x <= self.x_max and self.y_min <= y <= self.y_max

    def padded(self, fraction: float) -> Box:
        dx = (self.x_max - self.x_min) * fraction
        dy = (self.y_max - self.y_min) * fraction
        return Box(max(0.0, self.x_min - dx), max(0.0, self.y_min - dy),
                   min(1.0, self.x_max + dx), min(1.0, self.y_max + dy))


def _fits(face: Box, box: Box) -> bool:
    cx, cy = (face.x_min + face.x_max) / 2, (face.y_min + face.y_max) / 2
    return face.area > 0 and box.contains_point(cx, cy) and box.intersection(face) \
        >= 0.5 * face.area


def _iou(a: Box, b: Box) -> float:
    inter = a.intersection(b)
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def faces_to_blur(faces: Sequence[Box], matched: Sequence[Box], face_match: bool) -> list[Box]:
    """The faces to blur: all of them, except the matched person's on a face-match alert."""
    if not face_match:
        return list(faces)
    kept: set[int] = set()
    for box in matched:
        candidates = [i for i, f in enumerate(faces) if _fits(f, box)]
        if candidates:
            best = faces[max(candidates, key=lambda i: _iou(faces[i], box))]
            # the same face found twice (whole frame and enlarged crop) is the same face
            kept.update(i for i in candidates if _iou(faces[i], best) > 0.5)
    return [f for i, f in enumerate(faces) if i not in kept]


HEAD_FRACTION = 0.2  # the top fifth of an upright person's box holds the head


def head_regions(boxes: Sequence[Box], person: bool, face_match: bool) -> list[Box]:
    """On alerts about people (not face matches), the head area of each upright person box,
    obscured even when the face detector finds no face there (turned or tiny faces)."""
    if face_match or not person:
        return []
    heads = []
    for b in boxes:
        height, width = b.y_max - b.y_min, b.x_max - b.x_min
        if height > 0 and height >= width:  # upright; a person lying down is left to YuNet
            heads.append(Box(b.x_min, b.y_min, b.x_max, b.y_min + HEAD_FRACTION * height))
    return heads


LEGACY_PERSON_KINDS = frozenset({
    RuleKind.RULE_KIND_LOITERING, RuleKind.RULE_KIND_CROWD_DENSITY,
    RuleKind.RULE_KIND_CROWD_MOVEMENT, RuleKind.RULE_KIND_PERSON_ON_GROUND})
"""Legacy: the built-in kinds about people, for alerts raised before AlertRaised carried
involves_persons (and rule_kind_name, which every newer alert has). Do not extend it: a rule
kind says whether its alerts involve persons by setting the field."""


def involves_persons(alert: AlertRaised) -> bool:
    """Whether the alert is about people, so its snapshot gets the head-area blur: the rule kind
    says so on the alert (involves_persons), or the object it fired on was a person; an alert
    from before the field existed (no rule_kind_name either) falls back on its built-in kind."""
    if alert.involves_persons or alert.attributes.get("class_name") == "person":
        return True
    return not alert.rule_kind_name and alert.rule_kind in LEGACY_PERSON_KINDS


def redact_phone(number: str) -> str:
    """A phone number as logs and the console may show it: +33******78."""
    if len(number) <= 4:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 5) + number[-2:]
