"""The frame rate detect gives ByteTrack depends on the intervals between frames only, not on
when the session ran: its lost-track buffer is round(track_buffer * rate / 30) frames."""

from __future__ import annotations

import pytest
from vigie_detect.domain.frame_rate import FrameRate

ANCHORS_US = [1_796_126_978_329_977, 1_796_127_858_050_591, 1_767_225_600_000_000, 0]


def rates(anchor_us: int, intervals_us: list[int]) -> list[float]:
    rate, t, out = FrameRate(), anchor_us, []
    for interval in intervals_us:
        t += interval
        out.append(rate.update("cam", t))
    return out


@pytest.mark.parametrize("interval_us", [80_000, 40_000, 200_000, 33_367])
def test_a_steady_camera_has_the_same_rate_whenever_it_runs(interval_us):
    runs = [rates(anchor, [interval_us] * 90) for anchor in ANCHORS_US]
    assert all(run == runs[0] for run in runs)
    # 12.5 frames/s is exactly 12.5, so the lost-track buffer does not flip between 12 and 13
    assert runs[0][-1] == pytest.approx(1e6 / interval_us, abs=1e-9)
    assert len({round(30 * r / 30) for r in runs[0][1:]}) == 1


def test_a_jittery_camera_too():
    jitter = [80_000 + (i * 7919 % 2001) - 1000 for i in range(200)]
    runs = [rates(anchor, jitter) for anchor in ANCHORS_US]
    assert all(run == runs[0] for run in runs)


def test_restore_continues_exactly():
    whole = FrameRate()
    for i in range(10):
        whole.update("cam", ANCHORS_US[0] + i * 80_000)
    resumed = FrameRate()
    resumed.restore("cam", *whole.state("cam"))
    after = ANCHORS_US[0] + 10 * 80_000 + 123
    assert resumed.update("cam", after) == whole.update("cam", after)


def test_default_until_two_frames():
    rate = FrameRate(default=5.0)
    assert rate.update("cam", 1_000_000) == 5.0
    assert rate.state("cam") == (1_000_000, 0.0)
    assert rate.update("cam", 1_100_000) == pytest.approx(10.0)
