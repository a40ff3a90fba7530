"""HDBSCAN hotspots (compute/clusters.py)."""

from __future__ import annotations

import numpy as np

from dashboard.compute import clusters


def test_hdbscan_finds_separate_blobs():
    rng = np.random.default_rng(2)
    X = np.concatenate([rng.normal(c, 0.1, size=(100, 2)) for c in (0, 5, 10)])
    labels = clusters.hdbscan_labels(X, min_cluster_size=20)
    assert len(set(labels) - {-1}) == 3
    assert labels.dtype == np.int32
