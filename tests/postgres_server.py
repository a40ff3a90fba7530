"""A private PostgreSQL server for tests: initdb in a temporary folder, postgres on 127.0.0.1 on a free port.

``postgres_server()`` starts one (as the ``postgres`` user when run as root: initdb and postgres
refuse to run as root), waits until ``pg_isready`` answers, yields a :class:`PostgresServer` that
makes databases, and stops the server by its PID (fast shutdown) and removes its folder at the
end. The binaries come from ``$DASHBOARD_PG_BIN``, else the newest /usr/lib/postgresql/*/bin,
else ``PATH``. :func:`require_postgres` skips a test when they are missing, or fails it when the
environment variable CI is set (CI installs PostgreSQL and must really run these tests).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Iterator

import pytest

from .conftest import _free_port

#: The superuser's password: host connections use scram-sha-256, so a wrong password is refused.
PASSWORD = "dashboard-test"


def pg_bin() -> Path | None:
    """The folder holding initdb, postgres and pg_isready, or None."""
    wanted = os.environ.get("DASHBOARD_PG_BIN")
    candidates = [Path(wanted)] if wanted else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
                         if p.parent.name.isdigit() else 0, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for c in candidates:
        if all((c / tool).exists() for tool in ("initdb", "postgres", "pg_isready")):
            return c
    return None


def require_postgres() -> Path:
    """The PostgreSQL binaries; a clear skip without them (a failure under CI)."""
    found = pg_bin()
    if found is None:
        message = "PostgreSQL is not installed (apt-get install postgresql, or set DASHBOARD_PG_BIN)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    if os.geteuid() == 0 and not shutil.which("runuser"):
        pytest.fail("running as root, the PostgreSQL tests need runuser (util-linux) to start the server as postgres")
    return found


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@dataclass
class PostgresServer:
    """A running private server: ``url(name)`` for a database on it, ``new_database()`` for a fresh one."""

    port: int
    folder: Path
    user: str
    _names: Iterator[int] = field(default_factory=lambda: count(1), repr=False)

    def url(self, database: str = "postgres", password: str = PASSWORD) -> str:
        return f"postgresql://{self.user}:{password}@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str) -> None:
        """Run one statement on the server's ``postgres`` database, outside a transaction (CREATE DATABASE)."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(statement)

    def new_database(self, prefix: str = "test") -> str:
        """A new, empty database: its URL."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        # FILE_COPY: with fsync off, copying the tiny template beats writing it to the WAL
        self.sql(f"CREATE DATABASE {name} STRATEGY = FILE_COPY")
        return self.url(name)


@contextlib.contextmanager
def postgres_server(max_connections: int = 200) -> Iterator[PostgresServer]:
    """Start a private server (see the module's docstring), yield it, stop it by PID and remove its folder."""
    bin_dir = require_postgres()
    folder = Path(tempfile.mkdtemp(prefix="dashboard-pg-"))
    data = folder / "data"
    log = folder / "server.log"
    user = "postgres" if os.geteuid() == 0 else os.environ.get("USER") or "postgres"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    (folder / "pw").write_text(PASSWORD)
    if os.geteuid() == 0:
        shutil.chown(folder / "pw", "postgres", "postgres")
    proc = None
    try:
        subprocess.run(_as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", user, "--pwfile", str(folder / "pw"),
                                     "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C"]),
                       check=True, capture_output=True, timeout=120)
        port = _free_port()
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                _as_postgres([str(bin_dir / "postgres"), "-D", str(data), "-k", str(folder), "-p", str(port),
                              "-c", "listen_addresses=127.0.0.1", "-c", f"max_connections={max_connections}",
                              # a throwaway server: durability costs time and buys nothing
                              "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]),
                stdout=out, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while subprocess.run([str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)]).returncode != 0:
            if proc.poll() is not None:
                pytest.fail(f"postgres exited with {proc.returncode}:\n{log.read_text()}")
            if time.time() > deadline:
                pytest.fail(f"postgres did not answer within 60 s:\n{log.read_text()}")
            time.sleep(0.2)
        yield PostgresServer(port, folder, user)
    except subprocess.CalledProcessError as e:
        pytest.fail(f"initdb failed: {e.stderr.decode(errors='replace')}")
    finally:
        if proc is not None:
            _stop(proc, data)
        shutil.rmtree(folder, ignore_errors=True)


def _stop(proc: subprocess.Popen, data: Path) -> None:
    """Fast shutdown (SIGINT: clients are disconnected) of the postmaster, by the PID it wrote."""
    pid_file = data / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        pid = proc.pid  # not started far enough to write it: runuser's child is all there is
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=10)
