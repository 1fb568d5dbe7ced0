"""The neural surrogates (gcn-blr, gcn-gp, ensemble-path): conformance with small, fast settings, the
Bayesian linear regression's evidence maximisation, the ensemble's spread and Thompson sampling, the GCN
embedding's invariance to node numbering, seeding and devices, and short BO searches on NB201."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.posteriors.ensemble import EnsemblePosterior
from botorch.posteriors.gpytorch import GPyTorchPosterior
from botorch.sampling.index_sampler import IndexSampler

from bonas.acquisition import AcquisitionSettings, select
from bonas.architecture import Architecture, Cell
from bonas.errors import InvalidArchitectureError
from bonas.samplers import make_sampler
from bonas.samplers.bayesian import BayesianOptimizationSampler
from bonas.spaces.base import SearchSpace
from bonas.spaces.nb201 import NB201Space
from bonas.study import search
from bonas.surrogates import (
    GCNBayesianLinearRegression,
    GCNGaussianProcess,
    PathEnsemble,
    SurrogateNotFittedError,
    make_surrogate,
    surrogate_names,
)
from bonas.surrogates.base import Surrogate
from bonas.surrogates.blr import BayesianLinearModel, fit_bayesian_linear_regression
from bonas.testing.surrogates import SurrogateConformance, kendall_tau, nb201_split, nb201_table
from bonas.torch_training import Standardisation, resolve_device
from tests.known_answer import CONV, conv_count

#: Small networks so that a fit on 50 NB201 cells takes well under a second on one core.
FAST_GCN = {"hidden": 16, "layers": 2, "epochs": 40, "batch_size": 32, "learning_rate": 3e-3}
FAST_ENSEMBLE = {"width": 16, "layers": 2, "epochs": 40}


class TestGCNBayesianLinearRegression(SurrogateConformance):
    def make_surrogate(self, space: SearchSpace) -> Surrogate:
        return make_surrogate("gcn-blr", space, **FAST_GCN)


class TestGCNGaussianProcess(SurrogateConformance):
    def make_surrogate(self, space: SearchSpace) -> Surrogate:
        return make_surrogate("gcn-gp", space, **FAST_GCN)


class TestPathEnsemble(SurrogateConformance):
    def make_surrogate(self, space: SearchSpace) -> Surrogate:
        return make_surrogate("ensemble-path", space, **FAST_ENSEMBLE)

    def test_model_drives_batch_noisy_expected_improvement(self) -> None:
        """As the shared check, with the sampler BoTorch pairs with an ensemble posterior (member indices;
        a Gaussian sampler's draws mean nothing to a finite set of member predictions)."""
        surrogate, train, _ = self.fitted()
        _, _, test, _ = nb201_split(0, 30, n_test=12)
        acquisition = qLogNoisyExpectedImprovement(
            surrogate.model,
            X_baseline=surrogate.encode(train),
            sampler=IndexSampler(torch.Size([32]), seed=0),
            prune_baseline=True,
        )
        with torch.no_grad():
            scores = acquisition(surrogate.encode(test).reshape(6, 2, -1))
        assert scores.shape == (6,)
        assert torch.isfinite(scores).all()


# -- Registry, options, devices --------------------------------------------------------------------------


def test_registry_builds_each_neural_surrogate() -> None:
    space = nb201_table()[0]
    assert {"gcn-blr", "gcn-gp", "ensemble-path"} <= set(surrogate_names())
    assert isinstance(make_surrogate("gcn-blr", space), GCNBayesianLinearRegression)
    assert isinstance(make_surrogate("gcn-gp", space), GCNGaussianProcess)
    ensemble = make_surrogate("ensemble-path", space, members=3)
    assert isinstance(ensemble, PathEnsemble) and ensemble.members == 3
    for name in ("gcn-blr", "gcn-gp", "ensemble-path"):
        assert make_surrogate(name, space).name == name


@pytest.mark.parametrize(
    ("factory", "options", "quoted"),
    [
        (GCNBayesianLinearRegression, {"hidden": 0}, "hidden=0"),
        (GCNGaussianProcess, {"epochs": 0}, "epochs=0"),
        (GCNBayesianLinearRegression, {"learning_rate": -1.0}, "learning_rate=-1.0"),
        (PathEnsemble, {"members": 0}, "members=0"),
        (PathEnsemble, {"loss": "huber"}, "loss='huber'"),
        (PathEnsemble, {"device": "tpu"}, "device='tpu'"),
    ],
)
def test_constructors_reject_bad_options_and_quote_them(factory: type, options: dict, quoted: str) -> None:
    with pytest.raises(ValueError, match=quoted):
        factory(**options)


def test_device_follows_availability() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None).type == expected
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    assert PathEnsemble().device.type == expected
    assert GCNBayesianLinearRegression(device="cpu").embedder.device == torch.device("cpu")


