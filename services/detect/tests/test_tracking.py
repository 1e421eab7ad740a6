"""ByteTrack (Ultralytics' BYTETracker) per camera: synthetic motion with crossings and gaps,
camera independence and eviction in the pool, and ground-truth boxes of a real sequence."""

from __future__ import annotations

import importlib.util
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import required_inputs as inputs

if importlib.util.find_spec("ultralytics") is None:  # not importorskip: importing it is the
    pytest.skip("ultralytics not installed", allow_module_level=True)  # backend's job (env first)
pytest.importorskip("lap")

from vigie_detect.adapters.tracking import CameraTracker, TrackerParams, TrackerPool
from vigie_detect.domain.detections import Detections

Box = tuple[float, float, float, float]


def frame(boxes: list[tuple[int, Box]],
          confidence: float = 0.9) -> Detections:
    """Detections of labelled objects; the label rides in class_id (ByteTrack ignores classes)."""
    if not boxes:
        return Detections.empty()
    return Detections(np.array([b for _, b in boxes], np.float32),
                      np.full(len(boxes), confidence, np.float32),
                      np.array([label for label, _ in boxes], np.int64))


def scene(t: int) -> list[tuple[int, Box]]:
    """Object 0 walks right, object 1 walks left and crosses it (frames ~22-28, IoU up to
    0.71), object 2 walks down slowly and is missed on frames 20-24."""
    objects: list[tuple[int, Box]] = [(0, (20 + 8 * t, 100, 70 + 8 * t, 220)),
                                       (1, (420 - 8 * t, 120, 470 - 8 * t, 240))]
    if not 20 <= t < 25:
        objects.append((2, (500, 300 + 2 * t, 540, 380 + 2 * t)))
    return objects


def run(tracker: CameraTracker, frames: list[Detections], frame_rate: float = 30.0
        ) -> dict[int, list[tuple[int, int]]]:
    """label -> [(frame index, track id)] of every tracked output."""
    seen: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for t, detections in enumerate(frames):
        tracked = tracker.update(detections, frame_rate)
        assert (tracked.tracker_id > 0).all()
        for label, track_id in zip(tracked.class_id.tolist(), tracked.tracker_id.tolist(),
                                   strict=True):
            seen[label].append((t, track_id))
    return seen


def test_stable_distinct_ids_through_crossing_and_short_gap() -> None:
    frames = [frame(scene(t)) for t in range(50)]
    seen = run(CameraTracker(), frames)
    ids = {label: {tid for _, tid in rows} for label, rows in seen.items()}
    assert all(len(v) == 1 for v in ids.values()), f"an object changed id: {ids}"
    assert len({next(iter(v)) for v in ids.values()}) == 3, f"objects share an id: {ids}"
    # Every detection is reported (all present on the tracker's first frame, so no unconfirmed
    # first appearance), including object 2 right after its 5-frame gap.
    assert [t for t, _ in seen[0]] == list(range(50))
    assert [t for t, _ in seen[2]] == [t for t in range(50) if not 20 <= t < 25]


def test_output_is_every_input_detection_in_order() -> None:
    tracker = CameraTracker()
    detections = frame(scene(0))
    tracked = tracker.update(detections, 30.0)
    np.testing.assert_array_equal(tracked.xyxy, detections.xyxy)  # detector boxes, not Kalman ones
    np.testing.assert_array_equal(tracked.confidence, detections.confidence)
    assert tracker.update(Detections.empty(), 30.0).tracker_id.tolist() == []


def test_new_object_after_first_frame_is_tracked_from_its_second_frame() -> None:
    tracker = CameraTracker()
    first = (0, (20.0, 100.0, 70.0, 220.0))
    (track,) = tracker.update(frame([first]), 30.0).tracker_id.tolist()
    assert track > 0
    late = (1, (300.0, 100.0, 350.0, 220.0))
    # kept, but not yet confirmed: no track id on its first frame
    assert tracker.update(frame([first, late]), 30.0).tracker_id.tolist() == [track, 0]
    confirmed = tracker.update(frame([first, late]), 30.0).tracker_id.tolist()
    assert confirmed[0] == track and confirmed[1] not in (0, track)


def test_low_confidence_only_extends_tracks() -> None:
    tracker = CameraTracker()
    box = (0, (20.0, 100.0, 70.0, 220.0))
    tracker.update(frame([box]), 30.0)
    assert tracker.update(frame([box], confidence=0.15), 30.0).tracker_id[0] > 0  # extended
    fresh = CameraTracker()
    assert fresh.update(frame([box], confidence=0.15), 30.0).tracker_id.tolist() == [0]
    assert fresh.update(frame([box], confidence=0.05), 30.0).tracker_id.tolist() == [0]


