"""The vector view and vector scores for N points × D dims (default 100,000 × 128).

Ours: x = projection on the unit vector, y = PC1 of the residual through
scikit-learn's covariance_eigh PCA (a D × D eigenproblem). Baseline, in the
same run: LSC's code path, PCA(n_components=2) with scikit-learn's default
solver on the same residual. Then the cached wrappers the server calls: the
first request computes, later ones read the cache. Goal: the vector view
under 1 s on the server.

    python bench/bench_vectors.py [--n 100000] [--dim 128]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _results import save  # noqa: E402
from _synthetic import write_synthetic  # noqa: E402
from dashboard.compute import vectors as V  # noqa: E402
from dashboard.computed import get_vector_layout, get_vector_scores  # noqa: E402


def timed(f, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - start)
    return best, out


def lsc_vector_view(X: np.ndarray, v: np.ndarray) -> np.ndarray:
    """LSC's _project_axis: centre, remove the axis, PCA(2) with the default solver, take PC1."""
    from sklearn.decomposition import PCA

    vhat = v / np.linalg.norm(v)
    Xc = X - X.mean(axis=0)
    x = Xc @ vhat
    residual = Xc - np.outer(x, vhat)
    pc1 = PCA(n_components=2).fit(residual).components_[0]
    return np.stack([x, residual @ pc1], axis=1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=128)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.n, args.dim)).astype(np.float32)
    start_idx, end_idx = np.arange(0, 500), np.arange(500, 1000)
    X[end_idx] += 2.0 * rng.normal(size=args.dim).astype(np.float32)  # a real direction between the groups
    v = V.direction(X, start_idx, end_idx)

    ours_s, (xy, _, _) = timed(lambda: V.vector_view(X, v))
    lsc_s, lsc_xy = timed(lambda: lsc_vector_view(X, v), repeat=1)
    same = np.allclose(np.abs(np.corrcoef(xy[:, 1], lsc_xy[:, 1])[0, 1]), 1.0, atol=1e-3)

    with tempfile.TemporaryDirectory() as d:
        ds = write_synthetic(Path(d), X)
        ds.latent(str(args.dim))  # read once, as a running server has it
        start = time.perf_counter()
        get_vector_layout(ds, str(args.dim), start_idx, end_idx)
        layout_cold = time.perf_counter() - start
        layout_warm, _ = timed(lambda: get_vector_layout(ds, str(args.dim), start_idx, end_idx))
        start = time.perf_counter()
        scores = get_vector_scores(ds, str(args.dim), start_idx, end_idx)
        scores_cold = time.perf_counter() - start
        scores_warm, _ = timed(lambda: get_vector_scores(ds, str(args.dim), start_idx, end_idx))

    print(f"vector view of {args.n:,} × {args.dim}:")
    print(f"  ours (covariance eigh) {ours_s * 1000:.0f} ms vs LSC's PCA(2) {lsc_s * 1000:.0f} ms "
          f"→ {lsc_s / ours_s:.1f}× faster; same y axis: {same}")
    print(f"  server path (cached wrapper, normalised): first {layout_cold * 1000:.0f} ms, then {layout_warm * 1000:.0f} ms "
          f"(goal < 1000 ms: {'met' if layout_cold < 1 else 'NOT met'})")
    print(f"  scores (Cohen's d {scores['d']:.2f} over {scores['pairs']:,} pairs, classifier cosine "
          f"{scores['classifier_cosine']:.2f}): first {scores_cold * 1000:.0f} ms, cached {scores_warm * 1000:.1f} ms")
    save("vectors", {"n": args.n, "dim": args.dim, "ours_ms": round(ours_s * 1000, 1), "lsc_ms": round(lsc_s * 1000, 1),
                     "speedup": round(lsc_s / ours_s, 2), "same_axis": bool(same),
                     "layout_first_ms": round(layout_cold * 1000, 1), "layout_cached_ms": round(layout_warm * 1000, 1),
                     "scores_first_ms": round(scores_cold * 1000, 1), "scores_cached_ms": round(scores_warm * 1000, 2)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
