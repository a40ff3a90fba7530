"""Groups and vectors in SQLite: save, rename, delete, CSV upload, bad input, restarts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard.errors import DashboardError
from dashboard.groups import GroupStore, members_from_csv


def test_groups_and_vectors_survive_a_new_store(tmp_path):
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


def test_rename_and_delete(tmp_path):
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
def test_bad_groups_save_nothing(tmp_path, members, message):
    store = GroupStore(tmp_path)
    with pytest.raises(DashboardError, match=message):
        store.save_group("d", "g", members, n=10)
    assert store.groups("d") == []


def test_bad_vectors_save_nothing(tmp_path):
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
