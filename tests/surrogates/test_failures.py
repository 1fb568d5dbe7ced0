"""The failure model: which architectures an objective fails on, learned from failed and completed ones."""

from __future__ import annotations

import numpy as np
import pytest

from bonas.architecture import Architecture
from bonas.errors import InvalidArchitectureError
from bonas.spaces import Categorical, CategoricalSpace, get_space
from bonas.surrogates.failures import FailureModel

SPACE = CategoricalSpace(
    "toy-failures",
    [
        Categorical("depth", (1, 2, 3, 4)),
        Categorical("width", (32, 64, 128, 256)),
        Categorical("act", ("relu", "gelu", "silu")),
        Categorical("norm", (True, False)),
    ],
)


def out_of_memory(architecture: Architecture) -> bool:
    return architecture.param_dict["depth"] == 4 and architecture.param_dict["width"] == 256


def evaluated(seed: int, n: int) -> tuple[list[Architecture], list[Architecture]]:
    """``n`` random architectures split into completed and failed, with at least two failures."""
    every = list(SPACE.enumerate())
    rng = np.random.default_rng(seed)
    drawn = [every[i] for i in rng.choice(len(every), n, replace=False)]
    failed = [a for a in drawn if out_of_memory(a)]
    for extra in (a for a in every if out_of_memory(a) and a not in failed):
        if len(failed) >= 2:
            break
        failed.append(extra)
    return [a for a in drawn if not out_of_memory(a)], failed


@pytest.mark.parametrize(
    ("seed", "evaluations", "false_alarms"), [(0, 20, 0.25), (1, 20, 0.25), (2, 60, 0.02)]
)
def test_a_region_that_fails_is_learned_from_a_few_failures(
    seed: int, evaluations: int, false_alarms: float
) -> None:
    completed, failed = evaluated(seed, evaluations)
    model = FailureModel(SPACE, seed=0).fit(completed, failed)
    unseen = [a for a in SPACE.enumerate() if a not in completed and a not in failed]
    probability = model.failure_probability(unseen)
    in_region = np.array([out_of_memory(a) for a in unseen])
    assert probability[in_region].min() >= 0.5
    # Two or three failures among 20 also fit "every deepest cell fails"; 60 evaluations tell them apart.
    assert probability[~in_region].mean() < false_alarms
    assert (probability[~in_region] >= 0.5).mean() <= false_alarms


def test_the_same_data_and_seed_give_the_same_probabilities() -> None:
    completed, failed = evaluated(0, 20)
    every = list(SPACE.enumerate())
    first = FailureModel(SPACE, seed=3).fit(completed, failed).failure_probability(every)
    second = FailureModel(SPACE, seed=3).fit(completed, failed).failure_probability(every)
    np.testing.assert_array_equal(first, second)
    assert first.shape == (len(every),) and ((first >= 0) & (first <= 1)).all()


def test_a_conditional_parameter_and_a_cell_space_are_coded() -> None:
    space = CategoricalSpace(
        "toy-conditional",
        [
            Categorical("layers", (1, 2)),
            Categorical("second_width", (16, 32), active_if=lambda earlier: earlier["layers"] == 2),
        ],
    )
    every = list(space.enumerate())
    assert len(every) == 3  # one layer (no second width), or two with either width
    failed = [a for a in every if a.param_dict.get("second_width") == 32]
    completed = [a for a in every if a not in failed]
    probability = FailureModel(space).fit(completed, failed).failure_probability(every)
    assert probability[every.index(failed[0])] > probability.max(
        initial=0, where=[a not in failed for a in every]
    )
    nb201 = get_space("nb201")
    cells = [nb201.sample(np.random.default_rng(i)) for i in range(6)]
    assert FailureModel(nb201).fit(cells[:4], cells[4:5]).failure_probability(cells).shape == (6,)


def test_bad_use_is_refused_with_what_to_do() -> None:
    completed, failed = evaluated(0, 20)
    with pytest.raises(
        ValueError, match="needs completed and failed evaluations, got 0 completed and 2 failed"
    ):
        FailureModel(SPACE).fit([], failed)
    with pytest.raises(ValueError, match="got 5 completed and 0 failed"):
        FailureModel(SPACE).fit(completed[:5], [])
    with pytest.raises(RuntimeError, match="before fit"):
        FailureModel(SPACE).failure_probability(completed)
    other = get_space("nb201").sample(np.random.default_rng(0))
    with pytest.raises(InvalidArchitectureError, match="FailureModel is for space 'toy-failures'"):
        FailureModel(SPACE).fit(completed, failed).failure_probability([other])
    assert FailureModel(SPACE).fit(completed, failed).failure_probability([]).shape == (0,)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_count_of_operations_that_fails_is_learned_from_the_value_shares(seed: int) -> None:
    """NB201 cells with three or more 3x3 convolutions fail (the largest run out of memory): a count over
    six edges, which the share of each operation carries and splits on single edges do not (the one-hot
    code alone, from the same 60 evaluations, misses 15-52% of the failing cells)."""
    space = get_space("nb201")

    def fails(a: Architecture) -> bool:
        return sum(value == "nor_conv_3x3" for value in a.param_dict.values()) >= 3

    every = list(space.enumerate())
    rng = np.random.default_rng(seed)
    drawn = [every[i] for i in rng.choice(len(every), 60, replace=False)]
    failed = [a for a in drawn if fails(a)]
    probability = (
        FailureModel(space, seed=0).fit([a for a in drawn if not fails(a)], failed).failure_probability(every)
    )
    failing = np.array([fails(a) for a in every])
    assert (probability[failing] < 0.5).mean() < 0.05  # missed failures
    assert (probability[~failing] >= 0.5).mean() < 0.02  # false alarms
