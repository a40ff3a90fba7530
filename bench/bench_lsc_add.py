"""`add` of a synthetic LSC folder at millions of rows: wall time and peak memory of the whole command.

The folder (``fixtures.lsc_folder``: latent8 and latent32 float32 blobs, meta.csv with i, name, category,
value) is written once per size under ``--folder-root``; each size is then imported into a fresh data
directory by ``python -m dashboard add`` in a child process, whose peak resident memory is the
kernel's (``ru_maxrss`` from ``wait4``: the process and any children it waited for). The baseline, in
the same run: a child that only reads the folder whole (pandas' CSV reader, each latent array whole);
the ratio is add's peak over the baseline's.

    python bench/bench_lsc_add.py [--sizes 1000000,10000000] [--folder-root /tmp]

(``--folder-root`` keeps the generated folders for the next run: 10M rows are 1.9 GB.)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _results import save  # noqa: E402


def _child(args: list[str]) -> dict:
    """Run a child process to its end; its wall time and its own peak RSS (MB, from wait4)."""
    t = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{args[2:5]} failed with exit code {proc.returncode}")
    return {"wall_s": round(time.perf_counter() - t, 1), "peak_mb": round(usage.ru_maxrss / 1024)}


def add(folder: Path, data_dir: Path) -> dict:
    """``python -m dashboard add`` (the import and the first view's layout, colours and tiles)."""
    return _child([sys.executable, "-m", "dashboard", "--data-dir", str(data_dir), "add", str(folder)])


#: The baseline: only reading the folder whole, as an importer that holds it does (pandas' CSV reader, as
#: LSC's own server and our import before it read meta.csv, and every latent array whole), nothing written.
WHOLE_READ = """
import sys
from pathlib import Path
import h5py, pandas as pd
folder = Path(sys.argv[1])
meta = pd.read_csv(folder / "meta.csv", dtype=str, keep_default_na=False)
latents = [h5py.File(f, "r")["latent"][()] for f in sorted((folder / "latent").glob("latent*.h5"))]
"""


def whole_read(folder: Path) -> dict:
    return _child([sys.executable, "-c", WHOLE_READ, str(folder)])


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
            ours = add(folder, Path(tmp))
        base = whole_read(folder)
        row = {"n": n, "folder_s": round(made, 1), **ours, "whole_read_s": base["wall_s"],
               "whole_read_peak_mb": base["peak_mb"], "peak_ratio": round(ours["peak_mb"] / base["peak_mb"], 2)}
        print(f"{n:,} rows: add {ours['wall_s']} s, peak {ours['peak_mb']:,} MB; reading the folder whole "
              f"(the baseline) {base['wall_s']} s, peak {base['peak_mb']:,} MB: add's peak is "
              f"{row['peak_ratio']}× the baseline's", flush=True)
        results.append(row)
    save("lsc_add", {"sizes": results})


if __name__ == "__main__":
    main()
