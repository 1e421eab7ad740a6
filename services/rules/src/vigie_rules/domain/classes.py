"""Groups of COCO classes (`vigie_core.labels.COCO_CLASSES`) that rule kinds use by default, and
the scene stage's classes."""

from __future__ import annotations

from vigie_core.labels import COCO_CLASSES

PERSON = "person"
VEHICLE_CLASSES = frozenset({"car", "truck", "bus", "motorcycle"})
"""Road vehicles: stationary vehicle, red light, and the vehicle that stops to dump."""
BAG_CLASSES = frozenset({"backpack", "handbag", "suitcase"})
WEAPON_CLASSES = frozenset({"knife"})
STATIC_OBJECT = "static_object"
"""Not a COCO class: a region that detect's scene stage found appeared in the scene and stayed
still, whatever it is. Its track id is the region's (from 2**40 up), its Detection.appeared_at
(`Obj.appeared_ms`) when it first differed from the background; it is emitted only once it has
stayed still some seconds, so it is first seen that long after it appeared."""
REMOVED_OBJECT = "removed_object"
"""Not a COCO class either: a region of the scene stage where something that was part of the
scene is gone (a bench taken away): the background's outline, not the frame's."""
SCENE_CLASSES = frozenset({STATIC_OBJECT, REMOVED_OBJECT})
"""The scene stage's classes: a rule sees them only when it names them or its kind defaults to
them ("every class" is every class of the model)."""
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
