"""The Gaussian-process surrogates: conformance, WL and path specifics, degenerate data and speed."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest
import torch
from botorch.models import SingleTaskGP
from gpytorch.kernels import Kernel
from linear_operator.utils.errors import NotPSDError

from bonas.encodings import PathEncoding, WLEncoding
from bonas.errors import InvalidArchitectureError, UnknownNameError
from bonas.spaces import get_space, mlp_space
from bonas.spaces.base import SearchSpace
from bonas.surrogates import (
    CategoricalGaussianProcess,
    PathGaussianProcess,
    SurrogateNotFittedError,
    WLGaussianProcess,
    make_surrogate,
    surrogate_names,
)
from bonas.surrogates.base import Surrogate
from bonas.surrogates.gp import NOISE_FLOORS, DenseLinearKernel, GaussianProcessSurrogate, fitting
from bonas.testing.surrogates import SurrogateConformance, nb201_split, nb201_table

GP_NAMES = ("gp-wl", "gp-categorical", "gp-path")


class TestWLGaussianProcess(SurrogateConformance):
    def make_surrogate(self, space: SearchSpace) -> Surrogate:
        return make_surrogate("gp-wl", space)


class TestWLGaussianProcessWithRBFKernel(SurrogateConformance):
    def make_surrogate(self, space: SearchSpace) -> Surrogate:
        return make_surrogate("gp-wl", space, kernel="rbf", h=2)


class TestCategoricalGaussianProcess(SurrogateConformance):
    #: The kernel sees six edge choices and how many edges hold each operation, not the graph (zero
    #: operations, isomorphic cells), and NB201's accuracies have a long tail of broken cells.
    min_kendall_tau = 0.15
    #: Its likelihood is flat along the two kernels' lengthscales: after a change of units, L-BFGS stops a
    #: few thousandths away in them, and predictions move by up to 0.5% of the spread.
    affine_tolerance = 1e-2

    def make_surrogate(self, space: SearchSpace) -> Surrogate:
        return make_surrogate("gp-categorical", space)


class TestCategoricalGaussianProcessWithOverlapKernel(SurrogateConformance):
    #: Six independent edge choices only: 0.21-0.44 over seeds 0-5.
    min_kendall_tau = 0.15

    def make_surrogate(self, space: SearchSpace) -> Surrogate:
        return make_surrogate("gp-categorical", space, kernel="overlap")


class TestCategoricalGaussianProcessWithAdditiveKernel(SurrogateConformance):
    #: A sum of per-parameter effects misses NB201's interactions between edges: it ranks below the
    #: product kernel on 30 points (its strength is on sparse data in large flat spaces, see the class).
    min_kendall_tau = 0.15

    def make_surrogate(self, space: SearchSpace) -> Surrogate:
        return make_surrogate("gp-categorical", space, kernel="additive")


class TestPathGaussianProcess(SurrogateConformance):
    #: 50 points cover few of NB201's paths well: 0.27-0.57 over seeds 0-5 (0.44-0.63 at 150 points).
    min_kendall_tau = 0.15

    def make_surrogate(self, space: SearchSpace) -> Surrogate:
        return make_surrogate("gp-path", space)


# -- Registry and arguments ------------------------------------------------------------------------------


def test_registry_builds_each_gaussian_process() -> None:
    space = nb201_table()[0]
    assert set(GP_NAMES) <= set(surrogate_names())
    assert isinstance(make_surrogate("gp-wl", space, h=1), WLGaussianProcess)
    assert isinstance(make_surrogate("gp-categorical", space), CategoricalGaussianProcess)
    assert isinstance(make_surrogate("gp-path", space, max_paths=10), PathGaussianProcess)


def test_registry_rejects_unknown_names() -> None:
    with pytest.raises(UnknownNameError, match="gp-wl"):
        make_surrogate("gp-nope", nb201_table()[0])


@pytest.mark.parametrize(
    "options",
    [
        {"h": -1},
        {"h": 1.5},
        {"h_choices": ()},
        {"reselect_every": 0},
        {"kernel": "cosine"},
        {"max_iterations": 0},
    ],
)
def test_wl_gp_rejects_bad_options(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        WLGaussianProcess(**options)  # type: ignore[arg-type]


def test_path_gp_rejects_bad_options() -> None:
    with pytest.raises(ValueError):
        PathGaussianProcess(max_paths=0)
    with pytest.raises(UnknownNameError):
        PathGaussianProcess(kernel="linear")


def test_categorical_gp_names_an_unknown_kernel_and_the_known_ones() -> None:
    with pytest.raises(UnknownNameError, match=r"'hamming'.*additive"):
        CategoricalGaussianProcess(nb201_table()[0], kernel="hamming")
    with pytest.raises(ValueError, match="ard=False applies to the overlap kernels only"):
        CategoricalGaussianProcess(nb201_table()[0], kernel="additive", ard=False)


def test_categorical_gp_needs_a_space() -> None:
    with pytest.raises(TypeError, match="search space"):
        CategoricalGaussianProcess("nb201")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["gp-wl", "gp-path"])
def test_graph_encodings_before_fit_raise(name: str) -> None:
    space, architectures, _ = nb201_table()
    with pytest.raises(SurrogateNotFittedError, match="fit"):
        make_surrogate(name, space).encode(architectures[:2])


# -- WL: choosing h, exact kernel ------------------------------------------------------------------------


def count_fits(monkeypatch: pytest.MonkeyPatch, surrogate: GaussianProcessSurrogate) -> list[int]:
    """A list that grows by one entry per GP fitted by ``surrogate``."""
    calls: list[int] = []
    original = surrogate._fit_model

    def counting(x: torch.Tensor, y: torch.Tensor) -> tuple[SingleTaskGP, float]:
        calls.append(x.shape[0])
        return original(x, y)

    monkeypatch.setattr(surrogate, "_fit_model", counting)
    return calls


def test_h_is_chosen_by_marginal_likelihood() -> None:
    train, y, _, _ = nb201_split(0, 80)
    surrogate = WLGaussianProcess()
    surrogate.fit(train, y)
    assert set(surrogate.h_scores) == {0, 1, 2, 3}
    assert surrogate.h == max(surrogate.h_scores, key=surrogate.h_scores.__getitem__)
    assert surrogate.log_marginal_likelihood == surrogate.h_scores[surrogate.h]


def test_h_selection_prefers_structure_when_values_depend_on_it() -> None:
    # Values that depend on where the 3x3 convolutions sit (after another operation, or on the input),
    # not on how many there are: WL colours at h >= 1 see it, label counts (h = 0) cannot.
    space, architectures, _ = nb201_table()
    rng = np.random.default_rng(0)
    train = [architectures[i] for i in rng.choice(len(architectures), 100, replace=False)]
    encoding = WLEncoding(h=1).fit(train)
    features = encoding.transform(train)
    deep = encoding.feature_names.index("cell:1:nor_conv_3x3(sum)")
    shallow = encoding.feature_names.index("cell:1:nor_conv_3x3(input)")
    y = (features[:, deep] - features[:, shallow]).numpy() + 0.01 * rng.normal(size=len(train))
    surrogate = WLGaussianProcess(space)
    surrogate.fit(train, y)
    assert surrogate.h is not None and surrogate.h >= 1, surrogate.h_scores
    assert surrogate.h_scores[surrogate.h] > surrogate.h_scores[0] + 10, surrogate.h_scores


def test_reselect_every_reuses_the_chosen_h(monkeypatch: pytest.MonkeyPatch) -> None:
    train, y, _, _ = nb201_split(1, 60)
    surrogate = WLGaussianProcess(reselect_every=3)
    fits = count_fits(monkeypatch, surrogate)
    per_call = []
    for n in (30, 35, 40, 45, 50):
        before = len(fits)
        surrogate.fit(train[:n], y[:n])
        per_call.append(len(fits) - before)
    assert per_call == [4, 1, 1, 4, 1]
    assert surrogate.h in (0, 1, 2, 3)


def test_fixed_h_fits_one_gp(monkeypatch: pytest.MonkeyPatch) -> None:
    train, y, _, _ = nb201_split(2, 40)
    surrogate = WLGaussianProcess(h=2)
    fits = count_fits(monkeypatch, surrogate)
    surrogate.fit(train, y)
    surrogate.fit(train[:30], y[:30])
    assert fits == [40, 30]
    assert surrogate.h == 2
    assert surrogate.h_scores == {}


@pytest.mark.parametrize("h", [0, 2])
def test_wl_features_give_the_exact_normalised_wl_kernel(h: int) -> None:
    space = nb201_table()[0]
    train, y, test, _ = nb201_split(3, 40, n_test=300)
    surrogate = WLGaussianProcess(space, h=h)
    surrogate.fit(train, y)
    reference = WLEncoding(h=h, normalize=True).fit(train + test)
    expected_cross = reference.transform(test) @ reference.transform(train).T
    expected_diagonal = (reference.transform(test) ** 2).sum(1)
    encoded_test, encoded_train = surrogate.encode(test), surrogate.encode(train)
    torch.testing.assert_close(encoded_test @ encoded_train.T, expected_cross)
    # Colours no training cell has only count in an architecture's own norm (the last column).
    torch.testing.assert_close((encoded_test**2).sum(1), expected_diagonal)


def test_path_features_give_exact_distances_to_training_architectures() -> None:
    train, y, test, _ = nb201_split(4, 30, n_test=300)
    surrogate = PathGaussianProcess()
    surrogate.fit(train, y)
    reference = PathEncoding().fit(train + test)
    expected = torch.cdist(reference.transform(test), reference.transform(train))
    torch.testing.assert_close(torch.cdist(surrogate.encode(test), surrogate.encode(train)), expected)


def test_truncated_paths_keep_the_most_common_ones() -> None:
    train, y, test, _ = nb201_split(5, 40)
    surrogate = PathGaussianProcess(max_paths=10)
    surrogate.fit(train, y)
    assert surrogate.encode(test).shape == (len(test), 11)
    assert torch.isfinite(surrogate.predict(test).mean).all()


def test_isomorphic_cells_get_equal_wl_and_path_features() -> None:
    space = get_space("nb201")
    # Node 2 feeds the output through "none" in both, so its input edge (skip vs pool) does not matter.
    first = space.parse("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|")
    second = space.parse("|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|")
    assert first.canonical_hash == second.canonical_hash
    train, y, _, _ = nb201_split(6, 30)
    for surrogate in (WLGaussianProcess(h=2), PathGaussianProcess()):
        surrogate.fit(train, y)
        encoded = surrogate.encode([first, second])
        torch.testing.assert_close(encoded[0], encoded[1])


# -- Categorical coding ----------------------------------------------------------------------------------


def test_categorical_codes_follow_the_space_and_code_inactive_parameters_as_one_more_choice() -> None:
    space = mlp_space(max_layers=3, widths=(16, 32, 64))
    surrogate = CategoricalGaussianProcess(space)
    shallow = space.from_params({"n_layers": 1, "width_1": 32})
    deep = space.from_params({"n_layers": 3, "width_1": 16, "width_2": 64, "width_3": 32})
    codes = surrogate.encode([shallow, deep])
    assert codes.dtype == torch.float64
    assert codes.tolist() == [[0, 1, 3, 3], [2, 0, 2, 1]]


def test_categorical_gp_rejects_architectures_of_another_space() -> None:
    surrogate = CategoricalGaussianProcess(mlp_space())
    _, architectures, _ = nb201_table()
    with pytest.raises(InvalidArchitectureError, match="nb201"):
        surrogate.encode(architectures[:1])


# -- Degenerate data -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", GP_NAMES)
def test_equal_values_give_that_value_with_a_warning(name: str, caplog: pytest.LogCaptureFixture) -> None:
    space = nb201_table()[0]
    train, _, test, _ = nb201_split(7, 12, n_test=20)
    surrogate = make_surrogate(name, space)
    with caplog.at_level(logging.WARNING, logger="bonas.surrogates.gp"):
        surrogate.fit(train, [91.5] * len(train))
    assert "all equal" in caplog.text
    prediction = surrogate.predict(test)
    torch.testing.assert_close(prediction.mean, torch.full((len(test),), 91.5, dtype=torch.float64))
    assert torch.isfinite(prediction.variance).all() and (prediction.variance > 0).all()


@pytest.mark.parametrize("name", GP_NAMES)
def test_a_single_point_is_enough(name: str, caplog: pytest.LogCaptureFixture) -> None:
    space = nb201_table()[0]
    train, _, test, _ = nb201_split(8, 1, n_test=20)
    surrogate = make_surrogate(name, space)
    with caplog.at_level(logging.WARNING, logger="bonas.surrogates.gp"):
        surrogate.fit(train, [73.0])
    assert "fixed hyperparameters" in caplog.text
    prediction = surrogate.predict(test)
    assert torch.isfinite(prediction.mean).all() and torch.isfinite(prediction.variance).all()
    assert surrogate.predict(train).mean.item() == pytest.approx(73.0, abs=0.5)


@pytest.mark.parametrize("name", GP_NAMES)
def test_duplicated_architectures_with_different_values(name: str) -> None:
    space = nb201_table()[0]
    train, y, test, _ = nb201_split(9, 20)
    architectures = train + train[:5] + train[:5]
    values = [*y, *(y[:5] + 3.0), *(y[:5] - 3.0)]
    surrogate = make_surrogate(name, space)
    surrogate.fit(architectures, values)
    prediction = surrogate.predict(test + train[:5])
    assert torch.isfinite(prediction.mean).all() and torch.isfinite(prediction.variance).all()
    # The three disagreeing copies are explained as noise around their mean.
    assert np.abs(prediction.mean[-5:].numpy() - y[:5]).max() < 3.0


@pytest.mark.parametrize("name", GP_NAMES)
def test_huge_offset_with_tiny_spread(name: str) -> None:
    space = nb201_table()[0]
    train, y, test, _ = nb201_split(10, 40)
    surrogate = make_surrogate(name, space)
    surrogate.fit(train, (1e6 + 1e-4 * y).tolist())
    prediction = surrogate.predict(test)
    assert torch.isfinite(prediction.mean).all() and torch.isfinite(prediction.variance).all()
    assert np.abs(prediction.mean.numpy() - 1e6).max() < 1e-1
    reference = make_surrogate(name, space)
    reference.fit(train, y.tolist())
    np.testing.assert_allclose(
        (prediction.mean.numpy() - 1e6) / 1e-4, reference.predict(test).mean.numpy(), atol=0.02 * y.std()
    )


@pytest.mark.parametrize("name", GP_NAMES)
def test_failing_fits_fall_back_with_warnings(
    name: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def failing_fit(*args: object, **kwargs: object) -> None:
        raise NotPSDError("Matrix not positive definite after repeatedly adding jitter up to 1.0e-06.")

    monkeypatch.setattr(fitting, "fit_gpytorch_mll", failing_fit)
    space = nb201_table()[0]
    train, y, test, _ = nb201_split(11, 25)
    surrogate = make_surrogate(name, space, **({"h": 1} if name == "gp-wl" else {}))
    with caplog.at_level(logging.WARNING, logger="bonas.surrogates.gp"):
        surrogate.fit(train, y)
    messages = [record.getMessage() for record in caplog.records]
    assert sum("retrying with a larger noise floor" in message for message in messages) == len(NOISE_FLOORS)
    assert any("falling back to fixed hyperparameters" in message for message in messages)
    prediction = surrogate.predict(test)
    assert torch.isfinite(prediction.mean).all() and (prediction.variance > 0).all()


def test_when_even_the_fixed_gp_fails_the_mean_is_predicted(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def nan_kernel(self: WLGaussianProcess, x: torch.Tensor) -> Kernel:
        kernel = DenseLinearKernel()
        kernel.raw_variance.data.fill_(float("nan"))
        return kernel

    monkeypatch.setattr(WLGaussianProcess, "_kernel", nan_kernel)
    train, y, test, _ = nb201_split(12, 25)
    surrogate = WLGaussianProcess(h=1)
    with caplog.at_level(logging.WARNING, logger="bonas.surrogates.gp"):
        surrogate.fit(train, y)
    assert "predicting the mean of the values" in caplog.text
    prediction = surrogate.predict(test)
    assert torch.isfinite(prediction.mean).all() and torch.isfinite(prediction.variance).all()
    np.testing.assert_allclose(prediction.mean.numpy(), y.mean(), atol=0.1 * y.std())


# -- Speed -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "options"),
    [("gp-wl", {"h": 1}), ("gp-wl", {"h": 2}), ("gp-wl", {}), ("gp-categorical", {}), ("gp-path", {})],
    ids=["gp-wl-h1", "gp-wl-h2", "gp-wl-choose-h", "gp-categorical", "gp-path"],
)
def test_fit_and_predict_the_whole_nb201_space_quickly(name: str, options: dict[str, object]) -> None:
    """Fit on 150 cells then predict all 15,625, as one BO step does; prints the time of a later step."""
    space, architectures, values = nb201_table()
    order = np.random.default_rng(13).permutation(len(architectures))
    surrogate = make_surrogate(name, space, **options)
    timings = []
    for step in range(3):  # the first step also encodes every cell once
        train = [architectures[i] for i in order[: 150 + step]]
        start = time.perf_counter()
        surrogate.fit(train, values[order[: 150 + step]])
        prediction = surrogate.predict(architectures)
        timings.append(time.perf_counter() - start)
    assert prediction.mean.shape == (len(architectures),)
    print(
        f"\n{name} {options}: fit on 150 + predict 15,625: first {timings[0]:.2f} s, then {min(timings[1:]):.2f} s"
    )
    assert min(timings[1:]) < 5.0
