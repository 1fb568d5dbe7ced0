"""DARTS: the architecture gradient (first and second order), the derived cell, a short search on digits."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
import torch
from torch import nn
from torch.func import functional_call

from bonas.errors import InvalidArgumentError
from bonas.spaces import NB201Space
from bonas.spaces.base import Categorical
from bonas.spaces.categorical import CategoricalSpace
from bonas.spaces.nb201 import EDGES, OPERATIONS
from bonas.training.darts import DartsSearch, DartsSettings
from bonas.training.datasets import load_dataset
from bonas.training.networks import NetworkSettings
from bonas.training.supernet import CellTemplate, Supernet

TINY = NetworkSettings(channels=2, cells_per_stage=1)


@pytest.fixture(scope="module")
def digits():
    """128 training and 64 validation digits: a few minibatches per epoch."""
    data = load_dataset("digits", seed=0)
    return replace(
        data,
        train_x=data.train_x[:128],
        train_y=data.train_y[:128],
        val_x=data.val_x[:64],
        val_y=data.val_y[:64],
    )


def tiny_search(digits, order: int, *, seed: int = 0, **options) -> DartsSearch:
    """A float64 NB201 supernet of 2 channels on 8x8 digits, its alphas spread out so gradients differ."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        supernet = Supernet.for_space(
            NB201Space(), input_shape=digits.input_shape, num_classes=digits.num_classes, settings=TINY
        ).double()
    settings = DartsSettings(order=order, batch_size=16, device="cpu", seed=seed, **options)
    search = DartsSearch(supernet, digits, settings, space=NB201Space())
    with torch.no_grad():
        generator = torch.Generator().manual_seed(seed + 1)
        for alpha in search.alphas:
            alpha.copy_(torch.randn(alpha.shape, generator=generator, dtype=alpha.dtype))
    return search


def batches(search: DartsSearch, size: int = 16):
    t = search._tensors
    return (t["train_x"][:size], t["train_y"][:size]), (t["val_x"][:size], t["val_y"][:size])


def test_first_order_gradient_is_the_gradient_of_the_validation_loss(digits) -> None:
    search = tiny_search(digits, order=1)
    train, (x, y) = batches(search)
    got = search.architecture_gradient(train, (x, y))

    # Central finite differences of the validation loss, one alpha entry at a time (float64).
    def val_loss() -> float:
        with torch.no_grad():
            return float(search.loss(x, y))

    h = 1e-6
    for edge in (0, 5):
        alpha = search.alphas[edge]
        for j in range(len(OPERATIONS)):
            with torch.no_grad():
                alpha[j] += h
            up = val_loss()
            with torch.no_grad():
                alpha[j] -= 2 * h
            down = val_loss()
            with torch.no_grad():
                alpha[j] += h
            assert float(got[edge][j]) == pytest.approx((up - down) / (2 * h), rel=1e-4, abs=1e-8)
    # `none` adds nothing whatever its weight, but its share of the softmax does: a real gradient.
    assert float(got[0][OPERATIONS.index("none")]) != 0.0


def _smooth(module: nn.Module) -> None:
    """ReLU -> softplus everywhere: a twice-differentiable network."""
    for name, child in module.named_children():
        if isinstance(child, nn.ReLU):
            setattr(module, name, nn.Softplus())
        else:
            _smooth(child)


@pytest.mark.parametrize(("smooth", "hessian_eps"), [(True, 0.01), (False, 1e-7)])
def test_second_order_gradient_matches_the_exact_unrolled_gradient(
    digits, smooth: bool, hessian_eps: float
) -> None:
    """DARTS's finite-difference Hessian-vector product against autograd through the virtual step.

    At DARTS's step (``0.01 / ||v||``) the central difference is exact to O(eps^2) on a smooth network;
    on the ReLU network, whose kinks a step that size crosses, only a much smaller step is (DARTS's step
    is off by up to ~10x there on this tiny net: its second-order gradient is a coarse estimate).
    """
    search = tiny_search(digits, order=2, unrolled_lr=0.05, weight_decay=3e-4, hessian_eps=hessian_eps)
    if smooth:
        _smooth(search.supernet)
    train, val = batches(search)
    got = search.architecture_gradient(train, val)

    supernet = search.supernet
    names = [name for name, _ in supernet.named_parameters()]
    weights = [p for _, p in supernet.named_parameters()]
    alphas = list(search.alphas)
    xi, decay = 0.05, 3e-4

    def loss(params, x, y):
        buffers = {name: b.clone() for name, b in supernet.named_buffers()}
        logits = functional_call(supernet, (params, buffers), (x, search.mixture()))
        return nn.functional.cross_entropy(logits, y)

    grads = torch.autograd.grad(
        loss(dict(zip(names, weights, strict=True)), *train), weights, create_graph=True
    )
    unrolled = {name: w - xi * (g + decay * w) for name, w, g in zip(names, weights, grads, strict=True)}
    exact = torch.autograd.grad(loss(unrolled, *val), alphas)
    for g, e in zip(got, exact, strict=True):
        torch.testing.assert_close(g, e, rtol=2e-3, atol=2e-5)
    # The unrolled gradient is not the first-order one, so the comparison above has teeth.
    first_order = torch.autograd.grad(loss(dict(zip(names, weights, strict=True)), *val), alphas)
    assert max(float((e - f).abs().max()) for e, f in zip(exact, first_order, strict=True)) > 1e-3


