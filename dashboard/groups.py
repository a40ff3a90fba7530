"""Saved groups of items, attribute vectors between them, and hotspots, in SQLite.

One file, ``<data dir>/groups.sqlite``, for every dataset: rebuilding a
dataset replaces its folder but keeps what users curated. Members are rows
of 64-bit integers (LSC kept comma-separated text and cast it to int16,
which overflowed above 32,767 items). Every query is parameterised; every
change runs in one transaction, so a failed save leaves nothing behind.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from .errors import DashboardError

FILENAME = "groups.sqlite"
MAX_NAME = 120
#: How many offending CSV rows a message lists before "and N more".
SHOWN_ROWS = 10

_SCHEMA = """
CREATE TABLE IF NOT EXISTS groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset TEXT NOT NULL,
    name TEXT NOT NULL,
    created TEXT NOT NULL,
    UNIQUE (dataset, name)
);
CREATE TABLE IF NOT EXISTS members (
    group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    i INTEGER NOT NULL,
    PRIMARY KEY (group_id, i)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hotspots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset TEXT NOT NULL,
    label TEXT NOT NULL,
    representative INTEGER NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS hotspot_members (
    hotspot_id INTEGER NOT NULL REFERENCES hotspots(id) ON DELETE CASCADE,
    i INTEGER NOT NULL,
    PRIMARY KEY (hotspot_id, i)
) WITHOUT ROWID;
-- which build's default hotspots a dataset's list started from (a rebuild starts it again)
CREATE TABLE IF NOT EXISTS hotspot_seeds (
    dataset TEXT PRIMARY KEY,
    build_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS vectors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset TEXT NOT NULL,
    name TEXT NOT NULL,
    start_group INTEGER NOT NULL REFERENCES groups(id),
    end_group INTEGER NOT NULL REFERENCES groups(id),
    description TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    UNIQUE (dataset, name)
);
"""


@dataclass
class Group:
    id: int
    name: str
    size: int
    created: str
    members: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64), repr=False)


@dataclass
class Vector:
    id: int
    name: str
    start: int  # group ids
    end: int
    description: str
    created: str
    start_name: str = ""
    end_name: str = ""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _checked_members(members, n: int, what: str) -> np.ndarray:
    """Sorted unique int64 indices; refuses an empty set and lists indices outside 0..n-1."""
    idx = np.unique(np.asarray(list(members), dtype=np.int64))
    if not len(idx):
        raise DashboardError(f"{what} is empty: select some items first")
    bad = idx[(idx < 0) | (idx >= n)]
    if len(bad):
        raise DashboardError(f"{what}: indices {_listing(bad.tolist())} are outside 0–{n - 1}")
    return idx


def _clean_name(name: str, what: str) -> str:
    name = " ".join(str(name or "").split())
    if not name:
        raise DashboardError(f"{what} needs a name")
    if len(name) > MAX_NAME:
        raise DashboardError(f"{what} name is longer than {MAX_NAME} characters")
    return name


class GroupStore:
    """Groups and vectors of every dataset in one data directory."""

    def __init__(self, data_dir: Path | str):
        self.path = Path(data_dir) / FILENAME

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A connection inside one transaction (committed on success, rolled back on error)."""
        with closing(sqlite3.connect(self.path, timeout=30)) as conn:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.executescript(_SCHEMA)
            with conn:
                yield conn

    # groups ---------------------------------------------------------------

    def groups(self, dataset: str) -> list[Group]:
        """Every group of a dataset with its size (members not loaded), oldest first."""
        with self._db() as db:
            rows = db.execute(
                "SELECT g.id, g.name, COUNT(m.i), g.created FROM groups g LEFT JOIN members m ON m.group_id = g.id "
                "WHERE g.dataset = ? GROUP BY g.id ORDER BY g.id", (dataset,)).fetchall()
        return [Group(*r) for r in rows]

    def group(self, dataset: str, group_id: int) -> Group:
        """One group with its members (sorted int64)."""
        with self._db() as db:
            row = db.execute("SELECT id, name, created FROM groups WHERE dataset = ? AND id = ?",
                             (dataset, int(group_id))).fetchone()
            if row is None:
                raise DashboardError(f"dataset {dataset!r} has no group {group_id}")
            members = db.execute("SELECT i FROM members WHERE group_id = ? ORDER BY i", (row[0],)).fetchall()
        idx = np.fromiter((m[0] for m in members), np.int64, len(members))
        return Group(row[0], row[1], len(idx), row[2], idx)

    def save_group(self, dataset: str, name: str, members, n: int) -> Group:
        """A new group of items ``members`` (indices below ``n``); refuses empty groups and taken names."""
        name = _clean_name(name, "a group")
        idx = _checked_members(members, n, f"group {name!r}")
        try:
            with self._db() as db:
                cur = db.execute("INSERT INTO groups (dataset, name, created) VALUES (?, ?, ?)", (dataset, name, _now()))
                gid = cur.lastrowid
                db.executemany("INSERT INTO members (group_id, i) VALUES (?, ?)", ((gid, int(i)) for i in idx))
        except sqlite3.IntegrityError:
            raise DashboardError(f"there is already a group called {name!r}") from None
        return self.group(dataset, gid)

    def _rename(self, table: str, column: str, what: str, dataset: str, row_id: int, value: str) -> bool:
        """Set a name (after cleaning); False when it is already that (a redrawn list, not an edit).

        ``table`` and ``column`` are this module's own literals, never user input.
        """
        value = _clean_name(value, f"a {what}")
        try:
            with self._db() as db:
                row = db.execute(f"SELECT {column} FROM {table} WHERE dataset = ? AND id = ?",
                                 (dataset, int(row_id))).fetchone()
                if row is None:
                    raise DashboardError(f"dataset {dataset!r} has no {what} {row_id}")
                if row[0] == value:
                    return False
                db.execute(f"UPDATE {table} SET {column} = ? WHERE id = ?", (value, int(row_id)))
        except sqlite3.IntegrityError:
            raise DashboardError(f"there is already a {what} called {value!r}") from None
        return True

    def rename_group(self, dataset: str, group_id: int, name: str) -> bool:
        """Rename a group; False when the name is unchanged."""
        return self._rename("groups", "name", "group", dataset, group_id, name)

    def delete_group(self, dataset: str, group_id: int) -> None:
        """Delete a group; refused while a vector uses it (deleting the vector first loses nothing by surprise)."""
        with self._db() as db:
            users = db.execute("SELECT name FROM vectors WHERE dataset = ? AND ? IN (start_group, end_group)",
                               (dataset, int(group_id))).fetchall()
            if users:
                raise DashboardError(
                    f"group {group_id} is used by vector {', '.join(repr(u[0]) for u in users)}: delete the vector first")
            db.execute("DELETE FROM groups WHERE dataset = ? AND id = ?", (dataset, int(group_id)))

    # vectors --------------------------------------------------------------

    def vectors(self, dataset: str) -> list[Vector]:
        with self._db() as db:
            rows = db.execute(
                "SELECT v.id, v.name, v.start_group, v.end_group, v.description, v.created, s.name, e.name "
                "FROM vectors v JOIN groups s ON s.id = v.start_group JOIN groups e ON e.id = v.end_group "
                "WHERE v.dataset = ? ORDER BY v.id", (dataset,)).fetchall()
        return [Vector(*r) for r in rows]

    def vector(self, dataset: str, vector_id: int) -> Vector:
        for v in self.vectors(dataset):
            if v.id == int(vector_id):
                return v
        raise DashboardError(f"dataset {dataset!r} has no vector {vector_id}")

    def save_vector(self, dataset: str, name: str, start: int, end: int, description: str = "") -> Vector:
        """A vector from group ``start`` to group ``end``; the groups must differ in their members."""
        name = _clean_name(name, "a vector")
        if start is None or end is None:
            raise DashboardError("a vector needs a start group and an end group")
        a, b = self.group(dataset, start), self.group(dataset, end)
        if np.array_equal(a.members, b.members):
            raise DashboardError(f"groups {a.name!r} and {b.name!r} hold the same items: the vector would be zero")
        try:
            with self._db() as db:
                cur = db.execute(
                    "INSERT INTO vectors (dataset, name, start_group, end_group, description, created) "
                    "VALUES (?, ?, ?, ?, ?, ?)", (dataset, name, a.id, b.id, str(description or "")[:1000], _now()))
        except sqlite3.IntegrityError:
            raise DashboardError(f"there is already a vector called {name!r}") from None
        return self.vector(dataset, cur.lastrowid)

    def delete_vector(self, dataset: str, vector_id: int) -> None:
        with self._db() as db:
            db.execute("DELETE FROM vectors WHERE dataset = ? AND id = ?", (dataset, int(vector_id)))


@dataclass
class Hotspot:
    id: int
    label: str
    representative: int
    size: int
    members: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64), repr=False)


