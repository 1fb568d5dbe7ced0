"""The allow-list unpickler resolves only the globals it is given."""

from __future__ import annotations

import collections
import io
import os
import pickle

import pytest

from bonas.safe_pickle import REAL, load_allowed


class _StandIn(dict):  # receives the pickled items like the class it stands in for
    pass


def test_real_globals_resolve_and_stand_ins_replace() -> None:
    payload = pickle.dumps({"d": collections.OrderedDict(a=1), "f": 1.5})
    loaded = load_allowed(io.BytesIO(payload), {("collections", "OrderedDict"): REAL}, "a test table")
    assert loaded == {"d": collections.OrderedDict(a=1), "f": 1.5}
    replaced = load_allowed(io.BytesIO(payload), {("collections", "OrderedDict"): _StandIn}, "a test table")
    assert isinstance(replaced["d"], _StandIn)


def test_any_other_global_is_refused_without_running_it() -> None:
    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, ("echo pwned",))

    payload = pickle.dumps(Exploit())
    with pytest.raises(
        pickle.UnpicklingError, match=r"Refusing to load global posix\.system from a test table"
    ):
        load_allowed(io.BytesIO(payload), {("collections", "OrderedDict"): REAL}, "a test table")
