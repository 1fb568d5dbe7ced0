"""Storage specs (:mod:`bonas.storage`) and what a stored study holds."""

from __future__ import annotations

import importlib.util
import sqlite3

import optuna
import pytest
from optuna.storages import JournalStorage, RDBStorage

from bonas.storage import (
    StorageSpecError,
    StorageUnavailableError,
    artifact_dir,
    describe,
    local_file,
    open_storage,
    storage_url,
)
from bonas.study import search
from bonas.testing.samplers import hashed_score, tiny_space

pytestmark = pytest.mark.usefixtures("quiet_optuna")


def test_none_and_storage_objects_pass_through() -> None:
    assert open_storage(None) is None
    storage = optuna.storages.InMemoryStorage()
    assert open_storage(storage) is storage


def test_a_path_is_a_sqlite_file_whose_folder_is_created(tmp_path) -> None:
    path = tmp_path / "deep" / "er" / "search.db"
    storage = open_storage(path)
    assert isinstance(storage, RDBStorage)
    assert storage.url == f"sqlite:///{path}"
    assert path.is_file()
    # WAL lets worker processes read while one writes.
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_a_relative_path_becomes_an_absolute_url(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert storage_url("results/x.db") == f"sqlite:///{tmp_path / 'results' / 'x.db'}"


def test_a_url_is_an_rdb_storage(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'u.db'}"
    storage = open_storage(url)
    assert isinstance(storage, RDBStorage) and storage.url == url


def test_postgres_urls_get_an_installed_driver() -> None:
    import importlib.util

    url = storage_url("postgresql://bonas:secret@127.0.0.1:5432/nas")
    if importlib.util.find_spec("psycopg2") is None:
        assert url == "postgresql+psycopg://bonas:secret@127.0.0.1:5432/nas"
    else:
        assert url == "postgresql://bonas:secret@127.0.0.1:5432/nas"
    assert storage_url("postgresql+psycopg://h/db") == "postgresql+psycopg://h/db"  # an explicit driver stays


@pytest.mark.parametrize("name", ["journal:{dir}/j/search", "{dir}/j/search.log", "{dir}/j/search.jsonl"])
def test_journal_specs(tmp_path, name: str) -> None:
    spec = name.format(dir=tmp_path)
    storage = open_storage(spec)
    assert isinstance(storage, JournalStorage)
    assert (tmp_path / "j").is_dir()
    with pytest.raises(ValueError, match="journal file"):
        storage_url(spec)


def test_heartbeat_settings(tmp_path) -> None:
    storage = open_storage(tmp_path / "h.db", heartbeat_interval=2)
    assert storage.get_heartbeat_interval() == 2
    assert storage.grace_period == 8  # four intervals unless given
    assert isinstance(
        storage.get_heartbeat_stale_trial_callback(), optuna.storages.RetryHeartbeatStaleTrialCallback
    )
    assert open_storage(tmp_path / "n.db").get_heartbeat_interval() is None


@pytest.mark.parametrize(("option", "value"), [("heartbeat_interval", 0), ("grace_period", 1.5)])
def test_rejects_bad_heartbeat_settings_quoting_them(tmp_path, option: str, value: object) -> None:
    kwargs = {"heartbeat_interval": 1, option: value}
    with pytest.raises(ValueError, match=f"{option} must be a whole number of seconds >= 1, got {value!r}"):
        open_storage(tmp_path / "h.db", **kwargs)


def test_rejects_empty_specs() -> None:
    with pytest.raises(ValueError, match="Storage '' is empty"):
        open_storage("")
    with pytest.raises(ValueError, match="names no file"):
        open_storage("journal:")


def test_a_sqlite_urls_query_is_a_connection_option_of_the_same_file(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    study = optuna.create_study(storage=open_storage("q.db"), study_name="q")
    study.tell(study.ask(), 1.0)
    connected = []
    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: connected.append(k) or connect(*a, **k))
    url = "sqlite:///q.db?timeout=7"
    assert len(optuna.load_study(study_name="q", storage=open_storage(url)).trials) == 1
    assert connected and all(k["timeout"] == 7.0 for k in connected)
    assert local_file(url) == tmp_path / "q.db" and artifact_dir(url) == tmp_path / "q.db-artifacts"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("q.db-")) == ["q.db"]


