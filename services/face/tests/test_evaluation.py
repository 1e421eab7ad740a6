"""Biometric error rates: FMR/FNMR, thresholds for a target FMR, EER, the LFW fold protocol,
NIST IR 8280 per-group differentials with bootstrap intervals, and the service's threshold from a
model's measured calibration."""

from __future__ import annotations

import math

import numpy as np
import pytest
from vigie_face.domain import evaluation as ev


def test_rates_count_matches_at_or_above_the_threshold():
    fmr, fnmr = ev.fmr_fnmr([0.5, 0.7, 0.9], [0.1, 0.2, 0.5, 0.6], [0.5, 0.65, 1.0])
    assert list(fmr) == [0.5, 0.0, 0.0]
    assert list(fnmr) == pytest.approx([0.0, 1 / 3, 1.0])


@pytest.mark.parametrize(("target", "matches"), [(0.0, 0), (0.001, 1), (0.0105, 10), (0.5, 500)])
def test_the_threshold_for_a_target_fmr_lets_exactly_that_many_impostors_through(target, matches):
    impostor = np.random.default_rng(0).normal(size=1000).astype(np.float32)
    t = ev.threshold_at_fmr(impostor, target)
    assert int(np.sum(impostor >= t)) == matches  # float32 scores compared as they are stored
    assert ev.fmr_fnmr([1.0], impostor, [t])[0][0] <= target


def test_eer_where_the_rates_cross():
    rng = np.random.default_rng(1)
    genuine, impostor = rng.normal(2, 1, 20000), rng.normal(0, 1, 20000)
    rate, threshold = ev.eer(genuine, impostor)
    assert threshold == pytest.approx(1.0, abs=0.05)
    assert rate == pytest.approx(0.1587, abs=0.01)  # Phi(-1) for two unit normals 2 apart


def test_lfw_protocol_picks_each_folds_threshold_on_the_other_folds():
    scores = [0.9, 0.8, 0.2, 0.1] * 5
    same = [True, True, False, False] * 5
    folds = [k for k in range(5) for _ in range(4)]
    result = ev.fold_accuracy(scores, same, folds)
    assert result.mean == 1.0 and len(result.thresholds) == 5
    assert all(0.2 < t <= 0.8 for t in result.thresholds)


def group(name: str, m: int, genuine_mean: float, impostor_sd: float, seed: int) -> ev.GroupScores:
    rng = np.random.default_rng(seed)
    impostor = rng.normal(0, impostor_sd, (m, m)).astype(np.float32)
    impostor = np.triu(impostor, 1) + np.triu(impostor, 1).T
    owners = np.repeat(np.arange(m), 3)
    genuine = rng.normal(genuine_mean, 0.1, len(owners)).astype(np.float32)
    return ev.GroupScores(name, genuine, owners.astype(np.int64), impostor)


def test_nist_ir_8280_fixes_the_threshold_on_the_reference_and_reports_the_others():
    reference = group("ref", 300, 0.7, 0.1, 2)
    wider = group("wider", 200, 0.5, 0.15, 3)  # impostors spread more: more false matches
    threshold, rates = ev.differentials([reference, wider], "ref", 1e-3, reps=200, seed=4)
    ref, other = rates
    assert ref.fmr.value == pytest.approx(1e-3, rel=0.05) and ref.fmr_ratio == 1.0
    assert threshold == pytest.approx(ev.threshold_at_fmr(reference.impostor_scores(), 1e-3))
    assert other.fmr.value > 5 * ref.fmr.value and other.fmr_ratio > 5
    assert other.fnmr.value > ref.fnmr.value
    for r in rates:
        assert r.fmr.low <= r.fmr.value <= r.fmr.high
        assert r.fnmr.low <= r.fnmr.value <= r.fnmr.high
    assert (other.identities, other.genuine_pairs, other.impostor_pairs) == (200, 600, 19900)
    # a small group gets a wide interval: the report must show how thin it is
    small = group("small", 12, 0.5, 0.15, 5)
    _, (_, thin) = ev.differentials([reference, small], "ref", 1e-3, reps=200, seed=6)
    assert thin.fnmr.high - thin.fnmr.low > other.fnmr.high - other.fnmr.low
    assert not ev.resolvable(1e-3, thin.impostor_pairs)
    with pytest.raises(ValueError, match="reference group"):
        ev.differentials([reference], "nobody", 1e-3)


@pytest.mark.parametrize(("target", "expected"), [
    (1e-3, 0.36), (1e-4, 0.42), (3.1623e-4, 0.39), (1e-2, 0.29)])
def test_the_service_threshold_comes_from_the_measured_calibration(target, expected):
    calibration = {1e-2: 0.29, 1e-3: 0.36, 1e-4: 0.42, 1e-5: 0.47}
    assert ev.threshold_for_fmr(calibration, target) == pytest.approx(expected, abs=1e-3)


def test_no_threshold_is_invented_outside_what_was_measured():
    with pytest.raises(ValueError, match="outside the measured range"):
        ev.threshold_for_fmr({1e-3: 0.36, 1e-4: 0.42}, 1e-6)
    with pytest.raises(ValueError, match="no measured calibration"):
        ev.threshold_for_fmr({}, 1e-3)
    assert math.isnan(ev.group_rates(group("one", 1, 0.5, 0.1, 7), 0.3, 10, 0).fmr.value)
