"""`vigie eval tune`'s selection: leave-one-out over a table of losses (pure)."""

from __future__ import annotations

import pytest
from vigie_eval.tune import best_config, leave_one_out, objective

# losses[config][item]: "fit-a" is excellent on item a only (a configuration fit to one
# sequence), "steady" good everywhere, "default" the production default.
LOSSES = {
    "default": {"a": 0.40, "b": 0.40, "c": 0.40},
    "steady": {"a": 0.30, "b": 0.31, "c": 0.29},
    "fit-a": {"a": 0.01, "b": 0.70, "c": 0.65},
}


def test_objective_is_the_mean_loss_over_the_items() -> None:
    assert objective(LOSSES["steady"], ["a", "b"]) == pytest.approx(0.305)
    assert objective(LOSSES["steady"], []) == 0.0


def test_each_item_gets_the_configuration_best_on_the_others() -> None:
    chosen = leave_one_out(LOSSES)
    # Left out a, the others (b, c) prefer steady; left out b or c, fit-a's single
    # excellent item does not outweigh its bad one.
    assert chosen == {"a": "steady", "b": "steady", "c": "steady"}
    assert best_config(LOSSES, ["a", "b", "c"]) == "steady"
    assert best_config(LOSSES, ["a"]) == "fit-a"  # on a alone, the fit wins


def test_ties_go_to_the_earlier_configuration() -> None:
    tied = {"default": {"a": 0.2, "b": 0.3}, "other": {"a": 0.3, "b": 0.2}}
    assert best_config(tied, ["a", "b"]) == "default"
    assert leave_one_out(tied) == {"a": "other", "b": "default"}
