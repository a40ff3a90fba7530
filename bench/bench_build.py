"""Build times of the recipes, each against a baseline measured in the same run.

- digits: the whole build (store writes, images, thumbnails, PCA spaces,
  manifest) against the bare computation it wraps (load_digits + the same
  PCAs, nothing written). The ratio is the store's overhead.
- emoji: the time until the first map can open (images + the PCA space,
  ``--quick``) against the full build with VAEs. The ratio is how much
  sooner a user sees a map than they would if every VAE had to finish.
  Default: a subset (``--limit 300``, 2 dims, 3 epochs) so it runs in
  minutes; ``--full`` runs the default recipe (all emoji, 6 dims, 25 epochs).

    python bench/bench_build.py [--full] [--npm-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _results import save  # noqa: E402
from dashboard.ingest import digits, emoji  # noqa: E402


def bench_digits() -> dict:
    from sklearn.datasets import load_digits

    from dashboard.compute.projections import pca

    start = time.perf_counter()
    X = load_digits().data
    for d in digits.PCA_DIMS:
        pca(X, n_components=d)
    bare = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as d:
        start = time.perf_counter()
        digits.build(Path(d), layouts=())
        built = time.perf_counter() - start
    return {"build_s": round(built, 2), "bare_compute_s": round(bare, 2), "ratio": round(built / bare, 1)}


def bench_emoji(full: bool, npm_dir: Path | None) -> dict:
    kw = {} if full else {"limit": 300, "dims": (4, 8), "epochs": 3}
    with tempfile.TemporaryDirectory() as d:
        npm = npm_dir or Path(d) / "npm"
        for pkg in ("emoji-datasource", "emoji-datasource-google", "emoji-datasource-twitter"):
            emoji.fetch_package(pkg, npm)  # downloads are not part of the timing
        start = time.perf_counter()
        quick = emoji.build(Path(d), download_dir=npm, quick=True, **kw)
        first_map = time.perf_counter() - start
        ds = emoji.build(Path(d), download_dir=npm, **kw)
        total = time.perf_counter() - start
    return {
        "items": ds.n,
        "dims": list(ds.spaces),
        "first_map_s": round(first_map, 1),
        "full_build_s": round(total, 1),
        "ratio": round(total / first_map, 1),
        "full": full,
        "quick_spaces": list(quick.spaces),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="the default emoji recipe (tens of minutes on 2 cores)")
    ap.add_argument("--npm-dir", type=Path, help="folder holding (or to hold) the emoji-datasource tarballs")
    ap.add_argument("--skip-emoji", action="store_true")
    args = ap.parse_args()

    result = {"digits": bench_digits()}
    r = result["digits"]
    print(f"digits: built in {r['build_s']:.2f} s; bare computation {r['bare_compute_s']:.2f} s; "
          f"store overhead {r['ratio']}× the computation")
    if not args.skip_emoji:
        result["emoji"] = e = bench_emoji(args.full, args.npm_dir)
        scope = "default recipe" if e["full"] else "subset: 300 emoji × 2 platforms, dims 4,8, 3 epochs"
        print(f"emoji ({scope}): {e['items']:,} items; first map after {e['first_map_s']} s, "
              f"all {len(e['dims'])} spaces after {e['full_build_s']} s: the map opens {e['ratio']}× sooner")
    save("build", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
