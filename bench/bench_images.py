"""Image folders: images per second end to end, batched features vs one image at a time, memory vs size.

The folder is real: the 64 px emoji PNGs of the npm packages (google and
twitter, a few thousand files). Three measurements, all in this run:

1. the feature step through the same Keras model on the same decoded
   images, InceptionV3 (2,048-d avg_pool, PixPlot's) and MobileNetV3Small:
   batches of 32 (ours) vs one predict() per image (PixPlot's way); the goal
   is at least 5×. This machine is offline, so the models carry randomly
   initialised weights saved to a file: the arithmetic, and so the timing, is
   the same as with ImageNet's.
2. ``build images`` end to end (pixel features) on 1,000 and 4,000 files
   scaled to 512 px (1 MB each once decoded, like photos): images per second;
3. the memory those two builds add to their process (goal: flat as the folder grows).

    python bench/bench_images.py [--npm-dir DIR] [--sample 128]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _results import save  # noqa: E402

# Each build in its own process; a thread samples its RSS, so the figure is what the build itself
# adds on top of the libraries it loaded (UMAP's import alone pulls in TensorFlow).
BUILD = """
import json, resource, sys, threading, time
from pathlib import Path
import psutil
from dashboard.ingest import images
import umap, pynndescent  # loaded before the baseline, as a build loads them anyway
proc = psutil.Process()
base = proc.memory_info().rss
peak = [base]
done = threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], proc.memory_info().rss)
        time.sleep(0.02)
threading.Thread(target=sample, daemon=True).start()
start = time.perf_counter()
ds = images.build(Path(sys.argv[1]), name="bench", images=sys.argv[2], model="pixels", layouts=())
seconds = time.perf_counter() - start
done.set()
print(json.dumps({"seconds": seconds, "items": ds.n, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "build_added_mb": (peak[0] - base) / 2**20}))
"""


def extract_pngs(npm_dir: Path, out: Path, limit: int, side: int = 64) -> list[Path]:
    """The emoji PNGs, scaled to ``side`` px (a folder of photo-sized images when side is large)."""
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    files = []
    for package in ("emoji-datasource-google-16.0.0.tgz", "emoji-datasource-twitter-16.0.0.tgz"):
        with tarfile.open(npm_dir / package) as tar:
            for m in tar:
                if len(files) >= limit:
                    return files
                if m.name.endswith(".png") and "/64/" in m.name:
                    target = out / f"{package.split('-')[2]}_{os.path.basename(m.name)}"
                    raw = tar.extractfile(m).read()
                    if side != 64:
                        Image.open(io.BytesIO(raw)).resize((side, side), Image.BILINEAR).save(target)
                    else:
                        target.write_bytes(raw)
                    files.append(target)
    return files


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--npm-dir", type=Path, default=Path(os.environ.get("DASHBOARD_TEST_NPM_DIR", "npm")))
    ap.add_argument("--sample", type=int, default=128, help="images through InceptionV3 each way")
    ap.add_argument("--sizes", default="1000,4000", help="two folder sizes for the end-to-end builds")
    args = ap.parse_args()
    from dashboard.ingest.emoji import fetch_package

    for package in ("emoji-datasource-google", "emoji-datasource-twitter"):
        fetch_package(package, args.npm_dir)

    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        small, large = (int(x) for x in args.sizes.split(","))
        files = extract_pngs(args.npm_dir, d / "all", max(large, args.sample))
        print(f"{len(files):,} real PNG files")

        # 1. the feature step, batched vs one at a time, same model and inputs
        import keras

        from dashboard.compute.features import extractor
        from dashboard.ingest.images import open_image

        models = {}
        for model, ctor in (("inception_v3", keras.applications.InceptionV3),
                            ("mobilenet_v3", keras.applications.MobileNetV3Small)):
            weights = d / f"{model}.weights.h5"
            ctor(weights=None, include_top=True).save_weights(weights)
            ex = extractor(model, weights=str(weights), runtime="tensorflow")  # Keras itself, both ways
            inputs = np.stack([ex.prepare(open_image(f)[0]) for f in files[: args.sample]])
            ex.run(inputs[:2])  # build the model and warm up before timing
            start = time.perf_counter()
            for a in range(0, len(inputs), 32):
                batched = ex.run(inputs[a:a + 32])
            batched_s = time.perf_counter() - start
            start = time.perf_counter()
            for k in range(len(inputs)):
                single = ex.run(inputs[k:k + 1])
            single_s = time.perf_counter() - start
            assert np.allclose(batched[-1], single[-1], atol=1e-3)  # the same features either way
            models[model] = {"batched_img_s": round(len(inputs) / batched_s, 2),
                             "single_img_s": round(len(inputs) / single_s, 2), "speedup": round(single_s / batched_s, 2)}
            print(f"{model} features of {len(inputs)} images: batched {len(inputs) / batched_s:.1f} img/s, "
                  f"one at a time {len(inputs) / single_s:.1f} img/s → {single_s / batched_s:.1f}× faster (goal ≥ 5×)")

        # 2 + 3. end to end, 1k and 4k files of 512 px (1 MB each decoded), each build in its own process
        big = extract_pngs(args.npm_dir, d / "big", large, side=512)
        runs = {}
        for n in (small, large):
            folder = d / f"f{n}"
            folder.mkdir()
            for f in big[:n]:
                os.link(f, folder / f.name)
            out = subprocess.run([sys.executable, "-c", BUILD, str(d / f"data{n}"), str(folder)],
                                 capture_output=True, text=True, cwd=ROOT, check=True)
            runs[n] = json.loads(out.stdout.strip().splitlines()[-1])
            r = runs[n]
            print(f"build images, {n:,} files of 512 px (pixel features): {r['seconds']:.1f} s, "
                  f"{r['items'] / r['seconds']:.0f} images/s end to end, process peak {r['peak_mb']:.0f} MB, "
                  f"of which the build added {r['build_added_mb']:.0f} MB")
        growth = runs[large]["build_added_mb"] / max(runs[small]["build_added_mb"], 1e-9)
        print(f"memory the build adds, {large:,} / {small:,} files: {growth:.2f}× for {large / small:g}× the images")

    save("images", {"feature_sample": args.sample, "features": models,
                    "build": {str(k): v for k, v in runs.items()}, "memory_growth_large_vs_small": round(growth, 2)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