def test_derived_cell_takes_each_edges_largest_weight(digits) -> None:
    search = tiny_search(digits, order=1)
    choice = ["nor_conv_3x3", "none", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3"]
    with torch.no_grad():
        for alpha, op in zip(search.alphas, choice, strict=True):
            alpha.zero_()
            alpha[OPERATIONS.index(op)] = 1.0
    derived = search.derive()
    assert NB201Space().operations(derived) == tuple(choice)
    assert search.edge_weights()[EDGES[1]]["none"] == pytest.approx(
        max(search.edge_weights()[EDGES[1]].values())
    )
    # Without a space: the argmax cell, `none` edges dropped.
    search.space = None
    cell = search.derive()
    assert sorted((s, t) for s, t, _ in cell.edges) == sorted(
        e for e, op in zip(EDGES, choice, strict=True) if op != "none"
    )


def test_derived_architecture_of_a_constrained_space_is_its_best_valid_one(digits) -> None:
    """A two-edge space that forbids the per-edge argmax (conv on both edges) gets the best valid one."""
    from bonas.architecture import Cell

    def two_edges(params) -> Cell:
        return Cell(
            nodes=("input", "sum", "output"),
            edges=((0, 1, str(params["a"])), (1, 2, str(params["b"]))),
            inputs=(0,),
            output=2,
        )

    ops = ("skip_connect", "nor_conv_3x3", "avg_pool_3x3")
    space = CategoricalSpace(
        "two-edges",
        [Categorical("a", ops), Categorical("b", ops)],
        constraint=lambda p: not (p["a"] == p["b"] == "nor_conv_3x3"),
        graph=two_edges,
    )
    supernet = Supernet(
        CellTemplate.from_cells(a.cell() for a in space.enumerate()),
        input_shape=digits.input_shape,
        num_classes=10,
        settings=TINY,
    )
    search = DartsSearch(supernet, digits, DartsSettings(device="cpu"), space=space)
    with torch.no_grad():
        search.alphas[0].copy_(torch.tensor([0.0, 2.0, 1.0]))  # a: conv, then pool
        search.alphas[1].copy_(torch.tensor([0.0, 3.0, 0.5]))  # b: conv clearly, then pool
    assert search.derive().param_dict == {"a": "avg_pool_3x3", "b": "nor_conv_3x3"}


@pytest.mark.parametrize("order", [1, 2])
def test_a_short_search_lowers_the_validation_loss_and_moves_the_weights(digits, order: int) -> None:
    search = tiny_search(digits, order=order, seed=3, epochs=3, arch_lr=0.01, lr=0.1)
    before = search.edge_weights()
    result = search.fit()
    assert len(result.epochs) == 3
    assert result.epochs[-1].val_loss < result.epochs[0].val_loss
    assert result.epochs[-1].val_loss < 2.2  # below chance (ln 10 = 2.30)
    after = search.edge_weights()
    assert any(abs(after[e][op] - before[e][op]) > 1e-3 for e in after for op in after[e])
    assert str(result.architecture) == result.epochs[-1].derived
    # A time limit ends the search early.
    quick = tiny_search(digits, order=order, seed=3, epochs=50).fit(max_seconds=0.0)
    assert len(quick.epochs) == 1


def test_same_seed_same_search(digits) -> None:
    runs = [tiny_search(digits, order=1, seed=5, epochs=1).fit() for _ in range(2)]
    assert runs[0].epochs[0].weights == runs[1].epochs[0].weights


@pytest.mark.parametrize(
    ("options", "quoted"),
    [
        ({"order": 3}, "order must be 1 or 2, got 3"),
        ({"epochs": 0}, "epochs must be an integer >= 1, got 0"),
        ({"arch_lr": 0.0}, "arch_lr must be positive, got 0.0"),
        ({"lr_min": 1.0}, "lr_min must lie in"),
    ],
)
def test_bad_settings_are_refused_naming_the_value(options: dict, quoted: str) -> None:
    with pytest.raises(InvalidArgumentError, match=quoted.replace("[", r"\[")):
        DartsSettings(**options)


def test_a_time_limit_shrinks_the_schedule_to_the_epochs_it_affords(digits) -> None:
    ticks = itertools.count()  # a clock that advances one "second" per reading: no timing in the test
    search = tiny_search(digits, order=1, epochs=50)
    result = search.fit(max_seconds=40, clock=lambda: float(next(ticks)))
    assert 1 < len(result.epochs) < 50
    assert search.schedule_epochs == len(result.epochs)  # the cosine ends with the budget
    assert search.optimizer.param_groups[0]["lr"] < 0.1 * search.settings.lr
