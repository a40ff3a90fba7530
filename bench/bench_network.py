"""kNN network and export for N points (default 100,000 × 64): time, memory, recall.

Our path: approximate neighbours (pynndescent above 50k rows), an n·k edge
list, CSV (or GEXF/GraphML) for Gephi. Baseline, measured in the same run:
exact brute-force search for a sample of rows, scaled to all N rows (its cost
is linear in rows). The seed script instead built the full N × N distance
matrix; its size is printed for comparison (it cannot be measured here:
80 GB at 100k points). Recall = share of the exact k neighbours the
approximate graph found, on the sample.

    python bench/bench_network.py [--n 100000] [--dim 64] [--k 10] [--format csv]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _results import save  # noqa: E402
from _synthetic import write_synthetic  # noqa: E402
from dashboard.network import build_network, write_network  # noqa: E402

SAMPLE = 1000


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--format", default="csv", choices=["csv", "gexf", "graphml"])
    ap.add_argument("--communities", action="store_true", help="also time Louvain communities and centralities")
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    centres = rng.normal(scale=4, size=(50, args.dim))
    X = (centres[rng.integers(0, 50, args.n)] + rng.normal(size=(args.n, args.dim))).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        ds = write_synthetic(Path(d), X)
        rss_before = peak_rss_mb()
        start = time.perf_counter()
        net = build_network(ds, str(args.dim), projection="pca", n_neighbors=args.k)
        graph_s = time.perf_counter() - start
        communities_s = None
        if args.communities:  # neighbours are cached now: this times Louvain + centralities alone
            start = time.perf_counter()
            build_network(ds, str(args.dim), projection="pca", n_neighbors=args.k, communities=True)
            communities_s = time.perf_counter() - start
        start = time.perf_counter()
        out = Path(d) / f"network.{args.format}"
        files = write_network(net, out, args.format)
        export_s = time.perf_counter() - start
        size_mb = sum(f.stat().st_size for f in files) / 2**20
        peak = peak_rss_mb()

    sample = rng.choice(args.n, SAMPLE, replace=False)
    start = time.perf_counter()
    exact = []
    for chunk in np.array_split(sample, 10):
        D = (X[chunk] ** 2).sum(1)[:, None] - 2 * X[chunk] @ X.T + (X ** 2).sum(1)[None, :]
        D[np.arange(len(chunk)), chunk] = np.inf
        exact.append(np.argpartition(D, args.k, axis=1)[:, : args.k])
    exact = np.concatenate(exact)
    exact_sample_s = time.perf_counter() - start
    exact_all_s = exact_sample_s * args.n / SAMPLE
    found = net.edges.groupby("source")["target"].apply(set)
    recall = float(np.mean([len(found[s] & set(e)) / args.k for s, e in zip(sample, exact)]))

    nxn_gb = args.n**2 * 8 / 1e9
    print(f"kNN network of {args.n:,} × {args.dim} points, k = {args.k}: {len(net.edges):,} edges")
    print(f"  graph {graph_s:.1f} s, export ({args.format}, {size_mb:.0f} MB) {export_s:.1f} s; "
          f"peak memory {peak:.0f} MB (before: {rss_before:.0f} MB)")
    print(f"  exact search, measured on {SAMPLE:,} rows and scaled to all: {exact_all_s:.0f} s "
          f"→ our graph is {exact_all_s / graph_s:.1f}× faster; recall@{args.k} on the sample {recall:.3f}")
    print(f"  the seed script's N × N float64 matrix would need {nxn_gb:.0f} GB")
    if communities_s is not None:
        print(f"  Louvain communities, degree and eigenvector centrality (networkx): {communities_s:.1f} s")
    result = {"n": args.n, "dim": args.dim, "k": args.k, "edges": len(net.edges), "graph_s": round(graph_s, 2),
              "export_s": round(export_s, 2), "format": args.format, "output_mb": round(size_mb, 1),
              "peak_rss_mb": round(peak), "exact_all_s_estimated": round(exact_all_s, 1),
              "speedup": round(exact_all_s / graph_s, 2), "recall": round(recall, 4), "nxn_matrix_gb": round(nxn_gb),
              "communities_s": None if communities_s is None else round(communities_s, 1)}
    save("network", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