@pytest.mark.parametrize("name", ["gcn-blr", "gcn-gp", "ensemble-path"])
def test_encode_before_fit_raises(name: str) -> None:
    space, architectures, _ = nb201_table()
    with pytest.raises(SurrogateNotFittedError, match="fit"):
        make_surrogate(name, space).encode(architectures[:2])


# -- Seeding ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "options"),
    [("gcn-blr", FAST_GCN), ("gcn-gp", FAST_GCN), ("ensemble-path", FAST_ENSEMBLE)],
)
def test_seed_decides_the_fit(name: str, options: dict) -> None:
    space = nb201_table()[0]
    train, y, test, _ = nb201_split(6, 25, n_test=40)
    means = {}
    for label, seed in (("first", 1), ("again", 1), ("other", 2)):
        surrogate = make_surrogate(name, space, seed=seed, **options)
        surrogate.fit(train, y.tolist())
        means[label] = surrogate.predict(test).mean
    torch.testing.assert_close(means["first"], means["again"], rtol=0, atol=0)
    assert not torch.allclose(means["first"], means["other"]), "another seed should give another network"


def test_fit_leaves_the_global_random_state_alone() -> None:
    train, y, _, _ = nb201_split(7, 15)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    PathEnsemble(**FAST_ENSEMBLE).fit(train, y.tolist())
    torch.testing.assert_close(torch.rand(3), expected)


def test_values_are_standardised_by_their_sample_std() -> None:
    """The neural surrogates' convention (NAO divides by the population std)."""
    train, _, _, _ = nb201_split(7, 3)
    surrogate = PathEnsemble(**FAST_ENSEMBLE)
    surrogate.fit(train, [0.0, 2.0, 4.0])
    assert surrogate.model.standardisation == Standardisation(2.0, 2.0)


# -- Bayesian linear regression ------------------------------------------------------------------------


@pytest.mark.parametrize(("alpha", "beta"), [(4.0, 25.0), (0.5, 2.0)])
def test_evidence_maximisation_recovers_known_precisions(alpha: float, beta: float) -> None:
    generator = torch.Generator().manual_seed(0)
    n, m = 4000, 200
    features = torch.randn(n, m, generator=generator, dtype=torch.float64)
    weights = torch.randn(m, generator=generator, dtype=torch.float64) / alpha**0.5
    noise = torch.randn(n, generator=generator, dtype=torch.float64) / beta**0.5
    targets = features @ weights + noise
    fit = fit_bayesian_linear_regression(features, targets)
    # The precisions of this draw's weights and noise (m / |w|^2, n / |noise|^2) are what the data can
    # tell: measured within 0.3%. The true ones differ from them by sampling error (sd ~ sqrt(2 / m) = 10%
    # for alpha, ~2% for beta).
    assert fit.alpha == pytest.approx(m / float(weights @ weights), rel=0.03)
    assert fit.beta == pytest.approx(n / float(noise @ noise), rel=0.03)
    assert fit.alpha == pytest.approx(alpha, rel=0.35)
    assert fit.beta == pytest.approx(beta, rel=0.1)
    # The posterior is the closed form at the fitted precisions.
    precision = fit.alpha * torch.eye(m, dtype=torch.float64) + fit.beta * features.T @ features
    expected_mean = torch.linalg.solve(precision, fit.beta * features.T @ targets)
    torch.testing.assert_close(fit.mean, expected_mean)
    torch.testing.assert_close(fit.covariance_root @ fit.covariance_root.T, torch.linalg.inv(precision))


def test_evidence_is_maximal_at_the_fitted_precisions() -> None:
    generator = torch.Generator().manual_seed(1)
    features = torch.randn(200, 8, generator=generator, dtype=torch.float64)
    targets = features @ torch.randn(8, generator=generator, dtype=torch.float64) + 0.3 * torch.randn(
        200, generator=generator, dtype=torch.float64
    )
    fit = fit_bayesian_linear_regression(features, targets)

    def log_evidence(alpha: float, beta: float) -> float:
        # log N(t | 0, I / beta + Phi Phi^T / alpha), computed directly.
        covariance = torch.eye(200, dtype=torch.float64) / beta + features @ features.T / alpha
        distribution = torch.distributions.MultivariateNormal(
            torch.zeros(200, dtype=torch.float64), covariance
        )
        return float(distribution.log_prob(targets))

    best = log_evidence(fit.alpha, fit.beta)
    assert fit.log_evidence == pytest.approx(best, rel=1e-8)
    for factor_alpha, factor_beta in [(1.3, 1), (0.7, 1), (1, 1.3), (1, 0.7)]:
        assert log_evidence(fit.alpha * factor_alpha, fit.beta * factor_beta) < best


