"""Every benchmark names the files its values are read from (the bench caches hash their contents)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bonas.errors import DataFileNotFoundError
from bonas.tabular import load_benchmark


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("nb201-cifar10", "cifar10.pkl"),
        ("nb201-cifar10-flat", "cifar10.pkl"),
        ("nbgraph-cora", "cora.bench"),
        ("analognas-baseline", None),
        ("nb301", "model_v2.onnx"),
    ],
)
def test_a_benchmark_lists_the_files_it_reads(name: str, expected: str | None, shared_data: Path) -> None:
    try:
        benchmark = load_benchmark(name, data_dir=shared_data)
    except DataFileNotFoundError as error:
        pytest.skip(str(error))
    assert benchmark.source_files
    assert all(Path(path).is_file() for path in benchmark.source_files)
    if expected is not None:
        assert expected in {Path(path).name for path in benchmark.source_files}


def test_nb201_lists_its_optional_files_when_they_are_there(shared_data: Path, tmp_path: Path) -> None:
    if not (shared_data / "nb201" / "nb201_test_accuracy.csv").is_file():
        pytest.skip("nb201/nb201_test_accuracy.csv is not in the data folder")
    with_test = {path.name for path in load_benchmark("nb201-cifar10", data_dir=shared_data).source_files}
    without = {path.name for path in load_benchmark("nb201-cifar10", data_dir=tmp_path).source_files}
    assert "nb201_test_accuracy.csv" in with_test - without
