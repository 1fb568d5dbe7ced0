"""The NB301 surrogate benchmark: encoding, pinned predictions, batching and missing files."""

from __future__ import annotations

import json
import pickle
import time
from pathlib import Path

import numpy as np
import pytest

from bonas.errors import DataFileNotFoundError, InvalidArchitectureError
from bonas.spaces.darts import DARTS_V2, long_name
from bonas.spaces.nb201 import NB201Space
from bonas.tabular.nb301 import COLUMNS, ENCODING_FILE, MODEL_FILE, NB301Benchmark, SurrogateFileError
from tests.conftest import SHARED_DATA, require_shared_file

#: A random architecture (the first DartsSpace().sample of seed 0).
RANDOM_ARCH = (
    "normal=[(dil_conv_3x3,0),(sep_conv_5x5,1),(avg_pool_3x3,0),(skip_connect,2),(max_pool_3x3,0),"
    "(max_pool_3x3,1),(dil_conv_3x3,0),(sep_conv_5x5,2)];reduce=[(dil_conv_5x5,0),(sep_conv_3x3,1),"
    "(dil_conv_5x5,0),(dil_conv_3x3,2),(sep_conv_3x3,1),(sep_conv_3x3,2),(avg_pool_3x3,3),(dil_conv_3x3,4)]"
)
_SEP_CONV_CELL = "[" + ",".join(f"(sep_conv_3x3,{source})" for source in (0, 1) * 4) + "]"
ALL_SEP_CONV = f"normal={_SEP_CONV_CELL};reduce={_SEP_CONV_CELL}"

#: Surrogate predictions at epoch 98, computed once with onnxruntime 1.32 (val_accuracy in percent).
PINNED = {
    DARTS_V2: {"val_accuracy": 92.910099, "val_cross_entropy": 0.260704, "runtime_s": 4560.050},
    RANDOM_ARCH: {"val_accuracy": 92.798167, "val_cross_entropy": 0.273459, "runtime_s": 5031.166},
    ALL_SEP_CONV: {"val_accuracy": 93.024069, "val_cross_entropy": 0.268337, "runtime_s": 5307.867},
}


@pytest.fixture(scope="module")
def benchmark() -> NB301Benchmark:
    require_shared_file(MODEL_FILE)
    return NB301Benchmark(data_dir=SHARED_DATA)


def test_encoding_follows_the_documented_columns(benchmark: NB301Benchmark) -> None:
    # Hand-coded from encoding_v2.json (avg_pool 1, dil_conv_3x3 2, max_pool 4, sep_conv_3x3 5,
    # skip 7, inactive 0; pairs 0_1 1, 0_2 2, 1_2 3 for node 3 and 5 for node 5).
    normal = [5, 5, 5, 5, 0, 7, 5, 0, 0, 7, 0, 2, 0, 0]
    reduce = [4, 4, 0, 4, 7, 4, 0, 7, 0, 0, 4, 7, 0, 0]
    inputs = [1, 1, 2, 3, 2, 5]
    x_cat = benchmark.encode([benchmark.space.parse(DARTS_V2)])
    assert x_cat.dtype == np.int32 and x_cat.shape == (1, 34)
    assert x_cat[0].tolist() == normal + reduce + inputs


def test_columns_are_the_surrogate_features(benchmark: NB301Benchmark) -> None:
    encoding = json.loads(require_shared_file(ENCODING_FILE).read_text())
    assert {long_name(column) for column in COLUMNS} == set(encoding)
    assert COLUMNS[:3] == ("edge_normal_0", "edge_normal_1", "edge_normal_2")
    assert COLUMNS[10] == "edge_normal_10"  # numeric order, not lexicographic
    assert COLUMNS[28:] == tuple(f"inputs_node_{c}_{n}" for c in ("normal", "reduce") for n in (3, 4, 5))


def test_inactive_edges_are_coded_zero(benchmark: NB301Benchmark) -> None:
    rng = np.random.default_rng(0)
    x_cat = benchmark.encode([benchmark.space.sample(rng) for _ in range(20)])
    assert ((x_cat[:, :28] == 0).sum(axis=1) == 12).all()  # 6 of 14 edges inactive per cell
    assert (x_cat[:, 28:] > 0).all()


@pytest.mark.parametrize("text", list(PINNED))
def test_pinned_predictions(benchmark: NB301Benchmark, text: str) -> None:
    metrics = benchmark(benchmark.space.parse(text))
    expected = PINNED[text]
    assert set(metrics) == set(expected)
    assert metrics["val_accuracy"] == pytest.approx(expected["val_accuracy"], abs=1e-3)
    assert metrics["val_cross_entropy"] == pytest.approx(expected["val_cross_entropy"], abs=1e-3)
    assert metrics["runtime_s"] == pytest.approx(expected["runtime_s"], rel=1e-4)


