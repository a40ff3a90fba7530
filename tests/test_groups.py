"""Groups, vectors and hotspots in SQLite: save, rename, delete, CSV upload, bad input, restarts,
many clients at once, rebuilds, the group list's speed, files that cannot be written."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard.errors import DashboardError
from dashboard.groups import EditConflict, GroupStore, HotspotStore, members_from_csv


def test_groups_and_vectors_survive_a_new_store(store_db, tmp_path):
    store = GroupStore(tmp_path)
    big = [5, 40_000, 70_000, 2**40]  # LSC kept int16: anything above 32,767 overflowed
    a = store.save_group("d", "start", big, n=2**41)
    b = store.save_group("d", "end", [1, 2, 3], n=10**6)
    v = store.save_vector("d", "start → end", a.id, b.id, "a test")
    again = GroupStore(tmp_path)  # as after a restart
    assert again.group("d", a.id).members.tolist() == big and again.group("d", a.id).members.dtype == np.int64
    assert [(g.name, g.size) for g in again.groups("d")] == [("start", 4), ("end", 3)]
    saved = again.vector("d", v.id)
    assert (saved.name, saved.start_name, saved.end_name, saved.description) == ("start → end", "start", "end", "a test")
    assert again.groups("other") == [] and again.vectors("other") == []


def test_rename_and_delete(store_db, tmp_path):
    store = GroupStore(tmp_path)
    a = store.save_group("d", "a", [1], n=5)
    b = store.save_group("d", "b", [2], n=5)
    store.rename_group("d", a.id, "  first   group ")
    assert store.group("d", a.id).name == "first group"
    with pytest.raises(DashboardError, match="already a group called 'b'"):
        store.rename_group("d", a.id, "b")
    v = store.save_vector("d", "v", a.id, b.id)
    with pytest.raises(DashboardError, match="used by vector 'v'"):
        store.delete_group("d", a.id)
    store.delete_vector("d", v.id)
    store.delete_group("d", a.id)
    assert [g.name for g in store.groups("d")] == ["b"]


@pytest.mark.parametrize("members, message", [
    ([], "is empty"),
    ([1, 99], "indices 99 are outside 0–9"),
    ([-1], "outside"),
])
def test_bad_groups_save_nothing(store_db, tmp_path, members, message):
    store = GroupStore(tmp_path)
    with pytest.raises(DashboardError, match=message):
        store.save_group("d", "g", members, n=10)
    assert store.groups("d") == []


def test_bad_vectors_save_nothing(store_db, tmp_path):
    store = GroupStore(tmp_path)
    a = store.save_group("d", "a", [1, 2], n=5)
    same = store.save_group("d", "same", [2, 1], n=5)
    with pytest.raises(DashboardError, match="hold the same items"):
        store.save_vector("d", "v", a.id, same.id)
    with pytest.raises(DashboardError, match="needs a name"):
        store.save_vector("d", " ", a.id, same.id)
    with pytest.raises(DashboardError, match="no group 99"):
        store.save_vector("d", "v", a.id, 99)
    with pytest.raises(DashboardError, match="start group and an end group"):
        store.save_vector("d", "v", a.id, None)
    assert store.vectors("d") == []


META = pd.DataFrame({"i": range(5), "name": ["man", "woman", "king", "queen", "42"]})


@pytest.mark.parametrize("text, expected", [
    ("i\n0\n3\n", [0, 3]),
    ("name\nking\nqueen\n", [2, 3]),
    ("name\n42\n", [4]),  # a name that looks like a number
    ("name,other\nman,x\n", [0]),
    ("1\n2\n", [1, 2]),  # no header: the first column, indices
    ("man\nwoman\n", [0, 1]),  # no header: names
])
def test_csv_of_indices_or_names(text, expected):
    assert members_from_csv(text, META) == expected


def test_csv_errors_list_the_rows():
    with pytest.raises(DashboardError) as err:
        members_from_csv("i\n0\nprincess\n2\n7\n", META)
    msg = str(err.value)
    assert "2 row(s)" in msg and "line 3: no item named 'princess'" in msg and "line 5: index 7 is outside 0–4" in msg
    with pytest.raises(DashboardError, match="empty"):
        members_from_csv("\n\n", META)


# --------------------------------------------------------------------------
# many clients at once: threads and processes (as gunicorn's workers)


def _at(start: float) -> None:
    """Wait for a shared wall-clock moment, so that threads and processes really race."""
    time.sleep(max(0.0, start - time.time()))


def _first_request(data_dir: str, start: float, defaults: list[dict]) -> list[int]:
    _at(start)
    return [h.id for h in HotspotStore(data_dir).hotspots("d", "build-1", defaults, NAMES)]


def _racing(fn, args_of, threads: int, processes: int) -> list:
    """``fn(*args_of(k))`` for ``threads`` threads in this process and as many in each of ``processes``
    spawned processes, all released at one moment."""
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as procs, \
            ThreadPoolExecutor(threads) as pool:
        futures = [procs.submit(_threads, fn, [args_of(threads * (p + 1) + k) for k in range(threads)])
                   for p in range(processes)]
        futures.append(pool.submit(_threads, fn, [args_of(k) for k in range(threads)]))
        return [r for f in futures for r in f.result()]


def _threads(fn, calls: list[tuple]) -> list:
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda args: fn(*args), calls))


NAMES = [f"item{k}" for k in range(100)]
DEFAULTS = [{"label": f"Cluster {k}", "members": list(range(10 * k, 10 * k + 10)), "representative": 10 * k}
            for k in range(5)]


def test_racing_first_requests_seed_one_set_of_hotspots(store_db, tmp_path):
    start = time.time() + 4  # spawned processes take a moment to start
    seen = _racing(_first_request, lambda k: (str(tmp_path), start, DEFAULTS), threads=8, processes=3)
    assert len(seen) == 32 and all(ids == seen[0] for ids in seen)  # the old code gave several sets of ids
    assert len(seen[0]) == len(DEFAULTS)
    assert [h.id for h in HotspotStore(tmp_path).hotspots("d", "build-1", DEFAULTS, NAMES)] == seen[0]


def _rename(data_dir: str, kind: str, row_id: int, k: int, start: float) -> tuple:
    """One client: reads the row (as its panel shows it), then renames it; what the client is told."""
    store = HotspotStore(data_dir)
    _at(start)
    get, rename = (store.hotspot, store.rename_hotspot) if kind == "hotspot" else (store.group, store.rename_group)
    shown = get("d", row_id).version
    time.sleep(random.random() * 0.05)  # reading and typing take a while: others may rename meanwhile
    try:
        return "kept", f"client {k}", rename("d", row_id, f"client {k}", version=shown)
    except EditConflict as e:
        return "lost", f"client {k}", e.current


@pytest.mark.parametrize("kind", ["hotspot", "group"])
def test_100_concurrent_renames_are_kept_or_told_they_lost(store_db, tmp_path, kind):
    store = HotspotStore(tmp_path)
    if kind == "hotspot":
        row_id = store.hotspots("d", "build-1", DEFAULTS, NAMES)[0].id
    else:
        row_id = store.save_group("d", "original", [1, 2, 3], n=100).id
    start = time.time() + 4
    told = _racing(_rename, lambda k: (str(tmp_path), kind, row_id, k, start), threads=25, processes=3)
    assert len(told) == 100
    kept = sorted((version, label) for outcome, label, version in told if outcome == "kept")
    lost = [current for outcome, _, current in told if outcome == "lost"]
    assert kept and len(kept) + len(lost) == 100
    # every kept rename made one new version, in turn: none overwrote another unseen
    assert [v for v, _ in kept] == list(range(2, len(kept) + 2))
    row = store.hotspot("d", row_id) if kind == "hotspot" else store.group("d", row_id)
    final = row.label if kind == "hotspot" else row.name
    assert (row.version, final) == kept[-1]  # the last kept rename is what is stored
    # a client told it lost was shown a label that was really stored at some point
    assert set(lost) <= {label for _, label in kept} | {"Cluster 0", "original"}


def test_stale_edits_are_refused_with_the_current_name(store_db, tmp_path):
    store = HotspotStore(tmp_path)
    g = store.save_group("d", "a", [1, 2], n=5)
    assert store.rename_group("d", g.id, "b", version=g.version) == 2
    with pytest.raises(EditConflict, match="changed meanwhile and is now called 'b'"):
        store.rename_group("d", g.id, "c", version=g.version)  # made on version 1: would overwrite "b"
    with pytest.raises(EditConflict, match="now called 'b'"):
        store.delete_group("d", g.id, version=1)
    assert store.rename_group("d", g.id, "b", version=2) is None  # unchanged: a redrawn list, no edit
    store.delete_group("d", g.id, version=2)
    with pytest.raises(DashboardError, match=r"no group \d+ \(deleted meanwhile"):
        store.rename_group("d", g.id, "c", version=2)
    h = store.hotspots("d", "build-1", DEFAULTS)[0]
    store.rename_hotspot("d", h.id, "renamed", version=h.version)
    with pytest.raises(EditConflict, match="now called 'renamed'"):
        store.delete_hotspot("d", h.id, version=h.version)


def test_the_panel_says_a_rename_lost_and_redraws(store_db, tmp_path):
    import flask
    from dash._callback_context import context_value
    from dash._utils import AttributeDict

    from dashboard.callbacks import hotspots as callbacks
    from dashboard.layouts import hotspots as ids

    store = HotspotStore(tmp_path)
    h = store.hotspots("d", "build-1", DEFAULTS)[0]
    store.rename_hotspot("d", h.id, "theirs", version=h.version)  # another client, after this panel drew
    app = flask.Flask(__name__)
    app.config["DATA_DIR"] = tmp_path
    prop = json.dumps({"id": h.id, "type": ids.RENAME, "v": h.version}, sort_keys=True, separators=(",", ":"))
    context_value.set(AttributeDict(triggered_inputs=[{"prop_id": prop + ".value", "value": "mine"}]))
    with app.app_context():
        message, version = callbacks.rename_hotspot(["mine"], "d", 7)
    assert "now called 'theirs'" in message[0].children[0].children and version == 8
    assert store.hotspot("d", h.id).label == "theirs"


# --------------------------------------------------------------------------
# the group list: summaries stored with each group


def test_the_list_of_251_groups_is_one_query_and_fast(store_db, make_dataset, monkeypatch):
    import flask

    from dashboard.callbacks import vectors as callbacks
    from dashboard.compute import vectors as vectors_mod

    ds = make_dataset(n=600, dim=8)
    store = GroupStore(ds.path.parent)
    rng = np.random.default_rng(0)
    saved = [store.save_dataset_group(ds, f"g{k}", rng.choice(ds.n, int(rng.integers(2, 300)), replace=False))
             for k in range(251)]
    expected = {g.id: vectors_mod.tightness(ds.latent("8"), g.members) for g in saved}  # what the panel showed

    def not_again(*args, **kwargs):
        raise AssertionError("tightness is computed when the group is saved, not when it is listed")

    monkeypatch.setattr(vectors_mod, "tightness", not_again)
    listed = store.group_list(ds, "8")
    assert [(g.id, g.size, g.tightness) for g in listed] == [(g.id, g.size, expected[g.id]) for g in saved]
    app = flask.Flask(__name__)
    app.config["DATA_DIR"] = ds.path.parent
    with app.app_context():
        t = time.perf_counter()
        rows, _, options, _, _ = callbacks.show_lists(0, ds.name, "8")
        took = time.perf_counter() - t
    assert len(rows) == 251 and len(options) == 251 and took < 0.5  # 13.8 s before, on a real dataset
    assert rows[0].children[2].children == f"{expected[saved[0].id]:.2f}"


def test_tightness_of_a_space_added_later_is_computed_once(store_db, make_dataset, monkeypatch):
    from dashboard.compute import vectors as vectors_mod

    ds = make_dataset(n=300, dim=8)
    store = GroupStore(ds.path.parent)
    g = store.save_group(ds.name, "legacy", range(0, 300, 3), ds.n)  # saved without summaries
    assert store.group_list(ds, "8")[0].tightness == vectors_mod.tightness(ds.latent("8"), g.members)
    monkeypatch.setattr(vectors_mod, "tightness", lambda *a, **k: pytest.fail("computed twice"))
    assert store.group_list(ds, "8")[0].tightness is not None
    assert store.group_list(ds, None)[0].tightness is None  # no space shown: no score


# --------------------------------------------------------------------------
# rebuilds: members follow their items by name


def _build(data_dir, names: list[str], hotspots: list[dict]):
    from dashboard.store import DatasetWriter

    X = np.random.default_rng(len(names)).normal(size=(len(names), 4)).astype(np.float32)
    with DatasetWriter(data_dir, "d", fresh=True) as w:  # fresh: a new build, with a new build_id
        w.set_info(type="other", metric="euclidean")
        w.write_meta(pd.DataFrame({"i": np.arange(len(names)), "name": names}))
        w.write_latent("4", X, kind="raw")
        w.write_hotspots(hotspots)
        return w.finish()


def test_a_rebuild_remaps_members_by_name_and_says_what_is_gone(store_db, tmp_path):
    old = _build(tmp_path, NAMES, DEFAULTS)
    store = HotspotStore(tmp_path)
    seeded = store.dataset_hotspots(old)
    g = store.save_dataset_group(old, "mine", [5, 10, 50])
    h = store.add_dataset_hotspot(old, "my spot", [1, 2, 3], 2)
    # 300 items added in front (indices shift by 300), item10 gone
    names = [f"new{k}" for k in range(300)] + [n for n in NAMES if n != "item10"]
    new = _build(tmp_path, names, [{"label": "New cluster", "members": [0, 1], "representative": 0}])
    assert new.build_id != old.build_id
    listed = store.group_list(new, "4")  # the first request on the new build remaps
    assert store.group(new.name, g.id).members.tolist() == [305, 349]
    assert listed[0].size == 2 and "1 of 3 items are not in the rebuilt dataset" in listed[0].note
    assert "item10" in listed[0].note and listed[0].tightness is not None
    spots = store.dataset_hotspots(new)
    assert [s.label for s in spots] == ["my spot", "New cluster"]  # the build's defaults replace the old ones
    assert not {s.id for s in seeded} & {s.id for s in spots}
    mine = store.hotspot(new.name, h.id)
    assert mine.members.tolist() == [301, 302, 303] and mine.representative == 302 and mine.note == ""
    store.sync(new)  # idempotent: nothing moves again
    assert store.group(new.name, g.id).members.tolist() == [305, 349]


def test_groups_saved_before_names_were_kept_belong_to_the_build_that_first_reads_them(store_db, tmp_path):
    ds = _build(tmp_path, NAMES, [])
    store = GroupStore(tmp_path)
    g = store.save_group("d", "legacy", [7, 8], n=100)  # no names: as saved by an older version
    store.sync(ds)
    new = _build(tmp_path, ["x"] + NAMES, [])
    store.sync(new)
    assert store.group("d", g.id).members.tolist() == [8, 9]


# --------------------------------------------------------------------------
# files that cannot be written

READ_ONLY_CHECK = r"""
import json, sys
from dashboard.errors import DashboardError
from dashboard.groups import HotspotStore
from dashboard.store import open_dataset
data_dir, gid = sys.argv[1], int(sys.argv[2])
store = HotspotStore(data_dir)
ds = open_dataset(data_dir, "d")
out = {"groups": [(g.name, g.size) for g in store.group_list(ds, "4")],
       "hotspots": [h.label for h in store.dataset_hotspots(ds)]}
