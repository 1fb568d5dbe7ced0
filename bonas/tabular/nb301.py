"""NAS-Bench-301: a surrogate of CIFAR-10 validation accuracy over the DARTS space.

The space has about 1.08e18 architectures, so there is no table: the YAHPO Gym v2 surrogate
(``nb301/model_v2.onnx`` in the data folder, Apache-2.0) predicts each one, run with onnxruntime. Its
inputs are ``x_cat``, int32 ``batch x 34``, and ``x_cont``, float32 ``batch x 1`` (the epoch, 1..98);
its output is float32 ``batch x 4``: validation accuracy (0-1), validation cross-entropy, runtime (s),
runtime increase.

``x_cat`` holds, in this column order, ``edge_normal_0..13``, ``edge_reduce_0..13``,
``inputs_node_normal_3..5`` and ``inputs_node_reduce_3..5`` (NB301 names, prefixed with
:data:`~bonas.spaces.darts.NB301_PREFIX`), each coded by ``nb301/encoding_v2.json``; an edge inactive in
the architecture is coded ``#na#`` (0).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bonas.architecture import Architecture
from bonas.data import data_file
from bonas.errors import DataFileError
from bonas.spaces.darts import CELL_TYPES, CHOOSING_NODES, DartsSpace, inputs_parameter, long_name
from bonas.tabular.base import TabularBenchmark

if TYPE_CHECKING:
    import onnxruntime

MODEL_FILE = "nb301/model_v2.onnx"
ENCODING_FILE = "nb301/encoding_v2.json"
CONFIG_SPACE_FILE = "nb301/config_space_v2.json"

#: Epochs the surrogate was fitted on; 98 is the end of training.
FIRST_EPOCH, LAST_EPOCH = 1, 98

#: Code of an inactive parameter in ``encoding_v2.json``.
INACTIVE = "#na#"

#: The surrogate's ``x_cat`` columns, as bonas parameter names, in order.
COLUMNS = (
    *(f"edge_{cell}_{edge}" for cell in CELL_TYPES for edge in range(14)),
    *(inputs_parameter(cell, node) for cell in CELL_TYPES for node in CHOOSING_NODES),
)


class SurrogateFileError(DataFileError):
    """A surrogate data file is present but does not hold what bonas expects."""


def load_encoding(path: Path) -> list[dict[str, int]]:
    """Per :data:`COLUMNS` entry, the integer code of each value (``#na#`` included) from encoding_v2.json.

    Raises:
        SurrogateFileError: the file lacks a column or a value of the DARTS space.
    """
    raw = _read_json(path)
    if not isinstance(raw, dict):
        raise SurrogateFileError(f"{path} should hold a JSON object of encodings; is it encoding_v2.json?")
    space = DartsSpace()
    choices = {parameter.name: parameter.choices for parameter in space.parameters}
    codes = []
    for column in COLUMNS:
        table = raw.get(long_name(column))
        if table is None:
            raise SurrogateFileError(
                f"{path} has no encoding of {long_name(column)!r}; is it encoding_v2.json?"
            )
        missing = [value for value in (INACTIVE, *choices[column]) if value not in table]
        if missing:
            raise SurrogateFileError(f"{path} does not encode {missing} for {long_name(column)!r}.")
        codes.append({str(value): int(code) for value, code in table.items()})
    return codes


def check_config_space(path: Path) -> None:
    """Check that ``config_space_v2.json`` describes the space bonas encodes: each of :data:`COLUMNS` a
    categorical parameter with the same choices, and conditions only between those parameters.

    Raises:
        SurrogateFileError: the file is not that ConfigSpace description.
    """
    raw = _read_json(path)
    parameters = raw.get("hyperparameters") if isinstance(raw, dict) else None
    if not isinstance(parameters, list):
        raise SurrogateFileError(f"{path} has no 'hyperparameters' list; is it config_space_v2.json?")
    described = {p.get("name"): p for p in parameters if isinstance(p, dict)}
    space = DartsSpace()
    for parameter in space.parameters:
        entry = described.get(long_name(parameter.name))
        if entry is None:
            raise SurrogateFileError(f"{path} does not describe {long_name(parameter.name)!r}.")
        if set(map(str, entry.get("choices", ()))) != set(map(str, parameter.choices)):
            raise SurrogateFileError(
                f"{path} gives {long_name(parameter.name)!r} the choices {entry.get('choices')}, but bonas's "
                f"DARTS space has {list(parameter.choices)}; is it NB301's config_space_v2.json?"
            )
    for condition in raw.get("conditions", []):
        unknown = [condition.get(k) for k in ("child", "parent") if condition.get(k) not in described]
        if unknown:
            raise SurrogateFileError(f"{path}: a condition names unknown parameters {unknown}.")


def _read_json(path: Path) -> Any:
    try:
        with path.open() as handle:
            return json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SurrogateFileError(
            f"{path} is not valid JSON ({error}); it may be cut short: copy it again from the YAHPO Gym "
            "data (see data/README.md)."
        ) from None


class NB301Benchmark(TabularBenchmark):
    """NAS-Bench-301's surrogate on CIFAR-10 (DARTS space), a deterministic function of the architecture.

    Metrics: ``val_accuracy`` (percent), ``val_cross_entropy`` and ``runtime_s`` (training time in
    seconds), predicted at ``epoch``. There is no test accuracy and no known optimum (:attr:`optimum` is
    None). Random architectures score about 91.3-93.2 % at epoch 98.

    Args:
        data_dir: folder holding ``nb301/model_v2.onnx``, ``nb301/encoding_v2.json`` and
            ``nb301/config_space_v2.json`` (default: see
            :mod:`bonas.data`).
        noisy: accepted for a uniform interface; the surrogate is deterministic, so noisy queries return
            the same values as noiseless ones.
        seed: seed of the benchmark's rng (unused by this deterministic surrogate).
        epoch: training epoch the prediction is for, 1..98.

    Raises:
        DataFileNotFoundError: a surrogate file is missing from the data folder.
        ValueError: ``epoch`` is not an integer in 1..98.
    """

    name = "nb301"

    def __init__(
        self,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        noisy: bool = False,
        seed: int | None = None,
        epoch: int = LAST_EPOCH,
    ) -> None:
        if (
            isinstance(epoch, bool)
            or not isinstance(epoch, int | np.integer)
            or not FIRST_EPOCH <= epoch <= LAST_EPOCH
        ):
            raise ValueError(
                f"NB301's surrogate predicts epochs {FIRST_EPOCH}..{LAST_EPOCH}, got {epoch=!r}; "
                f"use {LAST_EPOCH} for the end of training."
            )
        super().__init__(noisy=noisy, seed=seed)
        self.space = DartsSpace()
        self.epoch = int(epoch)
        self._model_path = data_file(MODEL_FILE, data_dir)
        self._codes = load_encoding(data_file(ENCODING_FILE, data_dir))
        check_config_space(data_file(CONFIG_SPACE_FILE, data_dir))
        self.source_files = tuple(
            data_file(name, data_dir) for name in (MODEL_FILE, ENCODING_FILE, CONFIG_SPACE_FILE)
        )
        self._session: onnxruntime.InferenceSession | None = None

    @property
    def session(self) -> onnxruntime.InferenceSession:
        """The onnxruntime session, created on first use with one thread (benchmarks run in parallel)."""
        if self._session is None:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            try:
                self._session = onnxruntime.InferenceSession(
                    str(self._model_path), sess_options=options, providers=["CPUExecutionProvider"]
                )
            except Exception as error:  # onnxruntime raises its own types for a damaged model
                raise SurrogateFileError(
                    f"{self._model_path} is not a loadable ONNX model ({type(error).__name__}: {error}); copy "
                    "it again from the YAHPO Gym data (see data/README.md)."
                ) from None
        return self._session

    def encode(self, architectures: list[Architecture]) -> np.ndarray:
        """The surrogate's ``x_cat``: int32 ``n x 34`` array for ``n`` already validated architectures."""
        rows = np.zeros((len(architectures), len(COLUMNS)), dtype=np.int32)
        for row, architecture in enumerate(architectures):
            params = architecture.param_dict
            rows[row] = [
                codes[str(params.get(column, INACTIVE))]
                for column, codes in zip(COLUMNS, self._codes, strict=True)
            ]
        return rows

    def query(self, architecture: Architecture, rng: np.random.Generator) -> dict[str, float]:
        return self._predict([architecture])[0]

    def query_batch(self, architectures: list[Architecture]) -> list[dict[str, float]]:
        """Metrics of many architectures in one surrogate call (much faster than one call each).

        Args:
            architectures: ``n`` architectures of the DARTS space.

        Returns:
            ``n`` metric dicts, in order, as :meth:`__call__` returns them.
        """
        architectures = list(architectures)
        for architecture in architectures:
            self.space.validate(architecture)
        return self._predict(architectures)

    def _predict(self, architectures: list[Architecture]) -> list[dict[str, float]]:
        if not architectures:
            return []
        epochs = np.full((len(architectures), 1), self.epoch, dtype=np.float32)
        (output,) = self.session.run(["output"], {"x_cat": self.encode(architectures), "x_cont": epochs})
        return [
            {
                "val_accuracy": 100.0 * float(accuracy),
                "val_cross_entropy": float(loss),
                "runtime_s": float(runtime),
            }
            for accuracy, loss, runtime, _ in output
        ]

    @property
    def optimum(self) -> None:
        """None: the space cannot be enumerated, so the surrogate's optimum is unknown."""
        return None

    def __getstate__(self) -> dict[str, Any]:
        # An onnxruntime session does not pickle; a copy sent to another process opens its own.
        state = self.__dict__.copy()
        state["_session"] = None
        return state

    def __repr__(self) -> str:
        return f"NB301Benchmark(epoch={self.epoch})"
