"""Levels of detail at millions of points: tile build, first frame, a 1 % zoom, panning; Embedding Atlas beside.

For synthetic datasets (8-d blobs, a category and a number per point, PCA layout)
this measures, per size:

- the dataset's build and its PCA layout; the tile pyramid's build time and peak
  memory (tracemalloc: numpy's allocations) and its size;
- in headless Chromium (software GL), with the rule for "drawn" of ``_drawn.py``:
  seconds to the first frame and to the settled map, bytes to the first frame per
  point of the dataset and per point drawn (geometry and colour slices apart: a
  colour change refetches only the slices, server-coloured tiles would refetch both);
- a zoom into 1 % of the map's area at its densest point: seconds until it settles,
  and how many of the points in view are drawn against how many there are (numpy);
- frame time while panning (a mouse drag; frames the deck drew over the drag's time);
- the server's peak resident memory (VmHWM) over the whole run;
- Embedding Atlas 0.22.0 given the same points (``_atlas.py``), as far as it goes
  (a failure or a time-out is recorded, not fatal).

    python bench/bench_scale.py [--sizes 1000000,3000000,10000000] [--threshold N] [--no-atlas]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import _atlas  # noqa: E402
import _drawn  # noqa: E402
from _results import save  # noqa: E402
from _serve import free_port  # noqa: E402
from bench_viewer import HIDE_OVERLAYS, Wire  # noqa: E402

CHROMIUM = os.environ.get("DASHBOARD_CHROMIUM", _drawn.CHROMIUM)


def make_dataset(data_dir: Path, n: int) -> tuple[str, float]:
    from dashboard import fixtures

    name = f"scale{n}"
    t = time.perf_counter()
    if not (data_dir / name / "manifest.json").exists():
        fixtures.blobs(data_dir, name, n=n, dim=8, categories=10)
    return name, time.perf_counter() - t


def build_tiles(data_dir: Path, name: str) -> dict:
    """PCA layout, then the pyramid (kept in the cache the server reads), timed; peak memory of the tile build."""
    from dashboard import mapdata, tiles
    from dashboard.store import open_dataset
    from dashboard.viewstate import parse

    ds = open_dataset(data_dir, name)
    state, _ = parse(data_dir, f"dataset={name}&proj=pca")
    t = time.perf_counter()
    xy = mapdata.positions(ds, state)
    layout_s = time.perf_counter() - t
    tracemalloc.start()
    t = time.perf_counter()
    p = tiles.build(xy)
    build_s = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del p
    t = time.perf_counter()
    p = tiles.pyramid(ds, state)  # built again and written to the cache (what the server will read)
    cached_s = time.perf_counter() - t
    return {"layout_s": layout_s, "tiles_build_s": build_s, "tiles_peak_mb": peak / 2**20, "tiles_cached_s": cached_s,
            "pyramid_mb": p.nbytes / 2**20, "levels": p.levels, "base": p.base}, xy


class Server:
    """``python -m dashboard`` on a free port; its peak resident memory read from /proc when stopped."""

    def __init__(self, data_dir: Path, name: str, log: Path, env: dict):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        with open(log, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "dashboard", "--data-dir", str(data_dir), "--dataset", name,
                                          "--port", str(self.port)], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        deadline = time.time() + 300
        while True:
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=2)
                return
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    self.stop()
                    raise SystemExit(f"the server did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)

    def peak_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def measure_ours(browser, url: str, name: str, n: int, xy: np.ndarray, settle: float) -> dict:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _drawn.install(page)
    wire = Wire(page)
    out = {}
    t0 = time.perf_counter()
    # the page itself waits on the server's first look at n rows (legend, filters): minutes at 10M
    page.goto(f"{url}/?dataset={name}&proj=pca&color=category", wait_until="commit", timeout=900_000)
    page.wait_for_selector("#map", timeout=600_000)
    page.evaluate(HIDE_OVERLAYS)
    load = _drawn.wait_drawn(page, "#map", t0, settle_s=settle, ready=_drawn.TILES_READY)
    stats = page.evaluate("dashMap.stats()")
    t = stats.get("tiles") or {}
    out.update(first_frame_s=load["first_s"], first_s=load["drawn_s"], tiled=stats.get("tiled"),
               first_drawn=t.get("drawn"), first_bytes=wire.total("/api/"))
    out["first_bpp"] = out["first_bytes"] / n
    geometry = sum(s for u, s in wire.sizes if "/api/tile/" in u and ".bin?" in u and "/colors.bin" not in u)
    colours = wire.total("/colors.bin")
    drawn = max(1, t.get("drawn") or n)
    out.update(first_bytes_per_drawn=out["first_bytes"] / drawn, geometry_bytes_per_drawn=geometry / drawn,
               colour_bytes_per_drawn=colours / drawn)

    # a zoom into 1 % of the area (log2(10) zoom steps) at the densest point of the layout
    counts, xe, ye = np.histogram2d(xy[:, 0], xy[:, 1], bins=40, range=[[-1.2, 1.2], [-1.2, 1.2]])
    i, j = np.unravel_index(np.argmax(counts), counts.shape)
    cx, cy = (xe[i] + xe[i + 1]) / 2, (ye[j] + ye[j + 1]) / 2
    zoom = stats["camera"][2] + np.log2(10)
    wire.reset()
    t0 = time.perf_counter()
    page.evaluate(f"dashMap.setCamera([{cx}, {cy}, {zoom}])")
    r = _drawn.wait_drawn(page, "#map", t0, settle_s=settle, changed_from=load["png"],
                          ready=_drawn.TILES_READY)
    stats = page.evaluate("dashMap.stats()")
    t = stats.get("tiles") or {}
    b = t.get("viewBounds")
    if b:
        there = int(((xy[:, 0] >= b[0]) & (xy[:, 0] <= b[2]) & (xy[:, 1] >= b[1]) & (xy[:, 1] <= b[3])).sum())
        out.update(zoom_points_there=there, zoom_points_drawn=t["inView"], zoom_complete=t["inView"] / max(there, 1))
    out.update(zoom_s=r["drawn_s"], zoom_bytes=wire.total("/api/"))

    # panning: drag across the map, frames drawn over the drag's duration
    box = page.locator("#map").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    frames0 = page.evaluate("dashMap.stats().frames")
    t0 = time.perf_counter()
    page.mouse.move(x, y)
    page.mouse.down()
    for k in range(1, 21):
        page.mouse.move(x + 10 * k, y + 5 * k)
    page.mouse.up()
    page.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    elapsed = time.perf_counter() - t0
    frames = page.evaluate("dashMap.stats().frames") - frames0
    out.update(pan_frames=frames, pan_frame_ms=1000 * elapsed / max(frames, 1))
    page.close()
    return out


def measure_atlas(browser, tmp: Path, n: int, xy: np.ndarray, data_dir: Path, name: str, settle: float,
                  timeout_s: float) -> dict:
    from dashboard.store import open_dataset

    try:
        python = _atlas.ensure_venv()
        meta = open_dataset(data_dir, name).meta
        parquet = _atlas.write_parquet(tmp / f"{name}.parquet", xy[:, 0], xy[:, 1], meta["name"],
                                       meta["category"].astype(str), meta["value"])
        with _atlas.serve(python, parquet, free_port(), tmp / f"atlas{n}.log") as url:
            return _atlas.measure(browser, url, n, category="c1", settle_s=settle, timeout_s=timeout_s)
    except (Exception, SystemExit) as e:  # as far as it goes: a failure is a result
        return {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"}


def run(sizes: list[int], data_dir: Path, tmp: Path, *, threshold: int | None, settle: float, atlas: bool,
        atlas_timeout: float) -> dict:
    from playwright.sync_api import sync_playwright

    env = dict(os.environ)
    if threshold:
        env["DASHBOARD_TILE_THRESHOLD"] = os.environ["DASHBOARD_TILE_THRESHOLD"] = str(threshold)
    results = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=_drawn.ARGS)
        for n in sizes:
            name, dataset_s = make_dataset(data_dir, n)
            row, xy = build_tiles(data_dir, name)
            row["dataset_s"] = dataset_s
            print(f"\n{n:,} points: dataset {dataset_s:.1f} s, PCA layout {row['layout_s']:.1f} s, tiles built in "
                  f"{row['tiles_build_s']:.1f} s (peak {row['tiles_peak_mb']:.0f} MB; {row['levels']} levels, "
                  f"{row['pyramid_mb']:.0f} MB kept)", flush=True)
            server = Server(data_dir, name, tmp / f"ours{n}.log", env)
            try:
                row["ours"] = measure_ours(browser, server.url, name, n, xy, settle)
            except Exception as e:  # a size that fails is a result too; the sizes before it are kept
                row["ours"] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"}
            finally:
                row["server_peak_mb"] = server.peak_mb()
                server.stop()
            if atlas:
                row["atlas"] = measure_atlas(browser, tmp, n, xy, data_dir, name, settle, atlas_timeout)
            results[n] = row
            report(n, row)
            save("scale", {str(k): v for k, v in results.items()})  # after every size: a long run keeps what it got
        browser.close()
    return results


def report(n: int, row: dict) -> None:
    o = row["ours"]
    if "error" in o:
        print(f"  ours: did not finish ({o['error']}); server peak {row['server_peak_mb']:.0f} MB")
        o = {}
    if o:
        print(f"  ours: first frame {o['first_frame_s']:.1f} s, settled {o['first_s']:.1f} s (goal at 10M: < 60 s); "
              f"{o['first_bytes'] / 2**20:.1f} MB = {o['first_bpp']:.3f} B/pt of the dataset (goal <= 4), "
              f"{o['first_bytes_per_drawn']:.1f} B per drawn point ({o['first_drawn']} drawn; geometry "
              f"{o['geometry_bytes_per_drawn']:.1f} B, colour slice {o['colour_bytes_per_drawn']:.1f} B)")
    if "zoom_complete" in o:
        print(f"  1 % zoom: {o['zoom_s']:.1f} s (goal < 2 s), {o['zoom_points_drawn']:,} of the {o['zoom_points_there']:,} "
              f"points there drawn ({100 * o['zoom_complete']:.0f} %)")
    if "pan_frame_ms" in o:
        print(f"  panning: {o['pan_frame_ms']:.0f} ms a frame ({o['pan_frames']} frames); server peak "
              f"{row['server_peak_mb']:.0f} MB (goal < 6 GB at 10M)")
    a = row.get("atlas")
    if a is not None:
        if "error" in a:
            print(f"  Atlas: did not finish ({a['error']})")
        else:
            print(f"  Atlas: first frame {a['load_first_frame_s']:.1f} s, settled {a['load_s']:.1f} s, main thread "
                  f"blocked {a['load_longtask_ms']:.0f} ms after its first frame")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,3000000,10000000")
    parser.add_argument("--threshold", type=int, help="DASHBOARD_TILE_THRESHOLD for the run (default: the server's)")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds a picture must stay unchanged to count as drawn")
    parser.add_argument("--no-atlas", action="store_true", help="leave Embedding Atlas out")
    parser.add_argument("--atlas-timeout", type=float, default=600, help="seconds Atlas has for each step")
    parser.add_argument("--data-dir", type=Path, help="keep the synthetic datasets here (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or Path(tmp)
        data_dir.mkdir(parents=True, exist_ok=True)
        results = run([int(s) for s in args.sizes.split(",")], data_dir, Path(tmp), threshold=args.threshold,
                      settle=args.settle, atlas=not args.no_atlas, atlas_timeout=args.atlas_timeout)
    print("saved", save("scale", {str(k): v for k, v in results.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
