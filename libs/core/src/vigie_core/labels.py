"""Class vocabularies shared by contract producers and consumers.

`Detection.class_name` and the rules' class filters speak COCO, plus the scene stage's two
classes: detect emits these names, rules validate against them. One copy here, since services
never import each other.
"""

COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)

STATIC_OBJECT = "static_object"
"""Not a COCO class: detect's scene stage found a region that came into the scene and stayed
still, whatever it is (Detection.class_id -1, with Detection.appeared_at)."""
REMOVED_OBJECT = "removed_object"
"""Neither: a region where something that was part of the scene is gone (class_id -2)."""
SCENE_CLASSES = frozenset({STATIC_OBJECT, REMOVED_OBJECT})
