"""Groups of COCO classes (`vigie_core.labels.COCO_CLASSES`) that rule kinds use by default."""

from __future__ import annotations

from vigie_core.labels import COCO_CLASSES

PERSON = "person"
VEHICLE_CLASSES = frozenset({"car", "truck", "bus", "motorcycle"})
"""Road vehicles: stationary vehicle, red light, and the vehicle that stops to dump."""
BAG_CLASSES = frozenset({"backpack", "handbag", "suitcase"})
WEAPON_CLASSES = frozenset({"knife"})

NOT_DUMPED = frozenset({
    PERSON, "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    # animals move by themselves
    "bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe",
    # street furniture is static and there before any vehicle stops
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench",
})
"""Classes that are never the dumped object of ILLEGAL_DUMPING."""
DUMPABLE_CLASSES = frozenset(COCO_CLASSES) - NOT_DUMPED
"""ILLEGAL_DUMPING's default objects: every other COCO class (bags, furniture, appliances...)."""
