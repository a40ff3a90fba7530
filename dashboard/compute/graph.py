"""k-nearest-neighbour graphs as edge lists (memory grows with n·k, never n²)."""

from __future__ import annotations

import numpy as np


def knn_edges(idx: np.ndarray, dist: np.ndarray, *, mutual: bool = False) -> dict[str, np.ndarray]:
    """Directed edges source → each of its k neighbours.

    ``rank`` is 1 for the closest neighbour; ``weight`` = 1 / (1 + distance),
    so it decreases with distance and stays finite for duplicates (a plain
    1 / distance would be infinite and wreck force-directed layouts).
    With ``mutual`` only edges whose reverse is also a kNN edge are kept.
    """
    n, k = idx.shape
    source = np.repeat(np.arange(n, dtype=np.int64), k)
    target = idx.reshape(-1).astype(np.int64)
    distance = dist.reshape(-1).astype(np.float64)
    rank = np.tile(np.arange(1, k + 1, dtype=np.int64), n)
    if mutual:
        forward = source * n + target
        keep = np.isin(target * n + source, forward)
        source, target, distance, rank = source[keep], target[keep], distance[keep], rank[keep]
    return {
        "source": source,
        "target": target,
        "distance": distance,
        "rank": rank,
        "weight": 1.0 / (1.0 + distance),
    }
