"""Attribute vectors in a latent space, as Latent Space Cartography defines them.

A vector runs from the centroid of a start group to the centroid of an end
group. The vector view puts every item at x = its projection on the unit
vector and y = the first principal component of the data once that
direction is removed. Scores follow LSC: the consistency of the pairwise
difference vectors against a random-pair baseline, as Cohen's d.
"""

from __future__ import annotations

import numpy as np

#: Path steps from start (0) to end (1) centroid, plus LSC's overshoot.
PATH_STEPS = tuple(np.linspace(0.0, 1.0, 9)) + (1.5,)
#: Random item pairs of the consistency baseline (LSC: 2,000).
BASELINE_PAIRS = 2000
#: Difference vectors compared at most (their cosines grow with the square).
MAX_PAIRS = 2000


def centroid(X: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return np.asarray(X[np.asarray(idx)], dtype=np.float64).mean(axis=0)


def direction(X: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """centroid(end) − centroid(start)."""
    return centroid(X, end) - centroid(X, start)


def unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return float(np.dot(a, b) / (na * nb)) if na > 0 and nb > 0 else 0.0


def vector_view(X: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LSC's vector view: (n × 2 coordinates, the mean, the 2 × d projection U).

    x = (X − mean) · v̂; y = (X − mean) · pc1, where pc1 is the first
    principal component of the data with the v̂ component removed. PCA on the
    d × d covariance (scikit-learn's covariance_eigh solver) keeps 100k × 128
    well under a second.
    """
    from sklearn.decomposition import PCA

    X = np.asarray(X, dtype=np.float32)
    mean = X.mean(axis=0, dtype=np.float64)
    vhat = unit(np.asarray(v, dtype=np.float64)).astype(np.float32)
    Xc = X - mean.astype(np.float32)
    x = Xc @ vhat
    residual = Xc - np.outer(x, vhat)
    if X.shape[1] > 1:
        pc1 = PCA(n_components=1, svd_solver="covariance_eigh").fit(residual).components_[0].astype(np.float32)
    else:
        pc1 = np.zeros(1, np.float32)
    U = np.stack([vhat, pc1])
    return np.stack([x, residual @ pc1], axis=1).astype(np.float32), mean, U


def classifier_direction(X: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The normal of a logistic regression separating the start group from the end group (pointing to end)."""
    from sklearn.linear_model import LogisticRegression

    idx = np.concatenate([start, end])
    y = np.r_[np.zeros(len(start)), np.ones(len(end))]
    clf = LogisticRegression(max_iter=2000).fit(np.asarray(X[idx], dtype=np.float64), y)
    return clf.coef_[0]


def path(a: np.ndarray, b: np.ndarray, steps=PATH_STEPS) -> np.ndarray:
    """Points (1 − k)·a + k·b for each step k (len(steps) × d)."""
    k = np.asarray(steps, dtype=np.float64)[:, None]
    return (1 - k) * a[None, :] + k * b[None, :]


def distances(X: np.ndarray, q: np.ndarray, metric: str = "euclidean") -> np.ndarray:
    """Distances of every row of X to the point q (true cosine distances for cosine)."""
    X = np.asarray(X, dtype=np.float32)
    q = np.asarray(q, dtype=np.float32)
    if metric == "cosine":
        norms = np.linalg.norm(X, axis=1) * (np.linalg.norm(q) or 1.0)
        return 1.0 - (X @ q) / np.where(norms == 0, 1.0, norms)
    return np.sqrt(np.maximum(((X - q) ** 2).sum(axis=1), 0))


def nearest(X: np.ndarray, q: np.ndarray, k: int = 20, metric: str = "euclidean",
            exclude: tuple[int, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows nearest to the point ``q`` (LSC queried cosine with an unnormalised vector; this is true cosine)."""
    d = distances(X, q, metric)
    if exclude:
        d[list(exclude)] = np.inf
    k = min(k, len(d))
    idx = np.argpartition(d, k - 1)[:k] if k < len(d) else np.arange(len(d))
    idx = idx[np.argsort(d[idx], kind="stable")]
    return idx, d[idx]


def default_radius(X: np.ndarray, metric: str = "euclidean", *, sample: int = 300, k: int = 10, seed: int = 0) -> float:
    """A radius that holds about ``k`` items around a typical item: the median distance to its k-th neighbour.

    LSC hard-coded 3.0 (L2), which only suits one scale of latent space.
    """
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(X), min(sample, len(X)), replace=False)
    kth = [np.partition(distances(X, X[i], metric), min(k, len(X) - 1))[min(k, len(X) - 1)] for i in rows]
    return float(np.median(kth))


def path_support(X: np.ndarray, locations: np.ndarray, radius: float, metric: str = "euclidean"):
    """For each location: how many items lie within ``radius``, the nearest item and its distance."""
    counts, near, near_d = [], [], []
    for q in locations:
        d = distances(X, q, metric)
        counts.append(int((d <= radius).sum()))
        j = int(np.argmin(d))
        near.append(j)
        near_d.append(float(d[j]))
    return np.array(counts), np.array(near), np.array(near_d)


def place(X: np.ndarray, xy: np.ndarray, locations: np.ndarray, *, linear: bool, metric: str = "euclidean",
          k: int = 5) -> np.ndarray:
    """Positions on a 2-D layout for new latent points.

    ``linear`` layouts (PCA, the vector view) are affine maps of the latent
    space: the map is recovered by least squares and applied exactly. Others
    (t-SNE, UMAP; their fitted models are not kept) place a point at the
    inverse-distance-weighted mean of its ``k`` nearest items, as LSC did for t-SNE.
    """
    locations = np.atleast_2d(locations)
    if linear:
        rows = np.random.default_rng(0).choice(len(X), min(len(X), 5000), replace=False)
        A = np.c_[np.asarray(X[rows], np.float64), np.ones(len(rows))]
        W, *_ = np.linalg.lstsq(A, np.asarray(xy[rows], np.float64), rcond=None)
        return (np.c_[locations, np.ones(len(locations))] @ W).astype(np.float32)
    out = []
    for q in locations:
        idx, d = nearest(X, q, k, metric)
        w = 1.0 / np.maximum(d, 1e-9)
        out.append((xy[idx] * w[:, None]).sum(axis=0) / w.sum())
    return np.asarray(out, np.float32)


def random_pairs(n: int, count: int = BASELINE_PAIRS, seed: int = 0) -> np.ndarray:
    """``count`` pairs of distinct items, the same for every latent space of a dataset."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, count)
    b = (a + rng.integers(1, max(n, 2), count)) % n  # never equal to a
    return np.stack([a, b], axis=1)


def _pairwise_cosines(D: np.ndarray) -> np.ndarray:
    """Cosines among the rows of D (strict lower triangle)."""
    norms = np.linalg.norm(D, axis=1)
    D = D[norms > 0] / norms[norms > 0, None]
    C = D @ D.T
    return C[np.tril_indices(len(D), k=-1)]


def difference_pairs(start: np.ndarray, end: np.ndarray, *, max_pairs: int = MAX_PAIRS, seed: int = 0) -> np.ndarray:
    """(start item, end item) pairs whose differences the score compares.

    Equal-sized groups pair up by order (curated pairs such as man/woman,
    king/queen); otherwise all cross pairs, sampled down to ``max_pairs``.
    """
    if len(start) == len(end):
        pairs = np.stack([start, end], axis=1)
    else:
        pairs = np.stack(np.meshgrid(start, end, indexing="ij"), axis=-1).reshape(-1, 2)
    if len(pairs) > max_pairs:
        pairs = pairs[np.random.default_rng(seed).choice(len(pairs), max_pairs, replace=False)]
    return pairs


def consistency(X: np.ndarray, start: np.ndarray, end: np.ndarray, baseline: np.ndarray) -> dict:
    """LSC's vector score: Cohen's d between the cosines among the group pairs' difference
    vectors and the cosines among random pairs' difference vectors, with both histograms."""
    X = np.asarray(X, dtype=np.float64)
    pairs = difference_pairs(np.asarray(start), np.asarray(end))
    cs = _pairwise_cosines(X[pairs[:, 1]] - X[pairs[:, 0]])
    cr = _pairwise_cosines(X[baseline[:, 1]] - X[baseline[:, 0]])
    if len(cs) == 0:
        return {"d": None, "pairs": len(pairs), "mean": None, "baseline_mean": float(cr.mean()),
                "hist": None, "baseline_hist": None, "edges": None}
    pooled = np.sqrt(((len(cs) - 1) * cs.var(ddof=1 if len(cs) > 1 else 0) + (len(cr) - 1) * cr.var(ddof=1))
                     / max(len(cs) + len(cr) - 2, 1))
    edges = np.linspace(-1, 1, 41)
    return {
        "d": float((cs.mean() - cr.mean()) / pooled) if pooled > 0 else None,
        "pairs": int(len(pairs)),
        "mean": float(cs.mean()),
        "baseline_mean": float(cr.mean()),
        "hist": (np.histogram(cs, edges)[0] / len(cs)).round(4).tolist(),
        "baseline_hist": (np.histogram(cr, edges)[0] / len(cr)).round(4).tolist(),
        "edges": edges.round(3).tolist(),
    }


def tightness(X: np.ndarray, idx: np.ndarray, *, sample: int = 1000, seed: int = 0) -> float | None:
    """LSC's cluster score (b − a) / max(a, b): a = mean distance within the group,
    b = mean distance from members to non-members (both on samples of ``sample``)."""
    X = np.asarray(X, dtype=np.float32)
    idx = np.asarray(idx)
    rest = np.setdiff1d(np.arange(len(X)), idx)
    if len(idx) < 2 or len(rest) == 0:
        return None
    rng = np.random.default_rng(seed)
    inside = idx if len(idx) <= sample else rng.choice(idx, sample, replace=False)
    outside = rest if len(rest) <= sample else rng.choice(rest, sample, replace=False)

    def mean_dist(A, B):
        D = (A ** 2).sum(1)[:, None] - 2 * A @ B.T + (B ** 2).sum(1)[None, :]
        return np.sqrt(np.maximum(D, 0))

    within = mean_dist(X[inside], X[inside])
    a = within[np.triu_indices(len(inside), k=1)].mean()
    b = mean_dist(X[inside], X[outside]).mean()
    return float((b - a) / max(a, b)) if max(a, b) > 0 else None
