"""The database under groups, vectors and hotspots: a SQLite file in the data directory, or PostgreSQL.

SQLAlchemy Core on both. ``groups.sqlite`` in the data directory by default; a URL
(``--db postgresql://user@host:5432/name`` or ``$DASHBOARD_DB``) puts every web worker on every
machine on one PostgreSQL database. One engine (a connection pool) per URL per process.

Every write transaction takes the write lock before it reads anything: ``BEGIN IMMEDIATE`` on
SQLite (the whole file), a transaction-scoped advisory lock per dataset on PostgreSQL. So a check
and the change that follows it never interleave with another writer's (threads or processes).
The schema carries a version: a SQLite file keeps it in ``PRAGMA user_version`` (so files written
before SQLAlchemy keep working and are migrated), a PostgreSQL database in a one-row table.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import zlib
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.pool import NullPool

from .errors import DashboardError

#: Environment variable naming the database (what ``--db`` sets); unset: the SQLite file.
DB_ENV = "DASHBOARD_DB"
FILENAME = "groups.sqlite"
#: The current schema (0: the first one, before versions, names and summaries).
SCHEMA_VERSION = 2
#: Seconds a writer waits for another one's lock before giving up with a message.
LOCK_TIMEOUT = 30
#: Seconds to wait for a PostgreSQL server to answer a new connection.
CONNECT_TIMEOUT = 10
#: First key of this store's PostgreSQL advisory locks (the second is the dataset's hash).
_LOCK_SPACE = 0x6772  # "gr"
_SCHEMA_LOCK = 0  # second key of the lock that migrations take

metadata = sa.MetaData()

# The shape of schema 2. SQLite: ``sqlite_autoincrement`` and ``sqlite_with_rowid`` keep the layout
# the sqlite3 module's DDL had; members are 64-bit (LSC cast them to int16, which overflowed).
groups = sa.Table(
    "groups", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("dataset", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created", sa.Text, nullable=False),
    # edits counted (optimistic concurrency)
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("size", sa.Integer, nullable=False, server_default="0"),
    # the build whose indices ``members.i`` are; ``members.name`` remaps them after a rebuild
    sa.Column("build_id", sa.Text),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.UniqueConstraint("dataset", "name"),
    sqlite_autoincrement=True,
)
members = sa.Table(
    "members", metadata,
    sa.Column("group_id", sa.Integer, sa.ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("i", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("name", sa.Text),
    sqlite_with_rowid=False,
)
hotspots = sa.Table(
    "hotspots", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("dataset", sa.Text, nullable=False),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("representative", sa.BigInteger, nullable=False),
    sa.Column("created", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("build_id", sa.Text),
    # 1: copied from a build's defaults (replaced when the dataset is rebuilt); 0: made by a user
    sa.Column("seeded", sa.Integer, nullable=False, server_default="1"),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sqlite_autoincrement=True,
)
hotspot_members = sa.Table(
    "hotspot_members", metadata,
    sa.Column("hotspot_id", sa.Integer, sa.ForeignKey("hotspots.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("i", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("name", sa.Text),
    sqlite_with_rowid=False,
)
# which build's default hotspots a dataset's list started from (a rebuild starts it again)
hotspot_seeds = sa.Table(
    "hotspot_seeds", metadata,
    sa.Column("dataset", sa.Text, primary_key=True),
    sa.Column("build_id", sa.Text, nullable=False),
)
vectors = sa.Table(
    "vectors", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("dataset", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("start_group", sa.Integer, sa.ForeignKey("groups.id"), nullable=False),
    sa.Column("end_group", sa.Integer, sa.ForeignKey("groups.id"), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("created", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.UniqueConstraint("dataset", "name"),
    sqlite_autoincrement=True,
)
# a group's tightness in one latent space, stored when it is saved: the list is one query
group_tightness = sa.Table(
    "group_tightness", metadata,
    sa.Column("group_id", sa.Integer, sa.ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    # "<space id>:<fingerprint>", so a recomputed space is scored again
    sa.Column("space", sa.Text, primary_key=True),
    sa.Column("value", sa.Double),
    sqlite_with_rowid=False,
)
# PostgreSQL's schema version (SQLite keeps it in PRAGMA user_version, as files before SQLAlchemy did)
schema_version = sa.Table("schema_version", sa.MetaData(), sa.Column("version", sa.Integer, nullable=False))

# Columns schema 2 added to schema 0's tables in a SQLite file (the tables above have them already).
_ADDED_COLUMNS = [
    ("groups", "version", "INTEGER NOT NULL DEFAULT 1"),
    ("groups", "size", "INTEGER NOT NULL DEFAULT 0"),
    ("groups", "build_id", "TEXT"),
    ("groups", "note", "TEXT NOT NULL DEFAULT ''"),
    ("members", "name", "TEXT"),
    ("hotspots", "version", "INTEGER NOT NULL DEFAULT 1"),
    ("hotspots", "build_id", "TEXT"),
    ("hotspots", "seeded", "INTEGER NOT NULL DEFAULT 1"),
    ("hotspots", "note", "TEXT NOT NULL DEFAULT ''"),
    ("hotspot_members", "name", "TEXT"),
    ("vectors", "version", "INTEGER NOT NULL DEFAULT 1"),
]


class Unwritable(DashboardError):
    """A write the database refuses (a read-only file or folder, a full disk, a read-only role): nothing saved."""


# URLs and engines -----------------------------------------------------------------


def database_url(data_dir: Path | str, db: str | None = None) -> URL:
    """The database of a data directory: ``db``, else ``$DASHBOARD_DB``, else ``<data dir>/groups.sqlite``.

    ``postgresql://`` (and ``postgres://``) URLs are taken to mean psycopg 3; only PostgreSQL and
    SQLite are accepted.
    """
    db = db or os.environ.get(DB_ENV) or None
    if db is None:
        return URL.create("sqlite", database=str(Path(data_dir).resolve() / FILENAME))
    try:
        url = sa.make_url(db.strip())
    except sa.exc.ArgumentError:
        raise DashboardError(f"--db: {db!r} is not a database URL (expected postgresql://USER@HOST:PORT/NAME)") from None
    backend, _, driver = url.drivername.partition("+")
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise DashboardError("--db postgresql://… needs psycopg 3: pip install 'dashboard[postgres]'") from None
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and driver in ("", "pysqlite") and url.database not in (None, "", ":memory:"):
        return url.set(drivername="sqlite", database=str(Path(url.database).resolve()))
    raise DashboardError(f"--db: {url.render_as_string(hide_password=True)} is not supported: "
                         "give postgresql://USER@HOST:PORT/NAME (or sqlite:///PATH)")


_engines: dict[tuple[str, int], Engine] = {}
_engines_lock = threading.Lock()
#: engines whose schema is known to be current (checked once per engine)
_current: set[int] = set()


def engine(url: URL) -> Engine:
    """This process's engine (connection pool) for ``url``, made on first use.

    Keyed by process as well: a forked worker (gunicorn, a job) must not share its parent's sockets.
    """
    key = (url.render_as_string(hide_password=False), os.getpid())
    with _engines_lock:
        found = _engines.get(key)
        if found is None:
            found = _engines[key] = _sqlite_engine(url) if url.get_backend_name() == "sqlite" else _postgres_engine(url)
    return found


def dispose_engines(url: str | None = None) -> None:
    """Close the pooled connections of this process's engines (of database ``url`` only, when given) and forget them."""
    wanted = None if url is None else database_url(".", url).render_as_string(hide_password=False)
    with _engines_lock:
        for key in [k for k in _engines if k[1] == os.getpid() and wanted in (None, k[0])]:
            eng = _engines.pop(key)
            _current.discard(id(eng))
            eng.dispose()


