"""Biometric performance figures, ISO/IEC 19795-1 vocabulary, computed from comparison scores.

Scores are similarities (higher = more alike); a comparison is a match when score >= threshold.
FMR = impostor comparisons that match / impostor comparisons; FNMR = genuine comparisons that do
not match / genuine comparisons. Per-group figures follow NIST IR 8280: one threshold, fixed on a
reference group at a target FMR, applied to every group; FMR from impostor comparisons inside a
group (demographically matched impostors), FNMR from its genuine comparisons; 95 % intervals from
a bootstrap over *identities* (comparisons of one person are not independent).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Scores = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int64]


def fmr_fnmr(genuine: npt.ArrayLike, impostor: npt.ArrayLike,
             thresholds: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """FMR and FNMR at each threshold."""
    g = np.sort(np.asarray(genuine, np.float64))
    i = np.sort(np.asarray(impostor, np.float64))
    t = np.asarray(thresholds, np.float64)
    fnmr = np.searchsorted(g, t, side="left") / max(len(g), 1)
    fmr = (len(i) - np.searchsorted(i, t, side="left")) / max(len(i), 1)
    return fmr.astype(np.float64), fnmr.astype(np.float64)


def threshold_at_fmr(impostor: npt.ArrayLike, target: float) -> float:
    """The lowest threshold whose FMR does not exceed `target`: at most floor(target x N)
    impostor scores reach it."""
    i = np.sort(np.asarray(impostor))[::-1]  # kept in its dtype: the next value up must be
    if not len(i):                           # representable where scores are compared
        raise ValueError("no impostor comparison")
    allowed = math.floor(target * len(i))
    if allowed >= len(i):
        return float(i[-1])
    return float(np.nextafter(i[allowed], np.asarray(np.inf, i.dtype)))


def resolvable(target_fmr: float, impostors: int) -> bool:
    """Whether `impostors` comparisons can show an FMR of `target_fmr`: at least 10 expected
    false matches (a 95 % interval of roughly +-60 % around it)."""
    return target_fmr * impostors >= 10


def eer(genuine: npt.ArrayLike, impostor: npt.ArrayLike) -> tuple[float, float]:
    """Equal error rate and the threshold where FMR and FNMR cross (linear interpolation between
    the two neighbouring candidate thresholds)."""
    g = np.asarray(genuine, np.float64)
    i = np.asarray(impostor, np.float64)
    candidates = np.unique(np.concatenate([g, i]))
    fmr, fnmr = fmr_fnmr(g, i, candidates)
    diff = fmr - fnmr  # decreasing in the threshold
    k = int(np.searchsorted(-diff, 0.0))  # first index where fmr <= fnmr
    if k == 0:
        return float((fmr[0] + fnmr[0]) / 2), float(candidates[0])
    if k >= len(candidates):
        return float((fmr[-1] + fnmr[-1]) / 2), float(candidates[-1])
    d0, d1 = diff[k - 1], diff[k]
    w = d0 / (d0 - d1) if d0 != d1 else 0.5
    rate = (1 - w) * (fmr[k - 1] + fnmr[k - 1]) / 2 + w * (fmr[k] + fnmr[k]) / 2
    threshold = (1 - w) * candidates[k - 1] + w * candidates[k]
    return float(rate), float(threshold)


def det_points(genuine: npt.ArrayLike, impostor: npt.ArrayLike,
               points: int = 400) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(FMR, FNMR) along thresholds spanning every score, for a DET curve."""
    g = np.asarray(genuine, np.float64)
    i = np.asarray(impostor, np.float64)
    lo, hi = float(min(g.min(), i.min())), float(max(g.max(), i.max()))
    return fmr_fnmr(g, i, np.linspace(lo, hi, points))


@dataclass(frozen=True)
class FoldAccuracy:
    mean: float
    std: float
    thresholds: tuple[float, ...]


def fold_accuracy(scores: npt.ArrayLike, same: npt.ArrayLike, folds: npt.ArrayLike) -> FoldAccuracy:
    """The LFW protocol: for each fold, the threshold that maximises accuracy on the other
    folds is applied to it; mean and standard deviation of the per-fold accuracies."""
    s = np.asarray(scores, np.float64)
    y = np.asarray(same, bool)
    f = np.asarray(folds, np.int64)
    accuracies, chosen = [], []
    for fold in np.unique(f):
        train, test = f != fold, f == fold
        candidates = np.unique(s[train])
        correct = [(np.sum((s[train] >= t) == y[train]), t) for t in candidates]
        best = max(correct)[1]
        chosen.append(float(best))
        accuracies.append(float(np.mean((s[test] >= best) == y[test])))
    return FoldAccuracy(float(np.mean(accuracies)), float(np.std(accuracies)), tuple(chosen))