def test_gap_longer_than_buffer_gives_new_id_and_buffer_scales_with_frame_rate() -> None:
    box = (0, (200.0, 100.0, 250.0, 220.0))

    def id_after_gap(gap: int, frame_rate: float) -> tuple[int, int]:
        tracker = CameraTracker()
        before = tracker.update(frame([box]), frame_rate).tracker_id[0]
        for _ in range(gap):
            tracker.update(Detections.empty(), frame_rate)
        tracker.update(frame([box]), frame_rate)  # an unconfirmed new track if the old one died
        return int(before), int(tracker.update(frame([box]), frame_rate).tracker_id[0])

    before, after = id_after_gap(8, frame_rate=30.0)  # buffer 30 frames
    assert before == after
    before, after = id_after_gap(8, frame_rate=5.0)  # buffer 30 * 5 / 30 = 5 frames (1 s)
    assert before != after
    with pytest.raises(ValueError, match="frame_rate"):
        CameraTracker().update(frame([box]), 0.0)


def test_pool_cameras_are_independent() -> None:
    pool = TrackerPool()
    a_ids, b_ids = [], []
    for t in range(20):
        # Same first object on both cameras; camera b also has a second object moving the other way.
        same = (0, (20.0 + 8 * t, 100.0, 70.0 + 8 * t, 220.0))
        a = pool.update("cam-a", frame([same]), 25.0)
        b = pool.update("cam-b", frame([same, (1, (400.0 - 8 * t, 300.0, 450.0 - 8 * t, 420.0))]),
                        25.0)
        a_ids.append(a.tracker_id.tolist())
        b_ids.append(b.tracker_id.tolist())
    assert a_ids == [[1]] * 20  # each camera numbers its own tracks from 1
    assert b_ids == [[1, 2]] * 20
    assert len(pool) == 2 and "cam-a" in pool and "cam-b" in pool
    # A third camera seeing the same box starts from scratch (activated at once on its first frame).
    fresh = pool.update("cam-c", frame([(0, (20.0, 100.0, 70.0, 220.0))]), 25.0)
    assert fresh.tracker_id.tolist() == [1]


def test_pool_evicts_idle_cameras_and_bounds_its_size() -> None:
    now = [0.0]
    pool = TrackerPool(idle_timeout_s=60.0, max_cameras=3, clock=lambda: now[0])
    box = frame([(0, (20.0, 100.0, 70.0, 220.0))])
    pool.update("a", box, 10.0)
    now[0] = 30.0
    pool.update("b", box, 10.0)
    now[0] = 61.0
    pool.update("b", box, 10.0)  # "a" idle for 61 s: evicted
    assert "a" not in pool and "b" in pool and len(pool) == 1
    for camera in ("c", "d", "e"):
        pool.update(camera, box, 10.0)
    assert len(pool) == 3 and "b" not in pool  # least recently updated dropped
    now[0] = 1000.0
    assert sorted(pool.evict_idle()) == ["c", "d", "e"] and len(pool) == 0


def test_params_are_bytetrack_defaults_and_validated() -> None:
    assert TrackerParams() == TrackerParams(0.25, 0.1, 0.25, 30, 0.8, True, "bytetrack", 0.0)
    with pytest.raises(ValueError):
        TrackerParams(track_high_thresh=0.1, track_low_thresh=0.2)


def load_mot_gt(path: Path) -> dict[int, list[tuple[int, Box]]]:
    """frame (1-based) -> [(identity, xyxy)], rows with conf 0 ignored."""
    frames: dict[int, list[tuple[int, Box]]] = defaultdict(list)
    for line in path.read_text().splitlines():
        f, identity, x, y, w, h, conf = (float(v) for v in line.split(",")[:7])
        if conf != 0:
            frames[int(f)].append((int(identity), (x, y, x + w, y + h)))
    return frames


@pytest.fixture
def tud_gt() -> Path:
    return inputs.need(inputs.mot15) / "TUD-Stadtmitte/gt/gt.txt"


