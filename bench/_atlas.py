"""The peer: Embedding Atlas 0.22.0, installed in its own venv and timed in Chromium.

0.22.0 is the last release that draws with WebGL2; later ones need WebGPU with
``shader-f16`` and draw nothing in software GL. It lives in its own virtual
environment because its dependencies (sentence-transformers, torch, duckdb, ...)
must not leak into the project's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

try:  # imported as bench._atlas or run as a script from bench/
    from . import _drawn, _serve
    from ._results import RESULTS
except ImportError:
    import _drawn
    import _serve
    from _results import RESULTS

VERSION = "0.22.0"
TORCH = "torch==2.13.0"
DEFAULT_VENV = Path(__file__).resolve().parent / ".atlas-venv"


def _installed(py: Path) -> bool:
    if not py.exists():
        return False
    r = subprocess.run([str(py), "-c", "import importlib.metadata as m; print(m.version('embedding-atlas'))"],
                       capture_output=True, text=True)
    return r.returncode == 0 and r.stdout.strip() == VERSION


def ensure_venv(path: Path = DEFAULT_VENV) -> Path:
    """Return the python of a venv at ``path`` holding embedding-atlas 0.22.0, making it if needed.

    torch is installed first, pinned, so that pip takes the local CPU wheel;
    otherwise sentence-transformers pulls torch with gigabytes of CUDA packages.
    """
    path = Path(path)
    py = path / "bin" / "python"
    if _installed(py):
        return py
    t0 = time.perf_counter()
    steps = [
        ([sys.executable, "-m", "venv", str(path)], f"creating venv {path}"),
        ([str(py), "-m", "pip", "install", "-q", TORCH], f"installing {TORCH} (CPU wheel) first"),
        ([str(py), "-m", "pip", "install", "-q", f"embedding-atlas=={VERSION}"], f"installing embedding-atlas=={VERSION}"),
    ]
    for cmd, what in steps:
        print(f"[atlas] {what} ...", flush=True)
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            lines = (r.stderr + r.stdout).strip().splitlines()
            errors = [ln for ln in lines if ln.startswith("ERROR")]  # pip's own warnings come last too
            why = errors[0] if errors else (lines or [f"exit {r.returncode}"])[-1]
            raise SystemExit(f"embedding-atlas venv: {what} failed: {why}")
    if not _installed(py):
        raise SystemExit(f"embedding-atlas venv: {path} still lacks embedding-atlas {VERSION} after install")
    print(f"[atlas] venv ready in {time.perf_counter() - t0:.0f} s", flush=True)
    return py


def write_parquet(path: Path, x, y, names, category, value) -> Path:
    """The points as Atlas reads them: precomputed ``x``/``y`` (so neither side projects),
    a text column ``name``, a categorical ``category`` and a numeric ``value``.

    ``category`` is stored as plain strings, not a pandas Categorical: Atlas reads
    the file with pandas, a dictionary column comes back Categorical, DuckDB sees
    that as ENUM, and Atlas 0.22 leaves ENUM columns out of its colour menu and
    charts; a low-cardinality VARCHAR is what it treats as categorical.
    """
    import pandas as pd

    df = pd.DataFrame({"x": np.asarray(x, dtype=np.float32), "y": np.asarray(y, dtype=np.float32),
                       "name": pd.Series(names, dtype=str), "category": pd.Series(category, dtype=str),
                       "value": np.asarray(value, dtype=np.float64)})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)
    return path


def serve(venv_python: Path, parquet: Path, port: int, log: Path, timeout_s: float = 300):
    """Run ``embedding-atlas`` on ``parquet`` at 127.0.0.1:``port``; yield its URL; stop it by PID.

    ``--x/--y`` given means no embedding or projection is computed (see its cli:
    projection runs only when x or y is missing); ``--text`` only labels points.
    ``--no-auto-port`` makes a taken port an error instead of a silent move to
    another port. The offline variables keep any hub look-up from waiting on a
    network that is not there.
    """
    exe = Path(venv_python).parent / "embedding-atlas"
    cmd = [str(exe), str(parquet), "--x", "x", "--y", "y", "--text", "name",
           "--host", "127.0.0.1", "--port", str(port), "--no-auto-port"]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
    return _serve.serve(cmd, port, log, env=env, timeout_s=timeout_s, what="embedding-atlas")


# The element that holds Atlas's map: the sized div around its one WebGL canvas,
# with the SVG labels and the status line ("N points") drawn over it.
MAP = "div:has(> canvas)"
# Atlas's own colour menu on the map; options read "<column> (<SQL type>)".
COLOR_SELECT = "label:has-text('Color') select"
COLOR_OPTION = "category (VARCHAR)"
# A bar of the category chart in the side panel: clicking it keeps only that category.
CATEGORY_BAR = 'button[title="{}"]'


def _timed(page, action, prev: bytes, **kw) -> dict:
    """Run ``action`` (a UI control) and time it until the map settles on a new picture."""
    mark = _drawn.now_ms(page)
    t = time.perf_counter()
    action()
    r = _drawn.wait_drawn(page, MAP, t, changed_from=prev, **kw)
    r["longtask_ms"], r["longtasks"] = _drawn.longtasks(page, mark)
    return r


def measure(browser, url: str, n: int, *, category: str = "c0", out: Path | None = None,
            settle_s: float = 3.0, timeout_s: float = 600) -> dict:
    """Time Atlas at ``url`` in a fresh 1280x900 page: first draw, colour by category, a filter.

    Every time is seconds from the moment the navigation or the control began
    until the map's final picture (``_drawn.wait_drawn``). Long tasks: from the
    map's first frame (first non-blank screenshot) on, for the first draw; from
    the moment the control was used, for the interactions. The final screenshots
    are saved as ``atlas_<n>_{load,colour,filter}.png`` under ``out``.
    """
    out = Path(out) if out else RESULTS
    out.mkdir(parents=True, exist_ok=True)
    kw = {"settle_s": settle_s, "timeout_s": timeout_s}
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _drawn.install(page)
    try:
        t0 = time.perf_counter()
        page.goto(url, wait_until="commit")  # start polling at once, not after 'load'
        load = _drawn.wait_drawn(page, MAP, t0, **kw)
        load["longtask_ms"], load["longtasks"] = _drawn.longtasks(page, load["first_ms"])
        load["longtask_all_ms"], _ = _drawn.longtasks(page)

        colour = _timed(page, lambda: page.locator(COLOR_SELECT).select_option(label=COLOR_OPTION),
                        load["png"], **kw)
        filt = _timed(page, lambda: page.locator(CATEGORY_BAR.format(category)).first.click(),
                      colour["png"], **kw)
        # the map's status line ends "N points": how many the filter left
        shown = re.findall(r"([\d,]+) points", page.locator(MAP).inner_text())
    finally:
        context.close()
    res = {"n": n}
    for name, r in (("load", load), ("colour", colour), ("filter", filt)):
        (out / f"atlas_{n}_{name}.png").write_bytes(r["png"])
        res[f"{name}_s"] = round(r["drawn_s"], 3)
        res[f"{name}_longtask_ms"] = round(r["longtask_ms"], 1)
        res[f"{name}_longtasks"] = r["longtasks"]
        res[f"{name}_shots"] = r["shots"]
    res["load_first_frame_s"] = round(load["first_s"], 3)
    res["load_longtask_all_ms"] = round(load["longtask_all_ms"], 1)
    res["filter_points"] = int(shown[-1].replace(",", "")) if shown else None
    return res


def main(argv: list[str] | None = None) -> int:
    """Run the peer alone: ``python bench/_atlas.py --n 20000``."""
    import argparse

    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    a = ap.parse_args(argv)
    t = time.perf_counter()
    py = ensure_venv(a.venv)
    print(f"[atlas] ensure_venv {time.perf_counter() - t:.1f} s", flush=True)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, a.n)
    xy = rng.normal(scale=6, size=(10, 2))[labels] + rng.normal(size=(a.n, 2))
    results = RESULTS
    results.mkdir(parents=True, exist_ok=True)
    pq = write_parquet(results / f"atlas_{a.n}.parquet", xy[:, 0], xy[:, 1], [f"point {k}" for k in range(a.n)],
                       [f"c{k}" for k in labels], rng.gamma(2.0, 1.0, a.n))
    port = _serve.free_port()
    with serve(py, pq, port, results / f"atlas_{a.n}.log") as url, sync_playwright() as p:
        browser = _drawn.launch(p)
        try:
            print(measure(browser, url, a.n), flush=True)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
