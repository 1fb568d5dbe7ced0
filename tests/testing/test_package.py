"""bonas.testing stays out of ``import bonas``, and says how to get pytest when it is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_import_bonas_loads_neither_the_suites_nor_pytest() -> None:
    result = run_python(
        "import sys, bonas; bonas.get_space; "
        "print(sorted(m for m in sys.modules if m == 'pytest' or m.startswith('bonas.testing')))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_missing_pytest_is_reported_with_the_fix() -> None:
    result = run_python("import sys; sys.modules['pytest'] = None; import bonas.testing.spaces")
    assert result.returncode != 0
    assert "bonas.testing holds pytest suites and needs pytest" in result.stderr
    assert "pip install pytest" in result.stderr
