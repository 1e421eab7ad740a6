"""The scene stage on real footage: the left bag of the corridor clip is found as a still object
(whatever the detector sees), and tampered views made from the shared clips with ffmpeg filters
are found within 5 s, while the unmodified clips raise no view problem.

The tampered cases (made here, at test time, from the shared clips; nothing is stored):
- covered: a black box over the whole picture (drawbox, 97 % opaque) from 6 s;
- sprayed: a grey box (85 % opaque) and a Gaussian blur (gblur sigma 6) from 6 s;
- defocused: boxblur 8:2 from 6 s;
- moved: the view cropped 10 % to the right and 5 % down (crop with a time expression, scaled
  back to the frame size) from 6 s.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import av
import pytest
import required_inputs as inputs
from vigie_detect.adapters.scene import SceneParams, ScenePool, SceneResult
from vigie_detect.domain.scene import (
    StaticRegions,
    StillBlob,
    ViewMeasures,
    ViewProblem,
    ViewWatch,
    iou,
)

ONSET_S = 6.0
TAMPERS = {
    "covered": ("drawbox=x=0:y=0:w=iw:h=ih:color=black@0.97:t=fill:enable='gte(t,6)'",
                ViewProblem.COVERED),
    "sprayed": ("drawbox=x=0:y=0:w=iw:h=ih:color=gray@0.85:t=fill:enable='gte(t,6)',"
                "gblur=sigma=6:enable='gte(t,6)'", ViewProblem.COVERED),
    "defocused": ("boxblur=8:2:enable='gte(t,6)'", ViewProblem.DEFOCUSED),
    "moved": ("crop=w=iw*0.9:h=ih*0.9:x='if(gte(t,6),iw*0.1,0)':y='if(gte(t,6),ih*0.05,0)',"
              "scale=iw/0.9:ih/0.9", ViewProblem.MOVED),
}
BAG = (128, 324, 188, 376)  # ../shared/data/README.md: the bag once still, full-frame pixels


def play(video: Path, fps: float = 5.0, until_s: float | None = None,
         accepted_s: float | None = None) -> list[tuple[float, SceneResult]]:
    """The scene stage on `video` sampled at `fps` (ingest's default), no detector boxes; the
    camera's view accepted as its reference at `accepted_s` (Camera.view_accepted_at)."""
    pool = ScenePool(SceneParams())
    out = []
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        due = 0.0
        for frame in container.decode(stream):
            t = float(frame.pts * stream.time_base)
            if until_s is not None and t > until_s:
                break
            if t + 1e-6 < due:
                continue
            due += 1 / fps
            out.append((t, pool.update("cam", frame.to_ndarray(format="bgr24"), t, [],
                                       accepted_s)))
    return out


def view_changes(results: list[tuple[float, SceneResult]]) -> list[tuple[float, ViewProblem]]:
    return [(t, r.view_change.problem) for t, r in results if r.view_change is not None]


@pytest.fixture(scope="module")
def clips() -> Path:
    return inputs.need(inputs.clips)


def test_the_left_bag_is_found_as_a_still_object(clips):
    results = play(clips / "abandoned_bag_corridor.mp4")
    on_bag = {t: o for t, r in results for o in r.static
              if iou(o.box, BAG) >= 0.3 and not o.removed}
    assert on_bag, "no still object on the bag"
    first = min(on_bag)
    assert first <= 20.0  # on the floor at ~10 s: found still a few seconds later
    assert max(on_bag) >= 41.0  # and until the end of the clip (still there at 41.3 s)
    assert len({o.region_id for o in on_bag.values()}) <= 2  # one object, one id (mostly)
    assert all(o.confidence >= 0.5 for o in on_bag.values())  # an object, not a ghost
    assert view_changes(results) == []


@pytest.mark.parametrize("clip", ["abandoned_bag_corridor.mp4", "carpark_topdown.mp4",
                                  "city_road_motorcycles.mp4", "crossing_crowd_aerial.mp4",
                                  "motorway_overpass.mp4"])
def test_no_view_problem_on_the_unmodified_clips(clips, clip):
    results = play(clips / clip, until_s=30.0)
    assert view_changes(results) == []


@pytest.fixture(scope="module")
def ffmpeg() -> str:
    found = shutil.which("ffmpeg")
    if found is None:
        pytest.skip("ffmpeg not installed (make setup installs it)")
    return found


@pytest.mark.parametrize("case", sorted(TAMPERS))
@pytest.mark.parametrize("clip", ["abandoned_bag_corridor.mp4", "motorway_overpass.mp4"])
def test_tampering_is_found_within_5_s(clips, ffmpeg, tmp_path, clip, case):
    video_filter, expected = TAMPERS[case]
    tampered = tmp_path / f"{case}.mp4"
    subprocess.run([ffmpeg, "-loglevel", "error", "-y", "-i", str(clips / clip), "-t", "14",
                    "-vf", video_filter, "-an", str(tampered)], check=True, timeout=120)
    changes = view_changes(play(tampered))
    assert changes, f"{case} not found"
    t, problem = changes[0]
    assert problem is expected
    assert ONSET_S <= t <= ONSET_S + 5.0
    assert [p for _, p in changes] == [expected]  # and it stays so (no flapping)


def test_an_accepted_view_is_the_new_reference(clips, ffmpeg, tmp_path):
    video_filter, _ = TAMPERS["moved"]
    moved = tmp_path / "moved.mp4"
    subprocess.run([ffmpeg, "-loglevel", "error", "-y", "-i",
                    str(clips / "abandoned_bag_corridor.mp4"), "-t", "20", "-vf", video_filter,
                    "-an", str(moved)], check=True, timeout=120)
    assert [p for _, p in view_changes(play(moved))] == [ViewProblem.MOVED]  # and it stays
    # accepted before the move is confirmed: the new view is learned, nothing is reported
    assert view_changes(play(moved, accepted_s=7.0)) == []
    # accepted once reported: back to normal on the new view, and it stays so
    changes = view_changes(play(moved, accepted_s=9.0))
    assert [p for _, p in changes] == [ViewProblem.MOVED, ViewProblem.NONE]
    assert 9.0 <= changes[-1][0] <= 15.0


# -- the decisions, on their own ----------------------------------------------------------------

def test_a_region_covered_by_a_person_is_not_an_object():
    regions = StaticRegions()
    box = (10.0, 10.0, 30.0, 30.0)
    person = (5.0, 0.0, 35.0, 40.0)
    emitted = [regions.update(t / 5, [StillBlob(box, 400, 0.9)], [person]) for t in range(30)]
    assert not any(emitted)  # a still person, 6 s long
    later = [regions.update(6 + t / 5, [StillBlob(box, 400, 0.9)], []) for t in range(10)]
    assert later[-1] and later[-1][0].box == box  # the person left it there


def test_a_ghost_is_a_removed_object():
    regions = StaticRegions()
    box = (10.0, 10.0, 30.0, 30.0)
    emitted = [regions.update(t / 5, [StillBlob(box, 400, 0.2)], []) for t in range(30)]
    assert emitted[-1] and all(r.removed for found in emitted for r in found)


def test_a_region_hidden_by_passers_by_keeps_its_id():
    regions = StaticRegions()
    box = (10.0, 10.0, 30.0, 30.0)
    ids = set()
    for i in range(60):
        blobs = [] if 20 <= i < 30 else [StillBlob(box, 400, 0.9)]  # hidden for 2 s
        ids |= {r.region_id for r in regions.update(i / 5, blobs, [])}
    assert len(ids) == 1


def test_a_view_problem_must_last_before_it_is_reported_and_clears_the_same_way():
    watch = ViewWatch()
    normal = ViewMeasures(100.0, 50.0, 400.0, 0.0, 0.0)
    blurred = ViewMeasures(100.0, 48.0, 40.0, 0.0, 0.0)
    assert all(watch.update(t / 5, normal) is None for t in range(15))  # the baseline
    assert watch.update(3.0, blurred) is None and watch.update(3.2, normal) is None  # a blip
    changes = [watch.update(4 + t / 5, blurred) for t in range(10)]
    found = [c for c in changes if c is not None]
    assert len(found) == 1 and found[0].problem is ViewProblem.DEFOCUSED
    assert found[0].since_s == 4.0
    back = [c for c in (watch.update(6 + t / 5, normal) for t in range(20)) if c is not None]
    assert len(back) == 1 and back[0].problem is ViewProblem.NONE


def test_a_camera_that_moves_all_the_time_is_never_moved():
    watch = ViewWatch()
    panning = [watch.update(t / 5, ViewMeasures(100.0, 50.0, 400.0, 0.2, 0.05))
               for t in range(50)]
    assert not watch.steady and not any(panning)
