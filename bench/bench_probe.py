"""The probe's round trip: what a VAE latent space holds at a map position, decoded and served.

A folder of N synthetic images (coloured discs and squares) builds with ``--model vae`` (one epoch:
the timing does not depend on how well it learnt), then ``python -m dashboard`` serves it and the
probe is asked at random map positions, one request at a time, as a dragged probe asks. Baseline,
measured in the same run: a thumbnail from the same server (the cheapest request it answers).
Goal: a round trip under 150 ms.

    python bench/bench_probe.py [--n 300] [--requests 60]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _results import save  # noqa: E402
from _serve import free_port, serve  # noqa: E402
from dashboard.ingest import images  # noqa: E402


def _images(folder: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    for k in range(n):
        im = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
        d = ImageDraw.Draw(im)
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        r = int(rng.integers(10, 30))
        box = (32 - r, 32 - r, 32 + r, 32 + r)
        (d.ellipse if k % 2 else d.rectangle)(box, fill=colour + (255,))
        im.save(folder / f"shape{k:04d}.png")


def _times(urls: list[str]) -> list[float]:
    out = []
    for url in urls:
        start = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as r:
            r.read()
            assert r.status == 200, url
        out.append(1000 * (time.perf_counter() - start))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300, help="images in the folder")
    ap.add_argument("--requests", type=int, default=60)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        folder, data = Path(d) / "shapes", Path(d) / "data"
        folder.mkdir()
        _images(folder, args.n)
        images.build(data, name="shapes", images=str(folder), model="vae", dims=(8,), epochs=1, layouts=("pca",))
        port = free_port()
        with serve([sys.executable, "-m", "dashboard", "--data-dir", str(data), "--dataset", "shapes", "--port", str(port)],
                   port, Path(d) / "server.log", cwd=ROOT, what="the dashboard") as url:
            rng = np.random.default_rng(1)
            view = "dataset=shapes&space=8&proj=pca"
            probes = [f"{url}/api/probe.png?{view}&at={x:.4f},{y:.4f}" for x, y in rng.uniform(-1, 1, (args.requests, 2))]
            thumbs = [f"{url}/files/shapes/thumbs/{int(i)}.webp" for i in rng.integers(0, args.n, args.requests)]
            _times(probes[:3] + thumbs[:3])  # warm: the decoder loads once per process
            probe_ms, thumb_ms = _times(probes), _times(thumbs)
    p50, p95 = statistics.median(probe_ms), float(np.percentile(probe_ms, 95))
    base = statistics.median(thumb_ms)
    print(f"probe round trip over {args.requests} positions ({args.n} images, an 8-d VAE): "
          f"median {p50:.0f} ms, p95 {p95:.0f} ms (goal < 150 ms)")
    print(f"  a thumbnail from the same server: median {base:.1f} ms → the probe costs {p50 / base:.1f}× the cheapest request")
    save("probe", {"n": args.n, "requests": args.requests, "probe_median_ms": round(p50, 1), "probe_p95_ms": round(p95, 1),
                   "thumbnail_median_ms": round(base, 2), "ratio": round(p50 / base, 1)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
