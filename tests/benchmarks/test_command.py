"""The bench commands' boundary (benchmarks/command.py): counts, output folders, errors and Ctrl-C."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

import benchmarks.__main__ as bench_main
import benchmarks.failures as failures_bench
import benchmarks.multiobjective as multiobjective_bench
from benchmarks.command import BenchInputError, run_command
from benchmarks.runner import GridRuns
from bonas.errors import UnknownNameError


@pytest.mark.parametrize("flag", ["--seeds", "--budget", "--jobs"])
@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_counts_below_one_are_refused_not_replaced_by_the_defaults(flag, value, tmp_path, capsys) -> None:
    # `--seeds 0` used to run the 20-seed default, hours of work nobody asked for.
    for main in (bench_main.main, multiobjective_bench.main):
        with pytest.raises(SystemExit) as raised:
            main(["--benchmarks" if main is bench_main.main else "--problems",
                  "nb201-cifar10" if main is bench_main.main else "nb201-cifar10:pixel3",
                  flag, value, "--out", str(tmp_path / "out")])  # fmt: skip
        assert raised.value.code == 2
        assert f"argument {flag}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_output_path_that_is_a_file_is_refused_before_anything_runs(tmp_path) -> None:
    (tmp_path / "notes").write_text("mine")
    for out in (tmp_path / "notes", tmp_path / "notes" / "sub"):
        with pytest.raises(BenchInputError, match=r"--out .*'.*notes' is a file; give a folder"):
            bench_main.main(["--benchmarks", "nb201-cifar10", "--searchers", "random", "--out", str(out)])
    assert (tmp_path / "notes").read_text() == "mine"


def test_nothing_to_run_is_an_error_that_leaves_earlier_results_alone(tmp_path, monkeypatch) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.md").write_text("earlier results")
    monkeypatch.setenv("BONAS_DATA_DIR", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(BenchInputError, match="Every benchmark asked for was skipped"):
        bench_main.main(["--benchmarks", "nb301", "--searchers", "random", "--out", str(out)])
    assert [p.name for p in out.iterdir()] == ["summary.md"] and (
        out / "summary.md"
    ).read_text() == "earlier results"


def test_the_failures_bench_refuses_a_table_without_parameter_sizes(tmp_path) -> None:
    with pytest.raises(BenchInputError, match=r"'nbgraph-cora' returns no params_mb"):
        failures_bench.main(
            ["--benchmarks", "nbgraph-cora", "--seeds", "2", "--budget", "12", "--out", str(tmp_path)]
        )


def test_user_errors_and_ctrl_c_end_in_one_paragraph(capsys) -> None:
    def unknown() -> int:
        raise UnknownNameError("Unknown benchmark 'nb201-cifar11'. Valid benchmarks: 'nb201-cifar10'.")

    def interrupted() -> int:
        raise KeyboardInterrupt

    assert run_command(unknown, "python -m benchmarks") == 2
    assert capsys.readouterr().err == (
        "python -m benchmarks: error: Unknown benchmark 'nb201-cifar11'. Valid benchmarks: 'nb201-cifar10'.\n"
    )
    assert run_command(interrupted, "python -m benchmarks") == 130
    assert "interrupted. Finished runs are cached" in capsys.readouterr().err
    assert run_command(lambda: None, "python -m benchmarks") == 0


def test_a_searcher_named_twice_is_one_run(tmp_path, monkeypatch, capsys) -> None:
    planned: list[int] = []
    monkeypatch.setattr(
        bench_main, "run_grid", lambda specs, *a, **k: planned.append(len(specs)) or GridRuns({}, n_cached=0)
    )
    monkeypatch.setattr(bench_main, "plot_curves", lambda runs, folder: [])
    argv = [
        "--benchmarks",
        "nb201-cifar10",
        "nb201-cifar10",
        "--searchers",
        "random",
        "random",
        "--seeds",
        "1",
    ]
    assert bench_main.main([*argv, "--out", str(tmp_path)]) == 0
    assert planned == [1] and "1 runs: 1 benchmarks x 1 searchers" in capsys.readouterr().out


def test_the_default_grid_without_data_says_so_and_exits_0(tmp_path, monkeypatch, capsys) -> None:
    # On a machine without the data files, `make bench` goes on to its next bench.
    monkeypatch.setattr(multiobjective_bench, "available", lambda problems: [])
    assert multiobjective_bench.main(["--out", str(tmp_path / "out")]) == 0
    assert "No multi-objective problem has its data here: nothing to run." in capsys.readouterr().out
    assert not (tmp_path / "out").exists()


def _unwritable_folder() -> Path:
    for folder in (Path("/sys"), Path("/proc")):
        try:
            Path(tempfile.mkdtemp(dir=folder)).rmdir()
        except OSError:
            return folder
    pytest.skip("no folder here refuses writes")


def test_an_output_folder_that_cannot_be_written_is_refused_before_anything_is_announced(capsys) -> None:
    out = _unwritable_folder() / "x"
    argv = ["--benchmarks", "nb201-cifar10", "--searchers", "random", "--seeds", "1", "--budget", "3"]
    assert run_command(lambda: bench_main.main([*argv, "--out", str(out)]), "bench") == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert f"--out '{out}': cannot write in" in line and "give a folder you can write to" in line


def test_an_unknown_benchmark_name_is_answered_with_the_closest_ones_first(tmp_path) -> None:
    with pytest.raises(
        UnknownNameError, match=r"^Unknown benchmark 'nb201-cifar1O'\. Did you mean 'nb201-cifar10'"
    ):
        bench_main.main(["--benchmarks", "nb201-cifar1O", "--out", str(tmp_path)])
