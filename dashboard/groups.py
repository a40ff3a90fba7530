"""Saved groups of items, attribute vectors between them, and hotspots: SQLite by default, PostgreSQL on request.

One database for every dataset of a data directory: ``<data dir>/groups.sqlite``, or the
PostgreSQL database of ``--db postgresql://…`` / ``$DASHBOARD_DB`` that several servers share
(:mod:`dashboard.groupsdb` owns connections, schema and locks). Rebuilding a dataset replaces its
folder but keeps what users curated. Members are rows of 64-bit integers (LSC kept
comma-separated text and cast it to int16, which overflowed above 32,767 items), kept with each
item's name so that a rebuild (a new ``build_id``) remaps them. Every query is parameterised;
every change runs in one transaction that takes the write lock first, so a failed save leaves
nothing behind and racing clients (threads or processes) are serialised; renames and deletes
carry the version they were made on.
"""

from __future__ import annotations

import csv
import io
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from .errors import DashboardError
from .groupsdb import FILENAME, LOCK_TIMEOUT, SCHEMA_VERSION, Database, Unwritable, database_url  # noqa: F401
from .groupsdb import group_tightness, hotspot_members
from .groupsdb import members as group_members

MAX_NAME = 120
#: How many offending CSV rows a message lists before "and N more".
SHOWN_ROWS = 10

class EditConflict(DashboardError):
    """An edit made on an older version of a row than the stored one: refused, nothing changed."""

    def __init__(self, message: str, current: str):
        super().__init__(message)
        self.current = current


@dataclass
class Group:
    id: int
    name: str
    size: int
    created: str
    members: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64), repr=False)
    version: int = 1
    #: what happened to the group when its dataset was rebuilt (items dropped), else ""
    note: str = ""
    #: its tightness in the latent space the list was asked for (None: too small, or not asked)
    tightness: float | None = None


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
    version: int = 1


@dataclass
class Hotspot:
    id: int
    label: str
    representative: int
    size: int
    members: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64), repr=False)
    version: int = 1
    note: str = ""


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


def item_names(ds) -> list[str]:
    """The dataset's item names in index order: what saved members are remapped by after a rebuild."""
    return ds.meta["name"].astype(str).tolist()


def space_key(ds, space: str) -> str:
    """Where a latent space's stored tightness is filed: its id and fingerprint (a recomputed space differs)."""
    return f"{space}:{ds.spaces[space].fingerprint}"


def tightness_by_space(ds, members) -> dict[str, float | None]:
    """A group's tightness in every latent space of ``ds``, keyed by :func:`space_key` (stored when it is saved)."""
    from .compute.vectors import tightness

    idx = np.asarray(members, dtype=np.int64)
    return {space_key(ds, s): tightness(ds.latent(s), idx) for s in ds.spaces}


def remap_members(old_index: np.ndarray, old_names: list[str | None], names: list[str]) -> tuple[np.ndarray, list[str]]:
    """Members of an earlier build as indices of the build whose item names are ``names``.

    A member is found by its name (the k-th of several items of one name goes to the k-th such
    item); one saved without a name keeps its index if that is still an item. Returns the sorted
    new indices and the names (or ``#index``) of the members that are gone.
    """
    where: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        where.setdefault(name, []).append(i)
    taken: dict[str, int] = {}
    found, gone = set(), []
    for i, name in zip(old_index.tolist(), old_names):
        if name is None:
            (found.add(i) if 0 <= i < len(names) else gone.append(f"#{i}"))
            continue
        k = taken.get(name, 0)
        candidates = where.get(name, [])
        if k < len(candidates):
            found.add(candidates[k])
            taken[name] = k + 1
        else:
            gone.append(name)
    return np.asarray(sorted(found), dtype=np.int64), gone


def _gone_note(gone: list[str], total: int, build_id: str) -> str:
    if not gone:
        return ""
    return (f"{len(gone):,} of {total:,} items are not in the rebuilt dataset (build {build_id}) "
            f"and were dropped: {_listing(gone)}")


