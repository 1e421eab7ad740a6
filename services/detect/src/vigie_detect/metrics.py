"""Prometheus metrics of the detect service (bounded labels only)."""

from prometheus_client import Counter, Histogram

FRAMES = Counter("vigie_detect_frames_total", "Frames received, by outcome "
                 "(analysed, skipped_no_motion, rejected).", ["outcome"])
OBJECTS = Counter("vigie_detect_objects_total", "Objects detected.")
BATCH_SIZE = Histogram("vigie_detect_batch_size", "Frames per inference batch.",
                       buckets=(1, 2, 4, 8, 16, 32, 64))
INFERENCE_SECONDS = Histogram("vigie_detect_inference_seconds", "Model time per batch.")
STATIC_OBJECTS = Counter("vigie_detect_static_objects_total", "Still objects the scene stage "
                         "emitted (one per frame each is seen on).")
VIEW_CHANGES = Counter("vigie_detect_view_changes_total", "View problems the scene stage "
                       "confirmed, by problem (VIEW_PROBLEM_UNSPECIFIED: back to normal).",
                       ["problem"])
