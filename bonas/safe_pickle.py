"""Reading third-party pickles without running what they name.

Benchmark tables ship as pickles. Unpickling executes any global a file names, so tables are read with
:class:`AllowListUnpickler`: only the globals a table is known to need resolve (to the real object or to
an inert stand-in), and anything else is refused with a message naming it.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from typing import IO, Any

#: Stand-in for "resolve this global normally" in an allow-list.
REAL = None


class AllowListUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals of ``allowed``.

    Args:
        file: binary file to read.
        allowed: ``(module, name)`` -> the object to use for it, or :data:`REAL` for the real global.
        source: what is being read, for error messages (e.g. ``"the AnalogNAS table"``).
    """

    def __init__(self, file: IO[bytes], allowed: Mapping[tuple[str, str], Any], source: str) -> None:
        super().__init__(file)
        self._allowed = allowed
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._allowed:
            names = ", ".join(f"{m}.{n}" for m, n in self._allowed) or "no globals"
            raise pickle.UnpicklingError(
                f"Refusing to load global {module}.{name} from {self._source}; only {names} are allowed. "
                "The file is not the one its package ships: reinstall that package."
            )
        replacement = self._allowed[(module, name)]
        return super().find_class(module, name) if replacement is REAL else replacement


def load_allowed(file: IO[bytes], allowed: Mapping[tuple[str, str], Any], source: str) -> Any:
    """Unpickle ``file`` with :class:`AllowListUnpickler`."""
    return AllowListUnpickler(file, allowed, source).load()
