"""Groups of COCO classes (`vigie_core.labels.COCO_CLASSES`) that rule kinds use by default, and
the scene stage's classes."""

from __future__ import annotations

from vigie_core.labels import COCO_CLASSES
from vigie_core.labels import REMOVED_OBJECT as REMOVED_OBJECT
from vigie_core.labels import SCENE_CLASSES as SCENE_CLASSES
from vigie_core.labels import STATIC_OBJECT as STATIC_OBJECT

PERSON = "person"
VEHICLE_CLASSES = frozenset({"car", "truck", "bus", "motorcycle"})
"""Road vehicles: stationary vehicle, red light, and the vehicle that stops to dump."""
BAG_CLASSES = frozenset({"backpack", "handbag", "suitcase"})
WEAPON_CLASSES = frozenset({"knife"})
# static_object: its track id is the region's (from 2**40 up), its Detection.appeared_at
# (`Obj.appeared_ms`) when it first differed from the background; it is emitted only once it
# has stayed still some seconds, so first seen that long after it appeared. A rule sees the
# scene classes only when it names them or its kind defaults to them.
STATIC_LAG_MS = 12_000
"""How long after appeared_at a region may first be seen (the scene stage waits about 4 s by
default, and a passer-by may hide it meanwhile): kinds that look back to appeared_at keep at
least this much of the past."""

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
