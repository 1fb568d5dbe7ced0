"""User-defined categorical spaces: the builder, conditions, constraints and the MLP space."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bonas import trials
from bonas.architecture import Cell
from bonas.errors import InvalidArchitectureError
from bonas.spaces import CategoricalSpace, get_space, mlp_space
from bonas.spaces.base import Categorical, Params, SearchSpace
from bonas.spaces.categorical import MLP_WIDTHS
from bonas.testing.spaces import SearchSpaceConformance


def widths_of(params: Params) -> list[int]:
    return [int(params[f"width_{k}"]) for k in range(1, int(params["n_layers"]) + 1)]  # type: ignore[arg-type]


def non_increasing(params: Params) -> bool:
    widths = widths_of(params)
    return all(a >= b for a, b in itertools.pairwise(widths))


def funnel_space() -> CategoricalSpace:
    """The MLP parameters with the constraint that widths never grow with depth."""
    return CategoricalSpace("funnel", mlp_space().parameters, constraint=non_increasing)


def plain_space() -> CategoricalSpace:
    """No graph, mixed choice types."""
    return CategoricalSpace(
        "plain",
        [
            Categorical("optimizer", ("sgd", "adam")),
            Categorical("lr", (0.1, 0.01, 0.001)),
            Categorical("nesterov", (True, False), active_if=lambda p: p["optimizer"] == "sgd"),
            Categorical("dropout", (None, 0.5)),
        ],
    )


class TestMLPConformance(SearchSpaceConformance):
    def make_space(self) -> SearchSpace:
        return mlp_space()


class TestFunnelConformance(SearchSpaceConformance):
    def make_space(self) -> SearchSpace:
        return funnel_space()


class TestPlainConformance(SearchSpaceConformance):
    def make_space(self) -> SearchSpace:
        return plain_space()


# -- The MLP space ------------------------------------------------------------------------------------


def test_mlp_space_is_registered() -> None:
    space = get_space("mlp")
    assert isinstance(space, CategoricalSpace)
    assert space.name == "mlp"


def test_mlp_parameters_and_size() -> None:
    space = mlp_space()
    assert [p.name for p in space.parameters] == ["n_layers", "width_1", "width_2", "width_3"]
    assert space.parameters[0].choices == (1, 2, 3)
    assert all(p.choices == MLP_WIDTHS for p in space.parameters[1:])
    assert space.size() == 6 + 6**2 + 6**3
    assert mlp_space(max_layers=1, widths=(8, 16)).size() == 2
    assert mlp_space(max_layers=2, widths=(8, 16)).size() == 2 + 4


def test_mlp_string_form_and_typed_parse() -> None:
    space = mlp_space()
    arch = space.from_params({"n_layers": 2, "width_1": 64, "width_2": 128})
    assert str(arch) == "n_layers=2,width_1=64,width_2=128"
    parsed = space.parse("n_layers=2,width_1=64,width_2=128")
    assert parsed == arch
    assert parsed.param_dict == {"n_layers": 2, "width_1": 64, "width_2": 128}
    assert all(isinstance(v, int) for v in parsed.param_dict.values())
    # Order and spaces around items do not matter when parsing; the string form is canonical.
    assert space.parse(" width_2=128 , n_layers=2,width_1=64") == arch


def test_mlp_graph_is_a_labelled_chain() -> None:
    arch = mlp_space().from_params({"n_layers": 3, "width_1": 256, "width_2": 64, "width_3": 16})
    graph = arch.to_networkx()
    labels = [graph.nodes[i]["label"] for i in range(graph.number_of_nodes())]
    assert labels == ["input", "linear_256", "linear_64", "linear_16", "output"]
    assert sorted(graph.edges()) == [(0, 1), (1, 2), (2, 3), (3, 4)]
    assert arch.cell().output == 4


def test_mlp_hash_separates_depth_and_order() -> None:
    space = mlp_space()
    digests = {arch.canonical_hash for arch in space.enumerate()}
    # A chain is its own canonical form: no two MLPs are isomorphic.
    assert len(digests) == space.size()


@pytest.mark.parametrize("max_layers", [0, -1])
def test_mlp_space_rejects_no_layers(max_layers: int) -> None:
    with pytest.raises(ValueError, match=f"got {max_layers}"):
        mlp_space(max_layers=max_layers)


# -- Conditional parameters ---------------------------------------------------------------------------


def test_width_3_only_when_three_layers() -> None:
    space = mlp_space()
    rng = np.random.default_rng(0)
    for _ in range(200):
        params = space.sample(rng).param_dict
        assert set(params) == {"n_layers", *(f"width_{k}" for k in range(1, params["n_layers"] + 1))}


def test_inactive_parameter_is_rejected_by_name() -> None:
    with pytest.raises(InvalidArchitectureError, match="'width_3' is inactive"):
        mlp_space().from_params({"n_layers": 2, "width_1": 64, "width_2": 64, "width_3": 64})
    with pytest.raises(InvalidArchitectureError, match="'width_2' is missing"):
        mlp_space().from_params({"n_layers": 2, "width_1": 64})


def test_neighbours_follow_the_conditions() -> None:
    space = mlp_space()
    arch = space.from_params({"n_layers": 2, "width_1": 64, "width_2": 32})
    neighbours = space.neighbours(arch)
    deeper = [n for n in neighbours if n.param_dict["n_layers"] == 3]
    shallower = [n for n in neighbours if n.param_dict["n_layers"] == 1]
    # Growing to 3 layers keeps width_1, width_2 and tries every width_3.
    assert sorted(n.param_dict["width_3"] for n in deeper) == sorted(MLP_WIDTHS)
    assert all(n.param_dict["width_1"] == 64 and n.param_dict["width_2"] == 32 for n in deeper)
    # Shrinking to 1 layer drops width_2.
    assert [n.param_dict for n in shallower] == [{"n_layers": 1, "width_1": 64}]
    assert len(neighbours) == 6 + 1 + 5 + 5


def test_mutate_that_deepens_draws_the_new_width() -> None:
    space = mlp_space()
    arch = space.from_params({"n_layers": 1, "width_1": 64})
    rng = np.random.default_rng(1)
    mutants = [space.mutate(arch, rng) for _ in range(100)]
    depths = {m.param_dict["n_layers"] for m in mutants}
    assert depths == {1, 2, 3}
    assert all(m.param_dict["width_1"] == 64 for m in mutants if m.param_dict["n_layers"] > 1)


def test_distributions_are_the_union_over_branches() -> None:
    distributions = trials.distributions(mlp_space())
    assert set(distributions) == {"n_layers", "width_1", "width_2", "width_3"}


# -- Constraints --------------------------------------------------------------------------------------


def test_constraint_is_respected_everywhere() -> None:
    space = funnel_space()
    rng = np.random.default_rng(2)
    samples = [space.sample(rng) for _ in range(100)]
    assert all(non_increasing(a.param_dict) for a in samples)
    for arch in samples[:20]:
        assert non_increasing(space.mutate(arch, rng).param_dict)
        assert all(non_increasing(n.param_dict) for n in space.neighbours(arch))
    enumerated = list(space.enumerate())
    assert all(non_increasing(a.param_dict) for a in enumerated)
    # widths non-increasing: multisets of size k from 6 widths
    expected = sum(len(list(itertools.combinations_with_replacement(MLP_WIDTHS, k))) for k in (1, 2, 3))
    assert space.size() == len(enumerated) == expected == 6 + 21 + 56


def test_constraint_violation_is_rejected_with_a_message() -> None:
    space = funnel_space()
    params = {"n_layers": 2, "width_1": 32, "width_2": 64}
    with pytest.raises(InvalidArchitectureError, match="violates the constraint of space 'funnel'") as info:
        space.from_params(params)
    assert "'width_2': 64" in str(info.value)
    assert not space.is_valid(params)
    with pytest.raises(InvalidArchitectureError, match="violates"):
        space.parse("n_layers=2,width_1=32,width_2=64")
    unconstrained = mlp_space().from_params(params)
    with pytest.raises(InvalidArchitectureError, match="belongs to space 'mlp'"):
        space.validate(unconstrained)


def test_constraint_that_rejects_everything_fails_sampling_clearly() -> None:
    space = CategoricalSpace("nothing", [Categorical("x", (1, 2))], constraint=lambda p: False)
    with pytest.raises(InvalidArchitectureError, match="No valid architecture"):
        space.sample(np.random.default_rng(0), max_tries=10)
    assert space.size() == 0
    assert list(space.enumerate()) == []


def test_single_choice_parameters_cannot_mutate() -> None:
    space = CategoricalSpace("fixed", [Categorical("x", ("only",))])
    arch = space.from_params({"x": "only"})
    with pytest.raises(InvalidArchitectureError, match="two or more choices"):
        space.mutate(arch, np.random.default_rng(0))
    assert space.neighbours(arch) == []


# -- Spaces with and without a graph ------------------------------------------------------------------


def test_space_without_graph_hashes_its_parameters() -> None:
    space = plain_space()
    archs = list(space.enumerate())
    assert all(arch.cells == () for arch in archs)
    assert len({arch.canonical_hash for arch in archs}) == len(archs) == space.size() == 2 * 3 * 2 + 3 * 2
    a = space.from_params({"optimizer": "adam", "lr": 0.1, "dropout": None})
    assert a.canonical_hash == space.parse(str(a)).canonical_hash
    with pytest.raises(InvalidArchitectureError, match="cells"):
        a.cell()


def test_space_with_graph_merges_isomorphic_parameter_sets() -> None:
    def two_branches(params: Params) -> Cell:
        return Cell(
            nodes=("input", str(params["left"]), str(params["right"]), "output"),
            edges=((0, 1, ""), (0, 2, ""), (1, 3, ""), (2, 3, "")),
        )

    choices = [Categorical("left", ("conv", "pool")), Categorical("right", ("conv", "pool"))]
    with_graph = CategoricalSpace("branches", choices, graph=two_branches)
    without_graph = CategoricalSpace("branches", choices)
    left_conv = {"left": "conv", "right": "pool"}
    right_conv = {"left": "pool", "right": "conv"}
    assert (
        with_graph.from_params(left_conv).canonical_hash == with_graph.from_params(right_conv).canonical_hash
    )
    assert (
        without_graph.from_params(left_conv).canonical_hash
        != without_graph.from_params(right_conv).canonical_hash
    )
    assert len({a.canonical_hash for a in with_graph.enumerate()}) == 3


def test_mixed_choice_types_round_trip_through_strings() -> None:
    space = plain_space()
    arch = space.from_params({"optimizer": "sgd", "lr": 0.001, "nesterov": False, "dropout": None})
    assert str(arch) == "optimizer=sgd,lr=0.001,nesterov=False,dropout=None"
    parsed = space.parse(str(arch))
    assert parsed.param_dict == {"optimizer": "sgd", "lr": 0.001, "nesterov": False, "dropout": None}
    assert parsed.param_dict["nesterov"] is False and parsed.param_dict["dropout"] is None


# -- Construction and parse errors --------------------------------------------------------------------


def test_duplicate_parameter_names_raise() -> None:
    with pytest.raises(ValueError, match="repeated parameter names"):
        CategoricalSpace("dup", [Categorical("x", (1, 2)), Categorical("x", (3, 4))])


def test_empty_space_raises() -> None:
    with pytest.raises(ValueError, match="at least one parameter"):
        CategoricalSpace("empty", [])


def test_empty_or_repeated_choices_raise() -> None:
    with pytest.raises(ValueError, match="'x' needs at least one choice"):
        Categorical("x", ())
    with pytest.raises(ValueError, match="repeated choices"):
        Categorical("x", ("a", "b", "a"))


@pytest.mark.parametrize("choice", ["a,b", "a=b", ","])
def test_choice_with_separator_raises(choice: str) -> None:
    with pytest.raises(ValueError, match="contains ',' or '='"):
        CategoricalSpace("bad", [Categorical("x", ("ok", choice))])


def test_choices_become_a_tuple() -> None:
    parameter = Categorical("x", [1, 2])  # type: ignore[arg-type]
    assert parameter.choices == (1, 2)


def test_choices_with_equal_strings_are_rejected() -> None:
    # The string form could not tell 1 from '1', so parse(str(arch)) would differ from arch.
    with pytest.raises(ValueError, match="print alike"):
        CategoricalSpace("ambiguous", [Categorical("x", (1, "1"))])


@pytest.mark.parametrize("name", ["a=b", "a,b", " a"])
def test_parameter_name_with_separator_is_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="rename it"):
        CategoricalSpace("bad", [Categorical(name, (1, 2))])


def test_parse_rejects_a_repeated_parameter() -> None:
    with pytest.raises(InvalidArchitectureError, match="'n_layers' appears twice"):
        mlp_space().parse("n_layers=1,n_layers=1,width_1=64")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("n_layers=1,width_1=65", "'65' of 'width_1'"),
        ("n_layers=1,depth=3", "no parameter 'depth'"),
        ("n_layers=1,width_1", "Malformed item 'width_1'"),
        ("n_layers=1,,width_1=64", "Malformed item ''"),
        ("=1", "Malformed item '=1'"),
        ("n_layers=2,width_1=64", "'width_2' is missing"),
        ("n_layers=1,width_1=64,width_2=64", "'width_2' is inactive"),
    ],
)
def test_parse_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=message):
        mlp_space().parse(text)


def test_a_graph_that_leaves_out_a_parameter_is_named_in_a_warning(caplog) -> None:
    def chain(params: dict) -> Cell:  # "width" never reaches the graph
        depth = params["depth"]
        return Cell(nodes=("input", *("conv",) * depth, "output"),
                    edges=tuple((i, i + 1, "") for i in range(depth + 1)), inputs=(0,), output=-1)  # fmt: skip

    parameters = [Categorical("width", (16, 32, 64)), Categorical("depth", (1, 2))]
    with caplog.at_level("WARNING", logger="bonas.spaces.categorical"):
        space = CategoricalSpace("lossy", parameters, graph=chain)
    assert "Parameters 'width' of space 'lossy' never change its graph" in caplog.text
    assert space.parameters_outside_the_hash(np.random.default_rng(1)) == ["width"]
    caplog.clear()
    with caplog.at_level("WARNING", logger="bonas.spaces.categorical"):
        mlp_space()  # every parameter is in its graph
    assert not caplog.text


def test_a_condition_or_constraint_reading_an_unknown_parameter_is_named_when_the_space_is_built() -> None:
    with pytest.raises(
        ValueError,
        match=r"active_if of parameter 'b' reads 'd', which is not among the parameters decided before",
    ):
        CategoricalSpace(
            "c", [Categorical("a", (1, 2)), Categorical("b", (1, 2), active_if=lambda p: p["d"] == 1)]
        )
    with pytest.raises(
        ValueError, match=r"The constraint of space 'c' raised KeyError 'b'.*params\.get\(name\)"
    ):
        CategoricalSpace("c", [Categorical("a", (1, 2)), Categorical("b", (1, 2), active_if=lambda p: p["a"] == 1)],
                         constraint=lambda p: p["b"] < 3)  # fmt: skip
