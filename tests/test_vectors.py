"""Attribute vectors: the vector view, scores, paths and analogies (LSC's methods), on real data."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard import mapdata, vectorview
from dashboard.compute import vectors as V
from dashboard.groups import GroupStore
from dashboard.viewstate import parse

# male → female counterparts; the test uses those among the 3,000 most frequent English words
PAIRS = [("man", "woman"), ("king", "queen"), ("boy", "girl"), ("father", "mother"), ("brother", "sister"),
         ("he", "she"), ("son", "daughter"), ("husband", "wife"), ("prince", "princess"), ("mr", "mrs"),
         ("male", "female"), ("men", "women"), ("boys", "girls"), ("himself", "herself"), ("his", "her"),
         ("dad", "mom"), ("boyfriend", "girlfriend"), ("uncle", "aunt"), ("actor", "actress")]


def test_vector_view_is_lscs_projection():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 6)).astype(np.float32) * [5, 1, 1, 3, 1, 1]
    v = np.array([0, 1, 0, 0, 0, 0], np.float64)
    xy, mean, U = V.vector_view(X, v)
    Xc = X - mean
    assert np.allclose(xy[:, 0], Xc[:, 1], atol=1e-4)  # x: the projection on the unit vector
    assert abs(U[1] @ U[0]) < 1e-5  # y is orthogonal to it
    assert abs(abs(U[1][0]) - 1) < 0.05  # and the largest remaining variance (axis 0)
    assert np.allclose(xy, Xc @ U.T, atol=1e-3)


def test_consistent_pairs_score_far_above_random_pairs():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 16))
    shift = np.r_[3.0, np.zeros(15)]
    X[200:240] = X[100:140] + shift + rng.normal(scale=0.3, size=(40, 16))  # 40 pairs moved the same way
    baseline = V.random_pairs(400)
    good = V.consistency(X, np.arange(100, 140), np.arange(200, 240), baseline)
    noise = V.consistency(X, np.arange(0, 40), np.arange(300, 340), baseline)
    assert good["d"] > 3 and abs(noise["d"]) < 0.5
    assert sum(good["hist"]) == pytest.approx(1, abs=1e-3) and len(good["edges"]) == len(good["hist"]) + 1
    pairs = V.random_pairs(50, 500)
    assert (pairs[:, 0] != pairs[:, 1]).all() and pairs.max() < 50


def test_path_placement_is_exact_on_linear_layouts_and_local_elsewhere():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 5))
    xy = X @ rng.normal(size=(5, 2)) + [0.3, -0.1]  # an affine layout, like PCA
    locs = V.path(X[0], X[1])
    assert len(locs) == 10 and np.allclose(locs[-2], X[1]) and np.allclose(locs[-1], X[0] + 1.5 * (X[1] - X[0]))
    assert np.allclose(V.place(X, xy, locs, linear=True), locs @ np.linalg.lstsq(
        np.c_[X, np.ones(300)], xy, rcond=None)[0][:5] + np.linalg.lstsq(np.c_[X, np.ones(300)], xy, rcond=None)[0][5],
        atol=1e-4)
    on_item = V.place(X, xy, X[7:8], linear=False)  # a location on an item lands on it
    assert np.allclose(on_item[0], xy[7], atol=1e-3)
    counts, near, _ = V.path_support(X, X[[3]], radius=1e-6)
    assert counts[0] == 1 and near[0] == 3


@pytest.fixture(scope="module")
def words_ds(tmp_path_factory):
    from dashboard.ingest import words

    return words.build(tmp_path_factory.mktemp("words"), n_words=3000, layouts=())


def test_male_to_female_vector_finds_the_held_out_counterpart(words_ds):
    """Leave one pair out, build the vector from the others, apply it to the held-out male word."""
    names = {n: i for i, n in zip(words_ds.meta["i"], words_ds.meta["name"])}
    pairs = [(a, b) for a, b in PAIRS if a in names and b in names]
    assert len(pairs) >= 15
    X = words_ds.latent("384")
    ranks = {}
    for k, (a, b) in enumerate(pairs):
        rest = [p for j, p in enumerate(pairs) if j != k]
        v = V.direction(X, np.array([names[m] for m, _ in rest]), np.array([names[f] for _, f in rest]))
        idx, _ = V.nearest(X, X[names[a]] + v, 20, "cosine", exclude=(names[a],))
        found = [words_ds.meta["name"].iloc[i] for i in idx]
        ranks[a] = found.index(b) + 1 if b in found else None
    top5 = sum(r is not None and r <= 5 for r in ranks.values())
    print("ranks of the female counterpart among the 20 nearest:", ranks)
    assert top5 >= 0.8 * len(pairs), ranks


def test_groups_vector_and_overlay_through_the_store(store_db, data_dir, digits_ds):
    store = GroupStore(data_dir)
    label = digits_ds.meta["label"].astype(str)
    ones = store.save_group("digits", "ones", np.flatnonzero(label == "1"), digits_ds.n)
    sevens = store.save_group("digits", "sevens", np.flatnonzero(label == "7"), digits_ds.n)
    v = store.save_vector("digits", "1 → 7", ones.id, sevens.id)
    state, notices = parse(data_dir, f"dataset=digits&dim=64&proj=vector&vector={v.id}")
    assert notices == [] and state.proj == "vector"
    # the Vector view button names no vector: the one saved last
    later = store.save_vector("digits", "7 → 1", sevens.id, ones.id)
    chosen, said = parse(data_dir, "dataset=digits&dim=64&proj=vector")
    assert said == [] and chosen.proj == "vector" and chosen.vector == later.id
    store.delete_vector("digits", later.id)
    xy = mapdata.positions(digits_ds, state)
    # the ones sit left of the sevens along the vector
    assert xy[ones.members, 0].mean() < xy[sevens.members, 0].mean()
    overlay = vectorview.vector_overlay(digits_ds, state)
    steps = overlay["steps"]
    assert [s["k"] for s in steps] == [round(k, 3) for k in V.PATH_STEPS] and steps[0]["image"] is None
    assert steps[0]["x"] < steps[8]["x"] < steps[9]["x"]  # linear placement along x
    assert label.iloc[steps[0]["nearest"]] == "1" and label.iloc[steps[8]["nearest"]] == "7"
    assert len(overlay["start"]["hull"]) >= 3 and overlay["radius"] > 0
    scores = vectorview.vector_scores(digits_ds, state)
    assert scores["d"] > 0.5 and 0 < scores["classifier_cosine"] <= 1
    result = vectorview.analogy(digits_ds, state, int(ones.members[0]))
    assert sum(label.iloc[r["i"]] == "7" for r in result["results"]) >= 10
    table = vectorview.vector_score_table(digits_ds)
    assert list(table["latent_dim"]) == list(digits_ds.spaces) and table["cohens_d"].notna().all()
    # the same vector shown over another projection: placed among neighbours
    state, _ = parse(data_dir, f"dataset=digits&dim=64&proj=umap&vector={v.id}")
    assert vectorview.vector_overlay(digits_ds, state)["placement"] == "neighbours"
    store.delete_vector("digits", v.id)
    state, notices = parse(data_dir, f"dataset=digits&proj=vector&vector={v.id}")
    assert state.proj != "vector" and any("no vector" in n for n in notices)
