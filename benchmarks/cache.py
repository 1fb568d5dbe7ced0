"""The bench cache: finished results on disk, each under the fingerprint of what produced it.

An entry is one CSV file ``<root>/<key>.<fingerprint>.csv``. The fingerprint (:func:`fingerprint_of`) hashes
the settings of a result and the source of the code that computed it, so a result is reused exactly
when neither changed. Every file is written to a temporary name and renamed into place
(:func:`write_csv`): an interrupted write leaves no file under an entry's name, so it is never read
back as a result, and the next run recomputes it.
"""

from __future__ import annotations

import ast
import hashlib
import os
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

import pandas as pd

import bonas


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` (without its index) to ``path`` atomically, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A temporary name of its own per process, in the same folder so that the rename is atomic.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        frame.to_csv(temporary, index=False)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def content_digest(paths: Iterable[Path]) -> str:
    """A hash of the contents of ``paths`` (data files), each file read once per process while its size
    and modification time stay the same."""
    digest = hashlib.blake2b(digest_size=8)
    for path in paths:
        status = Path(path).stat()
        digest.update(_file_digest(Path(path).resolve(), status.st_size, status.st_mtime_ns).encode())
    return digest.hexdigest()


@cache
def _file_digest(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint_of(settings: object, sources: Iterable[Path]) -> str:
    """A 16-hex-digit hash of ``repr(settings)`` and the bytes of the ``sources`` files, in that order."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update(repr(settings).encode())
    for source in sources:
        digest.update(source.read_bytes())
    return digest.hexdigest()


class ResultCache:
    """Frames under ``root`` by key (a relative path such as ``"nb201-cifar10/random/seed0-q150"``).

    Args:
        root: the folder of the entries.
        dtype: column dtypes to read entries with (``pandas.read_csv``'s ``dtype``).
    """

    def __init__(self, root: Path, *, dtype: Mapping[str, object] | None = None) -> None:
        self.root = Path(root)
        self.dtype = dict(dtype or {})

    def path(self, key: str, fingerprint: str) -> Path:
        """The file of the entry ``key`` computed under ``fingerprint``."""
        if not fingerprint.isalnum():
            raise ValueError(f"A fingerprint is a non-empty alphanumeric string, but got {fingerprint=}.")
        if not key or "." in Path(key).name:
            raise ValueError(f"A key is a relative path whose last part has no dot, but got {key=}.")
        return self.root / f"{key}.{fingerprint}.csv"

    def load(self, key: str, fingerprint: str) -> pd.DataFrame | None:
        """The frame stored for ``key`` under ``fingerprint``, or None (never stored, or under another one)."""
        path = self.path(key, fingerprint)
        return self._read(path) if path.is_file() else None

    def __contains__(self, entry: tuple[str, str]) -> bool:
        """Whether ``(key, fingerprint)`` is stored."""
        return self.path(*entry).is_file()

    def store(self, key: str, fingerprint: str, frame: pd.DataFrame) -> Path:
        """Store ``frame`` as ``key`` under ``fingerprint``, dropping the entry's other fingerprints."""
        path = self.path(key, fingerprint)
        # Stale files go first: if the write is interrupted, the key has no entry rather than two.
        for stale in self._files(path.parent, Path(key).name):
            if stale != path:
                stale.unlink(missing_ok=True)
        write_csv(frame, path)
        return path

    def frames(self) -> list[pd.DataFrame]:
        """Every stored frame under ``root``, in the order of their paths."""
        return [self._read(path) for path in sorted(self.root.rglob("*.csv")) if _is_entry(path)]

    def _read(self, path: Path) -> pd.DataFrame:
        return pd.read_csv(path, dtype=self.dtype or None)

    @staticmethod
    def _files(folder: Path, name: str) -> list[Path]:
        return [path for path in folder.glob(f"{name}.*.csv") if _is_entry(path)] if folder.is_dir() else []


def _is_entry(path: Path) -> bool:
    # <name>.<fingerprint>.csv; temporary files start with a dot and end in .tmp.
    parts = path.name.split(".")
    return len(parts) == 3 and not path.name.startswith(".") and parts[1].isalnum()


# -- Which code a result depends on ----------------------------------------------------------------------

#: Name -> class registries: their source counts, but the modules they import are not followed, because
#: the class a run uses is a root of its fingerprint itself. Without this, every searcher's runs would
#: depend on every other searcher's code (a change to the BO sampler would invalidate the baselines).
REGISTRIES = frozenset({"bonas.samplers"})


@cache
def bonas_sources(modules: frozenset[str]) -> tuple[Path, ...]:
    """Source files of the bonas ``modules`` and of every bonas module they import, sorted.

    Imports are followed transitively, lazy imports inside functions included; imports of
    :data:`REGISTRIES` are not followed (their own source is included).
    """
    package = Path(bonas.__file__).parent
    found: set[Path] = set()
    todo = [m for m in modules if m == "bonas" or m.startswith("bonas.")]
    while todo:
        module = todo.pop()
        path = _module_path(package, module)
        if path is None or path in found:
            continue
        found.add(path)
        if module in REGISTRIES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                todo += [alias.name for alias in node.names if alias.name.startswith("bonas")]
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bonas"):
                todo.append(node.module)
                todo += [f"{node.module}.{alias.name}" for alias in node.names]  # submodules
    return tuple(sorted(found))


def _module_path(package: Path, module: str) -> Path | None:
    relative = Path(*module.split(".")[1:])
    for candidate in (package / relative / "__init__.py", (package / relative).with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None
