"""The bench cache (``benchmarks.cache``): entries by key and fingerprint, atomic writes, source lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.cache import ResultCache, fingerprint_of, write_csv


def frame(value: float) -> pd.DataFrame:
    return pd.DataFrame({"query": [1, 2, 3], "val_accuracy": [value, value + 0.5, np.nan]})


def test_an_unchanged_fingerprint_reuses_the_entry(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path)
    path = cache.store("bench/random/seed0-q3", "abc123", frame(80.0))
    assert path == tmp_path / "bench" / "random" / "seed0-q3.abc123.csv"
    assert ("bench/random/seed0-q3", "abc123") in cache
    pd.testing.assert_frame_equal(cache.load("bench/random/seed0-q3", "abc123"), frame(80.0))
    assert ResultCache(tmp_path).load("bench/random/seed0-q3", "abc123") is not None  # a new process


def test_a_changed_fingerprint_is_a_miss_and_storing_replaces_the_old_entry(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path)
    old = cache.store("seed0-q3", "aaaa", frame(80.0))
    cache.store("seed1-q3", "aaaa", frame(70.0))
    assert cache.load("seed0-q3", "bbbb") is None and ("seed0-q3", "bbbb") not in cache
    cache.store("seed0-q3", "bbbb", frame(90.0))
    assert not old.exists()
    pd.testing.assert_frame_equal(cache.load("seed0-q3", "bbbb"), frame(90.0))
    assert cache.load("seed1-q3", "aaaa") is not None, "another key's entry was dropped"
    assert sorted(float(f["val_accuracy"].iloc[0]) for f in cache.frames()) == [70.0, 90.0]


def test_a_torn_write_is_not_read_as_a_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = ResultCache(tmp_path)
    cache.store("seed0-q3", "aaaa", frame(80.0))
    real_to_csv = pd.DataFrame.to_csv

    def torn(self: pd.DataFrame, path: Path, **kwargs: object) -> None:
        real_to_csv(self.iloc[:1], path, **kwargs)  # part of the rows reach the disk, then the writer dies
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", torn)
    with pytest.raises(KeyboardInterrupt):
        cache.store("seed1-q3", "aaaa", frame(70.0))
    with pytest.raises(KeyboardInterrupt):
        cache.store("seed0-q3", "aaaa", frame(60.0))  # a rewrite of an entry under the same fingerprint
    monkeypatch.undo()
    assert cache.load("seed1-q3", "aaaa") is None
    pd.testing.assert_frame_equal(cache.load("seed0-q3", "aaaa"), frame(80.0))
    assert [path.name for path in tmp_path.iterdir()] == ["seed0-q3.aaaa.csv"]  # no temporary left

    # A writer killed outright leaves its temporary file behind: that is no entry either.
    (tmp_path / ".seed1-q3.aaaa.csv.999.tmp").write_text("query,val\n1,")
    assert cache.load("seed1-q3", "aaaa") is None
    assert len(cache.frames()) == 1


def test_write_csv_creates_the_folder_and_replaces_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "summary.csv"
    write_csv(frame(1.0), path)
    write_csv(frame(2.0), path)
    pd.testing.assert_frame_equal(pd.read_csv(path), frame(2.0))
    assert [p.name for p in path.parent.iterdir()] == ["summary.csv"]


def test_keys_and_fingerprints_that_would_not_round_trip_are_refused(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path)
    with pytest.raises(ValueError, match="fingerprint"):
        cache.path("seed0-q3", "")
    with pytest.raises(ValueError, match="fingerprint"):
        cache.path("seed0-q3", "ab.cd")
    with pytest.raises(ValueError, match="key"):
        cache.path("seed0.q3", "abcd")


def test_entries_are_read_with_the_given_dtypes(tmp_path: Path) -> None:
    rows = pd.DataFrame({"fingerprint": ["0123"], "value": [1.0]})
    ResultCache(tmp_path).store("row", "0123", rows)
    assert ResultCache(tmp_path).load("row", "0123")["fingerprint"].iloc[0] == 123
    typed = ResultCache(tmp_path, dtype={"fingerprint": str})
    assert typed.load("row", "0123")["fingerprint"].iloc[0] == "0123"


def test_fingerprint_follows_settings_and_source_bytes(tmp_path: Path) -> None:
    source = tmp_path / "module.py"
    source.write_text("x = 1\n")
    first = fingerprint_of(("spec", 1), [source])
    assert first == fingerprint_of(("spec", 1), [source]) and len(first) == 16
    assert fingerprint_of(("spec", 2), [source]) != first
    source.write_text("x = 2\n")
    assert fingerprint_of(("spec", 1), [source]) != first
