"""How far to trust a layout, and how neighbourhoods change between latent spaces.

Per item: the share of its k latent neighbours that are also among its k
nearest on the layout (*trust*), and the Jaccard overlap of its k-NN sets in
two latent spaces. For a whole layout: trustworthiness and continuity as
scikit-learn defines them (``sklearn.manifold.trustworthiness``; continuity
is the same measure with the two spaces' roles swapped), exact up to
``EXACT_MAX`` items and estimated on a random sample of ``SAMPLE`` items above.
"""

from __future__ import annotations

import functools

import numpy as np

from .neighbors import knn

#: Trustworthiness and continuity are exact up to this many items…
EXACT_MAX = 20_000
#: …and estimated on this many random items above (each still ranked against all items).
SAMPLE = 2_000
#: Distance-matrix cells held at once (float32): ~16 MB per array.
CHUNK_CELLS = 4_000_000


def shared_counts(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """How many entries each row of ``a`` shares with the same row of ``b`` (rows hold distinct indices)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape[1] == 0 or b.shape[1] == 0:
        return np.zeros(len(a), np.int64)
    # Sorting the two lists side by side puts each shared index next to its twin.
    both = np.sort(np.concatenate([a, b], axis=1), axis=1)
    return (both[:, 1:] == both[:, :-1]).sum(axis=1)


def neighbor_trust(latent_nn: np.ndarray, layout_nn: np.ndarray) -> np.ndarray:
    """Each item's share (0–1, float32) of its k latent neighbours that are also among its k nearest on the layout."""
    k = latent_nn.shape[1]
    if k == 0:
        return np.ones(len(latent_nn), np.float32)
    return (shared_counts(latent_nn, layout_nn[:, :k]) / k).astype(np.float32)


def jaccard(a_nn: np.ndarray, b_nn: np.ndarray) -> np.ndarray:
    """Each item's Jaccard overlap (0–1, float32) between its neighbour sets in two spaces."""
    shared = shared_counts(a_nn, b_nn)
    union = a_nn.shape[1] + b_nn.shape[1] - shared
    return np.where(union > 0, shared / np.maximum(union, 1), 1.0).astype(np.float32)


def layout_neighbors(xy: np.ndarray, k: int) -> np.ndarray:
    """The k nearest other items of each item on a 2-D layout (exact: a KD-tree is fast in 2-D at any size)."""
    return knn(np.asarray(xy, np.float32), k=k, metric="euclidean", exact_max=len(xy))[0]


def _distances(A: np.ndarray, B: np.ndarray, b_sq: np.ndarray | None, metric: str) -> np.ndarray:
    """Distances from each row of A to each row of B (squared for euclidean: ranks are all we need).

    In place where possible: at 20k items the temporaries, not the product, were the cost.
    """
    d = A @ B.T
    if metric == "cosine":  # rows already unit length
        np.subtract(1.0, d, out=d)
        return d
    d *= -2.0
    d += (A * A).sum(1)[:, None]
    d += b_sq[None, :]
    return d


def _penalty(d: np.ndarray, others: np.ndarray, k: int) -> float:
    """Σ max(rank − k, 0) over each row's ``others``, ranks taken in ``d`` (1 = nearest; the row's own
    cell is inf). scikit-learn's trustworthiness sums exactly this."""
    rows = np.arange(len(d))[:, None]
    thresholds = np.sort(d[rows, others], axis=1)
    return float(_rank_kernel()(d, thresholds, k))


@functools.cache
def _rank_kernel():
    # numba, because counting the items closer than each threshold in numpy means a c × n × k
    # comparison (or gathering a row per threshold): ~20× slower at 20k items. One pass per row
    # here, and most items are farther than every threshold, which costs one comparison.
    from numba import njit

    @njit(cache=True, nogil=True)
    def penalty(d, thresholds, k):
        total = 0
        m = thresholds.shape[1]
        closer = np.zeros(m, np.int64)
        for i in range(d.shape[0]):
            t = thresholds[i]
            closer[:] = 0
            top = t[m - 1]
            for x in d[i]:
                if x < top:
                    j = m - 1
                    while j >= 0 and t[j] > x:
                        closer[j] += 1
                        j -= 1
            for j in range(m):
                if closer[j] + 1 > k:
                    total += closer[j] + 1 - k
        return total

    return penalty


def trustworthiness_continuity(
    X: np.ndarray,
    Y: np.ndarray,
    *,
    k: int = 10,
    metric: str = "euclidean",
    exact_max: int = EXACT_MAX,
    sample: int = SAMPLE,
    seed: int = 0,
) -> dict:
    """Trustworthiness and continuity of layout ``Y`` (n × 2) of latent points ``X``.

    Trustworthiness penalises layout neighbours that are far in the latent
    space (false neighbours), continuity latent neighbours that are far on the
    layout (torn neighbourhoods); both are 1 for a perfect layout. Above
    ``exact_max`` items the sums run over ``sample`` random items (each ranked
    against all items) and are scaled up: ``sampled`` says how many.
    """
    # float32 halves the cost; squared distances of small integers (digits' pixels) stay exact
    X = np.asarray(X, np.float32)
    Y = np.asarray(Y, np.float32)
    n = len(X)
    if not 1 <= k < n / 2:
        raise ValueError(f"k must be from 1 to below half the items ({n / 2:g}), got {k}")
    if metric == "cosine":
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        X = X / np.where(norms == 0, 1.0, norms)
    x_sq, y_sq = (X * X).sum(1), (Y * Y).sum(1)
    if n <= exact_max:
        rows, sampled = np.arange(n), None
    else:
        rows = np.sort(np.random.default_rng(seed).choice(n, min(sample, n), replace=False))
        sampled = len(rows)
    trust_sum = cont_sum = 0.0
    step = max(1, CHUNK_CELLS // n)
    for start in range(0, len(rows), step):
        chunk = rows[start : start + step]
        own = (np.arange(len(chunk)), chunk)
        dX = _distances(X[chunk], X, x_sq, metric)
        dY = _distances(Y[chunk], Y, y_sq, "euclidean")
        dX[own] = np.inf
        dY[own] = np.inf
        nX = np.argpartition(dX, k - 1, axis=1)[:, :k]
        nY = np.argpartition(dY, k - 1, axis=1)[:, :k]
        trust_sum += _penalty(dX, nY, k)  # layout neighbours ranked in the latent space
        cont_sum += _penalty(dY, nX, k)  # latent neighbours ranked on the layout
    scale = 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)) * (n / len(rows))
    return {"trustworthiness": 1.0 - trust_sum * scale, "continuity": 1.0 - cont_sum * scale,
            "k": int(k), "n": int(n), "sampled": sampled}
