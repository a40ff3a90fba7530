"""Layout trust and neighbour change, each checked against an independent computation (scikit-learn,
plain Python sets) on the real digits, and through the command line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.manifold import trustworthiness
from sklearn.neighbors import NearestNeighbors

from dashboard.cli import cli
from dashboard.compute import quality
from dashboard.computed import get_layout, get_layout_quality, get_neighbor_change, get_trust
from dashboard.errors import DashboardError


def _sets(X: np.ndarray, k: int) -> list[set]:
    idx = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(return_distance=False)  # excludes each point itself
    return [set(row) for row in idx]


@pytest.mark.parametrize("proj", ["pca", "umap"])
def test_trust_is_the_share_of_latent_neighbours_kept_on_the_layout(digits_ds, proj):
    X, xy = digits_ds.latent("64"), get_layout(digits_ds, "64", proj).xy
    trust = get_trust(digits_ds, "64", xy, 10)
    latent, layout = _sets(X, 10), _sets(xy, 10)
    expected = np.array([len(a & b) / 10 for a, b in zip(latent, layout)])
    # digits' pixels are small integers: a few items have tied 10th neighbours, which either list may pick
    assert np.mean(np.abs(trust - expected) < 1e-6) > 0.99
    assert abs(trust.mean() - expected.mean()) < 0.002
    assert trust.dtype == np.float32 and trust.shape == (digits_ds.n,)


@pytest.mark.parametrize("proj", ["pca", "umap"])
def test_trustworthiness_and_continuity_match_scikit_learn(digits_ds, proj):
    X, xy = digits_ds.latent("64"), get_layout(digits_ds, "64", proj).xy
    got = get_layout_quality(digits_ds, "64", xy, 10)
    assert got["sampled"] is None and got["k"] == 10
    assert got["trustworthiness"] == pytest.approx(trustworthiness(X, xy, n_neighbors=10), abs=1e-3)
    # continuity: the same measure with the two spaces' roles swapped
    assert got["continuity"] == pytest.approx(trustworthiness(xy, X, n_neighbors=10), abs=1e-3)


def test_umap_is_more_trustworthy_than_pca_on_digits(digits_ds):
    scores = {p: get_layout_quality(digits_ds, "64", get_layout(digits_ds, "64", p).xy) for p in ("pca", "umap")}
    assert scores["umap"]["trustworthiness"] > scores["pca"]["trustworthiness"] + 0.1


def test_sampled_estimate_is_close_to_the_exact_value(digits_ds):
    X, xy = digits_ds.latent("16"), get_layout(digits_ds, "64", "pca").xy
    exact = quality.trustworthiness_continuity(X, xy, k=10)
    est = quality.trustworthiness_continuity(X, xy, k=10, exact_max=500, sample=600, seed=1)
    assert est["sampled"] == 600
    for key in ("trustworthiness", "continuity"):
        assert est[key] == pytest.approx(exact[key], abs=0.02)


def test_cosine_trustworthiness_matches_scikit_learn():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 12))
    Y = X[:, :2] + rng.normal(scale=0.3, size=(300, 2))
    got = quality.trustworthiness_continuity(X, Y, k=7, metric="cosine")
    assert got["trustworthiness"] == pytest.approx(trustworthiness(X, Y, n_neighbors=7, metric="cosine"), abs=1e-9)


def test_jaccard_matches_a_direct_set_computation(digits_ds):
    got = get_neighbor_change(digits_ds, "64", "8", 10)
    a, b = _sets(digits_ds.latent("64"), 10), _sets(digits_ds.latent("8"), 10)
    expected = np.array([len(x & y) / len(x | y) for x, y in zip(a, b)])
    assert np.mean(np.abs(got - expected) < 1e-6) > 0.99
    assert abs(got.mean() - expected.mean()) < 0.002
    assert np.all(get_neighbor_change(digits_ds, "32", "32", 10) == 1.0)


def test_shared_counts_of_hand_made_lists():
    a = np.array([[1, 2, 3], [4, 5, 6]])
    b = np.array([[3, 9, 1], [7, 8, 9]])
    assert quality.shared_counts(a, b).tolist() == [2, 0]
    assert quality.jaccard(a, b).tolist() == pytest.approx([2 / 4, 0.0])


def run(*args, data_dir):
    return CliRunner().invoke(cli, ["--data-dir", str(data_dir), *args])


def test_quality_command_writes_trust_and_prints_both_scores(data_dir, digits_ds, tmp_path):
    out = tmp_path / "trust.csv"
    r = run("quality", "digits", "--dim", "64", "--projection", "umap", "--k", "10", "-o", str(out), data_dir=data_dir)
    assert r.exit_code == 0, r.output
    X, xy = digits_ds.latent("64"), get_layout(digits_ds, "64", "umap").xy
    printed = float(r.output.split("trustworthiness ")[1].split()[0])
    assert printed == pytest.approx(trustworthiness(X, xy, n_neighbors=10), abs=1e-3)
    assert "continuity 0." in r.output and "exact" in r.output
    table = pd.read_csv(out)
    assert list(table.columns) == ["i", "name", "trust"] and len(table) == digits_ds.n
    assert np.allclose(table["trust"], get_trust(digits_ds, "64", xy, 10), atol=1e-6)


def test_compare_command_writes_jaccard(data_dir, digits_ds, tmp_path):
    out = tmp_path / "jaccard.csv"
    r = run("compare", "digits", "--dims", "64,8", "-o", str(out), data_dir=data_dir)
    assert r.exit_code == 0, r.output
    table = pd.read_csv(out)
    assert list(table.columns) == ["i", "name", "jaccard"]
    assert np.allclose(table["jaccard"], get_neighbor_change(digits_ds, "64", "8", 10), atol=1e-6)
    assert "mean Jaccard" in r.output


@pytest.mark.parametrize("args, message", [
    (["compare", "digits", "--dims", "64", "-o", "x.csv"], "expected two latent spaces"),
    (["compare", "digits", "--dims", "64,7", "-o", "x.csv"], "has no latent space '7'"),
    (["quality", "digits", "--dim", "7", "-o", "x.csv"], "has no latent space '7'"),
    (["quality", "digits", "--projection", "nope", "-o", "x.csv"], "unknown projection 'nope'"),
    (["quality", "digits", "--k", "0", "-o", "x.csv"], "0 is not in the range"),
])
def test_mistakes_get_one_line(data_dir, args, message):
    r = run(*args, data_dir=data_dir)
    assert r.exit_code != 0 and message in r.output and "Traceback" not in r.output


# --------------------------------------------------------------------------
# in the map: colour-by, the URL, the CSV export

@pytest.fixture(scope="module")
def client(data_dir, tmp_path_factory):
    from dashboard.app import create_app

    from .conftest import copy_dataset

    d = tmp_path_factory.mktemp("quality-routes")
    copy_dataset(data_dir, d, "digits")
    return create_app(d, dataset="digits").server.test_client()


def _rgba(resp) -> np.ndarray:
    import gzip

    body = gzip.decompress(resp.data) if resp.headers.get("Content-Encoding") == "gzip" else resp.data
    return np.frombuffer(body, np.uint8).reshape(-1, 4)


def test_the_map_colours_by_layout_trust_and_neighbours_kept(client, digits_ds):
    from dashboard.compute import colors
    from dashboard.viewstate import ViewState

    resp = client.get("/api/colors.bin?dataset=digits&space=64&proj=pca&color=layout:trust")
    assert resp.status_code == 200
    trust = get_trust(digits_ds, "64", get_layout(digits_ds, "64", "pca").xy, 10)
    assert np.array_equal(_rgba(resp), colors.numeric(trust)[0])
    # trust depends on the layout: another projection names other colours
    a = ViewState(dataset="digits", space="64", proj="pca", color="layout:trust").column_query("color", "layout:trust")
    b = ViewState(dataset="digits", space="64", proj="umap", color="layout:trust").column_query("color", "layout:trust")
    assert a != b
    kept = _rgba(client.get("/api/colors.bin?dataset=digits&space=64&proj=pca&color=kept:8"))
    assert np.array_equal(kept, colors.numeric(get_neighbor_change(digits_ds, "64", "8", 10))[0])
    assert not np.array_equal(kept, _rgba(resp))


def test_a_bad_analysis_column_is_a_notice(data_dir):
    from dashboard.viewstate import parse

    state, notices = parse(data_dir, "dataset=digits&color=kept:7")
    assert state.color == "label" and any("no column 'kept:7'" in n for n in notices)
    state, notices = parse(data_dir, "dataset=digits&color=kept:8")
    assert state.color == "kept:8" and not notices


def test_the_csv_export_carries_the_analysis_the_map_is_coloured_by(client, digits_ds):
    import io

    table = pd.read_csv(io.BytesIO(client.get("/export/digits.csv?dim=64&proj=pca&rows=all&color=layout:trust").data))
    trust = get_trust(digits_ds, "64", get_layout(digits_ds, "64", "pca").xy, 10)
    assert np.allclose(table["trust"], trust, atol=1e-6)
    table = pd.read_csv(io.BytesIO(client.get("/export/digits.csv?dim=64&proj=pca&sel=0-9&color=kept:16").data))
    assert np.allclose(table["kept_from_16"], get_neighbor_change(digits_ds, "64", "16", 10)[:10], atol=1e-6)


# --------------------------------------------------------------------------
# what sets a selection apart

def test_the_report_lists_a_planted_category_first_and_the_shifted_number(make_dataset):
    from dashboard.computed import get_selection_report

    rng = np.random.default_rng(5)
    n = 600
    colour = rng.choice(["red", "green", "blue", "grey"], n)
    ds = make_dataset(n=n, categories=6, colour=colour, weight=rng.normal(size=n))
    members = np.flatnonzero(ds.meta["category"] == "c2")[:60]
    # plant: most of the members are "red" and heavy
    meta = ds.meta
    colour = meta["colour"].to_numpy().copy()
    colour[members[:45]] = "red"
    weight = meta["weight"].to_numpy().copy()
    weight[members] += 3
    ds = make_dataset(name="planted", n=n, categories=6, colour=colour, weight=weight)
    assert ds.schema["colour"] == "categorical" and ds.schema["weight"] == "numeric"
    r = get_selection_report(ds, ds.default_space, members)
    top = r["categories"][0]
    assert (top["column"], top["value"]) == ("category", "c2")  # every member is c2: the strongest signal
    red = next(c for c in r["categories"] if c["column"] == "colour")
    assert red["value"] == "red" and red["count_in"] >= 45 and red["p"] < 1e-10
    # an independent check of the p-value
    from scipy.stats import fisher_exact

    inside = np.zeros(n, bool)
    inside[members] = True
    is_red = colour == "red"
    table = [[int((inside & is_red).sum()), int((inside & ~is_red).sum())],
             [int((~inside & is_red).sum()), int((~inside & ~is_red).sum())]]
    assert red["p"] == pytest.approx(fisher_exact(table, alternative="greater").pvalue)
    assert r["numbers"][0]["column"] == "weight" and r["numbers"][0]["effect"] > 0.8
    assert len(r["nearest"]) == 12 and not set(r["nearest"]) & set(members.tolist())
    # nearest to the centroid, checked by brute force
    X = ds.latent(ds.default_space).astype(np.float64)
    d = np.linalg.norm(X - X[members].mean(0), axis=1)
    d[members] = np.inf
    assert r["nearest"] == np.argsort(d)[:12].tolist()


def test_the_direction_to_a_selection_saves_as_a_vector(make_dataset):
    from dashboard.computed import get_vector_scores
    from dashboard.groups import GroupStore, save_direction

    ds = make_dataset(n=300)
    members = np.flatnonzero(ds.meta["category"] == "c1")
    v = save_direction(ds, members, "c1 items")
    again = save_direction(ds, members, "c1 items")
    assert v.name == "towards c1 items" and again.name == "towards c1 items (2)"
    store = GroupStore(ds.path.parent)
    end, start = store.group(ds.name, v.end), store.group(ds.name, v.start)
    assert np.array_equal(end.members, members) and len(start.members) == ds.n - len(members)
    assert get_vector_scores(ds, ds.default_space, start.members, end.members)["length"] > 1
    before = len(store.groups(ds.name))
    with pytest.raises(DashboardError, match="holds every item"):
        save_direction(ds, np.arange(ds.n), "everything")
    assert len(store.groups(ds.name)) == before  # nothing half-saved
