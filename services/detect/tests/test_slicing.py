"""Sliced inference (issue 18): the tile grid, far-field crops, mapping crop boxes back, merging
(domain/slicing.py, table-tested); the Detector wrapper on a fake detector (any backend); the
Camera's slicing fields; and YOLOv3-tiny on a real frame of the motorway clip."""

from __future__ import annotations

import asyncio
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from vigie.camera.v1.camera_pb2 import (
    SLICING_MODE_FAR_FIELD,
    SLICING_MODE_NONE,
    SLICING_MODE_TILES,
    Camera,
)
from vigie.common.v1.common_pb2 import BoundingBox
from vigie_detect.adapters.slicing import CameraSlicing, SlicedDetector, detect_sliced
from vigie_detect.config import Settings
from vigie_detect.domain.detections import Detections
from vigie_detect.domain.slicing import (
    SlicingMode,
    SlicingPlan,
    cut_by_crop,
    merge,
    plan_crops,
    region_crops,
    tile_grid,
    to_frame,
)


def dets(*rows: tuple[float, float, float, float, float, int]) -> Detections:
    if not rows:
        return Detections.empty()
    array = np.array(rows, np.float64)
    return Detections(array[:, :4], array[:, 4], array[:, 5].astype(np.int64))


# -- tile grid ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("width", "height", "tile", "overlap", "expected"), [
    # SAHI's get_slice_bboxes on the same input gives these (step = tile - int(overlap * tile)).
    (960, 540, 448, 0.2, [(0, 0, 448, 448), (359, 0, 807, 448), (512, 0, 960, 448),
                          (0, 92, 448, 540), (359, 92, 807, 540), (512, 92, 960, 540)]),
    (100, 100, 50, 0.0, [(0, 0, 50, 50), (50, 0, 100, 50), (0, 50, 50, 100),
                         (50, 50, 100, 100)]),
    (100, 50, 60, 0.5, [(0, 0, 60, 50), (30, 0, 90, 50), (40, 0, 100, 50)]),
    (300, 200, 448, 0.2, [(0, 0, 300, 200)]),  # smaller than a tile: one tile, the image
])
def test_tile_grid(width: int, height: int, tile: int, overlap: float,
                   expected: list[tuple[int, int, int, int]]) -> None:
    assert tile_grid(width, height, tile, tile, overlap).tolist() == [list(t) for t in expected]


@pytest.mark.parametrize(("width", "height", "tile", "overlap"), [
    (960, 540, 448, 0.2), (768, 432, 320, 0.25), (641, 479, 128, 0.1), (1920, 1080, 640, 0.3),
])
def test_tile_grid_covers_the_image_with_the_overlap(width: int, height: int, tile: int,
                                                     overlap: float) -> None:
    tiles = tile_grid(width, height, tile, tile, overlap)
    covered = np.zeros((height, width), np.int64)
    for x0, y0, x1, y1 in tiles:
        assert (x1 - x0, y1 - y0) == (tile, tile)
        assert 0 <= x0 and 0 <= y0 and x1 <= width and y1 <= height
        covered[y0:y1, x0:x1] += 1
    assert covered.min() >= 1
    # Neighbouring tiles overlap by at least the ratio: an object that small is whole in one.
    xs, ys = sorted({int(t[0]) for t in tiles}), sorted({int(t[1]) for t in tiles})
    for starts in (xs, ys):
        assert all(b - a <= tile - int(overlap * tile) for a, b in pairwise(starts))


# -- far-field crops, mapping back ----------------------------------------------------------------
@pytest.mark.parametrize(("region", "expected"), [
    ((0.35, 0.0, 1.0, 0.3), (336, 0, 960, 162)),
    ((0.0, 0.0, 1.0, 1.0), (0, 0, 960, 540)),
    ((0.1001, 0.2001, 0.1002, 0.2002), (96, 108, 97, 109)),  # at least one pixel, rounded out
    ((0.5, 0.5, 1.0, 1.0), (480, 270, 960, 540)),
])
def test_region_crops(region: tuple[float, float, float, float],
                      expected: tuple[int, ...]) -> None:
    assert region_crops(960, 540, [region]).tolist() == [list(expected)]


