"""bonas: neural architecture search by Bayesian optimization and surrogate models, on Optuna studies."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import ModuleType
from typing import Any

__version__ = "0.1.0"


class _QuietLinearOperatorImport(importlib.abc.MetaPathFinder):
    """Imports linear_operator (under GPyTorch and BoTorch) with torch's ``torch.jit.script is
    deprecated`` FutureWarning ignored: linear_operator applies ``torch.jit.script`` at import, so every
    first surrogate import printed a warning no bonas user can act on. Only that import is quiet; the
    user's own ``torch.jit.script`` still warns, and the CLI and the benches log every other library
    warning to a file. Removes itself once it has found the package."""

    def find_spec(
        self, name: str, path: Any = None, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != "linear_operator":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            execute = spec.loader.exec_module

            def exec_module(module: ModuleType) -> None:
                with warnings.catch_warnings():
                    warnings.filterwarnings(
                        "ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning
                    )
                    execute(module)

            spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


if "linear_operator" not in sys.modules and not any(
    isinstance(f, _QuietLinearOperatorImport) for f in sys.meta_path
):
    sys.meta_path.insert(0, _QuietLinearOperatorImport())

_LAZY = {
    "Architecture": "bonas.architecture",
    "Cell": "bonas.architecture",
    "search": "bonas.study",
    "SearchResult": "bonas.study",
    "retrain_best": "bonas.retraining",
    "load_benchmark": "bonas.tabular",
    "get_space": "bonas.spaces",
    "make_sampler": "bonas.samplers",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    # Submodules are imported on first access (``bonas.objectives.train``, ``bonas.tabular.benchmark_names()``)
    # so that ``import bonas`` stays fast.
    if not name.startswith("_") and importlib.util.find_spec(f"bonas.{name}") is not None:
        return importlib.import_module(f"bonas.{name}")
    raise AttributeError(f"module 'bonas' has no attribute {name!r}")


__all__ = sorted(_LAZY)