def test_bayesian_linear_model_posterior_is_the_joint_gaussian() -> None:
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(40, 5, generator=generator, dtype=torch.float64)
    y = 10 + 3 * (x @ torch.arange(5.0, dtype=torch.float64)).reshape(-1, 1)
    model = BayesianLinearModel(x, y)
    test = torch.randn(7, 5, generator=generator, dtype=torch.float64)
    posterior = model.posterior(test)
    assert isinstance(posterior, GPyTorchPosterior)
    covariance = posterior.mvn.covariance_matrix
    phi = torch.cat([test, torch.ones(7, 1, dtype=torch.float64)], dim=1)
    root = model.fit.covariance_root
    torch.testing.assert_close(covariance, model.y_std**2 * phi @ root @ root.T @ phi.T)
    marginal = model.posterior(test.unsqueeze(-2), observation_noise=True)
    torch.testing.assert_close(marginal.variance.reshape(-1), covariance.diagonal() + model.noise_variance)


# -- Ensemble --------------------------------------------------------------------------------------------


def fitted_ensemble(members: int = 5) -> tuple[PathEnsemble, list[Architecture]]:
    train, y, test, _ = nb201_split(8, 30, n_test=50)
    surrogate = PathEnsemble(members=members, **FAST_ENSEMBLE)
    surrogate.fit(train, y.tolist())
    return surrogate, test


def test_ensemble_posterior_holds_every_member() -> None:
    surrogate, test = fitted_ensemble()
    posterior = surrogate.model.posterior(surrogate.encode(test))
    assert isinstance(posterior, EnsemblePosterior)
    assert posterior.values.shape == (5, len(test), 1)
    torch.testing.assert_close(posterior.mean, posterior.values.mean(dim=0))


def test_ensemble_spread_is_zero_for_identical_members_and_positive_otherwise() -> None:
    surrogate, test = fitted_ensemble()
    x = surrogate.encode(test)
    assert (surrogate.model.posterior(x).variance > 0).all()
    with torch.no_grad():
        for parameter in [*surrogate.model.network.weights, *surrogate.model.network.biases]:
            parameter.copy_(parameter[:1].expand_as(parameter))
    torch.testing.assert_close(
        surrogate.model.posterior(x).variance, torch.zeros(len(test), 1, dtype=torch.float64)
    )


def test_ensemble_thompson_takes_one_members_argmax_per_pick() -> None:
    surrogate, test = fitted_ensemble()
    x = surrogate.encode(test)
    values = surrogate.model.posterior(x).values.squeeze(-1)  # members x n
    settings = AcquisitionSettings("thompson")
    picks = [
        select(
            surrogate,
            x,
            q=1,
            best_value=0.0,
            observed=x[:0],
            pending=None,
            settings=settings,
            generator=torch.Generator().manual_seed(seed),
        )[0]
        for seed in range(12)
    ]
    argmaxes = set(torch.argmax(values, dim=1).tolist())
    assert set(picks) <= argmaxes
    assert len(set(picks)) > 1, "different draws should pick different members"
    batch = select(
        surrogate,
        x,
        q=4,
        best_value=0.0,
        observed=x[:0],
        pending=None,
        settings=settings,
        generator=torch.Generator().manual_seed(0),
    )
    assert len(set(batch)) == 4
    assert batch[0] in argmaxes


def test_ensemble_batches_with_pending_points_use_noisy_expected_improvement() -> None:
    surrogate, test = fitted_ensemble()
    train, _, _, _ = nb201_split(8, 30)
    x = surrogate.encode(test)
    batch = select(
        surrogate,
        x[2:],
        q=2,
        best_value=0.0,
        observed=surrogate.encode(train),
        pending=x[:2],
        settings=AcquisitionSettings("log-ei", mc_samples=16),
        generator=torch.Generator().manual_seed(0),
    )
    assert len(set(batch)) == 2


# -- GCN embedding ---------------------------------------------------------------------------------------