def test_tud_stadtmitte_ground_truth_identities_keep_one_track_id(tud_gt: Path) -> None:
    gt = load_mot_gt(tud_gt)
    tracker = CameraTracker()
    carried: dict[int, Counter[int]] = defaultdict(Counter)  # identity -> track id -> boxes
    boxes_of: Counter[int] = Counter()
    for f in range(1, max(gt) + 1):
        rows = gt.get(f, [])
        detections = Detections(np.array([b for _, b in rows], np.float32).reshape(-1, 4),
                                np.full(len(rows), 0.9, np.float32), np.zeros(len(rows), np.int64))
        tracked = tracker.update(detections, frame_rate=25.0)
        by_box = {tuple(b): tid for b, tid in zip(tracked.xyxy.tolist(),
                                                  tracked.tracker_id.tolist(), strict=True)}
        for identity, box in rows:
            boxes_of[identity] += 1
            track_id = by_box.get(tuple(np.asarray(box, np.float32).tolist()))
            if track_id is not None:
                carried[identity][track_id] += 1
    majority = {i: (carried[i].most_common(1)[0][1] if carried[i] else 0) for i in boxes_of}
    overall = sum(majority.values()) / sum(boxes_of.values())
    worst = min(majority[i] / boxes_of[i] for i in boxes_of)
    switches = sum(len(carried[i]) - 1 for i in boxes_of)
    print(f"\nTUD-Stadtmitte GT through ByteTrack: {len(boxes_of)} identities, "
          f"{sum(boxes_of.values())} boxes; {overall:.1%} of boxes carry their identity's majority "
          f"track id; worst identity {worst:.1%}; {switches} extra track ids")
    assert overall >= 0.90
    # No track id shared by two identities for most of their boxes (no merges).
    owners = Counter(carried[i].most_common(1)[0][0] for i in boxes_of if carried[i])
    assert max(owners.values()) == 1


def noisy_sequence(gt: dict[int, list[tuple[int, Box]]], seed: int = 7) -> list[Detections]:
    """Ground-truth boxes made detector-like: jittered, confidences spread over ByteTrack's low and
    high bands, some boxes missed for a few frames, some spurious ones (every code path of the
    tracker: new, confirmed, lost, re-found, removed)."""
    rng = np.random.default_rng(seed)
    out = []
    for f in range(1, max(gt) + 1):
        rows = [b for _, b in gt.get(f, []) if rng.random() > 0.15]
        boxes = [np.asarray(b, np.float32) + rng.normal(0, 2, 4).astype(np.float32) for b in rows]
        if rng.random() < 0.3:
            x, y = rng.uniform(0, 500), rng.uniform(0, 300)
            boxes.append(np.array([x, y, x + 40, y + 90], np.float32))
        confidence = rng.choice([0.15, 0.22, 0.4, 0.7, 0.95], len(boxes)).astype(np.float32)
        out.append(Detections(np.array(boxes, np.float32).reshape(-1, 4), confidence,
                              np.zeros(len(boxes), np.int64)))
    return out


def test_a_restored_checkpoint_continues_exactly_like_the_uninterrupted_tracker(
        tud_gt: Path) -> None:
    from vigie.detect.v1.tracker_pb2 import TrackerCheckpointed

    frames = noisy_sequence(load_mot_gt(tud_gt))
    reference = CameraTracker()
    outputs, checkpoints = [], []
    for detections in frames:
        outputs.append(reference.update(detections, frame_rate=12.5).tracker_id.copy())
        # through the wire format, as the checkpoint topic carries it
        checkpoints.append(TrackerCheckpointed.FromString(
            reference.checkpoint(TrackerCheckpointed(camera_id="tud")).SerializeToString()))
    assert max(int(o.max(initial=0)) for o in outputs) > 10  # plenty of tracks came and went
    lost_seen = any(s.pool == 2 for c in checkpoints for s in c.tracks)
    assert lost_seen and any(c.removed for c in checkpoints)
    for k in range(0, len(frames) - 1, 3):  # restart after frame k, feed the rest
        restored = CameraTracker()
        restored.restore(checkpoints[k])
        for j in range(k + 1, len(frames)):
            got = restored.update(frames[j], frame_rate=12.5).tracker_id
            assert np.array_equal(got, outputs[j]), (k, j, got, outputs[j])
        assert restored.checkpoint(TrackerCheckpointed(camera_id="tud")) == checkpoints[-1]


def test_a_checkpoint_does_not_restore_into_other_parameters() -> None:
    from vigie.detect.v1.tracker_pb2 import TrackerCheckpointed

    tracker = CameraTracker()
    tracker.update(frame(scene(0)), 30.0)
    checkpoint = tracker.checkpoint(TrackerCheckpointed())
    with pytest.raises(ValueError, match="parameters"):
        CameraTracker(TrackerParams(track_buffer=60)).restore(checkpoint)
    pool = TrackerPool()
    pool.restore("cam", checkpoint)
    assert "cam" in pool and pool.checkpoint("cam", TrackerCheckpointed()) == checkpoint
    pool.restore("cam", None)
    assert "cam" not in pool


