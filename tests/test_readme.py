"""The README's Python examples run as written.

The first ``python`` block (the Python API) runs in this process; the blocks of the section
"Check your own space or surrogate" are test files, run by pytest in a fresh directory, without this
checkout's conftest or pytest settings, as a user would run them. The other blocks (training on real
datasets) take minutes and are not run. The ``bonas search`` and ``bonas show`` commands run in order,
with fewer trials.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from bonas.cli import main
from tests.conftest import require_shared_file

REPO_ROOT = Path(__file__).resolve().parent.parent
README = REPO_ROOT / "README.md"
CONFORMANCE_SECTION = "## Check your own space or surrogate"


def test_readme_python_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data: Path
) -> None:
    require_shared_file("nb201/nb201_test_accuracy.csv")
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert blocks, "README has no python example"
    monkeypatch.chdir(tmp_path)  # the example writes nb201.db in the working directory
    monkeypatch.setenv("BONAS_DATA_DIR", str(shared_data))
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    result = namespace["result"]
    assert result.best_value == pytest.approx(91.6067, abs=1e-3)  # type: ignore[attr-defined]
    assert (tmp_path / "nb201.db").is_file()


def test_readme_python_example_runs_without_the_optional_test_accuracy_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("BONAS_DATA_DIR", str(tmp_path / "empty"))  # no nb201_test_accuracy.csv there
    assert "n_trials=100" in blocks[0]
    short = blocks[0].replace("n_trials=100", "n_trials=12")  # the columns are the point here, not the search
    namespace: dict[str, object] = {}
    exec(compile(short, str(README), "exec"), namespace)
    assert "test_accuracy" not in namespace["result"].history.columns  # type: ignore[attr-defined]


def section_python_blocks(heading: str) -> list[str]:
    """The ``python`` blocks of the README section that starts with the line ``heading``."""
    text = README.read_text()
    assert text.count(f"\n{heading}\n") == 1, f"README has no section {heading!r}"
    section = text.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


@pytest.mark.slow  # a fresh interpreter imports torch and botorch, then fits a GP ~20 times
def test_readme_conformance_examples_pass_under_plain_pytest(tmp_path: Path, shared_data: Path) -> None:
    blocks = section_python_blocks(CONFORMANCE_SECTION)
    assert len(blocks) == 2, "expected one space and one surrogate example"
    for block in blocks:
        name = re.match(r"# (test_\w+\.py)\n", block)
        assert name, f"a conformance example starts with its file name as a comment:\n{block}"
        (tmp_path / name.group(1)).write_text(block)
    env = {
        **os.environ,
        # This checkout's bonas, not whichever one is installed; one OpenMP thread, as tests/conftest.py sets.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        "OMP_NUM_THREADS": "1",
        "BONAS_DATA_DIR": str(shared_data),
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), "."],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    passed = re.search(r"(\d+) passed", summary)
    # Both suites ran: 26 space and 18 surrogate checks today.
    assert passed and int(passed.group(1)) >= 40, summary
    assert "skipped" not in summary and "error" not in summary, summary


@pytest.mark.slow
def test_readme_hardware_aware_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data: Path
) -> None:
    require_shared_file("nb201/nb201_latency_help.csv")
    (block,) = section_python_blocks("## Hardware-aware search: accuracy against latency, size, FLOPs")
    assert "n_trials=60" in block
    monkeypatch.setenv("BONAS_DATA_DIR", str(shared_data))
    namespace: dict[str, object] = {}
    exec(compile(block.replace("n_trials=60", "n_trials=12"), str(README), "exec"), namespace)
    result = namespace["result"]
    assert len(result.study.directions) == 2  # type: ignore[attr-defined]
    assert result.pareto_front and all(  # type: ignore[attr-defined]
        m.metrics["latency_pixel3"] <= 12.0
        for m in result.pareto_front  # type: ignore[attr-defined]
    )


@pytest.mark.slow  # trains a supernet and two cells on digits, and runs a few BO proposals
def test_readme_weight_sharing_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = section_python_blocks("## Weight sharing: one supernet scores many candidates")
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    history = namespace["result"].history  # type: ignore[attr-defined]
    assert (history["fidelity"] == "stand-alone").sum() == 2
    best = history.loc[history["arch"] == str(namespace["result"].best_architecture), "fidelity"]  # type: ignore[attr-defined]
    assert "stand-alone" in set(best)


def readme_commands(*subcommands: str) -> list[list[str]]:
    """The README's ``bonas`` commands (of ``bash`` blocks, continuation lines joined, comments and a
    trailing ``&`` dropped) whose subcommand is one of ``subcommands``, in order."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            if not line.lstrip().startswith("bonas "):
                continue
            words = shlex.split(line, comments=True)
            words = words[:-1] if words[-1] == "&" else words
            if words[1] in subcommands:
                commands.append(words[1:])
    return commands


@pytest.mark.slow  # two BO searches and a multi-objective one, with their pictures
def test_readme_command_line_examples_run_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data: Path
) -> None:
    # The hardware-aware search, then the single-objective one and its continuation, in one storage, as
    # a reader runs them; a database server's commands are left out. Fewer trials: one BO proposal each.
    require_shared_file("nb201/nb201_latency_help.csv")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BONAS_DATA_DIR", str(shared_data))
    commands = [c for c in readme_commands("search", "show") if not any("://" in word for word in c)]
    assert [c[0] for c in commands] == ["search", "show", "search", "search", "show", "show"], (
        "the README's search and show examples changed: check they still run in order in one storage"
    )
    small = {"100": "11", "150": "12"}
    for command in commands:
        args = []
        for before, word in zip(["", *command], command, strict=False):
            if before in ("--n-trials", "--total-trials"):
                assert word in small, f"README trial count {word} changed: update this test's small counts"
                word = small[word]
            args.append(word)
        assert main(args) == 0, f"bonas {shlex.join(command)}"
    studies = {s.study_name: s.n_trials for s in optuna.get_all_study_summaries("sqlite:///results/bonas.db")}
    # The continuation (--total-trials) went on in the study the first single-objective search made.
    assert len(studies) == 2 and studies["nb201-cifar10-auto"] == 12