def _insert_members(db: Connection, table: sa.Table, key: str, row_id: int, idx, names: list[str] | None) -> None:
    """Rows ``(row_id, i, name)`` of a group's or hotspot's members (a name only when ``names`` has it)."""
    idx = [int(i) for i in idx]
    if not idx:
        return
    labels = [names[i] if names is not None and i < len(names) else None for i in idx]
    if db.dialect.name == "postgresql":
        # one statement with two arrays: psycopg's executemany costs a message per row (100k members: seconds)
        db.execute(text(f"INSERT INTO {table.name} ({key}, i, name) SELECT :row_id, u.i, u.name "
                        "FROM unnest(CAST(:i AS BIGINT[]), CAST(:names AS TEXT[])) AS u(i, name)"),
                   {"row_id": row_id, "i": idx, "names": labels})
    else:
        db.execute(sa.insert(table), [{key: row_id, "i": i, "name": n} for i, n in zip(idx, labels)])


class GroupStore:
    """Groups, vectors and hotspots of every dataset in one data directory (or one shared database).

    ``db``: a database URL (``postgresql://USER@HOST:PORT/NAME``); default ``$DASHBOARD_DB``, else
    ``<data_dir>/groups.sqlite``. Every change takes the write lock first and checks what it
    changes inside that transaction, so threads and processes (gunicorn workers, on one machine or
    several) editing at once are serialised. Renames and deletes may carry the ``version`` the
    client saw: a row edited since is not overwritten (:class:`EditConflict`, with the current
    name). A SQLite file or folder that cannot be written still serves reads; an edit then fails
    with one clear :class:`DashboardError`.
    """

    def __init__(self, data_dir: Path | str, db: str | None = None):
        self.path = Path(data_dir) / FILENAME
        self._db = Database(database_url(data_dir, db))

    def _write(self, dataset: str):
        """One write transaction on ``dataset``, write lock first; a database that cannot be written raises a clear error."""
        return self._db.write(dataset)

    # rebuilds ------------------------------------------------------------------

    def sync(self, ds) -> None:
        """Bring what is stored for ``ds`` to its current build (idempotent, safe to race).

        The first call for a build seeds the hotspots from the build's defaults (replacing those of
        an earlier build) and remaps every group's and user-made hotspot's members by item name,
        dropping (and noting) those whose item is gone. Later calls cost one query.
        """
        with self._synced(ds.name, ds.build_id, lambda: ds.default_hotspots, lambda: item_names(ds)):
            pass

    @contextmanager
    def _synced(self, dataset: str, build_id: str, defaults, names) -> Iterator[Connection]:
        """A connection to read ``dataset`` from, brought to ``build_id`` first (see :meth:`sync`); on a
        SQLite file that cannot be written, an in-memory copy where that was done.

        Without ``names`` only the hotspots are seeded: members are remapped by name or not at all.
        """
        remap = names is not None
        with ExitStack() as stack:
            db = stack.enter_context(self._db.read())
            if self._stale(db, dataset, build_id, remap):
                if not self._db.is_copy(db):
                    try:
                        with self._db.transaction(db, dataset):
                            if self._stale(db, dataset, build_id, remap):  # not done by a racing request meanwhile
                                self._resync(db, dataset, build_id, defaults, names)
                    except Unwritable:
                        if not self._db.sqlite:
                            raise
                        db = stack.enter_context(closing(self._db.copy()))
                if self._db.is_copy(db):  # shown as if saved, saved next time the file can be written
                    with self._db.transaction(db, dataset):
                        self._resync(db, dataset, build_id, defaults, names)
            yield db

    def _stale(self, db: Connection, dataset: str, build_id: str, remap: bool) -> bool:
        """Whether the hotspots are not seeded from this build, or (with ``remap``) members are of another."""
        other = self._other_build
        seeded, groups, spots = db.execute(text(
            "SELECT (SELECT build_id FROM hotspot_seeds WHERE dataset = :dataset), "
            f"EXISTS (SELECT 1 FROM groups WHERE dataset = :dataset AND build_id {other} :build), "
            f"EXISTS (SELECT 1 FROM hotspots WHERE dataset = :dataset AND seeded = 0 AND build_id {other} :build)"),
            {"dataset": dataset, "build": build_id}).one()
        return seeded != build_id or (remap and bool(groups or spots))

    @property
    def _other_build(self) -> str:
        # NULL-safe "differs": SQLite's IS NOT (IS DISTINCT FROM needs SQLite 3.39), standard SQL's on PostgreSQL
        return "IS NOT" if self._db.sqlite else "IS DISTINCT FROM"

    @staticmethod
    def _insert_hotspot(db: Connection, dataset: str, label: str, members, representative: int, build_id: str | None,
                        names: list[str] | None, *, seeded: bool) -> int:
        hid = db.execute(text(
            "INSERT INTO hotspots (dataset, label, representative, created, build_id, seeded) "
            "VALUES (:dataset, :label, :rep, :created, :build, :seeded) RETURNING id"),
            {"dataset": dataset, "label": label, "rep": int(representative), "created": _now(),
             "build": build_id if names is not None or seeded else None, "seeded": int(seeded)}).scalar_one()
        _insert_members(db, hotspot_members, "hotspot_id", hid, members, names)
        return hid

    def _resync(self, db: Connection, dataset: str, build_id: str, defaults, names) -> None:
        """Seed and remap (inside the caller's write transaction)."""
        names = names() if callable(names) else names
        seeded = db.execute(text("SELECT build_id FROM hotspot_seeds WHERE dataset = :dataset"),
                            {"dataset": dataset}).first()
        if seeded is None or seeded[0] != build_id:
            # indices of another build mean other items: start again from this build's clusters
            db.execute(text("DELETE FROM hotspots WHERE dataset = :dataset AND seeded = 1"), {"dataset": dataset})
            for h in (defaults() if callable(defaults) else defaults):
                self._insert_hotspot(db, dataset, h["label"], h["members"], h["representative"], build_id, names,
                                     seeded=True)
            db.execute(text("INSERT INTO hotspot_seeds (dataset, build_id) VALUES (:dataset, :build) "
                            "ON CONFLICT (dataset) DO UPDATE SET build_id = excluded.build_id"),
                       {"dataset": dataset, "build": build_id})
        if names is None:  # nothing to remap by (a caller without the dataset's items)
            return
        for table, members, key in (("groups", group_members, "group_id"), ("hotspots", hotspot_members, "hotspot_id")):
            rows = db.execute(text(f"SELECT id, build_id FROM {table} WHERE dataset = :dataset "
                                   f"AND build_id {self._other_build} :build"
                                   + (" AND seeded = 0" if table == "hotspots" else "")),
                              {"dataset": dataset, "build": build_id}).all()
            for row_id, old_build in rows:
                saved = db.execute(text(f"SELECT i, name FROM {members.name} WHERE {key} = :id ORDER BY i"),
                                   {"id": row_id}).all()
                old = np.asarray([r[0] for r in saved], dtype=np.int64)
                # saved before names were kept (or without them): taken to be of this build
                old_names = [None] * len(old) if old_build is None else [r[1] for r in saved]
                idx, gone = remap_members(old, old_names, names)
                db.execute(text(f"DELETE FROM {members.name} WHERE {key} = :id"), {"id": row_id})
                _insert_members(db, members, key, row_id, idx, names)
                note = _gone_note(gone, len(old), build_id)
                if table == "groups":
                    db.execute(text("UPDATE groups SET build_id = :build, size = :size, note = :note WHERE id = :id"),
                               {"build": build_id, "size": len(idx), "note": note, "id": row_id})
                    db.execute(text("DELETE FROM group_tightness WHERE group_id = :id"), {"id": row_id})
                else:
                    rep = db.execute(text("SELECT representative FROM hotspots WHERE id = :id"),
                                     {"id": row_id}).scalar_one()
                    rep_names = [n for i, n in zip(old.tolist(), old_names) if i == rep]
                    found, _ = remap_members(np.asarray([rep]), rep_names or [None], names)
                    new_rep = int(found[0]) if len(found) else (int(idx[0]) if len(idx) else 0)
                    db.execute(text("UPDATE hotspots SET build_id = :build, representative = :rep, note = :note "
                                    "WHERE id = :id"), {"build": build_id, "rep": new_rep, "note": note, "id": row_id})

    # groups ---------------------------------------------------------------

    def groups(self, dataset: str) -> list[Group]:
        """Every group of a dataset with its size (members not loaded), oldest first."""
        with self._db.read() as db:
            rows = db.execute(text("SELECT id, name, size, created, version, note FROM groups "
                                   "WHERE dataset = :dataset ORDER BY id"), {"dataset": dataset}).all()
        return [Group(r[0], r[1], r[2], r[3], version=r[4], note=r[5]) for r in rows]

    def group_list(self, ds, space: str | None) -> list[Group]:
        """The groups of ``ds`` (brought to its build) with their tightness in latent space ``space``: one query.

        Tightness is stored when a group is saved; one missing (a space added later, a group saved
        before summaries were kept) is computed here once and stored.
        """
        key = space_key(ds, space) if space in ds.spaces else None
        with self._synced(ds.name, ds.build_id, lambda: ds.default_hotspots, lambda: item_names(ds)) as db:
            rows = db.execute(text(
                "SELECT g.id, g.name, g.size, g.created, g.version, g.note, t.value, t.space IS NOT NULL "
                "FROM groups g LEFT JOIN group_tightness t ON t.group_id = g.id AND t.space = :key "
                "WHERE g.dataset = :dataset ORDER BY g.id"), {"key": key, "dataset": ds.name}).all()
            missing = [r[0] for r in rows if key is not None and not r[7]]
            found = self._score(db, ds, space, key, missing) if missing else {}
        return [Group(r[0], r[1], r[2], r[3], version=r[4], note=r[5], tightness=found.get(r[0], r[6]))
                for r in rows]

    def _score(self, db: Connection, ds, space: str, key: str, group_ids: list[int]) -> dict[int, float | None]:
        """Tightness of these groups in ``space``, stored for next time when the database can be written."""
        from .compute.vectors import tightness

        members: dict[int, list[int]] = {g: [] for g in group_ids}
        for g, i in db.execute(text("SELECT group_id, i FROM members WHERE group_id IN :ids ORDER BY group_id, i")
                               .bindparams(bindparam("ids", expanding=True)), {"ids": group_ids}):
            members[g].append(i)
        X = ds.latent(space)
        scores = {g: (tightness(X, np.asarray(m, np.int64)) if m and max(m) < len(X) else None)
                  for g, m in members.items()}
        if not self._db.is_copy(db):
            try:
                with self._db.transaction(db, ds.name):
                    kept = db.execute(text("SELECT id FROM groups WHERE id IN :ids")
                                      .bindparams(bindparam("ids", expanding=True)), {"ids": group_ids}).scalars().all()
                    if kept:  # not deleted meanwhile
                        db.execute(text("INSERT INTO group_tightness (group_id, space, value) VALUES (:g, :space, :v) "
                                        "ON CONFLICT (group_id, space) DO UPDATE SET value = excluded.value"),
                                   [{"g": g, "space": key, "v": None if scores[g] is None else float(scores[g])}
                                    for g in kept])
            except DashboardError:
                pass  # a read-only or busy database: the scores are shown all the same, and computed again next time
        return scores

    def group(self, dataset: str, group_id: int) -> Group:
        """One group with its members (sorted int64)."""
        with self._db.read() as db:
            row = db.execute(text("SELECT id, name, created, version, note FROM groups "
                                  "WHERE dataset = :dataset AND id = :id"), {"dataset": dataset, "id": int(group_id)}).first()
            if row is None:
                raise DashboardError(f"dataset {dataset!r} has no group {group_id}")
            members = db.execute(text("SELECT i FROM members WHERE group_id = :id ORDER BY i"), {"id": row[0]}).scalars().all()
        idx = np.asarray(members, dtype=np.int64)
        return Group(row[0], row[1], len(idx), row[2], idx, version=row[3], note=row[4])

    def save_group(self, dataset: str, name: str, members, n: int, *, build_id: str | None = None,
                   names: list[str] | None = None, tightness: dict[str, float | None] | None = None) -> Group:
        """A new group of items ``members`` (indices below ``n``); refuses empty groups and taken names.

        ``build_id`` and ``names`` (every item's name, by index) let a rebuild remap the members;
        ``tightness`` (from :func:`tightness_by_space`) is stored for the group list.
        """
        name = _clean_name(name, "a group")
        idx = _checked_members(members, n, f"group {name!r}")
        try:
            with self._write(dataset) as db:
                gid = db.execute(text("INSERT INTO groups (dataset, name, created, size, build_id) "
                                      "VALUES (:dataset, :name, :created, :size, :build) RETURNING id"),
                                 {"dataset": dataset, "name": name, "created": _now(), "size": len(idx),
                                  "build": build_id if names is not None else None}).scalar_one()
                _insert_members(db, group_members, "group_id", gid, idx, names)
                if tightness:
                    db.execute(sa.insert(group_tightness),
                               [{"group_id": gid, "space": k, "value": None if v is None else float(v)}
                                for k, v in tightness.items()])
        except sa.exc.IntegrityError:
            raise DashboardError(f"there is already a group called {name!r}") from None
        return self.group(dataset, gid)

    def save_dataset_group(self, ds, name: str, members) -> Group:
        """A new group of ``ds``'s items, saved with their names (for rebuilds) and its tightness in every space."""
        name = _clean_name(name, "a group")
        idx = _checked_members(members, ds.n, f"group {name!r}")
        return self.save_group(ds.name, name, idx, ds.n, build_id=ds.build_id, names=item_names(ds),
                               tightness=tightness_by_space(ds, idx))

    def _checked_row(self, db: Connection, table: str, column: str, what: str, dataset: str, row_id: int,
                     version: int | None, doing: str) -> tuple[str, int]:
        """The row's current name and version, inside the caller's write transaction; refuses a stale edit."""
        row = db.execute(text(f"SELECT {column}, version FROM {table} WHERE dataset = :dataset AND id = :id"),
                         {"dataset": dataset, "id": int(row_id)}).first()
        if row is None:
            raise DashboardError(f"not {doing}: dataset {dataset!r} has no {what} {row_id} (deleted meanwhile?)")
        if version is not None and int(version) != row[1]:
            raise EditConflict(f"not {doing}: this {what} was changed meanwhile and is now called {row[0]!r}", row[0])
        return row

    def _rename(self, table: str, column: str, what: str, dataset: str, row_id: int, value: str,
                version: int | None = None) -> int | None:
        """Set a name (after cleaning): the row's new version, or None when it is already that (a redrawn list).

        With ``version`` (the one the client saw), a row renamed since is left alone: :class:`EditConflict`.
        ``table`` and ``column`` are this module's own literals, never user input.
        """
        value = _clean_name(value, f"a {what}")
        try:
            with self._write(dataset) as db:
                current, seen = self._checked_row(db, table, column, what, dataset, row_id, version, "renamed")
                if current == value:
                    return None
                db.execute(text(f"UPDATE {table} SET {column} = :value, version = version + 1 WHERE id = :id"),
                           {"value": value, "id": int(row_id)})
                return seen + 1
        except sa.exc.IntegrityError:
            raise DashboardError(f"there is already a {what} called {value!r}") from None

    def rename_group(self, dataset: str, group_id: int, name: str, version: int | None = None) -> int | None:
        """Rename a group: its new version, or None when the name is unchanged."""
        return self._rename("groups", "name", "group", dataset, group_id, name, version)

    def delete_group(self, dataset: str, group_id: int, version: int | None = None) -> None:
        """Delete a group; refused while a vector uses it (deleting the vector first loses nothing by surprise),
        and when it was changed since ``version``."""
        with self._write(dataset) as db:
            self._checked_row(db, "groups", "name", "group", dataset, group_id, version, "deleted")
            users = db.execute(text("SELECT name FROM vectors WHERE dataset = :dataset "
                                    "AND (start_group = :id OR end_group = :id)"),
                               {"dataset": dataset, "id": int(group_id)}).scalars().all()
            if users:
                raise DashboardError(
                    f"group {group_id} is used by vector {', '.join(repr(u) for u in users)}: delete the vector first")
            db.execute(text("DELETE FROM groups WHERE dataset = :dataset AND id = :id"),
                       {"dataset": dataset, "id": int(group_id)})

    # vectors --------------------------------------------------------------

    def vectors(self, dataset: str) -> list[Vector]:
        with self._db.read() as db:
            rows = db.execute(text(
                "SELECT v.id, v.name, v.start_group, v.end_group, v.description, v.created, s.name, e.name, v.version "
                "FROM vectors v JOIN groups s ON s.id = v.start_group JOIN groups e ON e.id = v.end_group "
                "WHERE v.dataset = :dataset ORDER BY v.id"), {"dataset": dataset}).all()
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
            with self._write(dataset) as db:
                for g in (a, b):  # checked again under the lock: a group deleted meanwhile is no endpoint
                    self._checked_row(db, "groups", "name", "group", dataset, g.id, None, "saved")
                vid = db.execute(text(
                    "INSERT INTO vectors (dataset, name, start_group, end_group, description, created) "
                    "VALUES (:dataset, :name, :start, :end, :description, :created) RETURNING id"),
                    {"dataset": dataset, "name": name, "start": a.id, "end": b.id,
                     "description": str(description or "")[:1000], "created": _now()}).scalar_one()
        except sa.exc.IntegrityError:
            raise DashboardError(f"there is already a vector called {name!r}") from None
        return self.vector(dataset, vid)

    def rename_vector(self, dataset: str, vector_id: int, name: str, version: int | None = None) -> int | None:
        """Rename a vector: its new version, or None when the name is unchanged."""
        return self._rename("vectors", "name", "vector", dataset, vector_id, name, version)

    def delete_vector(self, dataset: str, vector_id: int, version: int | None = None) -> None:
        """Delete a vector; refused when it was changed since ``version``."""
        with self._write(dataset) as db:
            self._checked_row(db, "vectors", "name", "vector", dataset, vector_id, version, "deleted")
            db.execute(text("DELETE FROM vectors WHERE dataset = :dataset AND id = :id"),
                       {"dataset": dataset, "id": int(vector_id)})


