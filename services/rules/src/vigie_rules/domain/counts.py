"""Per-frame class counts: the simplest observatory figure."""

from __future__ import annotations

from collections import Counter

from vigie.detect.v1.detection_pb2 import ObjectsDetected
from vigie.stats.v1.stats_pb2 import Count, CountsAggregated


def frame_counts(detected: ObjectsDetected) -> CountsAggregated:
    """Objects per class in one frame, as a window that starts and ends at the frame time."""
    per_class = Counter(d.class_name for d in detected.detections)
    counts = CountsAggregated(camera_id=detected.camera_id,
                              counts=[Count(key=f"class:{name}", value=n)
                                      for name, n in sorted(per_class.items())])
    counts.counts.append(Count(key="frames", value=1))
    counts.window.start.CopyFrom(detected.captured_at)
    counts.window.end.CopyFrom(detected.captured_at)
    return counts
