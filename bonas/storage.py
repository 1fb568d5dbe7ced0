"""Where studies live: a storage spec (a file path, a database URL or a journal file) -> an Optuna storage.

A search that should outlive its process names a storage (``bonas search --storage ...``,
``search(..., storage=...)``):

* a plain path (``results/nb201.db``) is a SQLite file, its folder created if needed (WAL journal, so
  several worker processes on one machine share it);
* a URL (``sqlite:///x.db``, ``postgresql://user@host/db``, any SQLAlchemy URL) is an Optuna
  ``RDBStorage``; ``postgresql://`` uses psycopg 3 when psycopg2 is not installed; a SQLite URL's
  query (``sqlite:///x.db?timeout=30``) holds options of the connection to that file, as in SQLAlchemy;
* refused: an in-memory SQLite database (``sqlite://``, ``sqlite:///:memory:``: it would lose the study;
  None is the in-memory study), a path naming a folder, and ``sqlite:`` text that is not a URL;
* ``journal:<path>`` or a path ending in ``.log``/``.jsonl`` is Optuna's append-only journal file
  (no database; no heartbeat either, see below).

Relational storages get a heartbeat when ``heartbeat_interval`` is given: a worker records one per
running trial, and a trial whose worker stopped recording for ``grace_period`` seconds (``kill -9``,
a lost machine) is failed and retried (re-queued with the same architecture, up to ``max_retry`` times)
by the next worker that asks for a trial. Without a heartbeat such a trial stays RUNNING; it is never
counted as an evaluation either way.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import random
import sqlite3
import time
import urllib.parse
import warnings
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Union

import optuna
from optuna.storages import BaseStorage

from bonas.errors import BonasError

logger = logging.getLogger(__name__)

# optuna.storages.fail_stale_trials, which bonas calls before each trial of a storage with a heartbeat, warns
# that it is experimental at every call; a catch_warnings() around each call would also reset Python's
# record of the warnings already shown, so that a user's warning meant to show once showed at every trial.
warnings.filterwarnings(
    "ignore", message=r"fail_stale_trials is experimental", category=optuna.exceptions.ExperimentalWarning
)


class StorageSpecError(BonasError, ValueError):
    """A storage spec or heartbeat setting that cannot name or run a study storage."""


class StorageUnavailableError(BonasError, OSError):
    """A storage that is well named but cannot be opened (unwritable folder, unreachable server)."""


#: A storage as users write it: None (in memory), a path, a URL, ``journal:<path>`` or an Optuna storage.
StorageSpec = Union[str, os.PathLike, BaseStorage, None]  # noqa: UP007 - a runtime alias

JOURNAL_PREFIX = "journal:"
JOURNAL_SUFFIXES = (".log", ".jsonl")
#: Seconds between heartbeats of a running trial, and seconds without one before it counts as lost.
DEFAULT_HEARTBEAT_INTERVAL = 30
DEFAULT_GRACE_PERIOD = 120
#: Times a trial lost with its worker is re-queued before it stays failed.
DEFAULT_MAX_RETRY = 2
#: The first bytes of every SQLite database file.
SQLITE_HEADER = b"SQLite format 3\x00"
#: Seconds a SQLite connection waits for another process's write lock before giving up.
SQLITE_BUSY_TIMEOUT = 60.0
#: Query options of a ``sqlite:///`` URL that SQLAlchemy passes to the connection, as bonas does.
SQLITE_URL_OPTIONS = frozenset({"timeout", "detect_types", "cached_statements", "check_same_thread", "uri"})
#: Attempts at opening a database whose tables other workers may be creating at the same moment.
SCHEMA_RACE_RETRIES = 8


def is_url(spec: str) -> bool:
    return "://" in spec


def is_journal(spec: str | os.PathLike) -> bool:
    text = os.fspath(spec)
    return text.startswith(JOURNAL_PREFIX) or (not is_url(text) and text.endswith(JOURNAL_SUFFIXES))


def storage_url(spec: str | os.PathLike) -> str:
    """The database URL of a path or URL spec (a path becomes an absolute ``sqlite:///`` URL).

    Raises:
        StorageSpecError: ``spec`` is a journal file, which has no URL, names a folder, or starts
            with ``sqlite:`` without being a SQLite URL.
    """
    text = os.fspath(spec)
    if is_journal(text):
        raise StorageSpecError(f"Storage {text!r} is a journal file, not a database; it has no URL.")
    if is_url(text):
        return _with_postgres_driver(text)
    _check_not_a_malformed_url(text)
    _check_not_a_folder(text, text)
    # Quoted, as the URL is read back (sqlite_file): a path holding "%20" or "?" names that very file.
    return f"sqlite:///{urllib.parse.quote(str(Path(text).expanduser().resolve()), safe='/')}"


def _check_not_a_malformed_url(text: str) -> None:
    """Refuse ``sqlite:/x.db`` and the like: as a path it would make a folder named ``sqlite:``."""
    if text.lower().startswith("sqlite:"):
        rest = text.partition(":")[2].lstrip("/")
        raise StorageSpecError(
            f"Storage {text!r} is not a SQLite URL: write sqlite:///{rest} (three slashes; four for an absolute "
            f"path, sqlite:////{rest}) or the path alone ({rest})."
        )


def _check_not_a_folder(spec: str, path: str, example: str = "search.db") -> None:
    """Refuse a storage path that ends in a path separator or is an existing folder: a database is a file."""
    separators = (os.sep, os.altsep) if os.altsep else (os.sep,)
    if path.endswith(separators) or Path(path).expanduser().is_dir():
        folder = path.rstrip("".join(separators)) or path
        raise StorageSpecError(
            f"Storage {spec!r} names a folder; name a file in it ({Path(folder) / example})."
        )


def open_storage(
    spec: StorageSpec,
    *,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    max_retry: int | None = DEFAULT_MAX_RETRY,
) -> BaseStorage | None:
    """The Optuna storage that ``spec`` names (None stays None: an in-memory study).

    Args:
        spec: a path (SQLite file), a database URL, ``journal:<path>`` (or a ``.log``/``.jsonl`` path),
            an Optuna storage (returned as is) or None.
        heartbeat_interval: seconds between heartbeats of running trials (relational storages only);
            None disables the heartbeat.
        grace_period: seconds without a heartbeat after which a running trial is failed and retried
            (default: four heartbeat intervals).
        max_retry: times such a trial is re-queued (None: forever, 0: only failed).

    Raises:
        StorageSpecError: the spec is empty or not a path, URL or storage; a heartbeat setting is not a positive whole number of seconds, or the grace period does not exceed the interval.
    """
    _check_heartbeat(heartbeat_interval, grace_period)
    if spec is None or isinstance(spec, BaseStorage):
        return spec
    if not isinstance(spec, str | os.PathLike):
        raise StorageSpecError(
            f"Storage {spec!r} is a {type(spec).__name__}; give a file path (results/search.db), a database "
            "URL, journal:<file> or an Optuna storage."
        )
    text = os.fspath(spec)
    if not text:
        raise StorageSpecError("Storage '' is empty; give a file path (results/search.db) or a database URL.")
    if is_journal(text):
        return _journal_storage(text.removeprefix(JOURNAL_PREFIX), heartbeat_interval)
    url = storage_url(text)
    engine_kwargs: dict[str, object] = {}
    sqlite = sqlite_file(text if is_url(text) else url)  # the URL as the user wrote it, for messages
    if sqlite is not None:
        path, database, options = sqlite
        _check_is_sqlite(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs = {"creator": _sqlite_connector(database, options)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        heartbeat: dict[str, object] = {}
        if heartbeat_interval is not None:
            heartbeat = {
                "heartbeat_interval": heartbeat_interval,
                "grace_period": grace_period if grace_period is not None else 4 * heartbeat_interval,
                "heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry),
            }
        return _rdb_storage(url, engine_kwargs, heartbeat)


def _check_heartbeat(heartbeat_interval: int | None, grace_period: int | None) -> None:
    """Refuse heartbeat settings that are not whole seconds, or a grace period that cannot work."""
    for name, value in (("heartbeat_interval", heartbeat_interval), ("grace_period", grace_period)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise StorageSpecError(f"{name} must be a whole number of seconds >= 1, got {value!r}.")
    if heartbeat_interval is not None and grace_period is not None and grace_period <= heartbeat_interval:
        # A healthy worker beats once per interval: with a grace period no longer than that, another
        # worker can find its trial without a recent beat and declare it lost while it runs.
        raise StorageSpecError(
            f"grace_period={grace_period} must exceed heartbeat_interval={heartbeat_interval} (several "
            f"intervals is safe, e.g. {4 * heartbeat_interval}): otherwise healthy workers' trials are "
            "declared lost between two heartbeats."
        )


def _rdb_storage(url: str, engine_kwargs: dict[str, object], heartbeat: dict[str, object]) -> BaseStorage:
    """An RDBStorage, retried when workers starting together race to create the same tables."""
    from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError, ProgrammingError

    scheme = url.partition("://")[0]
    for attempt in range(SCHEMA_RACE_RETRIES):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **heartbeat)  # type: ignore[arg-type]
        except ImportError as error:  # Optuna's "Failed to import DB access module", the driver's below it
            driver = error.__cause__ or error
            raise StorageUnavailableError(
                f"Storage {_redacted(url)!r} needs a database driver for {scheme!r} that is not installed "
                f"({driver}). Install it (e.g. `pip install psycopg` for postgresql://, `pip install pymysql` "
                "with mysql+pymysql://), or use a SQLite file path instead."
            ) from error
        except ArgumentError as error:  # SQLAlchemy knows no such database kind
            raise StorageSpecError(
                f"Storage {_redacted(url)!r}: {error}. Give a file path (results/search.db), journal:<file>, "
                "or a SQLAlchemy database URL such as postgresql://user@host/db."
            ) from error
        except (IntegrityError, OperationalError, ProgrammingError) as error:
            if attempt == SCHEMA_RACE_RETRIES - 1 or not _is_schema_race(error):
                fix = (
                    "Check that the file and its folder are writable"
                    if scheme.startswith("sqlite")
                    else "Check that the database server runs and is reachable at that host and port, and that the "
                    "URL's user, password and database are right"
                )
                raise StorageUnavailableError(
                    f"Cannot open storage {_redacted(url)!r}: {_one_line(error)} {fix}."
                ) from error
            logger.debug("Another worker is creating the tables of %s; retrying.", url)
            time.sleep(0.05 + 0.2 * random.random())
    raise AssertionError("unreachable")


@contextmanager
def write_errors_named(storage: BaseStorage | None) -> Iterator[None]:
    """Report a storage that refuses a write (a read-only SQLite file, a database user without rights)
    as one :class:`StorageUnavailableError` naming it and the fix, instead of Optuna's and SQLAlchemy's
    chained errors.

    Raises:
        StorageUnavailableError: the storage refused a write inside the block.
    """
    from sqlalchemy.exc import OperationalError, ProgrammingError

    try:
        yield
    except (optuna.exceptions.StorageInternalError, OperationalError, ProgrammingError) as error:
        where = describe(storage)
        if "locked" in _one_line(error):  # another process held the file past the busy timeout
            fix = (
                "wait for the other process on it, or give a longer busy timeout (sqlite:///PATH?timeout=60)"
            )
        elif where.startswith("sqlite"):
            fix = (
                "make the file and its folder writable (chmod u+w; chattr -i if it is immutable), or copy it "
                "somewhere writable and give that copy"
            )
        else:
            fix = "check that the database user may write to that database"
        raise StorageUnavailableError(
            f"Cannot write to storage {where!r}: {_one_line(error)} To search in it, {fix}."
        ) from error


def _one_line(error: BaseException) -> str:
    """The innermost reason of ``error`` (the database driver's message), on one line and ending a sentence."""
    while True:
        inner = getattr(error, "orig", None) or error.__cause__
        if not isinstance(inner, BaseException):
            break
        error = inner
    text = " ".join(str(error).split()).rstrip(". ") or type(error).__name__
    return text if text.endswith(("?", "!")) else text + "."


def _redacted(url: str) -> str:
    """``url`` without its password (``postgresql://user:***@host/db``)."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}{sep}{credentials.partition(':')[0]}:***@{host}"


def _is_schema_race(error: Exception) -> bool:
    text = str(error).lower()
    return any(s in text for s in ("already exists", "duplicate", "unique constraint", "database is locked"))


def describe(spec: StorageSpec) -> str:
    """A short human description of a storage spec, with any password hidden."""
    if spec is None or isinstance(spec, optuna.storages.InMemoryStorage):
        return "memory"
    if isinstance(spec, BaseStorage):
        url = getattr(spec, "url", None)  # an opened database storage names its URL
        if not isinstance(url, str):
            # Optuna's journal storage keeps its file in its backend, with no public name for it.
            path = getattr(getattr(spec, "_backend", None), "_file_path", None)
            return f"{JOURNAL_PREFIX}{path}" if isinstance(path, str) else type(spec).__name__
        spec = url
    text = os.fspath(spec)
    if is_url(text):
        from sqlalchemy.engine import make_url

        try:
            return make_url(text).render_as_string(hide_password=True)
        except Exception:  # an unparsable URL: still say which one
            return text
    return text


def local_file(spec: StorageSpec) -> Path | None:
    """The file a SQLite or journal storage spec names (absolute), or None for a server or memory.

    Raises:
        StorageSpecError: a ``sqlite:`` URL that names no file (see :func:`sqlite_file`).
    """
    if spec is None or isinstance(spec, BaseStorage):
        return None
    text = os.fspath(spec)
    if is_journal(text):
        _check_not_a_folder(text, text.removeprefix(JOURNAL_PREFIX), "search.log")
        path = Path(text.removeprefix(JOURNAL_PREFIX))
    elif not is_url(text):
        _check_not_a_malformed_url(text)
        _check_not_a_folder(text, text)
        path = Path(text)
    elif (sqlite := sqlite_file(text)) is not None:
        path = sqlite[0]
    else:
        return None
    return path.expanduser().resolve()


def sqlite_file(url: str) -> tuple[Path, str, dict[str, object]] | None:
    """For a SQLite URL: the file it names, what ``sqlite3.connect`` opens (the file, or a ``file:`` URI
    with ``?uri=true``) and the connection options of its query (``sqlite:///x.db?timeout=30``, read as
    SQLAlchemy reads them); None for any other database.

    Raises:
        StorageSpecError: the URL names an in-memory database (which would lose the study), is not of the
            form ``sqlite:///path``, or has a query option SQLite connections do not take.
    """
    from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SAWarning

    try:
        parsed = make_url(url)
    except ArgumentError:  # not a URL SQLAlchemy reads: _rdb_storage reports it
        return None
    except ValueError as error:  # SQLAlchemy's int() of a port that is not a number
        port = str(error).rpartition(": ")[2]
        raise StorageSpecError(
            f"Storage {_redacted(url)!r}: its port {port} is not a number; write "
            "dialect://user@host:port/database, e.g. postgresql://me@db-host:5432/nas."
        ) from None
    if parsed.get_backend_name() != "sqlite":
        return None
    if parsed.host or parsed.port or parsed.username:
        raise StorageSpecError(
            f"Storage {url!r} is not of the form sqlite:///path: write sqlite:///{parsed.host}{parsed.database or ''} "
            "for a file relative to here, sqlite:////abs/path.db for an absolute one, or the path alone."
        )
    if parsed.database in (None, "", ":memory:"):
        raise StorageSpecError(
            f"Storage {url!r} is an in-memory database, which would lose the study when the search ends; give "
            "a file (results/search.db, or sqlite:///results/search.db)."
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error", SAWarning)  # SQLAlchemy would ignore an unknown option, with a warning
        try:
            (database,), options = SQLiteDialect_pysqlite().create_connect_args(parsed)
        except SAWarning:
            unknown = ", ".join(sorted(set(parsed.query) - SQLITE_URL_OPTIONS)) or "of its query"
            raise StorageSpecError(
                f"Storage {url!r}: SQLite connections take no option {unknown}; give only "
                f"{', '.join(sorted(SQLITE_URL_OPTIONS))}, or uri=true with SQLite URI parameters (mode=ro)."
            ) from None
    path = parsed.database.removeprefix("file:") if options.get("uri") else parsed.database
    _check_not_a_folder(url, path)
    return Path(path), database, options


def artifact_dir(spec: StorageSpec) -> Path | None:
    """The folder beside a file storage where pictures of a study are kept (None for a server).

    ``results/nb201.db`` -> ``results/nb201.db-artifacts``; a journal file likewise.
    """
    path = local_file(spec)
    return None if path is None else path.with_name(path.name + "-artifacts")


def heartbeat_interval_of(storage: BaseStorage) -> int | None:
    """The heartbeat interval of a storage (Optuna wraps an RDBStorage; both answer), or None."""
    getter = getattr(storage, "get_heartbeat_interval", None)
    return getter() if getter is not None else None


def fail_stale_trials(study: optuna.Study) -> None:
    """Fail (and re-queue, see :func:`open_storage`) running trials whose worker stopped its heartbeat."""
    if heartbeat_interval_of(study._storage) is None:
        return
    optuna.storages.fail_stale_trials(study)


def _journal_storage(path_text: str, heartbeat_interval: int | None) -> BaseStorage:
    if not path_text:
        raise StorageSpecError("Storage 'journal:' names no file; write journal:results/search.log.")
    if heartbeat_interval is not None:
        logger.info("Journal storage %s has no heartbeat: a killed worker's trial stays RUNNING.", path_text)
    _check_not_a_folder(JOURNAL_PREFIX + path_text, path_text, "search.log")
    path = Path(path_text).expanduser().resolve()
    _check_is_journal(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    return JournalStorage(JournalFileBackend(str(path)))


def check_holds_studies(spec: StorageSpec) -> None:
    """Refuse, without opening it for writing, a file storage that a search never wrote to: a missing
    file, or a SQLite database without Optuna's tables (opening it as a storage would add them and switch
    it to WAL). For ``bonas show`` and ``bonas dashboard``, which only read what searches stored.

    Raises:
        StorageSpecError: the file does not exist, or holds no Optuna study.
    """
    path = local_file(spec)
    if path is None:
        return
    if not path.is_file():
        raise StorageSpecError(f"Storage file {str(path)!r} does not exist; give the path a search wrote to.")
    check_storage_file(spec)
    if is_journal(os.fspath(spec)):  # type: ignore[arg-type]
        return
    try:  # read-only: nothing, not even the journal mode, changes
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as connection:
            tables = {
                name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
    except sqlite3.DatabaseError as error:
        raise StorageUnavailableError(f"Cannot read {str(path)!r}: {error}; check its permissions.") from None
    if not {"studies", "trials"} <= tables:
        raise StorageSpecError(
            f"There is no bonas/Optuna study in {str(path)!r} (it has no Optuna tables), so bonas leaves it "
            "untouched; give the file a search wrote to."
        )


def check_storage_file(spec: StorageSpec) -> None:
    """Refuse, without creating anything, a spec naming an existing file that is neither the database
    nor the journal it says (:func:`open_storage` refuses the same; this lets a command check it before
    it writes anything beside the file).

    Raises:
        StorageSpecError: the file exists and holds something else (a log, notes).
    """
    if spec is None or isinstance(spec, BaseStorage) or not os.fspath(spec):
        return
    path = local_file(spec)
    if path is None:
        return
    (_check_is_journal if is_journal(os.fspath(spec)) else _check_is_sqlite)(path)


def _check_is_journal(path: Path) -> None:
    """Refuse to append journal records to an existing file that is not an Optuna journal."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with path.open("rb") as file:
        first = file.readline(1 << 20)
    try:
        record = json.loads(first)
    except (json.JSONDecodeError, UnicodeDecodeError):
        record = None
    if not (isinstance(record, dict) and "op_code" in record):
        raise StorageSpecError(
            f"{str(path)!r} exists and is not an Optuna journal (its first line is not a journal record), so "
            "bonas will not write into it; name a new file (journal:results/search.log) or a database "
            "(results/search.db)."
        )


def _check_is_sqlite(path: Path) -> None:
    """Refuse to open an existing file that is not a SQLite database (SQLite would fail on it later)."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with path.open("rb") as file:
        header = file.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise StorageSpecError(
            f"{str(path)!r} exists and is not a SQLite database, so bonas will not write into it; name a new "
            "file (results/search.db), or journal:<file> for an Optuna journal."
        )


def _sqlite_connector(database: str | Path, options: dict[str, object] | None = None):  # type: ignore[no-untyped-def]
    """Connections in WAL mode with a long busy timeout, so worker processes wait for each other's
    writes instead of failing with "database is locked". ``synchronous = NORMAL`` is safe in WAL mode
    against a killed process (only an OS crash can lose the last commits).

    Args:
        database: the file, or a ``file:`` URI (with ``uri=True`` among the options).
        options: ``sqlite3.connect`` options from the URL's query (``timeout`` replaces the default).
    """
    # Other threads use the connections (SQLAlchemy's pool, the heartbeat thread).
    arguments = {"timeout": SQLITE_BUSY_TIMEOUT, **(options or {}), "check_same_thread": False}

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(database, **arguments)  # type: ignore[arg-type]
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        return connection

    return connect


def _with_postgres_driver(url: str) -> str:
    """``postgresql://`` -> ``postgresql+psycopg://`` when only psycopg 3 is installed (SQLAlchemy's
    default PostgreSQL driver is psycopg2)."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            if importlib.util.find_spec("psycopg2") is None and importlib.util.find_spec("psycopg"):
                return "postgresql+psycopg://" + url.removeprefix(scheme)
            return "postgresql://" + url.removeprefix(scheme)
    return url
