"""The 1:N index: the best eligible template above the threshold, eligibility by expiry (event
time and wall clock) and camera scope, removal that leaves nothing behind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vigie_face.domain.watchlist import (
    Template,
    WatchlistIndex,
    match_id,
    mean_template,
    normalised,
)

NOW = datetime(2026, 2, 14, 14, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=1)


def unit(seed: int, dim: int = 8) -> np.ndarray:
    return normalised(np.random.default_rng(seed).normal(size=dim))


def template(subject: str, seed: int, expires=LATER, cameras=()) -> Template:
    return Template(subject, unit(seed), expires, frozenset(cameras), 1)


def near(vector: np.ndarray, noise: float, seed: int = 99) -> np.ndarray:
    return normalised(vector + noise * np.random.default_rng(seed).normal(size=vector.shape))


@pytest.fixture
def index() -> WatchlistIndex:
    ix = WatchlistIndex(8, capacity=2)
    ix.upsert(template("a", 1))
    ix.upsert(template("b", 2, cameras={"cam-1"}))
    ix.upsert(template("c", 3, expires=NOW + timedelta(hours=1)))
    return ix


@pytest.mark.parametrize(("probe_of", "camera", "at", "now", "expected"), [
    ("a", "cam-9", NOW, NOW, "a"),
    ("b", "cam-1", NOW, NOW, "b"),
    ("b", "cam-9", NOW, NOW, None),  # b may only be matched on cam-1
    ("c", "cam-9", NOW, NOW, "c"),
    ("c", "cam-9", NOW + timedelta(hours=1), NOW, None),  # frame taken after the expiry
    ("c", "cam-9", NOW, NOW + timedelta(hours=1), None),  # replayed after the expiry
])
def test_a_probe_matches_its_subject_only_where_and_while_eligible(index, probe_of, camera, at,
                                                                   now, expected):
    seed = {"a": 1, "b": 2, "c": 3}[probe_of]
    found = index.search(near(unit(seed), 0.05)[None], camera, at, now, 0.8)
    assert [m.subject_id for m in found] == ([expected] if expected else [])


def test_below_the_threshold_nothing_matches_and_several_probes_are_answered_each(index):
    stranger = unit(42)
    found = index.search(np.stack([stranger, near(unit(1), 0.05)]), "cam-1", NOW, NOW, 0.8)
    assert [(m.subject_id, m.probe) for m in found] == [("a", 1)]
    assert found[0].score == pytest.approx(float(near(unit(1), 0.05) @ unit(1)))


def test_removal_and_replacement_keep_the_index_consistent(index):
    assert index.remove("a") and not index.remove("a")
    assert "a" not in index and len(index) == 2
    assert index.search(unit(1)[None], "cam-1", NOW, NOW, 0.8) == []
    assert [m.subject_id for m in index.search(unit(2)[None], "cam-1", NOW, NOW, 0.8)] == ["b"]
    index.upsert(template("b", 5))  # re-enrolled: new template, every camera
    assert index.search(unit(2)[None], "cam-1", NOW, NOW, 0.8) == []
    assert [m.subject_id for m in index.search(unit(5)[None], "cam-7", NOW, NOW, 0.8)] == ["b"]
    assert index.expired(NOW + timedelta(hours=2)) == ["c"]
    # the freed rows hold zeros, not the erased template
    assert not np.any(index._vectors[len(index):])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.booleans()), min_size=1, max_size=40),
       st.integers(0, 1000))
def test_search_agrees_with_brute_force_after_any_upserts_and_removals(operations, probe_seed):
    ix = WatchlistIndex(8, capacity=1)
    alive: dict[str, np.ndarray] = {}
    for subject, add in operations:
        name = f"s{subject}"
        if add:
            ix.upsert(template(name, subject))
            alive[name] = unit(subject)
        else:
            ix.remove(name)
            alive.pop(name, None)
    probe = unit(probe_seed)
    found = ix.search(probe[None], "cam", NOW, NOW, -1.0)
    assert len(ix) == len(alive)
    if alive:
        best = max(alive, key=lambda k: float(alive[k] @ probe))
        assert found[0].subject_id == best or found[0].score == pytest.approx(
            float(alive[best] @ probe))
    else:
        assert found == []


def test_templates_are_mean_of_unit_embeddings_and_match_ids_are_deterministic():
    t = mean_template([unit(1) * 3, unit(1)])
    assert np.linalg.norm(t) == pytest.approx(1.0) and float(t @ unit(1)) == pytest.approx(1.0)
    box = (0.1, 0.2, 0.3, 0.4)
    assert match_id("cam:1", "subj", box) == match_id("cam:1", "subj", (0.1001, 0.2, 0.3, 0.4))
    assert match_id("cam:1", "subj", box) != match_id("cam:2", "subj", box)
    with pytest.raises(ValueError):
        mean_template([])