def test_far_field_plan_crops_each_region_and_tiles_plan_tiles_each_region() -> None:
    regions = ((0.5, 0.0, 1.0, 0.5), (0.0, 0.5, 0.25, 1.0))
    far = plan_crops(SlicingPlan(SlicingMode.FAR_FIELD, regions), 960, 540)
    assert far.tolist() == [[480, 0, 960, 270], [0, 270, 240, 540]]
    tiles = plan_crops(SlicingPlan(SlicingMode.TILES, regions, tile_px=200), 960, 540)
    assert len(tiles) == 3 * 2 + 2 * 2  # 480x270: 3 x 2 tiles of 200; 240x270: 2 x 2
    inside = [(x0 >= 480 and x1 <= 960 and y1 <= 270) or (x1 <= 240 and y0 >= 270)
              for x0, y0, x1, y1 in tiles.tolist()]
    assert all(inside)
    assert plan_crops(SlicingPlan(), 960, 540).shape == (0, 4)


@pytest.mark.parametrize(("crop", "box", "expected"), [
    ((0, 0, 448, 448), (10, 20, 30, 40), (10, 20, 30, 40)),
    ((512, 92, 960, 540), (10, 20, 30, 40), (522, 112, 542, 132)),
    ((336, 0, 960, 162), (0, 0, 624, 162), (336, 0, 960, 162)),
])
def test_a_box_in_a_crop_maps_back_to_the_frame(crop: tuple[int, ...], box: tuple[float, ...],
                                                expected: tuple[float, ...]) -> None:
    moved = to_frame(dets((*box, 0.9, 2)), crop)
    assert moved.xyxy.tolist() == [list(map(float, expected))]
    assert moved.class_id.tolist() == [2]


@pytest.mark.parametrize(("crop", "box", "cut"), [
    ((0, 0, 448, 448), (100, 100, 200, 200), False),
    ((0, 0, 448, 448), (400, 100, 448, 200), True),  # right edge inside the frame
    ((512, 92, 960, 540), (900, 400, 960, 540), False),  # the frame's own border
    ((512, 92, 960, 540), (512, 400, 600, 500), True),  # left edge, inside the frame
    ((512, 92, 960, 540), (600, 93, 700, 200), True),  # top edge, within the margin
])
def test_cut_by_crop(crop: tuple[int, ...], box: tuple[float, ...], cut: bool) -> None:
    xyxy = np.array([box], np.float32)
    assert cut_by_crop(xyxy, crop, 960, 540).tolist() == [cut]


# -- merging --------------------------------------------------------------------------------------
CAR, TRUCK, PERSON = 2, 7, 0


@pytest.mark.parametrize(("name", "how", "found", "cut", "groups", "expected"), [
    ("an object cut by two tiles is one box: the whole one as it is",
     "nms",
     dets((400, 100, 448, 150, 0.6, CAR),  # left tile: the piece up to its edge (x 448)
          (360, 100, 470, 150, 0.5, CAR),  # right tile (from x 359): the whole car
          (358, 101, 470, 150, 0.4, CAR)),  # full frame
     [True, False, False], (), [(360, 100, 470, 150, 0.5, CAR)]),
    ("SAHI's NMM: the union of the three, the best confidence",
     "nmm",
     dets((400, 100, 448, 150, 0.6, CAR), (360, 100, 470, 150, 0.5, CAR),
          (358, 101, 470, 150, 0.4, CAR)),
     [True, False, False], (), [(358, 100, 470, 150, 0.6, CAR)]),
    ("two pieces only: merged into their union",
     "nms",
     dets((400, 100, 448, 150, 0.6, CAR), (420, 100, 470, 150, 0.5, CAR)),
     [True, True], (), [(400, 100, 470, 150, 0.6, CAR)]),
    ("a whole box leads a more confident piece",
     "nms",
     dets((400, 100, 448, 150, 0.9, CAR), (380, 100, 470, 150, 0.3, CAR)),
     [True, False], (), [(380, 100, 470, 150, 0.3, CAR)]),
    ("two objects side by side stay two",
     "nmm",
     dets((100, 100, 150, 150, 0.9, PERSON), (145, 100, 195, 150, 0.8, PERSON)),
     None, (), [(100, 100, 150, 150, 0.9, PERSON), (145, 100, 195, 150, 0.8, PERSON)]),
    ("class-aware: a rider and the motorcycle under them stay two",
     "nmm",
     dets((100, 80, 140, 160, 0.9, PERSON), (100, 110, 140, 170, 0.7, 3)),
     None, (), [(100, 80, 140, 160, 0.9, PERSON), (100, 110, 140, 170, 0.7, 3)]),
    ("a car seen as a truck by a tile is one vehicle with the NMS group",
     "nms",
     dets((10, 10, 60, 40, 0.7, CAR), (12, 10, 61, 41, 0.8, TRUCK)),
     None, ((CAR, TRUCK),), [(12, 10, 61, 41, 0.8, TRUCK)]),
    ("without the group they stay two",
     "nms",
     dets((10, 10, 60, 40, 0.7, CAR), (12, 10, 61, 41, 0.8, TRUCK)),
     None, (), [(12, 10, 61, 41, 0.8, TRUCK), (10, 10, 60, 40, 0.7, CAR)]),
    ("nothing", "nms", dets(), None, (), []),
])
def test_merge(name: str, how: str, found: Detections, cut: list[bool] | None,
               groups: tuple[tuple[int, ...], ...],
               expected: list[tuple[float, ...]]) -> None:
    merged = merge(found, None if cut is None else np.array(cut), 0.5, how, groups)
    got = [(*box, round(float(c), 3), int(k)) for box, c, k in
           zip(merged.xyxy.tolist(), merged.confidence, merged.class_id, strict=True)]
    assert got == [(*map(float, e[:4]), e[4], e[5]) for e in expected], name


