"""bonas: neural architecture search by Bayesian optimization and surrogate models, on Optuna studies."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

__version__ = "0.1.0"

# linear_operator (under GPyTorch and BoTorch) applies torch.jit.script at import, which this torch
# deprecates: every first surrogate import printed a FutureWarning no bonas user can act on. Only that
# message is ignored; the CLI and the benches log every other library warning to a file.
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)

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


#: Submodules imported on first access (``bonas.objectives.train``) so that ``import bonas`` stays fast.
_LAZY_MODULES = ("objectives", "training")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _LAZY_MODULES:
        return importlib.import_module(f"bonas.{name}")
    raise AttributeError(f"module 'bonas' has no attribute {name!r}")


__all__ = sorted(_LAZY)
