"""The computation cache: hits, keys, staleness, parameter validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard import cache as cache_mod
from dashboard.computed import cached_layouts, get_clusters, get_layout, get_neighbors, projection_params
from dashboard.errors import DashboardError
from dashboard.store import DatasetWriter


def test_second_request_is_a_cache_hit(digits_ds):
    first = get_layout(digits_ds, "16", "umap", n_neighbors=10)
    second = get_layout(digits_ds, "16", "umap", n_neighbors=10)
    assert not first.from_cache and second.from_cache and second.source == "cache"
    np.testing.assert_array_equal(first.xy, second.xy)
    assert "umap of 16 (label=None, metric=euclidean, min_dist=0.1, n_neighbors=10)" in cached_layouts(digits_ds)


def test_defaults_and_explicit_values_share_a_key(digits_ds):
    explicit = get_layout(digits_ds, "32", "umap", n_neighbors=15, min_dist=0.1, metric="euclidean")
    assert not explicit.from_cache
    assert get_layout(digits_ds, "32", "umap").from_cache


def test_key_names_dim_and_fingerprint():
    a = cache_mod.make_key("d", "f1", "32", "umap", {"n_neighbors": 15})
    assert a != cache_mod.make_key("d", "f1", "64", "umap", {"n_neighbors": 15})  # LSC's collision across dims
    assert a != cache_mod.make_key("d", "f2", "32", "umap", {"n_neighbors": 15})
    assert a == cache_mod.make_key("d", "f1", 32, "umap", {"n_neighbors": 15})


def _toy(data_dir, values):
    with DatasetWriter(data_dir, "toy", fresh=True) as w:
        w.set_info(type="other", metric="l2")
        w.write_meta(pd.DataFrame({"i": range(50), "name": [str(k) for k in range(50)]}))
        w.write_latent("3", values, kind="raw")
        return w.finish()


def test_rebuilt_dataset_never_serves_a_stale_layout(tmp_path):
    rng = np.random.default_rng(0)
    ds = _toy(tmp_path, rng.normal(size=(50, 3)))
    old = get_layout(ds, "3", "pca").xy
    ds = _toy(tmp_path, rng.normal(size=(50, 3)) * [10, 1, 0.1])
    new = get_layout(ds, "3", "pca")
    assert not new.from_cache and not np.allclose(old, new.xy)
    # an identical rebuild reuses what was computed
    same = _toy(tmp_path, ds.latent("3").copy())
    assert get_layout(same, "3", "pca").from_cache


@pytest.mark.parametrize(
    "method,params,message",
    [
        ("umap", {"n_neighbors": 1}, "umap: n_neighbors must be between 2 and 200, got 1"),
        ("umap", {"min_dist": "far"}, "umap: min_dist must be float, got 'far'"),
        ("umap", {"perplexity": 5}, "umap: unknown parameter perplexity"),
        ("umap", {"label": "ink"}, "umap: label must be a categorical column (label), got 'ink'"),
        ("tsne", {"metric": "manhattan"}, "tsne: metric must be one of euclidean, cosine"),
        ("tsne", {"perplexity": float("nan")}, "tsne: perplexity must be a finite number"),
        ("mds", {}, "unknown projection 'mds'"),
    ],
)
def test_bad_parameters_are_named(digits_ds, method, params, message):
    with pytest.raises(DashboardError) as err:
        projection_params(digits_ds, method, params)
    assert message in str(err.value)


def test_unknown_space_lists_the_spaces(digits_ds):
    with pytest.raises(DashboardError, match="has no latent space '5'; it has: 64, 32, 16, 8"):
        get_layout(digits_ds, 5, "pca")


def test_neighbors_and_clusters_are_cached(digits_ds):
    idx, dist = get_neighbors(digits_ds, "64", k=5)
    assert idx.shape == (1797, 5) and (np.diff(dist, axis=1) >= 0).all()
    labels = get_clusters(digits_ds, "64", min_cluster_size=30)
    assert labels.shape == (1797,) and len(set(labels) - {-1}) >= 5
    names = cached_layouts(digits_ds)
    assert any(n.startswith("knn of 64") for n in names) and any(n.startswith("hdbscan of 64") for n in names)
