"""Sampling by stream time, motion gating with keep-alive, and analysis sizes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from vigie_ingest.domain.sampling import FrameGate, fit_within, motion_score

STILL = np.full((36, 64), 100, dtype=np.uint8)


def sampled(gate: FrameGate, source_fps: float, seconds: float) -> list[float]:
    times = [i / source_fps for i in range(int(seconds * source_fps))]
    return [t for t in times if gate.due(t)]


@pytest.mark.parametrize(("source_fps", "sample_fps", "expected"), [
    (25, 5, 50), (30, 5, 50), (10, 2, 20), (25, 3, 30), (12.5, 5, 50), (5, 10, 50),
])
def test_frames_are_sampled_at_the_camera_rate_by_stream_time(source_fps, sample_fps, expected):
    gate = FrameGate(sample_fps, min_motion=0, keepalive_s=10)
    assert len(sampled(gate, source_fps, 10)) == expected


@given(source_fps=st.floats(1, 60), sample_fps=st.floats(0.2, 30), seconds=st.floats(2, 30))
def test_the_sampled_rate_never_exceeds_either_rate(source_fps, sample_fps, seconds):
    times = sampled(FrameGate(sample_fps, 0, 10), source_fps, seconds)
    n_source = int(seconds * source_fps)
    assert len(times) <= min(n_source, seconds * sample_fps + 1)
    assert len(times) >= min(n_source, seconds * min(sample_fps, source_fps)) * 0.5 - 1


def test_a_restarted_stream_starts_a_new_grid_instead_of_waiting():
    gate = FrameGate(1, 0, 10)
    assert [t for t in [0.0, 0.5, 1.0, 1.5, 2.0] if gate.due(t)] == [0.0, 1.0, 2.0]
    assert gate.due(0.0)  # the file looped: its first frame is due again


def test_a_gap_in_the_stream_does_not_cause_a_burst():
    gate = FrameGate(2, 0, 10)
    assert gate.due(0.0)
    assert gate.due(60.0)
    assert not gate.due(60.1)
    assert gate.due(60.5)


def test_still_frames_are_held_back_until_the_keepalive_and_motion_is_sent_at_once():
    gate = FrameGate(5, min_motion=0.01, keepalive_s=10)
    assert gate.publish(0.0, STILL) == (True, 1.0)  # the first frame always goes
    assert gate.publish(1.0, STILL)[0] is False
    moved = STILL.copy()
    moved[10:20, 10:30] = 200  # a car drives in: 200 of 2304 pixels change
    publish, score = gate.publish(2.0, moved)
    assert publish and score == pytest.approx(200 / STILL.size)
    assert gate.publish(5.0, moved)[0] is False
    assert gate.publish(12.0, moved)[0] is True  # keep-alive: 10 s since the last one


def test_motion_score_ignores_sensor_noise_below_the_threshold():
    noisy = STILL + np.random.default_rng(1).integers(0, 20, STILL.shape, dtype=np.uint8)
    assert motion_score(STILL, noisy) == 0.0
    assert motion_score(None, STILL) == 1.0


@pytest.mark.parametrize(("size", "bounds", "fitted"), [
    ((1920, 1080), (960, 540), (960, 540)),
    ((768, 576), (960, 540), (720, 540)),
    ((640, 480), (960, 540), (640, 480)),  # never upscaled
    ((4000, 3000), (640, 640), (640, 480)),
    ((1001, 601), (960, 540), (898, 540)),  # 899 rounds down: even sizes for the encoder
])
def test_analysis_size_keeps_the_aspect_ratio_within_the_bounds(size, bounds, fitted):
    assert fit_within(*size, *bounds) == fitted