def relabelled(architecture: Architecture, permutation: list[int]) -> Architecture:
    """The same cell with node ``i`` renumbered ``permutation[i]``, as a distinct architecture value."""
    cell = architecture.cell()
    nodes = [""] * len(cell.nodes)
    for old, label in enumerate(cell.nodes):
        nodes[permutation[old]] = label
    edges = tuple((permutation[s], permutation[t], op) for s, t, op in cell.edges)
    renumbered = Cell(
        tuple(nodes), edges, tuple(permutation[i] for i in cell.inputs), permutation[cell.output]
    )
    return Architecture(
        architecture.space, (("relabelled", architecture.text),), (("cell", renumbered),), "x"
    )


def test_gcn_embedding_is_invariant_to_node_numbering() -> None:
    space = NB201Space()
    train, y, _, _ = nb201_split(9, 25)
    surrogate = GCNBayesianLinearRegression(space, **FAST_GCN)
    surrogate.fit(train, y.tolist())
    original = space.from_operations(("nor_conv_3x3", "skip_connect", "avg_pool_3x3", CONV, "none", CONV))
    other = space.from_operations(("nor_conv_3x3", "avg_pool_3x3", "skip_connect", CONV, "none", CONV))
    permuted = relabelled(original, [3, 1, 0, 2])  # input is node 3, output node 2
    assert permuted.canonical_hash == original.canonical_hash
    embeddings = surrogate.encode([original, permuted, other])
    torch.testing.assert_close(embeddings[0], embeddings[1], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(embeddings[0], embeddings[2], atol=1e-4), "a different cell, another embedding"
    prediction = surrogate.predict([original, permuted])
    torch.testing.assert_close(prediction.mean[0], prediction.mean[1], rtol=1e-5, atol=1e-5)


def test_gcn_embedding_concatenates_cells_and_rejects_other_cells() -> None:
    from bonas.spaces import get_space

    darts = get_space("darts")
    rng = np.random.default_rng(0)
    architectures = [darts.sample(rng) for _ in range(8)]
    surrogate = GCNBayesianLinearRegression(darts, **FAST_GCN)
    surrogate.fit(architectures, rng.normal(size=8).tolist())
    assert surrogate.encode(architectures).shape == (8, 2 * FAST_GCN["hidden"])
    with pytest.raises(InvalidArchitectureError, match="cells"):
        surrogate.encode(list(nb201_table()[1][:2]))


def test_gcn_blr_ranks_well_with_its_default_settings() -> None:
    """The defaults (what BO and the predictor benchmark use) rank 200 held-out cells after 50."""
    space = nb201_table()[0]
    train, y, test, y_test = nb201_split(0, 50)
    surrogate = GCNBayesianLinearRegression(space)
    surrogate.fit(train, y.tolist())
    assert kendall_tau(surrogate.predict(test).mean, y_test) > 0.5  # measured 0.72 (seeds 0-2: 0.65-0.73)


# -- Bayesian optimisation with the neural surrogates ----------------------------------------------------


@pytest.fixture(scope="module")
def nb201() -> NB201Space:
    # One instance for the module: the BO sampler caches the whole-space candidates per space instance.
    return NB201Space()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bananas", "bo-gcn-blr", "bo-gcn-gp"])
def test_bo_searchers_run_on_nb201(nb201: NB201Space, name: str) -> None:
    """Default surrogates, the whole NB201 space scored per proposal: 3 model proposals, ~1-2 s each."""
    sampler = make_sampler(name, nb201, seed=0, n_initial=4)
    assert isinstance(sampler, BayesianOptimizationSampler)
    history = search(nb201, conv_count, sampler=sampler, n_trials=7).history
    assert (history["state"] == "COMPLETE").all()
    assert history["arch_hash"].is_unique
    assert len(history) == 7
    # The last proposal fitted the first six evaluations.
    assert sampler.surrogate.predict([nb201.sample(np.random.default_rng(0))]).mean.shape == (1,)


def test_bananas_is_the_path_ensemble_with_independent_thompson_sampling(nb201: NB201Space) -> None:
    sampler = make_sampler("bananas", nb201, seed=0)
    assert sampler.surrogate.name == "ensemble-path"
    assert sampler.acquisition.name == "thompson"
    assert make_sampler("bananas", nb201, acquisition="ucb").acquisition.name == "ucb"


def test_acquisition_functions_leave_the_trained_ensemble_as_it_is() -> None:
    from botorch.acquisition.analytic import LogExpectedImprovement

    surrogate, test = fitted_ensemble()
    x = surrogate.encode(test)
    before = surrogate.model.posterior(x).values
    LogExpectedImprovement(surrogate.model, best_f=0.0)(x.unsqueeze(-2))  # moves its model to x's dtype
    assert surrogate.model.network.weights[0].dtype == torch.float32
    torch.testing.assert_close(surrogate.model.posterior(x).values, before)
