"""MOTChallenge reading and scoring (pure: no video, no model)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from vigie.common.v1.common_pb2 import BoundingBox
from vigie.detect.v1.detection_pb2 import Detection, ObjectsDetected
from vigie_eval.mot import Boxes, accumulate, hypotheses, iou_distance, read_ground_truth, summarise
from vigie_eval.tracking import frame_index


@pytest.mark.parametrize(("gt", "hyp", "expected"), [
    ([0, 0, 10, 10], [0, 0, 10, 10], 0.0),  # identical
    ([0, 0, 10, 10], [5, 0, 10, 10], 1 - 50 / 150),  # IoU 1/3: no match (distance >= 0.5)
    ([0, 0, 10, 10], [1, 0, 10, 10], 1 - 90 / 110),  # IoU 0.82
    ([0, 0, 10, 10], [20, 20, 5, 5], 1.0),  # disjoint
])
def test_iou_distance_is_one_minus_iou_and_nan_from_half(gt, hyp, expected):
    d = iou_distance(np.array([gt], float), np.array([hyp], float))
    if expected >= 0.5:
        assert math.isnan(d[0, 0])
    else:
        assert d[0, 0] == pytest.approx(expected)


def test_iou_distance_of_empty_sides_has_the_right_shape():
    assert iou_distance(np.zeros((0, 4)), np.ones((3, 4))).shape == (0, 3)
    assert iou_distance(np.ones((2, 4)), np.zeros((0, 4))).shape == (2, 0)


def test_ground_truth_rows_with_confidence_zero_are_ignored(tmp_path):
    gt = tmp_path / "gt.txt"
    gt.write_text("1,1,10,20,30,40,1,-1,-1,-1\n1,2,50,60,30,40,0,-1,-1,-1\n"
                  "2,1,12,20,30,40,1,-1,-1,-1\n")
    boxes = read_ground_truth(gt)
    assert boxes.ids == {1: [1], 2: [1]}
    assert boxes.boxes[1].tolist() == [[10, 20, 30, 40]]


def _frame(*dets: tuple[float, float, float, float, int, str]) -> ObjectsDetected:
    return ObjectsDetected(image_width=640, image_height=480, detections=[
        Detection(box=BoundingBox(x_min=a, y_min=b, x_max=c, y_max=d), track_id=t,
                  class_name=name, confidence=0.9) for a, b, c, d, t, name in dets])


def test_hypotheses_are_tracked_people_in_pixels():
    frame = _frame((0.1, 0.25, 0.2, 0.75, 7, "person"), (0.5, 0.5, 0.6, 0.6, 0, "person"),
                   (0.3, 0.3, 0.4, 0.4, 8, "car"))
    hyp = hypotheses([(1, frame)], 640, 480)
    assert hyp.ids == {1: [7]}  # untracked and other classes left out
    assert hyp.boxes[1][0].tolist() == pytest.approx([64, 120, 64, 240])


def _boxes(rows: dict[int, list[tuple[int, float]]]) -> Boxes:
    return Boxes({f: [i for i, _ in r] for f, r in rows.items()},
                 {f: np.array([[x, 0, 10, 20] for _, x in r], float) for f, r in rows.items()})


def test_a_perfect_tracker_scores_one_and_a_swap_costs_an_id_switch():
    gt = _boxes({f: [(1, 0.0), (2, 100.0)] for f in range(1, 5)})
    perfect = accumulate(gt, _boxes({f: [(5, 0.0), (6, 100.0)] for f in range(1, 5)}), range(1, 5))
    swapped = accumulate(gt, _boxes({1: [(5, 0.0), (6, 100.0)], 2: [(5, 0.0), (6, 100.0)],
                                     3: [(6, 0.0), (5, 100.0)], 4: [(6, 0.0), (5, 100.0)]}),
                         range(1, 5))
    missed = accumulate(gt, _boxes({f: [(5, 0.0)] for f in range(1, 5)}), range(1, 5))
    table = summarise({"perfect": perfect, "swapped": swapped, "missed": missed})
    assert table["perfect"]["mota"] == 1.0 and table["perfect"]["idf1"] == 1.0
    assert table["swapped"]["num_switches"] == 2
    assert table["swapped"]["mota"] == pytest.approx(1 - 2 / 8)
    assert table["missed"]["recall"] == 0.5 and table["missed"]["precision"] == 1.0
    assert table["OVERALL"]["num_objects"] == 24


@pytest.mark.parametrize(("pts", "rate", "index"), [(0.0, 25, 1), (0.04, 25, 2),
                                                     (7.12, 25, 179), (0.0333, 30, 2)])
def test_stream_time_maps_to_one_based_frame_numbers(pts, rate, index):
    assert frame_index(pts, rate) == index
