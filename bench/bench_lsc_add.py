"""`add` of a synthetic LSC folder at millions of rows: wall time and peak memory of the whole command.

The folder (``fixtures.lsc_folder``: latent8 and latent32 float32 blobs, meta.csv with i, name, category,
value) is written once per size under ``--folder-root``; each size is then imported into a fresh data
directory by ``python -m dashboard add`` in a child process, whose peak resident memory is the
kernel's (``ru_maxrss`` of the waited child: the process and any children it waited for).

    python bench/bench_lsc_add.py [--sizes 1000000,10000000] [--folder-root /tmp]

(``--folder-root`` keeps the generated folders for the next run: 10M rows are 1.9 GB.)
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _results import save  # noqa: E402


def add(folder: Path, data_dir: Path) -> dict:
    """Run ``add`` in a child process; its wall time and peak RSS (MB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dashboard", "--data-dir", str(data_dir), "add", str(folder)],
                   check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of the children is the largest of any so far: a smaller later run does not show
    return {"wall_s": round(wall, 1), "peak_mb": round(peak / 1024) if peak > before else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--folder-root", type=Path, help="keep the folders here (default: a temporary folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        run(sorted(int(s) for s in args.sizes.split(",")), args.folder_root or Path(scratch))


def run(sizes: list[int], root: Path) -> None:
    from dashboard import fixtures

    results = []
    for n in sizes:  # ascending, so each peak is its own
        folder = root / f"lsc_bench_{n}"
        t = time.perf_counter()
        fixtures.lsc_folder(folder, n)
        made = time.perf_counter() - t
        with tempfile.TemporaryDirectory() as tmp:
            row = {"n": n, "folder_s": round(made, 1), **add(folder, Path(tmp))}
        print(row, flush=True)
        results.append(row)
    save("lsc_add", {"sizes": results})


if __name__ == "__main__":
    main()