@pytest.mark.parametrize("name", ["run%201.db", "run?1.db", "run #1.db"])
def test_a_path_names_its_very_file_whatever_characters_it_holds(tmp_path, monkeypatch, name: str) -> None:
    monkeypatch.chdir(tmp_path)
    study = optuna.create_study(storage=open_storage(name), study_name="s")
    study.tell(study.ask(), 1.0)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(f"{name}-")) == [name]
    assert local_file(name) == tmp_path / name
    assert len(optuna.load_study(study_name="s", storage=open_storage(name)).trials) == 1


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("sqlite:///:memory:", "is an in-memory database, which would lose the study when the search ends; give a file"),
        ("sqlite://", "is an in-memory database"),
        ("sqlite:/x.db", "is not a SQLite URL: write sqlite:///x.db (three slashes"),
        ("SQLite:x.db", "is not a SQLite URL: write sqlite:///x.db"),
        ("sqlite://x.db", "is not of the form sqlite:///path: write sqlite:///x.db"),
        ("nodir/", "Storage 'nodir/' names a folder; name a file in it (nodir/search.db)."),
        ("sqlite:///nodir/", "names a folder; name a file in it (nodir/search.db)"),
        ("journal:nodir/", "names a folder; name a file in it (nodir/search.log)"),
        ("afolder", "Storage 'afolder' names a folder"),
        ("sqlite:///q.db?colour=red", "SQLite connections take no option colour; give only cached_statements"),
    ],
)  # fmt: skip
def test_specs_naming_no_file_are_refused_before_anything_is_created(
    tmp_path, monkeypatch, spec, message
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afolder").mkdir()
    for call in (open_storage, local_file):
        with pytest.raises(StorageSpecError) as raised:
            call(spec)
        assert message in str(raised.value) and "\n" not in str(raised.value)
    assert [p.name for p in tmp_path.iterdir()] == ["afolder"]


def test_unusable_urls_are_one_line_errors_naming_the_fix() -> None:
    with pytest.raises(StorageSpecError) as raised:
        open_storage("postgresql://me@127.0.0.1:notaport/nas")
    assert str(raised.value) == (
        "Storage 'postgresql://me@127.0.0.1:notaport/nas': its port 'notaport' is not a number; write "
        "dialect://user@host:port/database, e.g. postgresql://me@db-host:5432/nas."
    )
    if not (importlib.util.find_spec("psycopg") or importlib.util.find_spec("psycopg2")):
        pytest.skip("no PostgreSQL driver installed")
    with pytest.raises(StorageUnavailableError) as refused:
        open_storage("postgresql://me@127.0.0.1:1/nas")  # nothing listens on port 1
    message = str(refused.value)
    assert message.startswith("Cannot open storage 'postgresql") and "\n" not in message
    assert message.endswith("Check that the database server runs and is reachable at that host and port, and "
                            "that the URL's user, password and database are right.")  # fmt: skip
    assert "folder" not in message


def test_a_read_only_database_is_one_error_naming_it_and_the_fix(tmp_path) -> None:
    path = tmp_path / "ro.db"
    search(tiny_space(), hashed_score, n_trials=1, seed=0, storage=path, study_name="ro")
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    with pytest.raises(StorageUnavailableError) as raised:
        search(tiny_space(), hashed_score, n_trials=1, seed=0, storage=read_only, study_name="ro")
    message = str(raised.value)
    assert message.startswith("Cannot write to storage 'sqlite:///file") and "ro.db" in message
    assert message.endswith(
        ": attempt to write a readonly database. To search in it, make the file and its folder writable (chmod "
        "u+w; chattr -i if it is immutable), or copy it somewhere writable and give that copy."
    )
    assert len(optuna.load_study(study_name="ro", storage=read_only).trials) == 1  # read-only, it still reads


def test_a_locked_database_is_one_error_naming_the_busy_timeout(tmp_path) -> None:
    path = tmp_path / "locked.db"
    search(tiny_space(), hashed_score, n_trials=1, seed=0, storage=path, study_name="s")
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")  # another process writing past the busy timeout
    try:
        with pytest.raises(
            StorageUnavailableError, match=r"database is locked\. To search in it, wait for the"
        ):
            search(tiny_space(), hashed_score, n_trials=1, seed=1, storage=f"sqlite:///{path}?timeout=0.1",
                   study_name="s")  # fmt: skip
    finally:
        holder.rollback()
        holder.close()


def test_describe_hides_passwords() -> None:
    assert describe("postgresql://bonas:secret@db:5432/nas") == "postgresql://bonas:***@db:5432/nas"
    assert describe("results/x.db") == "results/x.db"
    assert describe(None) == "memory"


def test_describe_names_an_opened_journals_file(tmp_path) -> None:
    assert describe(open_storage(tmp_path / "j.log")) == f"journal:{tmp_path / 'j.log'}"


def test_local_files_and_artifact_folders(tmp_path) -> None:
    assert local_file(tmp_path / "a.db") == tmp_path / "a.db"
    assert local_file(f"sqlite:///{tmp_path}/b.db") == tmp_path / "b.db"
    assert local_file(f"journal:{tmp_path}/c") == tmp_path / "c"
    assert local_file("postgresql://h/db") is None
    assert artifact_dir(tmp_path / "a.db") == tmp_path / "a.db-artifacts"
    assert artifact_dir("postgresql://h/db") is None
    assert artifact_dir(None) is None


def test_a_stored_study_reads_without_bonas(tmp_path, nb201_benchmark) -> None:
    """The SQLite file alone (plain sqlite3, no Optuna) tells the space, benchmark, best architecture
    and every metric."""
    path = tmp_path / "s.db"
    result = search(
        nb201_benchmark.space,
        nb201_benchmark,
        sampler="random",
        n_trials=6,
        seed=0,
        storage=path,
        study_name="s",
    )
    db = sqlite3.connect(path)
    study_attrs = dict(db.execute("SELECT key, value_json FROM study_user_attributes").fetchall())
    assert study_attrs == {
        "space": '"nb201"',
        "objective": '"nb201-cifar10"',
        "benchmark": '"nb201-cifar10"',
        "metric": '"val_accuracy"',
    }
    number, value = db.execute(
        "SELECT t.number, v.value FROM trials t JOIN trial_values v ON v.trial_id = t.trial_id "
        "ORDER BY v.value DESC LIMIT 1"
    ).fetchone()
    attrs = dict(
        db.execute(
            "SELECT a.key, a.value_json FROM trial_user_attributes a JOIN trials t ON t.trial_id = a.trial_id "
            "WHERE t.number = ?",
            (number,),
        ).fetchall()
    )
    assert attrs["arch"] == f'"{result.best_architecture}"'
    assert attrs["arch_hash"] == f'"{result.best_architecture.canonical_hash}"'
    expected = nb201_benchmark(result.best_architecture)
    assert set(expected) <= set(attrs)
    assert float(attrs["val_accuracy"]) == pytest.approx(expected["val_accuracy"]) == pytest.approx(value)


@pytest.mark.parametrize("suffix", [".db", ".log"])
def test_search_resumes_from_a_path_spec(tmp_path, nb201_benchmark, suffix: str) -> None:
    spec = tmp_path / f"r{suffix}"
    first = search(
        nb201_benchmark.space,
        nb201_benchmark,
        sampler="regularized-evolution",
        n_trials=5,
        seed=0,
        storage=spec,
        study_name="r",
    )
    second = search(
        nb201_benchmark.space,
        nb201_benchmark,
        sampler="regularized-evolution",
        n_trials=5,
        seed=1,
        storage=spec,
        study_name="r",
    )
    assert len(first.history) == 5 and len(second.history) == 10
    assert second.history["arch_hash"].is_unique
    assert second.best_value >= first.best_value


def test_total_trials_tops_the_study_up(tmp_path, nb201_benchmark) -> None:
    spec = tmp_path / "t.db"
    search(nb201_benchmark.space, nb201_benchmark, n_trials=4, seed=0, storage=spec, study_name="t")
    result = search(
        nb201_benchmark.space,
        nb201_benchmark,
        n_trials=100,
        total_trials=7,
        seed=1,
        storage=spec,
        study_name="t",
    )
    assert len(result.history) == 7
    again = search(
        nb201_benchmark.space,
        nb201_benchmark,
        n_trials=100,
        total_trials=7,
        seed=2,
        storage=spec,
        study_name="t",
    )
    assert len(again.history) == 7  # already there: nothing more is spent
    with pytest.raises(ValueError, match="total_trials must be at least 1, got 0"):
        search(nb201_benchmark.space, nb201_benchmark, n_trials=1, total_trials=0)
