"""Images at a million: build, first frame, zoom to crisp thumbnails, GPU texture memory against its cap.

For N synthetic images (small PNGs: a coloured circle, square, triangle or ring;
``dashboard.fixtures.shape_images``) this measures, in one run:

- ``build images --model pixels --layouts pca`` end to end in its own process: seconds and
  peak resident memory (its children's ``ru_maxrss``), the per-tile atlases of the default
  map's pyramid levels included (the build's last step);
- the baseline, the path below the tile threshold (PixPlot's, too): every thumbnail
  packed into whole-collection 4096² atlases that the browser loads all of. One texture
  is packed here and timed; the rest scale with the count (the same work per cell), and
  its GPU memory is the textures' pixels exactly;
- in headless Chromium (software GL; the rule for "drawn" of ``_drawn.py``): seconds to the
  first frame, bytes on the wire for it, GPU bytes of the atlases held;
- a zoom past the pyramid's last level at the densest point (cells of 64 px and more):
  seconds until it settles, the cells drawn, and the most texture memory held against the
  cap (``map-tiles.js``: TEXTURE_CAP), with screenshots of both.

    python bench/bench_image_scale.py [--n 1000000] [--data-dir DIR] [--images-dir DIR] [--threshold N]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import _drawn  # noqa: E402
from _results import RESULTS, save  # noqa: E402
from bench_scale import Server  # noqa: E402
from bench_viewer import HIDE_OVERLAYS, Wire  # noqa: E402

CHROMIUM = os.environ.get("DASHBOARD_CHROMIUM", _drawn.CHROMIUM)


def build(data_dir: Path, images_dir: Path, name: str, n: int, env: dict) -> dict:
    """The images (kept if there) and ``build images`` in a child process: seconds and peak memory."""
    from dashboard import fixtures

    t = time.perf_counter()
    meta = fixtures.shape_images(images_dir, n)
    out = {"images_s": time.perf_counter() - t}
    if (data_dir / name / "manifest.json").exists():  # a kept build: its figures are in the earlier run's results
        return {**out, "kept": True}
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "dashboard", "--data-dir", str(data_dir), "build", "images", name,
                           "--images", str(images_dir), "--metadata", str(meta), "--model", "pixels", "--layouts", "pca"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"build images failed:\n{done.stderr[-3000:]}")
    return {**out, "build_s": time.perf_counter() - t,
            "build_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def baseline(data_dir: Path, name: str) -> dict:
    """The untiled path: one whole-collection atlas texture packed and timed, the rest scaled."""
    from dashboard import atlases
    from dashboard.compute import atlas as atlas_mod
    from dashboard.store import open_dataset
    from dashboard.viewstate import default_cell

    ds = open_dataset(data_dir, name)
    cell = default_cell(ds)
    textures = atlas_mod.grid(ds.n, cell)
    t = time.perf_counter()
    png = atlas_mod.pack(atlases._opener(ds, cell), textures[0], cell)
    one = time.perf_counter() - t
    share = textures[0]["count"] / ds.n
    return {"cell": cell, "textures": len(textures), "pack_one_s": one, "pack_all_s": one / share,
            "png_all_mb": len(png) / share / 2**20,
            "gpu_mb": sum(4 * t["width"] * t["height"] for t in textures) / 2**20}


def densest(data_dir: Path, name: str) -> tuple[float, float]:
    from dashboard import mapdata
    from dashboard.store import open_dataset
    from dashboard.viewstate import parse

    state, _ = parse(data_dir, f"dataset={name}&proj=pca")
    xy = mapdata.positions(open_dataset(data_dir, name), state)
    counts, xe, ye = np.histogram2d(xy[:, 0], xy[:, 1], bins=60)
    i, j = np.unravel_index(np.argmax(counts), counts.shape)
    k = np.argmin((xy[:, 0] - (xe[i] + xe[i + 1]) / 2) ** 2 + (xy[:, 1] - (ye[j] + ye[j + 1]) / 2) ** 2)
    return float(xy[k, 0]), float(xy[k, 1])  # an item there: the zoom lands on images


def measure(browser, url: str, name: str, n: int, target: tuple[float, float], settle: float, shots: Path) -> dict:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _drawn.install(page)
    wire = Wire(page)
    t0 = time.perf_counter()
    page.goto(f"{url}/?dataset={name}&proj=pca&color=shape", wait_until="commit", timeout=900_000)
    page.wait_for_selector("#map", timeout=600_000)
    page.evaluate(HIDE_OVERLAYS)
    load = _drawn.wait_drawn(page, "#map", t0, settle_s=settle, ready=_drawn.TILES_READY)
    stats = page.evaluate("dashMap.stats()")
    t = stats.get("tiles") or {}
    out = {"first_frame_s": load["first_s"], "first_s": load["drawn_s"], "tiled": stats.get("tiled"),
           "first_drawn": t.get("drawn"), "first_cells": t.get("cells"), "first_bytes": wire.total("/api/"),
           "first_texture_mb": (t.get("textureBytes") or 0) / 2**20, "cap_mb": (t.get("textureCap") or 0) / 2**20}
    page.screenshot(path=str(shots / f"image_scale_{n}_first.png"))
    steps = []
    zoom = stats["camera"][2]
    for extra in (t.get("levels", 1), t.get("levels", 1) + 1):  # one and two zooms past the last level
        wire.reset()
        t0 = time.perf_counter()
        page.evaluate(f"dashMap.setCamera([{target[0]}, {target[1]}, {zoom + extra}])")
        r = _drawn.wait_drawn(page, "#map", t0, settle_s=settle, changed_from=load["png"],
                              ready=_drawn.TILES_READY)
        s = page.evaluate("dashMap.stats()")["tiles"] or {}
        steps.append({"zoom_steps": extra, "s": r["drawn_s"], "cells": s.get("cells"), "in_view": s.get("inView"),
                      "bytes": wire.total("/api/"), "texture_mb": s.get("textureBytes", 0) / 2**20})
        page.screenshot(path=str(shots / f"image_scale_{n}_zoom{extra}.png"))
    out["zooms"] = steps
    out["texture_peak_mb"] = page.evaluate("dashMap.stats().tiles.texturePeak") / 2**20
    page.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--threshold", type=int, help="DASHBOARD_TILE_THRESHOLD for the run (default: the server's)")
    ap.add_argument("--settle", type=float, default=3.0)
    ap.add_argument("--data-dir", type=Path, help="keep the dataset here (default: a temporary folder)")
    ap.add_argument("--images-dir", type=Path, help="keep the generated images here (default: a temporary folder)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    env = dict(os.environ)
    if args.threshold:
        env["DASHBOARD_TILE_THRESHOLD"] = os.environ["DASHBOARD_TILE_THRESHOLD"] = str(args.threshold)
    name = f"shapes{args.n}"
    shots = RESULTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or Path(tmp) / "data"
        images_dir = args.images_dir or Path(tmp) / "images"
        data_dir.mkdir(parents=True, exist_ok=True)
        row = build(data_dir, images_dir, name, args.n, env)
        if not row.get("kept"):
            print(f"{args.n:,} images: made in {row['images_s']:.0f} s; build images (pixels, PCA, tile atlases) "
                  f"{row['build_s']:.0f} s, peak {row['build_peak_mb']:.0f} MB", flush=True)
        row["baseline"] = b = baseline(data_dir, name)
        print(f"  untiled path (PixPlot's too): {b['textures']} atlases of 4096² at {b['cell']} px: packing "
              f"{b['pack_all_s']:.0f} s (one measured: {b['pack_one_s']:.1f} s), {b['png_all_mb']:.0f} MB of PNG "
              f"to load, {b['gpu_mb']:.0f} MB of GPU textures", flush=True)
        server = Server(data_dir, name, Path(tmp) / "server.log", env)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=_drawn.ARGS)
            try:
                row["ours"] = o = measure(browser, server.url, name, args.n, densest(data_dir, name), args.settle, shots)
            finally:
                row["server_peak_mb"] = server.peak_mb()
                server.stop()
                browser.close()
    print(f"  ours: first frame {o['first_frame_s']:.1f} s, settled {o['first_s']:.1f} s, {o['first_drawn']:,} images "
          f"at {o['first_cells']} px, {o['first_bytes'] / 2**20:.1f} MB on the wire "
          f"({b['png_all_mb'] / max(o['first_bytes'] / 2**20, 1e-9):.0f}× less than the untiled atlases), "
          f"{o['first_texture_mb']:.0f} MB of textures")
    for z in o["zooms"]:
        print(f"  zoom {z['zoom_steps']} steps in: settled in {z['s']:.1f} s, cells {z['cells']} px, {z['in_view']} "
              f"images in view, {z['bytes'] / 2**20:.1f} MB fetched, {z['texture_mb']:.0f} MB of textures held")
    print(f"  texture memory at most {o['texture_peak_mb']:.0f} MB (cap {o['cap_mb']:.0f} MB; the untiled path: "
          f"{b['gpu_mb']:.0f} MB, {b['gpu_mb'] / max(o['texture_peak_mb'], 1e-9):.0f}× more); server peak "
          f"{row['server_peak_mb']:.0f} MB")
    print("saved", save("image_scale", row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
