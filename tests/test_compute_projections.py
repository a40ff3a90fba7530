"""PCA, t-SNE and UMAP layouts (compute/projections.py): trustworthy, normalised, supervised."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.manifold import trustworthiness

from dashboard.compute import projections
from dashboard.computed import get_layout


def test_umap_layout_of_digits_is_trustworthy(digits_ds):
    X = digits_ds.latent("64")
    xy = get_layout(digits_ds, "64", "umap").xy
    assert xy.shape == (1797, 2) and xy.dtype == np.float32
    assert trustworthiness(X, xy, n_neighbors=10) >= 0.9


def test_layouts_are_normalised_into_one_frame(digits_ds):
    for method in ("pca", "umap"):
        xy = get_layout(digits_ds, "64", method).xy
        lo, hi = np.percentile(xy, [0.5, 99.5], axis=0)
        assert max(abs(lo).max(), abs(hi).max()) == pytest.approx(1.0, abs=1e-4)
        assert np.allclose((lo + hi) / 2, 0, atol=1e-4)
        assert (np.abs(xy) <= 1).mean() >= 0.98


def test_far_outliers_do_not_shrink_the_layout():
    rng = np.random.default_rng(3)
    xy = np.concatenate([rng.normal(size=(1000, 2)), [[1000.0, 1000.0]]])
    out = projections.normalize_layout(xy)
    assert np.percentile(np.abs(out[:-1]), 99) > 0.8  # the bulk still fills the frame
    assert out[-1, 0] > 100  # the outlier keeps its place, far outside
    assert np.all(np.isfinite(projections.normalize_layout(np.ones((5, 2)))))


def test_tsne_is_trustworthy_and_reports_progress():
    from sklearn.datasets import load_digits

    X = load_digits().data[:400]
    seen = []
    xy = projections.tsne(X, perplexity=20, n_iter=250, progress=seen.append)
    assert xy.shape == (400, 2)
    assert trustworthiness(X, xy, n_neighbors=10) >= 0.9
    assert seen and seen[-1] <= 1.0 and seen == sorted(seen)


def test_pca_pads_tiny_spaces():
    X = np.arange(10, dtype=np.float32).reshape(10, 1)
    out = projections.pca(X)
    assert out.shape == (10, 2) and np.all(out[:, 1] == 0)


def test_supervised_umap_separates_labels_better(digits_ds):
    from sklearn.metrics import silhouette_score

    labels = digits_ds.meta["label"].to_numpy()
    plain = get_layout(digits_ds, "8", "umap").xy
    supervised = get_layout(digits_ds, "8", "umap", label="label").xy
    assert silhouette_score(supervised, labels) > silhouette_score(plain, labels)


def test_pca_of_a_large_matrix_fits_a_sample_and_projects_in_blocks(monkeypatch):
    """Above PCA_FIT_MAX values the axes come from a sample of rows: the same components as a full fit
    (up to sign) on data with clear principal axes."""
    from sklearn.decomposition import PCA

    from dashboard.compute import projections

    rng = np.random.default_rng(0)
    X = (rng.normal(size=(20_000, 3)) * [10.0, 4.0, 0.5]) @ rng.normal(size=(3, 40)) + rng.normal(scale=0.1, size=(20_000, 40))
    X = X.astype(np.float32)
    full = PCA(n_components=2, random_state=42).fit_transform(X)
    monkeypatch.setattr(projections, "PCA_FIT_MAX", 40 * 2_000)  # 2,000 rows fitted, blocks of 500
    got = projections.pca(X, n_components=2)
    assert got.shape == (20_000, 2) and got.dtype == np.float32
    for c in range(2):
        r = np.corrcoef(got[:, c], full[:, c])[0, 1]
        assert abs(r) > 0.999, (c, r)
    # the same from a space read only by row ranges (store.Rows: from disk, never whole)
    from dashboard.store import Rows

    reads = []
    rows = Rows(X.shape, lambda a, b: reads.append(b - a) or X[a:b])
    assert np.array_equal(projections.pca(rows, n_components=2), got)
    assert max(reads) == 500 and sum(reads) == 2 * len(X)  # two passes of blocks: the sample, the projection