def painted(gt: dict[int, list[tuple[int, Box]]], frames: int) -> list[np.ndarray]:
    """Pictures of the ground truth: each identity a box of its own two colours (upper and lower
    half), drawn in depth order, on grey (what the appearance cue and re-linking look at)."""
    rng = np.random.default_rng(3)
    colours: dict[int, np.ndarray] = {}
    out = []
    for f in range(1, frames + 1):
        image = np.full((480, 640, 3), 90, np.uint8)
        for identity, (x0, y0, x1, y1) in sorted(gt.get(f, []), key=lambda r: r[1][3]):
            top, bottom = colours.setdefault(identity, rng.integers(0, 256, (2, 3), np.uint8))
            c0, c1 = int(max(x0, 0)), int(min(x1, 640))
            r0, r1 = int(max(y0, 0)), int(min(y1, 480))
            middle = (r0 + r1) // 2
            image[r0:middle, c0:c1] = top
            image[middle:r1, c0:c1] = bottom
        out.append(image)
    return out


def test_relinking_and_botsort_restore_exactly_from_a_checkpoint(tud_gt: Path) -> None:
    """The whole state, re-linking's (identities with appearances, aliases, clock) and BoT-SORT's
    track features included, survives a checkpoint: a restored tracker goes on exactly."""
    from vigie.detect.v1.tracker_pb2 import TrackerCheckpointed

    gt = load_mot_gt(tud_gt)
    # Three people hidden for 1.4 s (18 frames: longer than the 12-frame buffer) mid-sequence.
    seen = Counter(identity for rows in gt.values() for identity, _ in rows)
    for identity, _ in seen.most_common(3):
        frames_of = sorted(f for f, rows in gt.items() if any(i == identity for i, _ in rows))
        hidden = set(frames_of[len(frames_of) // 3:len(frames_of) // 3 + 18])
        for f in hidden:
            gt[f] = [r for r in gt[f] if r[0] != identity]
    frames = noisy_sequence(gt)
    images = painted(gt, len(frames))
    params = TrackerParams(tracker="botsort", relink_s=2.0, relink_max_distance=1.0,
                           appearance_max_distance=0.4)
    reference = CameraTracker(params)
    outputs, checkpoints = [], []
    for f, (detections, image) in enumerate(zip(frames, images, strict=True)):
        outputs.append(reference.update(detections, 12.5, image, 1000.0 + f / 12.5)
                       .tracker_id.copy())
        checkpoints.append(TrackerCheckpointed.FromString(
            reference.checkpoint(TrackerCheckpointed(camera_id="tud")).SerializeToString()))
    assert any(c.aliases for c in checkpoints), "no track was re-linked: nothing tested"
    assert any(len(s.smooth_feature) for c in checkpoints for s in c.tracks)
    assert all((o >= 0).all() for o in outputs)
    for out in outputs:  # published ids never shared by two detections of a frame
        ids = out[out > 0].tolist()
        assert len(ids) == len(set(ids))
    for k in range(0, len(frames) - 1, 5):
        restored = CameraTracker(params)
        restored.restore(checkpoints[k])
        for j in range(k + 1, len(frames)):
            got = restored.update(frames[j], 12.5, images[j], 1000.0 + j / 12.5).tracker_id
            assert np.array_equal(got, outputs[j]), (k, j, got, outputs[j])
        assert restored.checkpoint(TrackerCheckpointed(camera_id="tud")) == checkpoints[-1]


def test_relinking_gives_a_reappearing_object_its_id_back() -> None:
    """One object hidden for 1.5 s (longer than ByteTrack's 1 s buffer) comes back where it was
    heading, looking the same: same id; with re-linking off, a new one."""
    image = np.full((480, 640, 3), 90, np.uint8)

    def run_with(relink_s: float) -> tuple[int, int]:
        tracker = CameraTracker(TrackerParams(relink_s=relink_s))
        ids = []
        for t in range(60):  # 10 frames/s; hidden from t = 20 to 34
            x = 50 + 5 * t
            picture = image.copy()
            if 20 <= t < 35:
                found = Detections.empty()
            else:
                picture[100:160, x:x + 40] = (0, 0, 200)
                picture[160:220, x:x + 40] = (200, 0, 0)
                found = frame([(0, (float(x), 100.0, float(x + 40), 220.0))])
            out = tracker.update(found, 10.0, picture, t / 10)
            ids += out.tracker_id.tolist()
        return ids[0], ids[-1]

    first, last = run_with(3.0)
    assert first == last > 0
    first, last = run_with(0.0)
    assert last not in (0, first)
