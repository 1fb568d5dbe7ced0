"""AnalogNAS-Bench: the NAS-Bench-201 cells trained on CIFAR-10 and evaluated for analog in-memory hardware.

The table ships in the PyPI package ``analog-nasbench`` as ``analognasbench/data.anb``, a pickle of a
dict ``{6-tuple: analognasbench.data.Architecture}`` whose drift fields hold
``analognasbench.data.DriftMeasurement`` objects. Importing ``analognasbench`` fails with current
setuptools (it imports ``pkg_resources``), and unpickling it as is would run whatever the file names, so
:func:`read_records` finds the file without importing the package and reads it with
:func:`bonas.safe_pickle.load_allowed`, which maps those two classes to inert records and refuses every other.
:func:`convert_records` then turns the records into a plain table keyed by NB201 arch string.

Every one of the 15,625 NB201 cells is in the table. Each cell has one number per metric (no training
seeds) and the package does not separate validation from test accuracy, so the chosen metric is
reported as ``val_accuracy`` and there is no ``test_accuracy`` (:attr:`Optimum.test_accuracy` is None).
All accuracies are in percent (chance level 10).

Key encoding of the package: a 6-tuple of operation indices on the edges (1<-0), (2<-0), (3<-0),
(2<-1), (3<-1), (3<-2), with 0 skip, 1 none, 2 conv3x3, 3 conv1x1, 4 avgpool. NB201 orders its edges
(1<-0), (2<-0), (2<-1), (3<-0), (3<-1), (3<-2), so the middle two swap: (2, 2, 0, 2, 3, 2) is
``|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|``.
Read this way the baseline accuracy has Spearman 0.991 with NB201's own CIFAR-10 test accuracy over the
15,625 cells; each of the other 719 edge orders scores at most 0.97 (0.75 without the swap), and each of
the other 119 operation orders at most 0.79.
"""

from __future__ import annotations

import logging
import os
import pickle
import time
from functools import cache, cached_property
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from bonas.architecture import Architecture
from bonas.data import package_file
from bonas.errors import InvalidArchitectureError, unknown_name
from bonas.safe_pickle import load_allowed
from bonas.spaces.nb201 import EDGES, NB201Space, to_arch_string
from bonas.tabular.base import Optimum, TabularBenchmark

logger = logging.getLogger(__name__)

PACKAGE = "analognasbench"
DATA_FILE = "data.anb"

#: NB201 operation of each AnalogNAS operation index.
ANALOGNAS_OPERATIONS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")

#: (source, target) of each position of an AnalogNAS key.
ANALOGNAS_EDGES = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))

#: Benchmark metric -> field of the package's records (accuracy in percent).
METRICS = {
    "baseline": "baseline_accuracy",
    "ptq": "ptq_accuracy",
    "qat": "qat_accuracy",
    "noisy": "noisy_accuracy",
    "analog": "analog_accuracy",
}

#: Drift times of the drift fields, in seconds (1 minute, 1 hour, 1 day, 30 days).
DRIFT_TIMES_S = (60, 3600, 86400, 2592000)

#: Fields holding "accuracy ± uncertainty" after the model weights drifted for a while on analog hardware.
DRIFT_FIELDS = tuple(f"{kind}_drift_{t}" for kind in ("baseline", "analog") for t in DRIFT_TIMES_S)

#: Suffix of the metric holding a drift field's uncertainty.
UNCERTAINTY_SUFFIX = "_uncertainty"


class ArchitectureRecord:
    """Inert stand-in for ``analognasbench.data.Architecture``: holds the pickled attributes, runs nothing."""

    def __setstate__(self, state: object) -> None:
        self.__dict__.update(_checked_state(state, "Architecture"))


class DriftRecord:
    """Inert stand-in for ``analognasbench.data.DriftMeasurement`` (``value``, ``uncertainty``)."""

    def __setstate__(self, state: object) -> None:
        self.__dict__.update(_checked_state(state, "DriftMeasurement"))


def _checked_state(state: object, name: str) -> dict[str, Any]:
    if not isinstance(state, dict) or not all(isinstance(key, str) for key in state):
        raise pickle.UnpicklingError(f"Pickled {name} state must be a dict of attributes, got {state!r}.")
    return state


#: The only globals the AnalogNAS pickle may name, and the record class each becomes.
ALLOWED_GLOBALS: dict[tuple[str, str], type] = {
    ("analognasbench.data", "Architecture"): ArchitectureRecord,
    ("analognasbench.data", "DriftMeasurement"): DriftRecord,
}


def read_records(source: str | os.PathLike[str] | BinaryIO) -> dict[Any, Any]:
    """The package's pickle, read with an allow-list of the two record classes.

    Args:
        source: path of ``data.anb`` or an open binary file.

    Returns:
        The pickled dict: AnalogNAS key -> :class:`ArchitectureRecord`.

    Raises:
        pickle.UnpicklingError: the pickle names a class other than the two record classes, or is not a
            dict.
    """
    if isinstance(source, str | os.PathLike):
        with Path(source).open("rb") as handle:
            return read_records(handle)
    records = load_allowed(source, ALLOWED_GLOBALS, "the AnalogNAS table")
    if not isinstance(records, dict):
        raise pickle.UnpicklingError(f"The AnalogNAS table should be a dict, got {type(records).__name__}.")
    return records