def _sqlite_setup(dbapi_connection, _record) -> None:
    # Transactions are ours to begin: reads run in autocommit, writes as BEGIN IMMEDIATE (see transaction).
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA foreign_keys = ON")


def _sqlite_engine(url: URL) -> Engine:
    eng = sa.create_engine(url, connect_args={"timeout": LOCK_TIMEOUT})
    event.listen(eng, "connect", _sqlite_setup)
    return eng


def _postgres_engine(url: URL) -> Engine:
    # pool_pre_ping: a server restarted at night costs one reconnect, not a failed request;
    # lock_timeout: a writer waiting longer than LOCK_TIMEOUT for another's lock gives up with a message.
    return sa.create_engine(
        url, pool_pre_ping=True,
        connect_args={"connect_timeout": CONNECT_TIMEOUT, "options": f"-c lock_timeout={LOCK_TIMEOUT * 1000}"})


@lru_cache(maxsize=32)
def _copy_engine(path: str) -> Engine:
    """An engine whose every connection is a fresh in-memory copy of the SQLite file ``path`` (or empty)."""

    def copy() -> sqlite3.Connection:
        mem = sqlite3.connect(":memory:", check_same_thread=False)
        if Path(path).exists():
            src = sqlite3.connect(f"{Path(path).as_uri()}?mode=ro", uri=True)
            try:
                src.backup(mem)
            finally:
                src.close()
        return mem

    eng = sa.create_engine("sqlite://", creator=copy, poolclass=NullPool)
    event.listen(eng, "connect", _sqlite_setup)
    return eng


