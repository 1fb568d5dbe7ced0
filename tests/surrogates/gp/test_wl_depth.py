"""How the WL GP chooses its number of WL iterations ``h`` (the schedule alone, no GP)."""

from __future__ import annotations

import math

from bonas.surrogates.gp import WLDepthSelection


def run(selection: WLDepthSelection, fits: int, scores: dict[int, float]) -> list[tuple[int, ...]]:
    """The depths tried by each of ``fits`` fits, each keeping the best of ``scores``."""
    tried = []
    for _ in range(fits):
        depths = selection.depths_to_try(degenerate=False)
        tried.append(depths)
        selection.keep_best({h: scores[h] for h in depths}, name="gp-wl")
    return tried


def test_every_depth_is_tried_every_reselect_every_fits() -> None:
    selection = WLDepthSelection(h=None, h_choices=(0, 1, 2, 3), reselect_every=3)
    tried = run(selection, 7, {0: -5.0, 1: -1.0, 2: -2.0, 3: -3.0})
    assert [len(depths) for depths in tried] == [4, 1, 1, 4, 1, 1, 4]
    assert tried[1] == (1,)
    assert selection.h == 1
    assert selection.scores == {0: -5.0, 1: -1.0, 2: -2.0, 3: -3.0}


def test_a_fixed_depth_is_always_the_one_tried() -> None:
    selection = WLDepthSelection(h=2, h_choices=(0, 1, 2, 3), reselect_every=1)
    assert run(selection, 3, {2: 0.0}) == [(2,)] * 3
    assert selection.h == 2 and selection.scores == {}


def test_values_without_spread_keep_the_last_choice_and_choose_again_next() -> None:
    selection = WLDepthSelection(h=None, h_choices=(0, 1, 2, 3), reselect_every=10)
    assert selection.depths_to_try(degenerate=True) == (2,)  # nothing chosen yet: the middle choice
    selection.keep_best({2: math.nan}, name="gp-wl")
    run(selection, 1, {0: 0.0, 1: 1.0, 2: -1.0, 3: -2.0})
    assert selection.h == 1
    assert selection.depths_to_try(degenerate=True) == (1,)
    selection.keep_best({1: math.nan}, name="gp-wl")
    assert len(selection.depths_to_try(degenerate=False)) == 4


def test_non_finite_scores_lose_and_ties_go_to_the_first_depth() -> None:
    selection = WLDepthSelection(h=None, h_choices=(0, 1, 2), reselect_every=1)
    assert selection.keep_best({0: math.nan, 1: -3.0, 2: -3.0}, name="gp-wl") == 1
    assert selection.keep_best({0: math.nan, 1: math.inf, 2: -3.0}, name="gp-wl") == 2