def arch_string_from_key(key: tuple[int, ...]) -> str:
    """NB201 arch string of an AnalogNAS key (6 op indices in :data:`ANALOGNAS_EDGES` order).

    Raises:
        ValueError: ``key`` is not 6 indices into :data:`ANALOGNAS_OPERATIONS`.
    """
    if (
        not isinstance(key, tuple)
        or len(key) != len(ANALOGNAS_EDGES)
        or not all(isinstance(i, int) and 0 <= i < len(ANALOGNAS_OPERATIONS) for i in key)
    ):
        raise ValueError(
            f"AnalogNAS key {key!r} is not a 6-tuple of operation indices 0..{len(ANALOGNAS_OPERATIONS) - 1}."
        )
    by_edge = {edge: ANALOGNAS_OPERATIONS[index] for edge, index in zip(ANALOGNAS_EDGES, key, strict=True)}
    return to_arch_string([by_edge[edge] for edge in EDGES])


def key_from_operations(operations: tuple[str, ...] | list[str]) -> tuple[int, ...]:
    """AnalogNAS key of 6 NB201 edge operations given in arch-string order."""
    by_edge = dict(zip(EDGES, operations, strict=True))
    return tuple(ANALOGNAS_OPERATIONS.index(by_edge[edge]) for edge in ANALOGNAS_EDGES)


def convert_records(records: dict[Any, Any]) -> dict[str, dict[str, float]]:
    """Plain table of the package's records: NB201 arch string -> metrics.

    Metrics per cell: the five ``*_accuracy`` fields of :data:`METRICS` and, for each of
    :data:`DRIFT_FIELDS`, its value and ``<field>_uncertainty``; all in percent.

    Raises:
        ValueError: a key is not a valid AnalogNAS key, disagrees with its record, or a field is missing.
    """
    table: dict[str, dict[str, float]] = {}
    for key, record in records.items():
        arch = arch_string_from_key(key)
        if not isinstance(record, ArchitectureRecord):
            raise ValueError(f"AnalogNAS key {key} holds a {type(record).__name__}, not an Architecture.")
        fields = vars(record)
        stored_key = fields.get("architecture")
        if stored_key is not None and tuple(stored_key) != key:
            raise ValueError(f"AnalogNAS record under key {key} describes architecture {stored_key}.")
        try:
            row = {field: float(fields[field]) for field in METRICS.values()}
            for field in DRIFT_FIELDS:
                drift = vars(fields[field])
                row[field] = float(drift["value"])
                row[field + UNCERTAINTY_SUFFIX] = float(drift["uncertainty"])
        except KeyError as error:
            raise ValueError(f"AnalogNAS record {key} lacks field {error}; reinstall the package.") from None
        except TypeError as error:
            raise ValueError(f"AnalogNAS record {key} has a malformed field ({error}).") from None
        table[arch] = row
    return table


@cache
def load_table(path: Path | None = None) -> dict[str, dict[str, float]]:
    """The AnalogNAS table (see :func:`convert_records`) of ``path``, default the installed package's file."""
    location = package_file(PACKAGE, DATA_FILE) if path is None else path
    start = time.perf_counter()
    table = convert_records(read_records(location))
    seconds = time.perf_counter() - start
    logger.info("Loaded %d AnalogNAS cells from %s in %.2f s.", len(table), location, seconds)
    return table


class AnalogNASBenchmark(TabularBenchmark):
    """AnalogNAS-Bench on CIFAR-10, over the NB201 cell space.

    Metrics, all in percent, named after the package's fields (its paper describes each protocol):
    ``val_accuracy`` (the chosen metric); the five accuracies ``baseline_accuracy`` (digital),
    ``ptq_accuracy`` (post-training quantisation), ``qat_accuracy`` (quantisation-aware training),
    ``noisy_accuracy`` (under injected noise) and ``analog_accuracy`` (simulated analog in-memory
    hardware); the drift values ``{baseline,analog}_drift_{60,3600,86400,2592000}`` (accuracy after that
    many seconds of conductance drift), each with ``<name>_uncertainty``. There is no ``test_accuracy``.

    Args:
        metric: one of ``baseline``, ``ptq``, ``qat``, ``noisy``, ``analog``.
        data_dir: accepted for a uniform signature; the table comes from the installed package.
        noisy: has no effect (the table has one value per cell, no training seeds).
        seed: seed of the benchmark's rng (unused, as no query is random).
    """

    def __init__(
        self,
        metric: str = "baseline",
        *,
        data_dir: str | os.PathLike[str] | None = None,
        noisy: bool = False,
        seed: int | None = None,
    ) -> None:
        if metric not in METRICS:
            raise unknown_name("AnalogNAS metric", metric, METRICS)
        super().__init__(noisy=noisy, seed=seed)
        if noisy:
            logger.warning("AnalogNAS has one value per architecture; noisy=True returns the same values.")
        self.metric = metric
        self.name = f"analognas-{metric}"
        self.space = NB201Space()
        self._table = load_table()
        self.source_files = (package_file(PACKAGE, DATA_FILE),)

    def query(self, architecture: Architecture, rng: np.random.Generator) -> dict[str, float]:
        arch = to_arch_string(self.space.operations(architecture))
        row = self._table.get(arch)
        if row is None:
            raise InvalidArchitectureError(
                f"{arch} is not in the AnalogNAS table ({len(self._table):,} of 15,625 cells); "
                "reinstall analog-nasbench 0.1.3, whose table holds every cell."
            )
        return {"val_accuracy": row[METRICS[self.metric]], **row}

    @cached_property
    def optimum(self) -> Optimum:
        field = METRICS[self.metric]
        best = max(self._table, key=lambda arch: self._table[arch][field])
        return Optimum(self._table[best][field], None, best)