class HotspotStore(GroupStore):
    """Hotspots (PixPlot's named clusters) of every dataset: seeded from a build's defaults, then edited."""

    def hotspots(self, dataset: str, build_id: str, defaults: list[dict]) -> list[Hotspot]:
        """The dataset's hotspots; the first call after a (re)build replaces them with the build's ``defaults``."""
        with self._db() as db:
            seeded = db.execute("SELECT build_id FROM hotspot_seeds WHERE dataset = ?", (dataset,)).fetchone()
            if seeded is None or seeded[0] != build_id:
                # indices of another build mean other items: start again from this build's clusters
                db.execute("DELETE FROM hotspots WHERE dataset = ?", (dataset,))
                for h in defaults:
                    self._insert(db, dataset, h["label"], h["members"], h["representative"])
                db.execute("INSERT OR REPLACE INTO hotspot_seeds (dataset, build_id) VALUES (?, ?)", (dataset, build_id))
            rows = db.execute(
                "SELECT h.id, h.label, h.representative, COUNT(m.i) FROM hotspots h "
                "LEFT JOIN hotspot_members m ON m.hotspot_id = h.id WHERE h.dataset = ? GROUP BY h.id ORDER BY h.id",
                (dataset,)).fetchall()
        return [Hotspot(*r) for r in rows]

    @staticmethod
    def _insert(db, dataset: str, label: str, members, representative: int) -> int:
        cur = db.execute("INSERT INTO hotspots (dataset, label, representative, created) VALUES (?, ?, ?, ?)",
                         (dataset, label, int(representative), _now()))
        db.executemany("INSERT INTO hotspot_members (hotspot_id, i) VALUES (?, ?)",
                       ((cur.lastrowid, int(i)) for i in members))
        return cur.lastrowid

    def hotspot(self, dataset: str, hotspot_id: int) -> Hotspot:
        with self._db() as db:
            row = db.execute("SELECT id, label, representative FROM hotspots WHERE dataset = ? AND id = ?",
                             (dataset, int(hotspot_id))).fetchone()
            if row is None:
                raise DashboardError(f"dataset {dataset!r} has no hotspot {hotspot_id}")
            members = [m[0] for m in db.execute("SELECT i FROM hotspot_members WHERE hotspot_id = ? ORDER BY i",
                                                (row[0],))]
        return Hotspot(row[0], row[1], row[2], len(members), np.asarray(members, np.int64))

    def add_hotspot(self, dataset: str, label: str, members, representative: int, n: int) -> Hotspot:
        label = _clean_name(label, "a hotspot")
        idx = _checked_members(members, n, f"hotspot {label!r}")
        with self._db() as db:
            hid = self._insert(db, dataset, label, idx, representative)
        return self.hotspot(dataset, hid)

    def rename_hotspot(self, dataset: str, hotspot_id: int, label: str) -> bool:
        """Relabel a hotspot; False when the label is unchanged."""
        return self._rename("hotspots", "label", "hotspot", dataset, hotspot_id, label)

    def delete_hotspot(self, dataset: str, hotspot_id: int) -> None:
        with self._db() as db:
            db.execute("DELETE FROM hotspots WHERE dataset = ? AND id = ?", (dataset, int(hotspot_id)))


