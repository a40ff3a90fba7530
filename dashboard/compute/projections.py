"""2-D projections of a latent space: PCA, t-SNE (openTSNE) and UMAP."""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np

#: Progress callbacks receive a fraction in [0, 1].
Progress = Callable[[float], None] | None


#: Above this many rows × columns, PCA's axes come from a random sample of rows and every row is projected
#: in blocks: scikit-learn's PCA centres a copy of X (a million images' pixel features: 7 GB, twice).
PCA_FIT_MAX = 50_000_000


def pca(X: np.ndarray, *, n_components: int = 2, random_state: int = 42) -> np.ndarray:
    """Principal components of ``X`` (n × n_components, float32); a large ``X`` (a memory map, say) is fitted
    on a random sample of rows (``PCA_FIT_MAX`` values) and projected in blocks, so memory stays bounded."""
    from sklearn.decomposition import PCA

    k = min(n_components, X.shape[1], X.shape[0])
    est = PCA(n_components=k, random_state=random_state)
    if X.shape[0] * X.shape[1] > PCA_FIT_MAX:
        rows = max(PCA_FIT_MAX // X.shape[1], 10 * k)
        sample = np.sort(np.random.default_rng(random_state).choice(X.shape[0], min(rows, X.shape[0]), replace=False))
        block = max(1, PCA_FIT_MAX // (4 * X.shape[1]))
        starts = range(0, X.shape[0], block)
        # the sample gathered block by block: ``X`` may be read only by row ranges (store.Rows, from disk)
        picked = [np.asarray(X[a:a + block], np.float32)[sample[(sample >= a) & (sample < a + block)] - a]
                  for a in starts]
        est.fit(np.concatenate(picked))
        del picked
        out = np.concatenate([est.transform(np.asarray(X[a:a + block], np.float32)) for a in starts])
    else:
        out = est.fit_transform(np.asarray(X[0:len(X)]))
    if k < n_components:  # a 1-d space still gets a second (zero) axis
        out = np.pad(out, ((0, 0), (0, n_components - k)))
    return out.astype(np.float32)


def tsne(
    X: np.ndarray,
    *,
    perplexity: float = 30.0,
    metric: str = "euclidean",
    random_state: int = 42,
    n_iter: int = 750,
    progress: Progress = None,
) -> np.ndarray:
    """t-SNE with openTSNE's FFT gradients (3× faster than scikit-learn's here)."""
    from openTSNE import TSNE

    perplexity = float(min(perplexity, max(2.0, (X.shape[0] - 1) / 3)))
    callbacks = None
    if progress is not None:
        total = 250 + n_iter  # early exaggeration + optimisation

        done = [0]

        def callbacks(iteration, error, embedding):  # noqa: ARG001 - openTSNE's signature
            done[0] += 10
            progress(min(done[0] / total, 1.0))

    est = TSNE(
        perplexity=perplexity,
        metric=metric,
        n_iter=n_iter,
        random_state=random_state,
        n_jobs=-1,
        callbacks=callbacks,
        callbacks_every_iters=10,
        verbose=False,
    )
    return np.asarray(est.fit(np.asarray(X, dtype=np.float64)), dtype=np.float32)


_UMAP_MODULES = (
    "umap.umap_", "umap.layouts", "umap.distances", "umap.utils", "umap.sparse", "umap.spectral",
    "pynndescent.pynndescent_", "pynndescent.distances", "pynndescent.utils", "pynndescent.rp_trees",
    "pynndescent.sparse", "pynndescent.graph_utils", "pynndescent.search", "pynndescent.search_graph",
)


@functools.cache
def enable_numba_caching() -> int:
    """Make umap-learn's and pynndescent's jitted functions use numba's disk cache.

    Most of umap-learn's numba functions are compiled without ``cache=True``,
    so every new process paid the full 60–85 s compile. Turning the cache on
    for each dispatcher before its first call lets later processes load the
    machine code from NUMBA_CACHE_DIR. Returns how many were switched on.
    """
    import importlib
    import warnings

    from numba.core.errors import NumbaWarning
    from numba.core.registry import CPUDispatcher

    # A few functions use dynamic globals and cannot be cached; numba says so
    # when it compiles them. They run as before, so the warning is noise.
    warnings.filterwarnings("ignore", message=".*Cannot cache compiled function", category=NumbaWarning)

    count = 0
    for name in _UMAP_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for obj in vars(module).values():
            if isinstance(obj, CPUDispatcher):
                try:
                    obj.enable_caching()
                    count += 1
                except Exception:  # noqa: BLE001 - some functions (closures) cannot be cached; they still run
                    pass
    return count


def umap(
    X: np.ndarray,
    *,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    metric: str = "euclidean",
    y: np.ndarray | None = None,
    random_state: int = 42,
    progress: Progress = None,
) -> np.ndarray:
    """UMAP; supervised when ``y`` (integer labels, -1 = unknown) is given."""
    import warnings

    with warnings.catch_warnings():
        # umap warns that a fixed random_state disables parallelism: we want
        # reproducible layouts more than the second core.
        warnings.simplefilter("ignore", UserWarning)
        from umap import UMAP

        enable_numba_caching()
        n_neighbors = int(min(n_neighbors, X.shape[0] - 1))
        est = UMAP(
            n_neighbors=n_neighbors,
            min_dist=min_dist,
            metric=metric,
            random_state=random_state,
            tqdm_kwds={"disable": True},
        )
        if progress is not None:
            progress(0.05)
        out = est.fit_transform(X, y=y)
    if progress is not None:
        progress(1.0)
    return np.asarray(out, dtype=np.float32)


def normalize_layout(xy: np.ndarray, coverage: float = 99.0) -> np.ndarray:
    """Centre a layout and scale it so its bulk fills [-1, 1], keeping the aspect ratio.

    The box is set by the central ``coverage`` percent of the points on each
    axis, not by the extremes: UMAP often throws a few disconnected points
    far away, and scaling by those would shrink everything else to a dot.
    The outliers keep their places, beyond ±1. Every layout of a dataset
    then shares one frame, so the viewer can animate between them and keep
    its camera.
    """
    xy = np.asarray(xy, dtype=np.float32)
    if len(xy) == 0:
        return xy
    tail = (100.0 - coverage) / 2
    lo, hi = np.percentile(xy, [tail, 100.0 - tail], axis=0)
    centre = (lo + hi) / 2
    span = float((hi - lo).max()) / 2
    if span <= 0:  # all points (nearly) equal: fall back to the full extent
        span = float((xy.max(axis=0) - xy.min(axis=0)).max()) / 2 or 1.0
    return ((xy - centre) / span).astype(np.float32)
