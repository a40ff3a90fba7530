"""Synthetic datasets of any size, for tests, benchmarks and trying the map without real data.

One builder shared by the test suite (``tests/conftest.py``'s ``make_dataset``
factory) and the benchmarks, so both exercise the same on-disk format the
recipes write.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .store import Dataset, DatasetWriter


def write(data_dir: Path | str, name: str, X: np.ndarray, *, metric: str = "euclidean",
          schema: dict[str, str] | None = None, **columns) -> Dataset:
    """Dataset ``name`` with one latent space (``X``; its id is its width), items named p0…, and ``columns``."""
    n, dim = X.shape
    with DatasetWriter(Path(data_dir), name) as w:
        w.set_info(type="other", metric=metric)
        w.write_meta(pd.DataFrame({"i": np.arange(n), "name": [f"p{k}" for k in range(n)], **columns}),
                     schema_overrides=schema or {})
        w.write_latent(str(dim), np.asarray(X, np.float32), kind="raw")
        return w.finish()


def blobs(data_dir: Path | str, name: str = "blobs", n: int = 500, dim: int = 8, categories: int = 10,
          seed: int = 0, **columns) -> Dataset:
    """``n`` points in ``categories`` Gaussian blobs of ``dim`` dimensions, with a ``category`` (c0…) and a
    numeric ``value`` column, plus any extra ``columns``."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, categories, n)
    centres = rng.normal(scale=4, size=(categories, dim))
    X = centres[labels] + rng.normal(size=(n, dim))
    return write(data_dir, name, X, category=[f"c{k}" for k in labels], value=rng.gamma(2.0, 1.0, n).round(3),
                 schema={"category": "categorical", "value": "numeric"}, **columns)


SHAPES = ("circle", "square", "triangle", "ring")


def _draw_images(args: tuple[Path, int, int, int, int]) -> list[tuple[str, str, int, int]]:
    from PIL import Image, ImageDraw

    folder, first, count, side, seed = args
    rng = np.random.default_rng(seed + first)
    rows = []
    for i in range(first, first + count):
        # shape, hue, size, place and ground all vary: no two images alike, so a million of them spread out
        shape, hue = SHAPES[i % len(SHAPES)], int(rng.integers(0, 360))
        r = float(rng.uniform(0.22, 0.42)) * side
        cx, cy = rng.uniform(r, side - r, size=2)
        im = Image.new("RGB", (side, side), f"hsl({int(rng.integers(0, 360))}, 25%, {int(rng.integers(70, 95))}%)")
        d = ImageDraw.Draw(im)
        fill = f"hsl({hue}, 80%, {int(rng.integers(35, 60))}%)"
        box = (cx - r, cy - r, cx + r, cy + r)
        if shape == "circle":
            d.ellipse(box, fill=fill)
        elif shape == "square":
            d.rectangle(box, fill=fill)
        elif shape == "triangle":
            d.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=fill)
        else:
            d.ellipse(box, outline=fill, width=max(2, side // 8))
        rel = f"{i // 1000:04d}/{i:07d}.png"
        im.save(folder / rel)
        rows.append((rel, shape, hue, round(2 * r)))
    return rows


def shape_images(folder: Path, n: int, side: int = 24, seed: int = 0, workers: int = 2) -> Path:
    """``n`` small PNGs (a coloured circle, square, triangle or ring on a pale ground; 1,000 a sub-folder)
    and ``meta.csv`` (PixPlot's ``filename`` column, ``shape``, ``hue``, ``size``) in ``folder``; kept if complete."""
    import csv
    from concurrent.futures import ProcessPoolExecutor

    folder = Path(folder)
    done = folder / "meta.csv"
    if done.exists():
        return done
    for k in range(0, n, 1000):
        (folder / f"{k // 1000:04d}").mkdir(parents=True, exist_ok=True)
    chunks = [(folder, a, min(10_000, n - a), side, seed) for a in range(0, n, 10_000)]
    with ProcessPoolExecutor(workers) as pool:
        rows = [r for part in pool.map(_draw_images, chunks) for r in part]
    tmp = folder / "meta.csv.partial"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", "shape", "hue", "size"])
        w.writerows(rows)
    tmp.rename(done)
    return done


def lsc_folder(folder: Path | str, n: int, dims: tuple[int, ...] = (8, 32), categories: int = 10, seed: int = 0,
               chunk: int = 1_000_000) -> Path:
    """A Latent Space Cartography folder of ``n`` synthetic items: ``latent/latent<d>.h5`` per ``dims``
    (float32 Gaussian blobs, one blob per category) and ``meta.csv`` (``i``, ``name``, ``category`` c0…,
    a numeric ``value``). Written ``chunk`` rows at a time, so ten million rows never sit in memory at once;
    kept when it is already complete (``meta.csv`` is written last)."""
    import h5py

    folder = Path(folder)
    if (folder / "meta.csv").is_file():
        return folder
    (folder / "latent").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    centres = {d: rng.normal(scale=4, size=(categories, d)).astype(np.float32) for d in dims}
    files = {d: h5py.File(folder / "latent" / f"latent{d}.h5", "w") for d in dims}
    tmp = folder / "meta.csv.partial"
    try:
        outs = {d: f.create_dataset("latent", shape=(n, d), dtype=np.float32) for d, f in files.items()}
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            labels = rng.integers(0, categories, b - a)
            for d, out in outs.items():
                out[a:b] = centres[d][labels] + rng.standard_normal((b - a, d), dtype=np.float32)
            i = np.arange(a, b)
            pd.DataFrame({"i": i, "name": pd.Series(i).map("item {}".format), "category": "c" + labels.astype(str),
                          "value": rng.gamma(2.0, 1.0, b - a).round(3)}
                         ).to_csv(tmp, mode="w" if a == 0 else "a", header=a == 0, index=False)
    finally:
        for f in files.values():
            f.close()
    tmp.rename(folder / "meta.csv")
    return folder
