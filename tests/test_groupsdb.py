"""The groups store's database: URLs, SQLite files written before SQLAlchemy, PostgreSQL shared by
servers, failed saves, and one-line errors for a database that cannot be used."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from dashboard.errors import DashboardError
from dashboard.groups import GroupStore, HotspotStore
from dashboard.groupsdb import DB_ENV, database_url, engine


def test_database_urls(tmp_path, monkeypatch):
    monkeypatch.setenv(DB_ENV, "")
    default = database_url(tmp_path)
    assert default.get_backend_name() == "sqlite" and default.database == str(tmp_path.resolve() / "groups.sqlite")
    assert engine(default) is engine(database_url(tmp_path))  # one pool per database per process
    for given in ("postgresql://u:pw@127.0.0.1:5433/groups", "postgres://u:pw@127.0.0.1:5433/groups",
                  "postgresql+psycopg://u:pw@127.0.0.1:5433/groups"):
        url = database_url(tmp_path, given)
        assert (url.drivername, url.port, url.database) == ("postgresql+psycopg", 5433, "groups")
    monkeypatch.setenv(DB_ENV, "postgresql://u@db.example/groups")
    assert database_url(tmp_path).host == "db.example"  # what gunicorn workers read
    for bad, message in [("mysql://u@h/db", "not supported"), ("not a url", "not a database URL"),
                         ("sqlite://", "not supported")]:
        with pytest.raises(DashboardError, match=message):
            database_url(tmp_path, bad)


# what the sqlite3-module store wrote: schema 0 (before versions, names and summaries) …
SCHEMA_0 = """
CREATE TABLE groups (id INTEGER PRIMARY KEY AUTOINCREMENT, dataset TEXT NOT NULL, name TEXT NOT NULL,
    created TEXT NOT NULL, UNIQUE (dataset, name));
CREATE TABLE members (group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE, i INTEGER NOT NULL,
    PRIMARY KEY (group_id, i)) WITHOUT ROWID;
CREATE TABLE hotspots (id INTEGER PRIMARY KEY AUTOINCREMENT, dataset TEXT NOT NULL, label TEXT NOT NULL,
    representative INTEGER NOT NULL, created TEXT NOT NULL);
CREATE TABLE hotspot_members (hotspot_id INTEGER NOT NULL REFERENCES hotspots(id) ON DELETE CASCADE,
    i INTEGER NOT NULL, PRIMARY KEY (hotspot_id, i)) WITHOUT ROWID;
CREATE TABLE hotspot_seeds (dataset TEXT PRIMARY KEY, build_id TEXT NOT NULL);
CREATE TABLE vectors (id INTEGER PRIMARY KEY AUTOINCREMENT, dataset TEXT NOT NULL, name TEXT NOT NULL,
    start_group INTEGER NOT NULL REFERENCES groups(id), end_group INTEGER NOT NULL REFERENCES groups(id),
    description TEXT NOT NULL DEFAULT '', created TEXT NOT NULL, UNIQUE (dataset, name));
