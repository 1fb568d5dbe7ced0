"""The README's Python example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import require_shared_file

README = Path(__file__).resolve().parent.parent / "README.md"


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