class HotspotStore(GroupStore):
    """Hotspots (PixPlot's named clusters) of every dataset: seeded from a build's defaults, then edited."""

    def hotspots(self, dataset: str, build_id: str, defaults: list[dict], names: list[str] | None = None) -> list[Hotspot]:
        """The dataset's hotspots; the first call after a (re)build replaces them with the build's ``defaults``
        and remaps the user-made ones by item name (``names``: every item's name, by index).

        Racing first calls (threads, processes, servers on one database) seed once: the check and
        the seeding share one write transaction.
        """
        with self._synced(dataset, build_id, defaults, names) as db:
            rows = db.execute(text(
                "SELECT h.id, h.label, h.representative, COUNT(m.i), h.version, h.note FROM hotspots h "
                "LEFT JOIN hotspot_members m ON m.hotspot_id = h.id WHERE h.dataset = :dataset "
                "GROUP BY h.id ORDER BY h.id"), {"dataset": dataset}).all()
        return [Hotspot(r[0], r[1], r[2], r[3], version=r[4], note=r[5]) for r in rows]

    def dataset_hotspots(self, ds) -> list[Hotspot]:
        """:meth:`hotspots` of an open dataset, brought to its current build."""
        return self.hotspots(ds.name, ds.build_id, ds.default_hotspots, item_names(ds))

    def hotspot(self, dataset: str, hotspot_id: int) -> Hotspot:
        with self._db.read() as db:
            row = db.execute(text("SELECT id, label, representative, version, note FROM hotspots "
                                  "WHERE dataset = :dataset AND id = :id"),
                             {"dataset": dataset, "id": int(hotspot_id)}).first()
            if row is None:
                raise DashboardError(f"dataset {dataset!r} has no hotspot {hotspot_id}")
            members = db.execute(text("SELECT i FROM hotspot_members WHERE hotspot_id = :id ORDER BY i"),
                                 {"id": row[0]}).scalars().all()
        return Hotspot(row[0], row[1], row[2], len(members), np.asarray(members, np.int64), version=row[3], note=row[4])

    def add_hotspot(self, dataset: str, label: str, members, representative: int, n: int, *,
                    build_id: str | None = None, names: list[str] | None = None) -> Hotspot:
        """A user-made hotspot; with ``build_id`` and ``names`` a rebuild remaps it by item name."""
        label = _clean_name(label, "a hotspot")
        idx = _checked_members(members, n, f"hotspot {label!r}")
        with self._write(dataset) as db:
            hid = self._insert_hotspot(db, dataset, label, idx, representative, build_id, names, seeded=False)
        return self.hotspot(dataset, hid)

    def add_dataset_hotspot(self, ds, label: str, members, representative: int) -> Hotspot:
        """A user-made hotspot of ``ds``'s items (after seeding the build's, so it is kept), remapped on rebuilds."""
        self.sync(ds)
        return self.add_hotspot(ds.name, label, members, representative, ds.n, build_id=ds.build_id,
                                names=item_names(ds))

    def rename_hotspot(self, dataset: str, hotspot_id: int, label: str, version: int | None = None) -> int | None:
        """Relabel a hotspot: its new version, or None when the label is unchanged."""
        return self._rename("hotspots", "label", "hotspot", dataset, hotspot_id, label, version)

    def delete_hotspot(self, dataset: str, hotspot_id: int, version: int | None = None) -> None:
        """Delete a hotspot; refused when it was changed since ``version``."""
        with self._write(dataset) as db:
            self._checked_row(db, "hotspots", "label", "hotspot", dataset, hotspot_id, version, "deleted")
            db.execute(text("DELETE FROM hotspots WHERE dataset = :dataset AND id = :id"),
                       {"dataset": dataset, "id": int(hotspot_id)})


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


