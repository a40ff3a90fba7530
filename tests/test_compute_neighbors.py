"""Nearest neighbours (compute/neighbors.py): exact and approximate."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.compute import neighbors


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_knn_matches_brute_force(metric):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 16)).astype(np.float32)
    idx, dist = neighbors.knn(X, k=7, metric=metric)
    if metric == "cosine":
        Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
        D = 1 - Xn @ Xn.T
    else:
        D = np.linalg.norm(X[:, None] - X[None], axis=2)
    np.fill_diagonal(D, np.inf)
    expected = np.argsort(D, axis=1)[:, :7]
    assert (idx == expected).mean() > 0.99
    assert np.allclose(dist, np.take_along_axis(D, idx, axis=1), atol=1e-4)
    assert not (idx == np.arange(300)[:, None]).any()


def test_approximate_knn_has_high_recall():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3000, 8)).astype(np.float32)
    exact, _ = neighbors.knn(X, k=10)
    approx, _ = neighbors.knn(X, k=10, exact_max=100)  # force pynndescent
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact)])
    assert recall > 0.9