def test_random_architectures_score_between_90_and_94_percent(benchmark: NB301Benchmark) -> None:
    rng = np.random.default_rng(1)
    accuracies = [
        m["val_accuracy"] for m in benchmark.query_batch([benchmark.space.sample(rng) for _ in range(50)])
    ]
    assert all(90.0 < accuracy < 94.0 for accuracy in accuracies), (min(accuracies), max(accuracies))
    assert 91.5 < float(np.mean(accuracies)) < 93.0


def test_batch_matches_single_queries(benchmark: NB301Benchmark) -> None:
    rng = np.random.default_rng(2)
    archs = [benchmark.space.sample(rng) for _ in range(10)]
    batched = benchmark.query_batch(archs)
    for arch, metrics in zip(archs, batched, strict=True):
        single = benchmark(arch)
        assert single == pytest.approx(metrics, abs=1e-4)
    assert benchmark.query_batch([]) == []


def test_query_validates_the_architecture(benchmark: NB301Benchmark) -> None:
    foreign = NB201Space().parse(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|"
    )
    with pytest.raises(InvalidArchitectureError, match="nb201"):
        benchmark(foreign)
    with pytest.raises(InvalidArchitectureError, match="nb201"):
        benchmark.query_batch([benchmark.space.parse(DARTS_V2), foreign])


def test_noisy_is_deterministic_and_optimum_unknown(benchmark: NB301Benchmark) -> None:
    arch = benchmark.space.parse(DARTS_V2)
    noisy = NB301Benchmark(data_dir=SHARED_DATA, noisy=True, seed=3)
    assert noisy(arch) == benchmark(arch)
    assert benchmark.optimum is None
    assert benchmark.name == "nb301"


def test_epoch(benchmark: NB301Benchmark) -> None:
    arch = benchmark.space.parse(DARTS_V2)
    early = NB301Benchmark(data_dir=SHARED_DATA, epoch=1)(arch)
    assert early["val_accuracy"] == pytest.approx(61.418, abs=1e-2)
    assert early["val_accuracy"] < benchmark(arch)["val_accuracy"]
    assert early["runtime_s"] < benchmark(arch)["runtime_s"]
    for bad in (0, 99, 2.5, True, "98"):
        with pytest.raises(ValueError, match=r"epochs 1\.\.98"):
            NB301Benchmark(data_dir=SHARED_DATA, epoch=bad)  # type: ignore[arg-type]


def test_session_is_lazy_single_threaded_and_reused() -> None:
    require_shared_file(MODEL_FILE)
    fresh = NB301Benchmark(data_dir=SHARED_DATA)
    assert fresh._session is None
    fresh(fresh.space.parse(DARTS_V2))
    session = fresh.session
    assert session.get_session_options().intra_op_num_threads == 1
    fresh(fresh.space.parse(RANDOM_ARCH))
    assert fresh.session is session


def test_benchmark_pickles_without_its_session(benchmark: NB301Benchmark) -> None:
    arch = benchmark.space.parse(DARTS_V2)
    expected = benchmark(arch)
    copy = pickle.loads(pickle.dumps(benchmark))
    assert copy._session is None
    assert copy(arch) == expected


def test_missing_files_raise_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataFileNotFoundError, match=r"nb301/model_v2\.onnx.*data_dir"):
        NB301Benchmark(data_dir=tmp_path)
    (tmp_path / "nb301").mkdir()
    (tmp_path / "nb301" / "model_v2.onnx").symlink_to(require_shared_file(MODEL_FILE))
    with pytest.raises(DataFileNotFoundError, match=r"nb301/encoding_v2\.json"):
        NB301Benchmark(data_dir=tmp_path)


def test_wrong_encoding_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "nb301").mkdir()
    (tmp_path / "nb301" / "model_v2.onnx").symlink_to(require_shared_file(MODEL_FILE))
    (tmp_path / "nb301" / "encoding_v2.json").write_text(json.dumps({"epoch": {}}))
    with pytest.raises(SurrogateFileError, match="edge_normal_0"):
        NB301Benchmark(data_dir=tmp_path)


def test_timing_of_1000_queries(benchmark: NB301Benchmark) -> None:
    rng = np.random.default_rng(4)
    archs = [benchmark.space.sample(rng) for _ in range(1000)]
    benchmark(archs[0])  # opens the session
    start = time.perf_counter()
    single = [benchmark(arch) for arch in archs]
    single_s = time.perf_counter() - start
    start = time.perf_counter()
    batched = benchmark.query_batch(archs)
    batched_s = time.perf_counter() - start
    print(
        f"\nNB301 surrogate: {1e3 * single_s:.0f} us/query one at a time, "
        f"{1e3 * batched_s:.0f} us/query in one batch of 1000"
    )
    assert len(single) == len(batched) == 1000
