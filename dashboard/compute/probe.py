"""What a latent space holds anywhere on its map: a 2-d point turned back into a latent point.

UMAP's ``inverse_transform`` needs the fitted model, which the cache does not keep (it keeps
layouts, the same for every projection); a k-nearest-neighbour interpolation works for every
layout: the latent vectors of the ``k`` items nearest the point on the map, weighted by inverse
squared distance. At an item's own position it gives that item's vector.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

METHOD = "the latent vectors of the {k} items nearest this point on the map, weighted by 1/distance²"


def invert(xy: np.ndarray, Z: np.ndarray, point: tuple[float, float], *, k: int = 10,
           tree: cKDTree | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The latent point under ``point`` of layout ``xy`` (n × 2) of latent space ``Z`` (n × d), and the
    indices of the items it was interpolated from."""
    tree = tree or cKDTree(np.asarray(xy, np.float64))
    k = int(min(k, len(xy)))
    dist, idx = tree.query(np.asarray(point, np.float64), k=k)
    dist, idx = np.atleast_1d(dist), np.atleast_1d(idx)
    if dist[0] < 1e-12:  # on an item: its own vector
        return np.asarray(Z[idx[0]], np.float32), idx[:1]
    w = 1.0 / dist**2
    w /= w.sum()
    return (w[:, None] * np.asarray(Z[idx], np.float64)).sum(axis=0).astype(np.float32), idx
