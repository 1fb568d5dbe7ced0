"""Installed libraries' warnings during a command-line search go to a file (``bonas.library_warnings``)."""

from __future__ import annotations

import logging
import sysconfig
import warnings
from pathlib import Path

import pytest

from bonas.cli import main
from bonas.library_warnings import _ErrorsOf, _ToFile, is_library_file, library_warnings_to

LIBRARY_FILE = str(Path(sysconfig.get_paths()["purelib"]) / "somelib" / "core.py")


def test_library_warnings_go_to_the_file_and_the_users_own_still_show(tmp_path: Path) -> None:
    torch_logger = logging.getLogger("torch")
    path = tmp_path / "logs" / "warnings.log"
    with pytest.warns(UserWarning, match="my own note") as shown:
        with library_warnings_to(path) as record:
            warnings.warn_explicit("deprecated in somelib", FutureWarning, LIBRARY_FILE, 3)
            logging.getLogger("torch.utils.cpp_extension").warning("No CUDA runtime is found")
            warnings.warn("my own note", UserWarning, stacklevel=1)
        handlers_after = torch_logger.handlers[:]
    assert [str(w.message) for w in shown] == ["my own note"]
    lines = path.read_text().splitlines()
    assert record.count == len(lines) == 2
    assert "FutureWarning: deprecated in somelib" in lines[0]
    assert lines[1] == "WARNING torch.utils.cpp_extension: No CUDA runtime is found"
    assert (
        record.summary()
        == f"2 warnings of installed libraries (torch, BoTorch, Optuna, ...) written to {path}."
    )
    _assert_as_before(handlers_after)


def _assert_as_before(torch_handlers: list[logging.Handler]) -> None:
    """torch prints through its own handler, unfiltered, and the warning hook is Python's again."""
    assert torch_handlers and not any(isinstance(h, _ToFile | _ErrorsOf) for h in torch_handlers)
    assert warnings.showwarning.__module__ == "warnings"


def test_torch_errors_stay_on_the_terminal_and_all_is_restored_after_an_exception(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "warnings.log"
    with pytest.raises(KeyboardInterrupt), library_warnings_to(path) as record:
        logging.getLogger("torch._dynamo").info("a debug trace line")
        logging.getLogger("torch").error("torch failed loudly")
        raise KeyboardInterrupt
    assert "torch failed loudly" in capfd.readouterr().err
    assert record.count == 0 or "torch failed loudly" not in path.read_text()
    _assert_as_before(logging.getLogger("torch").handlers[:])


def test_nothing_is_written_when_no_library_warns(tmp_path: Path) -> None:
    with library_warnings_to(tmp_path / "warnings.log") as record:
        pass
    assert record.count == 0 and record.summary() is None and not (tmp_path / "warnings.log").exists()


def test_bonas_and_the_users_code_are_not_libraries() -> None:
    import bonas

    assert is_library_file(LIBRARY_FILE) and is_library_file(logging.__file__)
    assert not is_library_file(bonas.__file__) and not is_library_file(__file__)
    # bonas installed beside other packages is still bonas; a package named like it is not.
    installed = (Path(bonas.__file__).resolve().parent.parent,)
    assert not is_library_file(bonas.__file__, installed)
    assert is_library_file(str(installed[0] / "bonas_ext" / "core.py"), installed)


def test_a_command_line_search_writes_library_warnings_beside_its_storage(tmp_path, capsys, caplog) -> None:
    db = tmp_path / "w.db"
    args = [
        "search", "--objective", "tests.slow_objectives:nb201_warns", "--searcher", "random", "--storage", str(db),
        "--no-annotate", "--n-trials", "3", "--study", "w",
    ]  # fmt: skip
    with caplog.at_level(logging.INFO, logger="bonas"):
        assert main(args) == 0
    log = tmp_path / "w.db-artifacts" / "warnings.log"
    assert "FutureWarning: somelib is deprecating this call" in log.read_text()
    assert "my objective's own note" not in log.read_text()  # the user's code is not a library
    assert "somelib" not in capsys.readouterr().err
    assert f"written to {log}" in caplog.text
    assert "Study 'w' in" in caplog.text  # bonas's own log, written inside the block, still shows


def test_importing_the_models_through_bonas_prints_no_torch_jit_deprecation() -> None:
    """linear_operator's import-time torch.jit.script FutureWarning is not shown to Python API users."""
    import subprocess
    import sys

    code = "import warnings; warnings.simplefilter('default'); import bonas, bonas.surrogates.gp"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "jit.script" not in result.stderr


def test_the_users_own_torch_jit_script_still_warns(tmp_path: Path) -> None:
    """Only linear_operator's import is quiet: a user's own torch.jit.script after importing the models
    through bonas still gets torch's deprecation warning, once."""
    import subprocess
    import sys

    script = tmp_path / "mine.py"
    script.write_text(
        "import warnings\nwarnings.simplefilter('default')\nimport bonas, bonas.surrogates.gp\nimport torch\n\n\n"
        "def add_one(x: torch.Tensor) -> torch.Tensor:\n    return x + 1\n\n\ntorch.jit.script(add_one)\n"
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("`torch.jit.script` is deprecated") == 1, result.stderr


def test_jitter_warnings_in_a_proposal_go_to_the_debug_log_and_others_still_show(caplog) -> None:
    from bonas.library_warnings import jitter_to_debug_log

    with caplog.at_level(logging.DEBUG, logger="bonas"), warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        with jitter_to_debug_log():
            for _ in range(3):
                warnings.warn(
                    "A not p.d., added jitter of 1.0e-06 to the diagonal", RuntimeWarning, stacklevel=1
                )
            warnings.warn("the user's own warning", UserWarning, stacklevel=1)
        with pytest.raises(ValueError, match="the proposal failed"), jitter_to_debug_log():
            warnings.warn("raised before a failure", UserWarning, stacklevel=1)
            raise ValueError("the proposal failed")
    assert [str(w.message) for w in shown] == ["the user's own warning", "raised before a failure"]
    assert "3 GPyTorch jitter warning(s) in the proposal" in caplog.text


def _warn_from_one_place() -> None:
    warnings.warn("shown once per place", UserWarning, stacklevel=1)


def test_around_proposals_a_warning_shown_once_stays_once_and_module_filters_apply() -> None:
    from bonas.library_warnings import jitter_to_debug_log

    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("default")
        warnings.filterwarnings("ignore", module="noisy_lib")
        for _ in range(3):  # three proposals
            with jitter_to_debug_log():
                _warn_from_one_place()
                warnings.warn_explicit(
                    "from an ignored library", UserWarning, "noisy_lib.py", 1, module="noisy_lib"
                )
    assert [str(w.message) for w in shown] == ["shown once per place"]
