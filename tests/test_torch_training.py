"""The torch training helpers the neural surrogates and NAO share: devices, seeding, data checks,
standardisation and the minibatch epoch loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bonas.torch_training import (
    Standardisation,
    check_counts,
    check_finite,
    epoch_batches,
    resolve_device,
    seeded,
    seeded_generator,
    train_epochs,
)

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CPU = torch.device("cpu")

# -- Devices ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("available", [False, True])
def test_auto_device_follows_availability(monkeypatch: pytest.MonkeyPatch, available: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    expected = torch.device("cuda" if available else "cpu")
    assert resolve_device(None) == expected
    assert resolve_device("auto") == expected


def test_explicit_devices_are_taken_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("cpu") == CPU
    assert resolve_device(CPU) == CPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("cuda") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)


@pytest.mark.parametrize("device", ["cuda", "cuda:1", torch.device("cuda")])
def test_cuda_without_a_cuda_device_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch, device) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(
        ValueError, match="asked for CUDA, but torch sees no CUDA device; use 'auto' or 'cpu'"
    ):
        resolve_device(device)


@pytest.mark.parametrize("device", ["tpu", "cuda:x", 3.5])
def test_unknown_devices_are_rejected_and_quoted(device: object) -> None:
    with pytest.raises(ValueError, match=f"but got device={device!r}"):
        resolve_device(device)  # type: ignore[arg-type]


# -- Seeding ---------------------------------------------------------------------------------------------


def test_seeded_block_is_reproducible_and_restores_the_global_generator() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    draws = []
    for _ in range(2):
        with seeded(7):
            draws.append(torch.rand(4))
    torch.testing.assert_close(draws[0], draws[1], rtol=0, atol=0)
    torch.testing.assert_close(torch.rand(3), expected, rtol=0, atol=0)
    with seeded(8, CPU):
        assert not torch.equal(torch.rand(4), draws[0])


def test_seeded_generators_repeat_their_draws() -> None:
    first, again, other = seeded_generator(3), seeded_generator(3), seeded_generator(4)
    assert first.device == CPU
    torch.testing.assert_close(torch.randperm(50, generator=first), torch.randperm(50, generator=again))
    assert not torch.equal(
        torch.randperm(50, generator=seeded_generator(3)), torch.randperm(50, generator=other)
    )


@needs_cuda
def test_seeded_block_restores_the_cuda_generator_of_its_device() -> None:
    device = torch.device("cuda")
    torch.cuda.manual_seed(123)
    expected = torch.rand(3, device=device)
    torch.cuda.manual_seed(123)
    with seeded(7, device):
        inside = torch.rand(4, device=device)
    torch.testing.assert_close(torch.rand(3, device=device), expected, rtol=0, atol=0)
    with seeded(7, device):
        torch.testing.assert_close(torch.rand(4, device=device), inside, rtol=0, atol=0)


# -- Data checks -----------------------------------------------------------------------------------------


def test_counts_must_match_and_reach_the_minimum() -> None:
    check_counts(3, 3, model="NAO")
    with pytest.raises(ValueError, match="Got 3 architectures but 2 values; give one value each"):
        check_counts(3, 2, model="NAO")
    with pytest.raises(ValueError, match="NAO needs at least one evaluated architecture to fit, got none"):
        check_counts(0, 0, model="NAO")
    with pytest.raises(ValueError, match="at least 3 evaluated architectures to fit, got 2"):
        check_counts(2, 2, model="A surrogate", minimum=3)


@pytest.mark.parametrize("as_array", [torch.tensor, np.asarray])
def test_non_finite_values_are_rejected_and_quoted_in_order(as_array) -> None:
    check_finite(as_array([[1.0], [-2.5]]), model="NAO")
    with pytest.raises(ValueError, match=r"A surrogate's values must be finite, got \[inf, nan\]"):
        check_finite(as_array([1.0, float("inf"), 2.0, float("nan")]), model="A surrogate")


# -- Standardisation -------------------------------------------------------------------------------------


@pytest.mark.parametrize("correction", [0, 1])
def test_standardisation_round_trips_in_torch_and_numpy(correction: int) -> None:
    y = torch.randn(20, 1, generator=seeded_generator(0), dtype=torch.float64) * 30 + 4
    for values, std in ((y, y.std(correction=correction)), (y.numpy(), y.numpy().std(ddof=correction))):
        standardisation = Standardisation.of(values, correction=correction)
        assert standardisation.mean == float(values.mean())
        assert standardisation.std == float(std)
        z = standardisation.forward(values)
        assert type(z) is type(values)
        assert abs(float(z.mean())) < 1e-12
        np.testing.assert_allclose(np.asarray(standardisation.inverse(z)), np.asarray(values), rtol=1e-14)


def test_sample_and_population_conventions_differ_by_bessels_factor() -> None:
    y = np.array([0.0, 2.0, 4.0])
    assert Standardisation.of(y) == Standardisation(2.0, 2.0)
    assert Standardisation.of(y, correction=0).std == pytest.approx(2.0 * (2 / 3) ** 0.5)


def test_constant_values_get_unit_std() -> None:
    for single in (torch.tensor([[5.0]], dtype=torch.float64), np.array([5.0])):
        assert Standardisation.of(single) == Standardisation(5.0, 1.0)
        assert Standardisation.of(single, correction=0, constant_tolerance=None) == Standardisation(5.0, 1.0)
    # Three copies of 0.1 have a mean one ulp off 0.1, hence a std of ~1e-17: constant within the
    # tolerance, a (tiny) spread without one.
    copies = np.array([0.1, 0.1, 0.1])
    assert Standardisation.of(copies, correction=0).std == 1.0
    assert 0 < Standardisation.of(copies, correction=0, constant_tolerance=None).std < 1e-16


# -- The minibatch epoch loop ----------------------------------------------------------------------------


def test_every_epoch_visits_every_index_once() -> None:
    generator = seeded_generator(0)
    orders = []
    for _ in range(3):
        batches = epoch_batches(10, batch_size=4, generator=generator, device=CPU)
        assert [len(b) for b in batches] == [4, 4, 2]
        orders.append(torch.cat(batches))
        assert sorted(orders[-1].tolist()) == list(range(10))
    assert not torch.equal(orders[0], orders[1]), "each epoch draws a new order"
    members = epoch_batches(7, batch_size=3, generator=generator, device=CPU, members=4)
    assert [b.shape for b in members] == [(4, 3), (4, 3), (4, 1)]
    for row in torch.cat(members, dim=1):
        assert sorted(row.tolist()) == list(range(7))


def fit_line(
    seed: int, *, epochs: int = 3, **options
) -> tuple[torch.nn.Linear, list[float], list[list[int]]]:
    """A 1-d linear fit by SGD on 10 points; the network, its losses and the minibatches it saw."""
    x = torch.linspace(-1, 1, 10).reshape(-1, 1)
    y = 3 * x - 1
    with seeded(seed):
        network = torch.nn.Linear(1, 1)
    seen: list[list[int]] = []

    def batch_loss(batch: torch.Tensor) -> torch.Tensor:
        seen.append(batch.tolist())
        return ((network(x[batch]) - y[batch]) ** 2).mean()

    losses = train_epochs(
        network,
        torch.optim.SGD(network.parameters(), lr=0.1),
        batch_loss,
        n=10,
        epochs=epochs,
        batch_size=4,
        generator=seeded_generator(seed),
        device=CPU,
        **options,
    )
    return network, losses, seen


def test_training_visits_every_point_once_per_epoch_and_records_mean_losses() -> None:
    network, losses, seen = fit_line(0, epochs=3, record_losses=True)
    assert network.training
    assert len(seen) == 9
    for epoch in range(3):
        assert sorted(i for batch in seen[3 * epoch : 3 * epoch + 3] for i in batch) == list(range(10))
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert fit_line(0, epochs=3)[1] == [], "losses are only read back when asked"


def test_training_is_reproducible_by_seed() -> None:
    first, _, seen_first = fit_line(1)
    again, _, seen_again = fit_line(1)
    other, _, seen_other = fit_line(2)
    assert seen_first == seen_again and seen_first != seen_other
    for a, b in zip(first.parameters(), again.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(first.weight, other.weight)


def test_gradient_clipping_bounds_each_step() -> None:
    with seeded(0):
        start = torch.nn.Linear(1, 1).weight.detach().clone()
    clipped, _, _ = fit_line(0, epochs=1, grad_clip=1e-3)
    # Three SGD steps at lr 0.1, each gradient clipped to norm 1e-3.
    assert float((clipped.weight.detach() - start).abs()) <= 3 * 0.1 * 1e-3 * (1 + 1e-6)
    assert float((fit_line(0, epochs=1)[0].weight.detach() - start).abs()) > 1e-3


@needs_cuda
def test_training_on_cuda_matches_its_own_rerun() -> None:
    device = torch.device("cuda")
    x = torch.linspace(-1, 1, 10, device=device).reshape(-1, 1)
    results = []
    for _ in range(2):
        with seeded(0, device):
            network = torch.nn.Linear(1, 1).to(device)
        train_epochs(
            network,
            torch.optim.Adam(network.parameters()),
            lambda batch, network=network: (network(x[batch]) ** 2).mean(),
            n=10,
            epochs=2,
            batch_size=4,
            generator=seeded_generator(0),
            device=device,
        )
        results.append(network.weight.detach().cpu())
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=0)
