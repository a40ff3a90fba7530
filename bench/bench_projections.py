"""Cold versus warm projection times, and numba's compile cache.

For N synthetic points (default 10,000 × 64, ten Gaussian blobs) in a fresh
data directory, each projection is computed once (cold: what LSC did on
every request for UMAP, and what a cache miss costs) and then read back
from the cache (warm: what every later request and every other worker
costs). The ratio cold / warm is printed per method; the issue's goal is a
warm read under 50 ms for 10k points.

With ``--numba``, UMAP's first call in a fresh process is timed twice:
with an empty numba cache (the 60–85 s compile every process paid) and with
the cache the first run left (what every later process pays).

    python bench/bench_projections.py [--n 10000] [--dim 64] [--numba]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _results import save  # noqa: E402
from _synthetic import write_synthetic  # noqa: E402
from dashboard.computed import get_layout  # noqa: E402

WARM_GOAL_S = 0.050


def make_dataset(data_dir: Path, n: int, dim: int):
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=6, size=(10, dim))
    labels = rng.integers(0, 10, n)
    X = (centres[labels] + rng.normal(size=(n, dim))).astype(np.float32)
    return write_synthetic(data_dir, X, blob=labels)


def time_methods(ds, space: str, methods: list[str], repeats: int = 20) -> list[dict]:
    rows = []
    for method in methods:
        start = time.perf_counter()
        lay = get_layout(ds, space, method)
        cold = time.perf_counter() - start
        assert not lay.from_cache
        warm_times = []
        for _ in range(repeats):
            start = time.perf_counter()
            again = get_layout(ds, space, method)
            warm_times.append(time.perf_counter() - start)
            assert again.from_cache
        warm = statistics.median(warm_times)
        rows.append({"method": method, "cold_s": round(cold, 3), "warm_s": round(warm, 4), "ratio": round(cold / warm, 1)})
    return rows


_UMAP_SNIPPET = """
import time, numpy as np
t = time.perf_counter()
from dashboard.compute.projections import umap
X = np.random.default_rng(0).normal(size=(2000, 32)).astype(np.float32)
umap(X)
print(time.perf_counter() - t)
"""


def time_numba_cache() -> dict:
    with tempfile.TemporaryDirectory() as cache_dir:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, PYTHONPATH=str(ROOT))
        runs = []
        for _ in range(2):
            out = subprocess.run([sys.executable, "-c", _UMAP_SNIPPET], env=env, capture_output=True, text=True, check=True)
            runs.append(float(out.stdout.strip().splitlines()[-1]))
    return {"first_process_s": round(runs[0], 1), "next_process_s": round(runs[1], 1), "ratio": round(runs[0] / runs[1], 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--methods", default="pca,umap,tsne")
    ap.add_argument("--numba", action="store_true", help="also time UMAP's first call with a cold and a warm numba cache")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as d:
        ds = make_dataset(Path(d), args.n, args.dim)
        rows = time_methods(ds, str(args.dim), args.methods.split(","))
    print(f"Projection of {args.n:,} × {args.dim} points: cold (computed) vs warm (cache read), same run")
    print(f"{'method':<8}{'cold s':>10}{'warm ms':>10}{'cold/warm':>12}")
    for r in rows:
        print(f"{r['method']:<8}{r['cold_s']:>10.2f}{r['warm_s'] * 1000:>10.1f}{r['ratio']:>11.0f}×")
    worst = max(r["warm_s"] for r in rows)
    verdict = "meets" if worst < WARM_GOAL_S else "MISSES"
    print(f"slowest warm read {worst * 1000:.1f} ms: {verdict} the {WARM_GOAL_S * 1000:.0f} ms goal")
    result = {"n": args.n, "dim": args.dim, "projections": rows}
    if args.numba:
        nb = time_numba_cache()
        result["numba"] = nb
        print(
            f"UMAP first call in a fresh process: {nb['first_process_s']} s with an empty numba cache, "
            f"{nb['next_process_s']} s once it is filled ({nb['ratio']}× faster)"
        )
    save("projections", result)
    return 0 if worst < WARM_GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
