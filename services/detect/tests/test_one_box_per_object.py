"""One object, one box: a partial box inside a more confident box of the same NMS group goes
(it would become a second track that enters zones on its own); other boxes stay."""

from __future__ import annotations

import numpy as np
import pytest
from vigie_detect.adapters.detector import OneBoxPerObject
from vigie_detect.domain.detections import Detections, suppress_nested

CAR, TRUCK, PERSON = 2, 7, 0
GROUP_OF = np.arange(80, dtype=np.int64)
GROUP_OF[[2, 5, 7]] = 2  # car, bus, truck: one NMS group


def found(*rows: tuple[float, float, float, float, float, int]) -> Detections:
    data = np.array(rows, np.float64).reshape(-1, 6)
    return Detections(data[:, :4], data[:, 4], data[:, 5].astype(np.int64))


CASES = [
    # (boxes, kept indexes, why)
    ([(600, 180, 720, 290, 0.53, CAR), (640, 190, 700, 255, 0.32, CAR)], [0],
     "the motorway's partial box inside a car (IoU 0.3, NMS keeps it)"),
    ([(600, 180, 720, 290, 0.53, CAR), (640, 190, 700, 255, 0.32, TRUCK)], [0],
     "a truck box inside a car box: one vehicle group"),
    ([(600, 180, 720, 290, 0.53, CAR), (640, 190, 700, 255, 0.32, PERSON)], [0, 1],
     "a person in front of a car is another object"),
    ([(640, 190, 700, 255, 0.9, CAR), (600, 180, 720, 290, 0.4, CAR)], [0],
     "the less confident box goes, even when it is the larger"),
    ([(0, 0, 100, 200, 0.8, PERSON), (60, 20, 160, 220, 0.7, PERSON)], [0, 1],
     "two people side by side, half overlapping"),
    ([(0, 0, 100, 200, 0.8, PERSON), (10, 10, 90, 190, 0.1, PERSON),
      (300, 0, 400, 200, 0.6, PERSON)], [0, 2], "order and the others are kept"),
]


@pytest.mark.parametrize(("rows", "kept", "why"), CASES, ids=[c[2] for c in CASES])
def test_nested_boxes_of_one_group_are_dropped(rows, kept, why):
    detections = found(*rows)
    out = suppress_nested(detections.with_tracker_ids(np.arange(len(detections))), GROUP_OF,
                          0.8)
    assert out.tracker_id.tolist() == kept, why


def test_off_keeps_every_box():
    detections = found((600, 180, 720, 290, 0.53, CAR), (640, 190, 700, 255, 0.32, CAR))
    assert len(suppress_nested(detections, GROUP_OF, 0.0)) == 2


class _Model:
    model_id = "fake@0"
    class_names = tuple(f"c{i}" for i in range(80))

    def detect(self, images):
        return [found((600, 180, 720, 290, 0.53, CAR), (640, 190, 700, 255, 0.32, TRUCK))
                for _ in images]


def test_any_backend_gets_one_box_per_object():
    detector = OneBoxPerObject(_Model(), ((2, 5, 7),), 0.8)
    out = detector.detect([np.zeros((8, 8, 3), np.uint8)] * 2)
    assert [len(d) for d in out] == [1, 1]
    assert detector.model_id == "fake@0"
    assert len(OneBoxPerObject(_Model(), (), 0.8).detect([np.zeros((8, 8, 3), np.uint8)])[0]) == 2
