"""Riders (domain/riders.py): a track seen as a person and as a two-wheeler is published as the
two-wheeler; pedestrians mislabelled once stay people; the evidence is forgotten, switched off
for models without these classes, and survives a tracker checkpoint exactly."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from vigie_detect.domain.detections import COCO_CLASSES, Detections
from vigie_detect.domain.riders import RiderParams, Riders

PERSON, BICYCLE, MOTORCYCLE = (COCO_CLASSES.index(n) for n in ("person", "bicycle", "motorcycle"))
PARAMS = RiderParams.for_classes(COCO_CLASSES, 0.1)


def published(riders: Riders, rows: list[tuple[int, int, float]], t_s: float = 0.0) -> list[int]:
    ids, classes, scores = zip(*rows, strict=True) if rows else ((), (), ())
    return riders.step(t_s, ids, classes, scores).tolist()


def test_params_follow_the_models_classes() -> None:
    assert (PARAMS.person, PARAMS.two_wheelers) == (PERSON, (BICYCLE, MOTORCYCLE))
    assert PARAMS.enabled
    assert not RiderParams.for_classes(("fall", "normal"), 0.1).enabled
    assert not RiderParams.for_classes(COCO_CLASSES, 0.0).enabled


def test_a_rider_labelled_person_most_of_the_time_is_published_as_the_two_wheeler() -> None:
    riders = Riders(PARAMS)
    out = []
    for f in range(40):  # a motorcycle seen as such on 1 frame in 8, as its rider otherwise
        label = MOTORCYCLE if f % 8 == 3 else PERSON
        out.append(published(riders, [(7, label, 0.6)], f / 25)[0])
    assert out[:3] == [PERSON] * 3  # no evidence yet: as the detector said
    assert out[3:] == [MOTORCYCLE] * 37  # 0.6 of 1.8 at frame 3, and 5 of 35 by the end


def test_a_pedestrian_mislabelled_once_stays_a_person() -> None:
    riders = Riders(PARAMS)
    labels = [PERSON] * 30 + [BICYCLE] + [PERSON] * 30
    out = [published(riders, [(3, label, 0.8)], f / 25)[0] for f, label in enumerate(labels)]
    assert out == labels  # 0.8 against 24 of person: far below a tenth


def test_only_person_boxes_change_and_untracked_ones_never() -> None:
    riders = Riders(PARAMS)
    published(riders, [(1, MOTORCYCLE, 0.9), (0, MOTORCYCLE, 0.9)])
    assert published(riders, [(1, PERSON, 0.5), (0, PERSON, 0.5), (2, PERSON, 0.5),
                              (1, 2, 0.7)]) == [MOTORCYCLE, PERSON, PERSON, 2]


def test_the_more_seen_two_wheeler_is_the_one_ridden_and_evidence_is_forgotten() -> None:
    riders = Riders(PARAMS)
    published(riders, [(5, BICYCLE, 0.9), (5, MOTORCYCLE, 0.4)], 0.0)
    assert published(riders, [(5, PERSON, 0.9)], 1.0) == [BICYCLE]
    published(riders, [(6, PERSON, 0.9)], 1.0 + PARAMS.forget_s + 0.1)
    assert 5 not in riders.tracks and 6 in riders.tracks
    assert published(riders, [(5, PERSON, 0.9)], 62.0) == [PERSON]  # a new track, new evidence


def test_off_changes_nothing() -> None:
    riders = Riders(RiderParams.for_classes(COCO_CLASSES, 0.0))
    published(riders, [(1, MOTORCYCLE, 0.9)])
    assert published(riders, [(1, PERSON, 0.9)]) == [PERSON] and not riders.tracks


@pytest.mark.skipif(importlib.util.find_spec("ultralytics") is None,
                    reason="ultralytics not installed")
def test_the_tracker_publishes_riders_and_restores_their_evidence_exactly() -> None:
    pytest.importorskip("lap")
    from vigie.detect.v1.tracker_pb2 import TrackerCheckpointed
    from vigie_detect.adapters.tracking import CameraTracker, TrackerParams

    params = TrackerParams(riders=PARAMS)

    def frame(f: int) -> Detections:  # a rider driving up the image, a pedestrian walking right
        label = MOTORCYCLE if f % 6 == 2 else PERSON
        return Detections(np.array([[300, 400 - 6 * f, 340, 480 - 6 * f],
                                    [20 + 3 * f, 100, 60 + 3 * f, 200]], np.float32),
                          np.array([0.7, 0.8], np.float32), np.array([label, PERSON]))

    reference = CameraTracker(params)
    outputs, checkpoints = [], []
    for f in range(30):
        outputs.append(reference.update(frame(f), 25.0, t_s=f / 25).class_id.copy())
        checkpoints.append(TrackerCheckpointed.FromString(
            reference.checkpoint(TrackerCheckpointed()).SerializeToString()))
    assert [o[0] for o in outputs[4:]] == [MOTORCYCLE] * 26  # the rider, once tracked
    assert all(o[1] == PERSON for o in outputs)
    assert any(c.class_evidence for c in checkpoints)
    for k in range(0, 29, 4):
        restored = CameraTracker(params)
        restored.restore(checkpoints[k])
        for j in range(k + 1, 30):
            assert restored.update(frame(j), 25.0, t_s=j / 25).class_id.tolist() == \
                outputs[j].tolist(), (k, j)
