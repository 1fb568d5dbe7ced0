"""The categorical GP's inputs: one integer code per parameter, "inactive" one more category."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from bonas.errors import InvalidArchitectureError
from bonas.spaces import Categorical, CategoricalSpace, get_space, mlp_space
from bonas.surrogates.gp import ParameterCodes, SharedChoices


def test_codes_are_choice_indices_and_inactive_is_one_more() -> None:
    space = mlp_space(max_layers=3, widths=(16, 32, 64))
    codes = ParameterCodes(space, owner="gp-categorical")
    shallow = space.from_params({"n_layers": 1, "width_1": 32})
    deep = space.from_params({"n_layers": 3, "width_1": 16, "width_2": 64, "width_3": 32})
    encoded = codes([shallow, deep])
    assert encoded.dtype == torch.float64
    assert encoded.tolist() == [[0, 1, 3, 3], [2, 0, 2, 1]]
    assert codes([]).shape == (0, len(space.parameters))


def test_codes_name_their_owner_for_architectures_of_another_space() -> None:
    codes = ParameterCodes(mlp_space(), owner="my-gp")
    other = get_space("nb201").sample(np.random.default_rng(0))
    with pytest.raises(InvalidArchitectureError, match="my-gp is for space"):
        codes([other])


def test_a_value_that_is_not_a_choice_is_refused() -> None:
    space = mlp_space(max_layers=2, widths=(16, 32))
    architecture = space.from_params({"n_layers": 1, "width_1": 16})
    bad = dataclasses.replace(architecture, params=(("n_layers", 1), ("width_1", 48)))
    with pytest.raises(InvalidArchitectureError, match="width_1=48"):
        ParameterCodes(space, owner="gp-categorical")([bad])


def test_parameters_with_the_same_choices_are_one_set() -> None:
    space = CategoricalSpace(
        "sets",
        [
            Categorical("op_a", ("conv", "pool", "skip")),
            Categorical("flag", (1, 2)),
            Categorical("op_b", ("conv", "pool", "skip")),
            Categorical("lone", ("x", "y", "z")),
            Categorical("op_c", ("conv", "pool", "skip")),
            Categorical("reordered", ("pool", "conv", "skip")),
            Categorical("typed", (True, 2)),
        ],
    )
    shared = ParameterCodes(space, owner="gp-categorical").shared_choices()
    # One set of three; a lone parameter, other orders and values equal only in Python (True == 1) are none.
    assert shared == [SharedChoices(columns=(0, 2, 4), levels=3)]
    assert ParameterCodes(mlp_space(max_layers=3), owner="gp").shared_choices() == [
        SharedChoices(columns=(1, 2, 3), levels=len(mlp_space(max_layers=3).parameters[1].choices))
    ]
