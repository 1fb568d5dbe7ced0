"""Where bonas finds the local data files a user brings (NB201 test accuracies, the NB301 surrogate...).

Lookup order: an explicit ``data_dir`` argument, then the ``BONAS_DATA_DIR`` environment variable, then
the ``data/`` folder of the bonas checkout. ``data/README.md`` lists which file goes where.
"""

from __future__ import annotations

import os
from pathlib import Path

from bonas.errors import DataFileNotFoundError

#: Environment variable that points bonas at a data folder.
DATA_DIR_ENV = "BONAS_DATA_DIR"

_CHECKOUT_DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def data_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: ``path`` if given, else ``$BONAS_DATA_DIR``, else the checkout's ``data/``."""
    if path is not None:
        return Path(path)
    from_env = os.environ.get(DATA_DIR_ENV)
    if from_env:
        return Path(from_env)
    return _CHECKOUT_DATA_DIR


def check_data_folder(path: str | os.PathLike[str] | None = None) -> None:
    """Refuse a data folder given explicitly (``path`` or ``$BONAS_DATA_DIR``) that is not a folder.

    Benchmarks read their optional files (test accuracies, device latencies) only where they exist, so a
    mistyped folder would otherwise silently drop those metrics.

    Raises:
        DataFileNotFoundError: the folder does not exist or is a file; the message names it and its source.
    """
    if path is not None:
        source = "data_dir, --data-dir"
    elif os.environ.get(DATA_DIR_ENV):
        source = f"${DATA_DIR_ENV}"
    else:
        return  # the checkout's data/: absent in an installed package, where only given folders count
    folder = data_dir(path)
    if not folder.is_dir():
        problem = "is a file, not a folder" if folder.exists() else "does not exist"
        raise DataFileNotFoundError(
            f"Data folder {str(folder)!r} (from {source}) {problem}. Give the folder that holds the benchmark "
            f"files (data/README.md lists them), or leave {source} unset to use the checkout's data/."
        )


def data_file(relative: str, path: str | os.PathLike[str] | None = None) -> Path:
    """The file ``relative`` inside the data folder.

    Raises:
        DataFileNotFoundError: the file is not there; the message says where it was looked for and how
            to point bonas at it.
    """
    location = data_dir(path) / relative
    if not location.is_file():
        raise DataFileNotFoundError(
            f"Data file {relative!r} not found at {location}. Put it there (see data/README.md for where to "
            f"get it), or point bonas at a folder holding it with data_dir=... or ${DATA_DIR_ENV}."
        )
    return location


def optional_data_file(relative: str, path: str | os.PathLike[str] | None = None) -> Path | None:
    """Like :func:`data_file`, but None when the file is absent."""
    location = data_dir(path) / relative
    return location if location.is_file() else None


def package_file(package: str, relative: str) -> Path:
    """A file shipped inside an installed package, found without importing the package.

    Raises:
        DataFileNotFoundError: the package is not installed or lacks the file.
    """
    import importlib.util

    try:
        spec = importlib.util.find_spec(package)
    except ModuleNotFoundError:
        spec = None
    if spec is not None and not spec.submodule_search_locations:
        raise DataFileNotFoundError(
            f"{package!r} is a module, not a package holding data files like {relative!r}."
        )
    if spec is None or not spec.submodule_search_locations:
        raise DataFileNotFoundError(
            f"Package {package!r} is not installed; it holds the benchmark file {relative!r}. "
            f"Install bonas's dependencies (`make test` does) or `pip install` it."
        )
    for root in spec.submodule_search_locations:
        candidate = Path(root) / relative
        if candidate.is_file():
            return candidate
    raise DataFileNotFoundError(f"Package {package!r} has no file {relative!r}; reinstall it.")