"""
# … and schema 2, as its migration left it
TO_SCHEMA_2 = """
ALTER TABLE groups ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE groups ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
ALTER TABLE groups ADD COLUMN build_id TEXT;
ALTER TABLE groups ADD COLUMN note TEXT NOT NULL DEFAULT '';
ALTER TABLE members ADD COLUMN name TEXT;
ALTER TABLE hotspots ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE hotspots ADD COLUMN build_id TEXT;
ALTER TABLE hotspots ADD COLUMN seeded INTEGER NOT NULL DEFAULT 1;
ALTER TABLE hotspots ADD COLUMN note TEXT NOT NULL DEFAULT '';
ALTER TABLE hotspot_members ADD COLUMN name TEXT;
ALTER TABLE vectors ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
CREATE TABLE group_tightness (group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    space TEXT NOT NULL, value REAL, PRIMARY KEY (group_id, space)) WITHOUT ROWID;
UPDATE groups SET size = (SELECT COUNT(*) FROM members m WHERE m.group_id = groups.id);
PRAGMA user_version = 2;
"""


@pytest.mark.parametrize("version", [0, 1, 2])
def test_sqlite_files_of_earlier_schemas_open_and_are_migrated(tmp_path, monkeypatch, version):
    monkeypatch.setenv(DB_ENV, "")
    path = tmp_path / "groups.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA_0 + (TO_SCHEMA_2 if version == 2 else f"PRAGMA user_version = {version};"))
        db.execute("INSERT INTO groups (dataset, name, created) VALUES ('d', 'old', 'then'), ('d', 'other', 'then')")
        db.executemany("INSERT INTO members (group_id, i) VALUES (?, ?)", [(1, 3), (1, 2**40), (2, 7)])
        if version == 2:
            db.execute("UPDATE groups SET size = (SELECT COUNT(*) FROM members m WHERE m.group_id = groups.id)")
        db.execute("INSERT INTO vectors (dataset, name, start_group, end_group, created) VALUES ('d', 'v', 1, 2, 'then')")
        db.execute("INSERT INTO hotspots (dataset, label, representative, created) VALUES ('d', 'spot', 4, 'then')")
        db.execute("INSERT INTO hotspot_members (hotspot_id, i) VALUES (1, 4)")
        db.execute("INSERT INTO hotspot_seeds VALUES ('d', 'build-1')")
    db.close()
    store = HotspotStore(tmp_path)
    assert [(g.name, g.size, g.version) for g in store.groups("d")] == [("old", 2, 1), ("other", 1, 1)]
    assert store.group("d", 1).members.tolist() == [3, 2**40]
    assert [(v.name, v.start_name, v.end_name) for v in store.vectors("d")] == [("v", "old", "other")]
    assert [(h.label, h.size) for h in store.hotspots("d", "build-1", [])] == [("spot", 1)]
    assert store.rename_group("d", 1, "renamed", version=1) == 2  # the columns schema 2 added are there
    g = store.save_group("d", "new", [1, 2], n=10, tightness={"4:abc": 0.5})
    assert (g.size, store.group("d", g.id).name) == (2, "new")
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
        assert db.execute("SELECT value FROM group_tightness").fetchall() == [(0.5,)]
    db.close()


def test_a_failed_save_leaves_nothing_behind(store_db, tmp_path):
    store = GroupStore(tmp_path)
    with pytest.raises(ValueError):
        # fails after the group and its members were inserted, inside the same transaction
        store.save_group("d", "half", [1, 2, 3], n=10, tightness={"4:abc": "not a number"})
    assert store.groups("d") == []
    assert store.save_group("d", "half", [1, 2, 3], n=10).size == 3  # the name was not taken either


def test_servers_on_one_postgres_database_share_groups_and_hotspots(postgres, tmp_path, monkeypatch):
    monkeypatch.setenv(DB_ENV, "")
    url = postgres.new_database()
    one, two = HotspotStore(tmp_path / "one", db=url), HotspotStore(tmp_path / "two", db=url)
    g = one.save_group("d", "mine", np.arange(5), n=10)
    assert [(x.id, x.name, x.size) for x in two.groups("d")] == [(g.id, "mine", 5)]
    seeded = two.hotspots("d", "b1", [{"label": "A", "members": [1, 2], "representative": 1}])
    again = one.hotspots("d", "b1", [{"label": "other defaults", "members": [3], "representative": 3}])
    assert [(h.id, h.label, h.size) for h in again] == [(h.id, h.label, h.size) for h in seeded]  # seeded once
    assert two.rename_group("d", g.id, "theirs", version=g.version) == 2
    assert one.group("d", g.id).name == "theirs"
    with sa.create_engine(database_url(tmp_path, url)).connect() as conn:
        assert conn.execute(sa.text("SELECT version FROM schema_version")).scalars().all() == [2]
    assert not (tmp_path / "one" / "groups.sqlite").exists()


@pytest.mark.parametrize("problem", ["unreachable", "password", "database", "scheme"])
def test_serve_says_in_one_line_why_the_database_cannot_be_used(postgres, tmp_path, monkeypatch, problem):
    from dashboard.cli import cli
    from .conftest import _free_port

    monkeypatch.setenv(DB_ENV, "")  # restored after the test: --db sets it for the process
    url, expected = {
        "unreachable": (f"postgresql://postgres@127.0.0.1:{_free_port()}/groups", "cannot reach PostgreSQL at 127.0.0.1"),
        "password": (postgres.url("postgres", password="wrong"), "wrong or missing password"),
        "database": (postgres.url("no_such_db"), "there is no database 'no_such_db'"),
        "scheme": ("mysql://u@127.0.0.1/x", "is not supported"),
    }[problem]
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "serve", "--db", url])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0], result.output
    assert ":wrong@" not in result.output  # the password is never shown