def save_direction(ds, members, name: str, *, group_id: int | None = None) -> Vector:
    """The direction from the rest of the items to ``members`` as a saved vector (LSC's attribute vector):
    ``members`` (or the saved group ``group_id``) as its end, everything else as a new group at its start.

    Names already taken get a number: "name", "name (2)", …
    """
    store = GroupStore(ds.path.parent)
    taken = {g.name for g in store.groups(ds.name)} | {v.name for v in store.vectors(ds.name)}

    def free(base: str) -> str:
        k = 2
        out = base
        while out in taken:
            out, k = f"{base} ({k})", k + 1
        taken.add(out)
        return out

    end = store.group(ds.name, group_id) if group_id is not None else None
    members = end.members if end is not None else np.unique(np.asarray(members, np.int64))
    rest = np.setdiff1d(np.arange(ds.n), members)
    if not len(rest):  # checked before anything is saved
        raise DashboardError("the selection holds every item: there is no rest to point away from")
    end = end or store.save_dataset_group(ds, free(name), members)
    start = store.save_dataset_group(ds, free(f"not {end.name}"), rest)
    return store.save_vector(ds.name, free(f"towards {end.name}"), start.id, end.id,
                             f"from the other {len(rest):,} items to the {end.size:,} of {end.name!r}")
