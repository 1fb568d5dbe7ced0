"""Hardware costs of the tables: NB201's device latencies and FLOPs, NAS-Bench-Graph's latency and
parameters, and which metrics are cheap (known without training)."""

from __future__ import annotations

import numpy as np
import pytest

import bonas
from bonas.errors import BonasError, DataFileError
from bonas.spaces.nb201 import OPERATIONS, NB201Space
from bonas.tabular import load_benchmark
from bonas.tabular.nb201 import DATASETS, FLOPS, LATENCY_DEVICES, LATENCY_FILE, load_latencies
from tests.conftest import require_shared_file

#: Index 0 of nb201_latency_help.csv: its pixel3, raspi4 and titan_rtx_1 latencies (ms).
ROW_0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
ROW_0_LATENCY = {"pixel3": 3.60585, "raspi4": 10.482, "titan_rtx_1": 5.55665}


def test_latencies_come_from_the_file_by_arch_string() -> None:
    require_shared_file(LATENCY_FILE)
    benchmark = load_benchmark("nb201-cifar100")
    metrics = benchmark(NB201Space().parse(ROW_0))
    for device, expected in ROW_0_LATENCY.items():
        assert metrics[f"latency_{device}"] == pytest.approx(expected)
    assert {f"latency_{d}" for d in LATENCY_DEVICES} <= set(benchmark.metric_names)
    assert len(LATENCY_DEVICES) == 27


def test_the_latency_file_is_checked(tmp_path) -> None:
    source = require_shared_file(LATENCY_FILE)
    cut = tmp_path / "cut.csv"
    cut.write_text("".join(source.open().readlines()[:100]))
    with pytest.raises(DataFileError, match=r"holds 99 distinct architectures.*cut short"):
        load_latencies(cut)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("index,arch_str,pixel3\n0,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,1\n")
    with pytest.raises(DataFileError, match="has no column"):
        load_latencies(wrong)


def test_without_the_latency_file_there_are_no_device_latencies(tmp_path) -> None:
    benchmark = load_benchmark("nb201-cifar10", data_dir=tmp_path)
    assert not any(name.startswith("latency_p") for name in benchmark.metric_names)
    assert benchmark.cheap_metric_names == ("latency_s", "params_mb", "flops_m")
    # A search of a device latency says which file gives it, instead of only listing what is there.
    with pytest.raises(
        BonasError, match=rf"'latency_pixel3' comes from {LATENCY_FILE}, which the data folder"
    ):
        bonas.search(benchmark.space, benchmark, objectives={"val_accuracy": "max", "latency_pixel3": "min"})


@pytest.mark.slow  # builds 3 networks per dataset
@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_flops_constants_are_those_counted_on_the_built_network(dataset) -> None:
    from bonas.training.costs import count_flops
    from bonas.training.networks import build_network

    shape, classes = {"cifar10": ((3, 32, 32), 10), "cifar100": ((3, 32, 32), 100)}.get(
        dataset, ((3, 16, 16), 120)
    )
    space = NB201Space()
    rng = np.random.default_rng(0)
    cells = [space.from_operations(tuple(OPERATIONS[i] for i in rng.integers(5, size=6))) for _ in range(2)]
    cells.append(space.from_operations(("none",) * 6))
    benchmark = load_benchmark(f"nb201-{dataset}")
    for cell in cells:
        counted = count_flops(build_network(cell, input_shape=shape, num_classes=classes), shape)
        assert FLOPS[dataset].of(space.operations(cell)) == counted
        assert benchmark(cell)["flops_m"] == pytest.approx(counted / 1e6)


def test_cheap_metrics_match_the_query_and_spend_nothing() -> None:
    benchmark = load_benchmark("nb201-cifar10", noisy=True, seed=0)
    cell = NB201Space().parse(ROW_0)
    cheap = benchmark.cheap_metrics(cell)
    assert set(cheap) == set(benchmark.cheap_metric_names)
    queried = benchmark(cell)
    assert all(queried[name] == value for name, value in cheap.items())
    assert "val_accuracy" not in cheap
    graph = load_benchmark("nbgraph-cora")
    assert graph.cheap_metric_names == ("latency_s", "params_m")
    some = graph.space.sample(np.random.default_rng(0))
    assert graph.cheap_metrics(some) == {k: graph(some)[k] for k in ("latency_s", "params_m")}
    flat = load_benchmark("nb201-cifar10-flat")
    assert flat.cheap_metric_names == load_benchmark("nb201-cifar10").cheap_metric_names
    assert load_benchmark("nb301").cheap_metric_names == ()