def _listing(values: list) -> str:
    shown = ", ".join(map(str, values[:SHOWN_ROWS]))
    return shown + (f" and {len(values) - SHOWN_ROWS} more" if len(values) > SHOWN_ROWS else "")


def members_from_csv(text: str, meta: pd.DataFrame) -> list[int]:
    """Item indices named by an uploaded CSV: a column ``i`` (indices) or ``name``, else the first column.

    Without a header, values that are whole numbers are indices and others names. Unknown
    names and out-of-range indices raise one error listing the rows (1 = the
    first data row), so nothing is saved half-way.
    """
    rows = list(csv.reader(io.StringIO(text)))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise DashboardError("the CSV is empty")
    header = [c.strip().lower() for c in rows[0]]
    col, body, first, mode = 0, rows, 1, "auto"
    for wanted in ("i", "index", "name"):
        if wanted in header:
            col, body, first = header.index(wanted), rows[1:], 2
            mode = "name" if wanted == "name" else "index"
            break
    n = len(meta)
    by_name = {str(v): int(i) for i, v in zip(meta["i"], meta["name"])}
    found, bad = [], []
    for line, row in enumerate(body, start=first):
        value = row[col].strip() if col < len(row) else ""
        if mode == "name" and value in by_name:
            found.append(by_name[value])
        elif mode != "name" and value.lstrip("-").isdigit():
            i = int(value)
            (found.append(i) if 0 <= i < n else bad.append(f"line {line}: index {i} is outside 0–{n - 1}"))
        elif value in by_name:
            found.append(by_name[value])
        else:
            bad.append(f"line {line}: no item named {value!r}")
    if bad:
        raise DashboardError(f"{len(bad)} row(s) of the CSV do not name an item: " + "; ".join(bad[:SHOWN_ROWS])
                             + (f"; and {len(bad) - SHOWN_ROWS} more" if len(bad) > SHOWN_ROWS else ""))
    if not found:
        raise DashboardError("the CSV names no items")
    return found