# the database -------------------------------------------------------------------------


def _dbapi_error(e: BaseException) -> BaseException:
    return getattr(e, "orig", None) or e


def _unwritable(e: BaseException) -> bool:
    """A write refused by the file system or the server (read-only, full, no privilege), not a bug of ours."""
    orig = _dbapi_error(e)
    name = getattr(orig, "sqlite_errorname", "") or ""
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_FULL", "SQLITE_IOERR", "SQLITE_PERM")):
        return True
    # PostgreSQL: read-only transaction (a standby), insufficient privilege, disk full
    return getattr(orig, "sqlstate", None) in ("25006", "42501", "53100")


def _lock_key(dataset: str) -> int:
    """A dataset's advisory lock key (int4): its CRC-32, stable across processes and machines."""
    return zlib.crc32(dataset.encode("utf-8")) - 2**31


class Database:
    """Connections to the store's database, with its schema current, and write transactions that lock first.

    A SQLite file that cannot be written (or migrated) still serves reads from an in-memory copy
    (:meth:`connect` says so with ``is_copy``); a write then raises :class:`Unwritable`.
    """

    def __init__(self, url: URL):
        self.url = url
        self.sqlite = url.get_backend_name() == "sqlite"
        #: how messages name it: the file, or the URL without its password
        self.where = url.database if self.sqlite else url.render_as_string(hide_password=True)

    @property
    def engine(self) -> Engine:
        return engine(self.url)

    # connections ------------------------------------------------------------

    def connect(self) -> Connection:
        """A connection at the current schema; on a SQLite file that cannot be written, an in-memory copy."""
        eng = self.engine
        try:
            conn = eng.connect()
        except sa.exc.DBAPIError as e:
            if self.sqlite and _unwritable(e):
                return self.copy()
            raise self.failed(e) from None
        if id(eng) in _current:
            return conn
        try:
            self._migrate(conn)
        except (sa.exc.DBAPIError, DashboardError) as e:
            conn.close()
            if self.sqlite and (isinstance(e, Unwritable) or _unwritable(e)):
                return self.copy()
            raise self.failed(e) if isinstance(e, sa.exc.DBAPIError) else e from None
        _current.add(id(eng))
        return conn

    def copy(self) -> Connection:
        """The SQLite file's contents (or nothing, when there is no file) in memory, migrated: reads only."""
        conn = _copy_engine(self.url.database).connect()
        conn.info["copy"] = True
        self._migrate(conn)
        return conn

    @staticmethod
    def is_copy(conn: Connection) -> bool:
        return bool(conn.info.get("copy"))

    @contextmanager
    def read(self) -> Iterator[Connection]:
        conn = self.connect()
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def write(self, dataset: str) -> Iterator[Connection]:
        """One write transaction on ``dataset``, lock first; a database that cannot be written raises :class:`Unwritable`."""
        with self.read() as conn:
            if self.is_copy(conn):
                raise self.refused()
            with self.transaction(conn, dataset):
                yield conn

    @contextmanager
    def transaction(self, conn: Connection, dataset: str | None) -> Iterator[Connection]:
        """A write transaction on ``conn`` that takes the write lock first (of ``dataset``; None: the schema's).

        Ends a read transaction ``conn`` may be in, commits at the end, rolls back on any error.
        A database error says in one line whether the write was refused or the lock stayed taken.
        """
        conn.rollback()
        try:
            if self.sqlite:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:space, :key)"),
                             {"space": _LOCK_SPACE, "key": _SCHEMA_LOCK if dataset is None else _lock_key(dataset)})
        except sa.exc.DBAPIError as e:
            conn.rollback()
            raise self._mapped(e) from None
        try:
            yield conn
            conn.commit()
        except sa.exc.DBAPIError as e:
            conn.rollback()
            raise self._mapped(e) from None
        except BaseException:
            conn.rollback()
            raise

    def _mapped(self, e: sa.exc.DBAPIError) -> Exception:
        """What a database error in a write becomes: a refused write or a busy lock say so in one line;
        a taken name (IntegrityError) goes to the caller, which names it; anything else is a bug."""
        if _unwritable(e) or isinstance(e, sa.exc.OperationalError):
            return self.failed(e)
        return e

    # schema -----------------------------------------------------------------------

    def _version(self, conn: Connection) -> int:
        if self.sqlite:
            return conn.exec_driver_sql("PRAGMA user_version").scalar_one()
        if not sa.inspect(conn).has_table(schema_version.name):
            return 0
        return conn.execute(sa.select(schema_version.c.version)).scalar() or 0

    def _migrate(self, conn: Connection) -> None:
        """Bring the database from any earlier schema to :data:`SCHEMA_VERSION`."""
        if self.sqlite and self._version(conn) >= SCHEMA_VERSION:
            return  # one PRAGMA: the usual case costs no write lock
        conn.rollback()
        with self.transaction(conn, None):
            if self._version(conn) >= SCHEMA_VERSION:
                return  # another writer did it while we waited for the lock
            metadata.create_all(conn)  # the tables a database lacks, at schema 2
            if self.sqlite:
                for table, column, decl in _ADDED_COLUMNS:  # schema 0's tables
                    if column not in {r[1] for r in conn.exec_driver_sql(f"PRAGMA table_info({table})")}:
                        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
                conn.exec_driver_sql(
                    "UPDATE groups SET size = (SELECT COUNT(*) FROM members m WHERE m.group_id = groups.id)")
                conn.exec_driver_sql(f"PRAGMA user_version = {SCHEMA_VERSION}")
            else:
                schema_version.create(conn, checkfirst=True)
                conn.execute(sa.delete(schema_version))
                conn.execute(sa.insert(schema_version).values(version=SCHEMA_VERSION))

    # errors ----------------------------------------------------------------------

    def refused(self, e: BaseException | None = None) -> Unwritable:
        detail = "" if e is None else f" ({_one_line(_dbapi_error(e))})"
        if self.sqlite:
            return Unwritable(f"not saved: {self.where} cannot be written{detail}; reads still work")
        return Unwritable(f"not saved: the database {self.where} refuses writes{detail}")

    def failed(self, e: BaseException) -> DashboardError:
        """One line for a database error: refused write, a lock held too long, or a database out of reach."""
        if _unwritable(e):
            return self.refused(e)
        orig = _dbapi_error(e)
        text = _one_line(orig)
        if self.sqlite and ("locked" in text or "busy" in text):
            return DashboardError(f"not saved: {self.where} stayed locked by another edit for {LOCK_TIMEOUT} s; try again")
        if getattr(orig, "sqlstate", None) == "55P03":  # lock_not_available: lock_timeout passed
            return DashboardError(f"not saved: the database stayed locked by another edit for {LOCK_TIMEOUT} s; try again")
        if self.sqlite:
            return DashboardError(f"{self.where}: {text}")
        return DashboardError(describe_connection_error(self.url, orig))


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


