"""Debian packages the storage, worker and dashboard tests need, installed by the tests themselves.

CI runs ``make test`` on a clean machine, as root: the first run installs ``postgresql`` and
``chromium`` with apt (a few minutes); later runs find them. Where apt cannot install them (no root,
no network) the tests that need them skip, saying why.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

APT_TIMEOUT_S = 900


def ensure_package(package: str, find: Callable[[], str | None]) -> str:
    """What ``find()`` returns once the Debian ``package`` is installed (installing it with apt when
    ``find()`` returns None); skips the calling test with the reason when it cannot be installed."""
    found = find()
    if found is not None:
        return found
    if shutil.which("apt-get") is None:
        pytest.skip(f"{package} is not installed and there is no apt-get to install it")
    if os.geteuid() != 0:
        pytest.skip(f"{package} is not installed and installing it with apt-get needs root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Wait for another apt (a parallel job, unattended upgrades) instead of failing on its lock.
    install = [
        "apt-get",
        "-o",
        "DPkg::Lock::Timeout=600",
        "install",
        "-y",
        "--no-install-recommends",
        package,
    ]
    result = _run(install, env)
    if result.returncode != 0:  # package lists may be missing on a fresh machine
        _run(["apt-get", "-o", "DPkg::Lock::Timeout=600", "update"], env)
        result = _run(install, env)
    found = find()
    if result.returncode != 0 or found is None:
        pytest.skip(f"could not install {package} with apt-get: {result.stdout[-800:]}")
    return found


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=APT_TIMEOUT_S
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- PostgreSQL -----------------------------------------------------------------------------------------


def find_postgres_bin() -> str | None:
    """The folder holding initdb/pg_ctl (Debian keeps them out of PATH), or None."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if not candidates and shutil.which("initdb"):
        candidates = [shutil.which("initdb")]  # type: ignore[list-item]
    return str(Path(candidates[0]).resolve().parent) if candidates else None


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throw-away PostgreSQL cluster on a free loopback port; yields its SQLAlchemy URL.

    As root, the cluster runs as the ``postgres`` user that Debian's package creates (initdb refuses
    root). fsync is off: the data is thrown away.
    """
    bindir = ensure_package("postgresql", find_postgres_bin)
    try:
        import psycopg  # noqa: F401 - the driver the URL names
    except ImportError:
        pytest.skip("psycopg is not installed (pip install 'psycopg[binary]')")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="bonas-postgres-"))
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running PostgreSQL as root needs runuser to switch to the postgres user")
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, user="postgres", group="postgres")
        folder.chmod(0o755)
    data, log = folder / "data", folder / "server.log"
    port = free_port()

    def run(*command: str) -> None:
        result = subprocess.run(
            [*as_user, *command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}")

    run(f"{bindir}/initdb", "-D", str(data), "-U", "bonas", "-A", "trust", "--no-sync", "-E", "UTF8")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100"
    run(f"{bindir}/pg_ctl", "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")
    try:
        yield f"postgresql+psycopg://bonas@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, f"{bindir}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"], check=False
        )
        shutil.rmtree(folder, ignore_errors=True)


# -- Chromium -------------------------------------------------------------------------------------------


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path is not None:
            return path
    return None


CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def wait_for(condition: Callable[[], bool], timeout: float, what: str, pause: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(pause)