@dataclass(frozen=True)
class GroupScores:
    """A group's comparisons, in one index space of identities 0..m-1.

    genuine: scores of genuine pairs; genuine_owner: the identity of each. impostor: m x m
    scores between one representative image per identity (upper triangle used)."""

    name: str
    genuine: Scores
    genuine_owner: Ints
    impostor: Scores

    @property
    def identities(self) -> int:
        return int(self.impostor.shape[0])

    def impostor_scores(self) -> Scores:
        m = self.identities
        upper = np.triu_indices(m, k=1)
        return np.asarray(self.impostor[upper], np.float32)


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class GroupRates:
    name: str
    identities: int
    genuine_pairs: int
    impostor_pairs: int
    fmr: Interval
    fnmr: Interval
    fmr_ratio: float  # against the reference group; nan when the reference's rate is 0
    fnmr_ratio: float


class _Counter:
    """A group's errors at one threshold, precomputed so each bootstrap replicate is cheap."""

    def __init__(self, data: GroupScores, threshold: float) -> None:
        self.owners = data.genuine_owner
        self.rejected = data.genuine < threshold
        m = data.identities
        if m > 1:
            i, j = np.nonzero(np.triu(data.impostor >= threshold, k=1))
        else:
            i = j = np.zeros(0, np.int64)
        self.fm_i, self.fm_j = i, j

    def rates(self, counts: npt.NDArray[np.float64]) -> tuple[float, float]:
        gen_w = counts[self.owners]
        gen_total = float(gen_w.sum())
        fnmr = float(gen_w[self.rejected].sum() / gen_total) if gen_total else math.nan
        numerator = float(np.sum(counts[self.fm_i] * counts[self.fm_j]))
        total = float(counts.sum())
        denominator = (total * total - float(np.sum(counts * counts))) / 2
        fmr = numerator / denominator if denominator else math.nan
        return fmr, fnmr


def group_rates(data: GroupScores, threshold: float, reps: int, seed: int,
                confidence: float = 0.95) -> GroupRates:
    """FMR and FNMR of one group at `threshold`, with bootstrap intervals over identities."""
    m = data.identities
    counter = _Counter(data, threshold)
    fmr, fnmr = counter.rates(np.ones(m))
    rng = np.random.default_rng(seed)
    fmrs, fnmrs = [], []
    if m > 1:
        for _ in range(reps):
            counts = rng.multinomial(m, np.full(m, 1.0 / m)).astype(np.float64)
            a, b = counter.rates(counts)
            fmrs.append(a)
            fnmrs.append(b)
    alpha = (1 - confidence) / 2

    def interval(value: float, samples: Sequence[float]) -> Interval:
        finite = [s for s in samples if not math.isnan(s)]
        if not finite:
            return Interval(value, math.nan, math.nan)
        low, high = np.quantile(finite, [alpha, 1 - alpha])
        return Interval(value, float(low), float(high))

    return GroupRates(data.name, m, len(data.genuine), m * (m - 1) // 2, interval(fmr, fmrs),
                      interval(fnmr, fnmrs), math.nan, math.nan)


def _ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(a) and not math.isnan(b) else math.nan


def differentials(groups: Sequence[GroupScores], reference: str, target_fmr: float,
                  reps: int = 1000, seed: int = 0) -> tuple[float, list[GroupRates]]:
    """NIST IR 8280: the threshold giving `target_fmr` on the reference group's impostors, then
    every group's FMR and FNMR at that threshold, with intervals and ratios to the reference."""
    by_name = {g.name: g for g in groups}
    if reference not in by_name:
        raise ValueError(f"reference group {reference!r} not among {sorted(by_name)}")
    threshold = threshold_at_fmr(by_name[reference].impostor_scores(), target_fmr)
    results = [group_rates(g, threshold, reps, seed + k) for k, g in enumerate(groups)]
    ref = next(r for r in results if r.name == reference)
    out = [GroupRates(r.name, r.identities, r.genuine_pairs, r.impostor_pairs, r.fmr, r.fnmr,
                      _ratio(r.fmr.value, ref.fmr.value), _ratio(r.fnmr.value, ref.fnmr.value))
           for r in results]
    return threshold, out


def threshold_for_fmr(calibration: Mapping[float, float], target: float) -> float:
    """The decision threshold for a target FMR from a model's measured calibration (FMR ->
    threshold), interpolated linearly in log10(FMR). Outside the measured range is refused:
    no figure supports it."""
    if not calibration:
        raise ValueError("the model has no measured calibration: set the threshold explicitly")
    points = sorted(calibration.items())
    lowest, highest = points[0][0], points[-1][0]
    if not lowest <= target <= highest:
        raise ValueError(f"target FMR {target:g} is outside the measured range "
                         f"[{lowest:g}, {highest:g}] of this model")
    for (f0, t0), (f1, t1) in itertools.pairwise(points):
        if f0 <= target <= f1:
            if f0 == f1:
                return t0
            w = (math.log10(target) - math.log10(f0)) / (math.log10(f1) - math.log10(f0))
            return t0 + w * (t1 - t0)
    return points[0][1]