for name, edit in [("rename", lambda: store.rename_group("d", gid, "other", version=1)),
                   ("save", lambda: store.save_dataset_group(ds, "new", [1, 2])),
                   ("delete", lambda: store.delete_group("d", gid, version=1))]:
    try:
        edit()
        out[name] = "saved"
    except DashboardError as e:
        out[name] = str(e)
# what the panel shows when its rename reaches the server
import flask
from dash._callback_context import context_value
from dash._utils import AttributeDict
from dashboard.callbacks import vectors as callbacks
from dashboard.layouts import vectors as ids
app = flask.Flask("check")
app.config["DATA_DIR"] = data_dir
prop = json.dumps({"id": gid, "type": ids.GROUP_RENAME, "v": 1}, sort_keys=True, separators=(",", ":"))
context_value.set(AttributeDict(triggered_inputs=[{"prop_id": prop + ".value", "value": "other"}]))
with app.app_context():
    message, version = callbacks.rename_group(["other"], "d", 3)
out["panel"] = [p.children[0].children for p in message]  # the text beside the notice's dismiss button
out["panel_version"] = version
print(json.dumps(out))
"""


def _as_unprivileged(args: list[str]) -> list[str]:
    """Root ignores file modes: drop the capabilities that let it (setpriv, util-linux), so chmod bites."""
    if os.geteuid() != 0:
        return args
    setpriv = shutil.which("setpriv")
    assert setpriv, "the read-only tests run as root need setpriv (util-linux)"
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner", *args]


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_read_only_groups_file_serves_reads_and_refuses_edits_with_a_message(tmp_path, what):
    ds = _build(tmp_path, NAMES, DEFAULTS)
    store = HotspotStore(tmp_path)
    g = store.save_dataset_group(ds, "mine", [1, 2, 3])
    store.dataset_hotspots(ds)
    ds = _build(tmp_path, NAMES[::-1], DEFAULTS[:1])  # a rebuild not yet seen: its remap cannot be stored
    path = tmp_path / "groups.sqlite"
    os.chmod(path if what == "file" else tmp_path, 0o444 if what == "file" else 0o555)
    try:
        r = subprocess.run(_as_unprivileged([sys.executable, "-c", READ_ONLY_CHECK, str(tmp_path), str(g.id)]),
                           capture_output=True, text=True, cwd=Path(__file__).parent.parent, timeout=120)
    finally:
        os.chmod(path, 0o644)
        os.chmod(tmp_path, 0o755)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["groups"] == [["mine", 3]] and out["hotspots"] == ["Cluster 0"]  # remapped in memory for reading
    for edit in ("rename", "save", "delete"):
        assert "cannot be written" in out[edit] and "reads still work" in out[edit], out
    assert "cannot be written" in out["panel"][0] and out["panel_version"] == 4  # said, and the list redrawn
    assert GroupStore(tmp_path).group("d", g.id).name == "mine"


def test_a_read_only_data_folder_without_groups_lists_nothing_and_refuses_edits(tmp_path):
    ds = _build(tmp_path, NAMES, DEFAULTS)
    os.chmod(tmp_path, 0o555)
    try:
        r = subprocess.run(_as_unprivileged([sys.executable, "-c", READ_ONLY_CHECK, str(tmp_path), "1"]),
                           capture_output=True, text=True, cwd=Path(__file__).parent.parent, timeout=120)
    finally:
        os.chmod(tmp_path, 0o755)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["groups"] == [] and len(out["hotspots"]) == len(DEFAULTS)
    assert "cannot be written" in out["save"] and "cannot be written" in out["panel"][0]
    assert not (tmp_path / "groups.sqlite").exists()


def test_the_group_list_of_a_dataset_with_build_hotspots_seeds_them(store_db, tmp_path, data_dir):
    """Listing groups first (before any hotspot request) seeds the build's hotspots too."""
    from dashboard.groups import GroupStore, HotspotStore
    from dashboard.store import open_dataset

    from .conftest import copy_dataset

    copy_dataset(data_dir, tmp_path, "digits")
    ds = open_dataset(tmp_path, "digits")
    assert ds.default_hotspots  # digits builds with hotspots now
    assert GroupStore(tmp_path).group_list(ds, "64") == []
    assert len(HotspotStore(tmp_path).hotspots(ds.name, ds.build_id, ds.default_hotspots)) == len(ds.default_hotspots)