def test_plan_is_validated() -> None:
    with pytest.raises(ValueError, match="region"):
        SlicingPlan(SlicingMode.FAR_FIELD, ((0.5, 0.0, 0.4, 1.0),))
    with pytest.raises(ValueError, match="needs at least one region"):
        SlicingPlan(SlicingMode.FAR_FIELD)
    with pytest.raises(ValueError, match="overlap"):
        SlicingPlan(SlicingMode.TILES, overlap=1.0)


# -- the wrapper, any backend ---------------------------------------------------------------------
class FakeDetector:
    """A backend that 'sees' bright squares of at least `min_px` pixels in the image it is given
    (as a model sees small objects only once magnified), one call recorded per detect()."""

    model_id = "fake@000000000000"
    class_names = ("person", "bicycle", "car")

    def __init__(self, min_px: int) -> None:
        self.min_px, self.calls = min_px, []  # type: list[list[tuple[int, int]]]

    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        self.calls.append([(i.shape[1], i.shape[0]) for i in images])
        out = []
        for image in images:
            mask = image[:, :, 0] > 127
            boxes = []
            for x0, y0, x1, y1 in _blobs(mask):
                # The "network" sees the image at 100 px on its long side.
                scale = 100 / max(image.shape[:2])
                if (x1 - x0) * scale >= self.min_px:
                    boxes.append((x0, y0, x1, y1, 0.9, 2))
            out.append(dets(*boxes))
        return out