def describe_connection_error(url: URL, e: BaseException) -> str:
    """One line saying why PostgreSQL at ``url`` cannot be used: out of reach, a refused login, no such database."""
    text = _one_line(e)
    low = text.lower()
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    unreachable = {"connection refused": "connection refused", "timeout expired": "no answer",
                   "could not translate host name": "unknown host", "no route to host": "no route to host",
                   "name or service not known": "unknown host", "server closed the connection": "connection closed"}
    if "password authentication failed" in low or "no password supplied" in low:
        why = f"the server at {where} refused user {url.username!r}: wrong or missing password"
    elif "database" in low and "does not exist" in low:
        why = f"there is no database {url.database!r} on {where}: create it (createdb {url.database}) or fix --db"
    elif "role" in low and "does not exist" in low:
        why = f"the server at {where} has no user {url.username!r}"
    elif any(k in low for k in unreachable):
        reason = next(v for k, v in unreachable.items() if k in low)
        why = f"cannot reach PostgreSQL at {where} ({reason}): is it running, and is --db right?"
    else:
        why = text
    shown = url.set(drivername=url.get_backend_name()).render_as_string(hide_password=True)
    return f"database {shown}: {why}"


def check_groups_database(data_dir: Path | str) -> None:
    """At start: when a database URL is configured ($DASHBOARD_DB), connect once and bring its schema up to
    date, so that a server out of reach, a refused login or a missing database is one clear line, not a
    failed request later. The default SQLite file is left alone (a read-only data directory still serves).
    """
    if os.environ.get(DB_ENV):
        Database(database_url(data_dir)).connect().close()
