"""AnalogNAS-Bench: restricted loading, key mapping onto NB201 arch strings, pinned table values."""

from __future__ import annotations

import csv
import io
import logging
import os
import pickle
import time

import numpy as np
import pytest
from scipy.stats import spearmanr

from bonas.errors import InvalidArchitectureError, UnknownNameError
from bonas.spaces.nb201 import NB201Space
from bonas.tabular.analognas import (
    DRIFT_FIELDS,
    METRICS,
    AnalogNASBenchmark,
    ArchitectureRecord,
    DriftRecord,
    arch_string_from_key,
    convert_records,
    key_from_operations,
    load_table,
    read_records,
)
from tests.conftest import require_shared_file

#: The best baseline cell, as the package keys it and as NB201 writes it.
BEST_KEY = (2, 2, 0, 2, 3, 2)
BEST_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"


@pytest.fixture(scope="module")
def benchmark() -> AnalogNASBenchmark:
    return AnalogNASBenchmark("baseline")


# -- Restricted unpickling ---------------------------------------------------------------------------


class _RunsSystem:
    """Unpickles as a call to os.system: what a malicious table would hold."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo should-not-run",))


@pytest.mark.parametrize(
    ("payload", "refused"),
    [
        (pickle.dumps(_RunsSystem()), f"{os.system.__module__}.system"),
        (pickle.dumps(os.system), f"{os.system.__module__}.system"),
        (pickle.dumps({(0,) * 6: eval}), "builtins.eval"),
        (pickle.dumps(np.float64(1.0)), "numpy"),
    ],
)
def test_restricted_unpickler_refuses_other_globals(payload: bytes, refused: str) -> None:
    with pytest.raises(pickle.UnpicklingError, match="Refusing to load global") as error:
        read_records(io.BytesIO(payload))
    assert refused in str(error.value)
    assert "analognasbench.data.Architecture" in str(error.value)


def test_read_records_needs_a_dict() -> None:
    with pytest.raises(pickle.UnpicklingError, match="should be a dict"):
        read_records(io.BytesIO(pickle.dumps([1.0, 2.0])))


def test_package_file_loads_as_inert_records() -> None:
    from bonas.data import package_file

    records = read_records(package_file("analognasbench", "data.anb"))
    assert len(records) == 15625
    record = records[BEST_KEY]
    assert isinstance(record, ArchitectureRecord)
    assert isinstance(record.baseline_drift_60, DriftRecord)
    assert record.baseline_accuracy == pytest.approx(94.0664)


def test_load_time_is_short() -> None:
    start = time.perf_counter()
    table = load_table.__wrapped__()
    seconds = time.perf_counter() - start
    print(f"AnalogNAS table: {len(table)} cells loaded and converted in {seconds:.2f} s")
    assert seconds < 10.0


# -- Conversion --------------------------------------------------------------------------------------


def _record(key: tuple[int, ...], accuracy: float) -> ArchitectureRecord:
    record = ArchitectureRecord()
    state: dict[str, object] = {"architecture": key}
    state.update({field: accuracy for field in METRICS.values()})
    for field in DRIFT_FIELDS:
        drift = DriftRecord()
        drift.__setstate__({"value": accuracy - 1.0, "uncertainty": 0.5})
        state[field] = drift
    record.__setstate__(state)
    return record


def test_convert_records_keys_by_arch_string() -> None:
    table = convert_records({BEST_KEY: _record(BEST_KEY, 90.0)})
    assert list(table) == [BEST_ARCH]
    row = table[BEST_ARCH]
    assert row["baseline_accuracy"] == 90.0
    assert row["analog_drift_86400"] == 89.0
    assert row["analog_drift_86400_uncertainty"] == 0.5
    assert len(row) == len(METRICS) + 2 * len(DRIFT_FIELDS)


def test_convert_records_rejects_inconsistent_or_bad_keys() -> None:
    with pytest.raises(ValueError, match="describes architecture"):
        convert_records({(0,) * 6: _record(BEST_KEY, 90.0)})
    with pytest.raises(ValueError, match="not a 6-tuple"):
        convert_records({(0, 5, 0, 0, 0, 0): _record((0, 5, 0, 0, 0, 0), 90.0)})
    record = _record(BEST_KEY, 90.0)
    del record.ptq_accuracy
    with pytest.raises(ValueError, match="lacks field 'ptq_accuracy'"):
        convert_records({BEST_KEY: record})


def test_record_state_must_be_a_dict() -> None:
    with pytest.raises(pickle.UnpicklingError, match="dict of attributes"):
        ArchitectureRecord().__setstate__(("not", "a", "dict"))


# -- Key mapping -------------------------------------------------------------------------------------


def test_best_key_maps_to_its_nb201_arch_string() -> None:
    # Package edge order (1<-0),(2<-0),(3<-0),(2<-1),(3<-1),(3<-2); NB201 swaps the middle two.
    assert arch_string_from_key(BEST_KEY) == BEST_ARCH
    assert arch_string_from_key((1, 0, 4, 3, 2, 1)) == (
        "|none~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|"
    )


def test_key_mapping_round_trips_over_the_whole_space() -> None:
    space = NB201Space()
    keys = set()
    for architecture in space.enumerate():
        key = key_from_operations(space.operations(architecture))
        assert arch_string_from_key(key) == str(architecture)
        keys.add(key)
    assert len(keys) == 15625


def test_baseline_tracks_nb201_cifar10_test_accuracy(benchmark: AnalogNASBenchmark) -> None:
    """A wrong edge or operation order scores at most 0.97 here (the middle edges unswapped: 0.75)."""
    path = require_shared_file("nb201/nb201_test_accuracy.csv")
    with path.open(newline="") as handle:
        nb201 = {row["arch_str"]: float(row["cifar10_test"]) for row in csv.DictReader(handle)}
    table = load_table()
    archs = sorted(table)
    rho = spearmanr([table[a]["baseline_accuracy"] for a in archs], [nb201[a] for a in archs]).statistic
    print(f"Spearman(AnalogNAS baseline, NB201 cifar10 test) = {rho:.4f}")
    assert rho == pytest.approx(0.9914, abs=0.003)


# -- Benchmark ---------------------------------------------------------------------------------------


def test_table_covers_every_nb201_cell() -> None:
    table = load_table()
    assert len(table) == 15625
    assert all(len(row) == len(METRICS) + 2 * len(DRIFT_FIELDS) for row in table.values())


def test_query_pins_the_best_baseline_cell(benchmark: AnalogNASBenchmark) -> None:
    metrics = benchmark(benchmark.space.parse(BEST_ARCH))
    assert metrics["val_accuracy"] == pytest.approx(94.0664, abs=1e-3)
    assert metrics["baseline_accuracy"] == metrics["val_accuracy"]
    assert metrics["ptq_accuracy"] == pytest.approx(93.8408, abs=1e-3)
    assert metrics["qat_accuracy"] == pytest.approx(93.3064, abs=1e-3)
    assert metrics["noisy_accuracy"] == pytest.approx(81.2052, abs=1e-3)
    assert metrics["analog_accuracy"] == pytest.approx(88.3784, abs=1e-3)
    assert metrics["baseline_drift_60"] == pytest.approx(73.45)
    assert metrics["analog_drift_2592000_uncertainty"] == pytest.approx(0.34)
    assert "test_accuracy" not in metrics


def test_the_empty_cell_is_at_chance() -> None:
    metrics = AnalogNASBenchmark("analog")(NB201Space().from_operations(("none",) * 6))
    assert metrics["val_accuracy"] == metrics["analog_accuracy"]
    assert metrics["baseline_accuracy"] == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("metric", "best"),
    [("baseline", 94.0664), ("ptq", 93.8408), ("qat", 93.5448), ("noisy", 88.352), ("analog", 91.326)],
)
def test_optimum_per_metric(metric: str, best: float) -> None:
    benchmark = AnalogNASBenchmark(metric)
    assert benchmark.name == f"analognas-{metric}"
    optimum = benchmark.optimum
    assert optimum.val_accuracy == pytest.approx(best, abs=1e-3)
    assert optimum.test_accuracy is None
    arch = benchmark.space.parse(optimum.best_val_architecture)
    assert benchmark(arch)["val_accuracy"] == optimum.val_accuracy
    if metric in ("baseline", "ptq"):
        assert optimum.best_val_architecture == BEST_ARCH


def test_unknown_metric_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownNameError, match="'baseline', 'noisy', 'ptq', 'qat'"):
        AnalogNASBenchmark("test")


def test_noisy_returns_the_same_values_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bonas.tabular.analognas"):
        noisy = AnalogNASBenchmark("qat", noisy=True, seed=0)
    assert "one value per architecture" in caplog.text
    arch = noisy.space.parse(BEST_ARCH)
    assert noisy(arch) == AnalogNASBenchmark("qat")(arch)


def test_missing_cell_raises_a_clear_error(
    benchmark: AnalogNASBenchmark, monkeypatch: pytest.MonkeyPatch
) -> None:
    partial = {arch: row for arch, row in load_table().items() if arch != BEST_ARCH}
    monkeypatch.setattr(benchmark, "_table", partial)
    with pytest.raises(InvalidArchitectureError, match="not in the AnalogNAS table"):
        benchmark(benchmark.space.parse(BEST_ARCH))


def test_architecture_of_another_space_is_rejected(benchmark: AnalogNASBenchmark) -> None:
    other = NB201Space()
    other.name = "not-nb201"
    with pytest.raises(InvalidArchitectureError, match="belongs to space"):
        benchmark(other.from_operations(("none",) * 6))