def _blobs(mask: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Bounding boxes of the bright squares (they are apart and axis-aligned)."""
    import cv2
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
    return [(int(x), int(y), int(x + w), int(y + h)) for x, y, w, h, _ in stats[1:count]]


def scene() -> np.ndarray:
    image = np.zeros((400, 800, 3), np.uint8)
    image[300:380, 50:130] = 255  # a near car: 80 px, seen in the full frame
    image[40:52, 600:612] = 255  # a far car: 12 px, 1.5 px at the full frame's input size
    image[100:112, 195:207] = 255  # another far car, cut by the first tile's edge (x 200)
    return image


def test_sliced_finds_the_small_objects_the_full_frame_misses_in_one_batch() -> None:
    detector = FakeDetector(min_px=2)
    image = scene()
    plain = detector.detect([image])[0]
    assert plain.xyxy.tolist() == [[50, 300, 130, 380]]
    detector.calls.clear()
    sliced = SlicedDetector(detector, SlicingPlan(SlicingMode.TILES, tile_px=200, overlap=0.2))
    found = sliced.detect([image, image])
    assert len(detector.calls) == 1  # the frames and all their tiles in one detect call
    assert detector.calls[0].count((800, 400)) == 2
    for one in found:
        assert sorted(one.xyxy.tolist()) == [[50, 300, 130, 380], [195, 100, 207, 112],
                                             [600, 40, 612, 52]]


def test_far_field_crop_magnifies_its_region_only() -> None:
    detector = FakeDetector(min_px=2)
    plan = SlicingPlan(SlicingMode.FAR_FIELD, ((0.7, 0.0, 0.8, 0.25),))  # around the far car
    found = SlicedDetector(detector, plan).detect([scene()])[0]
    assert sorted(found.xyxy.tolist()) == [[50, 300, 130, 380], [600, 40, 612, 52]]
    assert detector.calls[-1] == [(800, 400), (80, 100)]


def test_per_image_plans_in_one_call() -> None:
    detector = FakeDetector(min_px=2)
    plan = SlicingPlan(SlicingMode.TILES, tile_px=200, overlap=0.2)
    plain, sliced = detect_sliced(detector, [scene(), scene()], [None, plan])
    assert len(plain) == 1 and len(sliced) == 3
    assert len(detector.calls) == 1


async def test_batcher_slices_only_the_frames_of_sliced_cameras_in_one_batch() -> None:
    from vigie_detect.adapters.batcher import Batcher

    detector = FakeDetector(min_px=2)
    batcher = Batcher(detector, None, max_batch=4, max_wait_s=0.05, decode=lambda _: scene())
    batcher.start()
    try:
        plain = batcher.submit("cam-plain", b"jpeg", (800, 400), 5.0)
        sliced = batcher.submit("cam-far", b"jpeg", (800, 400), 5.0,
                                slicing=SlicingPlan(SlicingMode.TILES, tile_px=200))
        results = await asyncio.gather(plain, sliced)
    finally:
        await batcher.stop()
    assert [len(r.detections) for r in results] == [1, 3]
    assert len(detector.calls) == 1  # both frames and the tiles: one detect call
    assert results[0].seconds == results[1].seconds  # the batch's time, crops included


# -- per camera -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("setting", "mode", "regions", "expected"), [
    ("none", None, [], None),
    ("tiles", None, [], (SlicingMode.TILES, ())),
    ("none", SLICING_MODE_TILES, [], (SlicingMode.TILES, ())),
    ("tiles", SLICING_MODE_NONE, [], None),
    ("none", SLICING_MODE_FAR_FIELD, [(0.5, 0.0, 1.0, 0.25)],
     (SlicingMode.FAR_FIELD, ((0.5, 0.0, 1.0, 0.25),))),
    ("far_field", None, [], None),  # a camera with no far field is not sliced
    ("none", SLICING_MODE_FAR_FIELD, [(0.5, 0.0, 0.4, 0.25)], None),  # invalid: ignored
    ("none", SLICING_MODE_TILES, [(0.0, 0.0, 0.5, 0.5)], (SlicingMode.TILES,
                                                          ((0.0, 0.0, 0.5, 0.5),))),
])
def test_camera_slicing(setting: str, mode: int | None, regions: list[tuple[float, ...]],
                        expected: tuple[SlicingMode, tuple[tuple[float, ...], ...]] | None,
                        ) -> None:
    slicing = CameraSlicing(Settings(slicing=setting, slicing_tile_px=320), ((2, 5, 7),))
    camera = None
    if mode is not None or regions:
        camera = Camera(camera_id="cam", slicing_mode=mode or 0, far_field_regions=[
            BoundingBox(x_min=r[0], y_min=r[1], x_max=r[2], y_max=r[3]) for r in regions])
    plan = slicing.plan(camera)
    if expected is None:
        assert plan is None
        return
    assert plan is not None
    assert (plan.mode, plan.regions) == expected
    assert (plan.tile_px, plan.merge_groups) == (320, ((2, 5, 7),))


# -- the real model on a real frame ---------------------------------------------------------------
CLIPS = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "clips"


def test_yolov3_tiny_finds_far_cars_only_sliced(tmp_path: Path) -> None:
    """Motorway overpass (960x540), frame 120: the full frame at input 448 finds the near cars;
    tiles and the far-field crop (the far end of the road, magnified) find more cars, all of
    them smaller than the full frame's smallest, and every full-frame car is still there."""
    cv2 = pytest.importorskip("cv2")
    import required_inputs as inputs
    from vigie_detect.adapters.backends import load_detector
    from vigie_detect.app import detector_settings, nms_groups

    clip = CLIPS / "motorway_overpass.mp4"
    if not clip.is_file():
        pytest.skip(f"no {clip}")
    resolved = inputs.need(inputs.yolov3_tiny, tmp_path)
    config = Settings()
    detector = load_detector(resolved, detector_settings(config))
    capture = cv2.VideoCapture(str(clip))
    for _ in range(FRAME + 1):  # sequential decode: the exact frame, no seek ambiguity
        ok, frame = capture.read()
        assert ok
    capture.release()
    car = detector.class_names.index("car")
    full = detector.detect([frame])[0]
    full_cars = full.xyxy[full.class_id == car]
    for plan in (SlicingPlan(SlicingMode.TILES, tile_px=448, merge_groups=nms_groups(config)),
                 SlicingPlan(SlicingMode.FAR_FIELD, ((0.35, 0.0, 1.0, 0.3),),
                             merge_groups=nms_groups(config))):
        sliced = SlicedDetector(detector, plan).detect([frame])[0]
        cars = sliced.xyxy[sliced.class_id == car]
        assert len(cars) >= len(full_cars) + 2, plan.mode
        new = [b for b in cars if not any(_iou(b, f) > 0.3 for f in full_cars)]
        assert len(new) >= 2
        smallest_full = min((f[2] - f[0]) for f in full_cars)
        assert all((b[2] - b[0]) < smallest_full for b in new)
        assert all(any(_iou(f, b) > 0.5 for b in cars) for f in full_cars)


FRAME = 120


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0
