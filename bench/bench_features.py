"""Feature extraction on one machine: images per second, PixPlot's per-image path against our batched runtimes.

The same decoded images (the 64 px emoji PNGs of the npm packages, as bench_images.py uses, or with
``--synthetic`` photo-like gradients made here) go through the same network, InceptionV3 (PixPlot's
model, 2,048-d avg_pool) and MobileNetV3Small (576-d), in each row's way:

- PixPlot: one Keras predict() per image, as PixPlot's ``get_inception_vectors`` did;
- TensorFlow: Keras predict() on batches of ``--batch`` images (TensorFlow is our fallback);
- OpenVINO and ONNX Runtime: the network converted once (the seconds it took are reported apart),
  then run on the same batches; their features are checked against TensorFlow's
  (dashboard.compute.runtimes' tolerance);
- Dask: ``build images --dask local:2``'s path on the same images written as PNG files, decoded and
  embedded on two worker processes (each in the fastest runtime installed, as a build chooses).

The table gives each row's ratio to PixPlot's path on the same model (the goal: 5×). This machine is
offline, so the networks carry randomly initialised weights saved to a file: the arithmetic, and so
the timing, is the same as with ImageNet's. Each row is a Row in ROWS: its function takes the Case of
one model and returns its features and the seconds they took.

A row that fails makes the run fail (exit status 1, after the table): a runtime that is installed but
does not convert or run, a broken Dask row. A row whose packages are not installed is reported as
skipped, except where the environment variable CI is set: CI installs the whole ``test`` extra, so
there a missing runtime is a failure too.

    python bench/bench_features.py [--npm-dir DIR | --synthetic] [--images 128] [--models inception_v3,mobilenet_v3]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _results import save  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@dataclass
class Case:
    """One model and the images every row runs through it."""

    model: str
    weights: Path  # the weights file (random weights standing in for ImageNet's)
    network: object  # the Keras network cut at its feature layer
    inputs: np.ndarray  # prepared images (uint8, the model's side), before preprocessing
    x: np.ndarray  # the same, preprocessed for the network
    batch: int
    work: Path  # a folder for conversions
    extra: dict = field(default_factory=dict)  # what a row reports besides its speed (e.g. conversion seconds)


def _batches(run: Callable[[np.ndarray], np.ndarray], case: Case) -> tuple[np.ndarray, float]:
    run(case.x[: case.batch])  # warm up (graph tracing, memory) before timing
    start = time.perf_counter()
    out = np.concatenate([run(case.x[a:a + case.batch]) for a in range(0, len(case.x), case.batch)])
    return out, time.perf_counter() - start


def pixplot_per_image(case: Case) -> tuple[np.ndarray, float]:
    """PixPlot's way: one predict() per image."""
    case.network.predict(case.x[:1], verbose=0)
    start = time.perf_counter()
    out = np.concatenate([case.network.predict(case.x[k:k + 1], verbose=0) for k in range(len(case.x))])
    return out.reshape(len(out), -1), time.perf_counter() - start


def tensorflow_batched(case: Case) -> tuple[np.ndarray, float]:
    from dashboard.compute import runtimes

    return _batches(runtimes.tensorflow_runner(case.network), case)


def converted_batched(runtime: str) -> Callable[[Case], tuple[np.ndarray, float]]:
    """The row of ``runtime``: convert once (timed apart), then the same batches."""

    def row(case: Case) -> tuple[np.ndarray, float]:
        from dashboard.compute import runtimes

        start = time.perf_counter()
        run = runtimes.converted(case.network, runtime, case.work, case.model)
        if runtimes.ENGINE.get(runtime, runtime) == runtime:  # bf16 loads the float32 row's conversion
            case.extra[f"{runtime}_convert_s"] = round(time.perf_counter() - start, 1)
        return _batches(run, case)

    row.__doc__ = f"{runtime}, converted once"
    return row


def dask_local(workers: int) -> Callable[[Case], tuple[np.ndarray, float]]:
    """The row of ``build images --dask local:N``: the images as files, decoded, prepared and embedded on
    N Dask worker processes (each loads the model once, before the timing; the cluster's start is not
    timed). Unlike the rows above it also decodes each file, as a build does."""

    def row(case: Case) -> tuple[np.ndarray, float]:
        from PIL import Image

        from dashboard.ingest import dask_images

        folder = case.work / "dask-images"
        folder.mkdir(exist_ok=True)
        files = []
        for k, im in enumerate(case.inputs):  # PNG: lossless, at the model's side, so the same pixels
            files.append(folder / f"{k:05d}.png")
            Image.fromarray(np.asarray(im, np.uint8)).save(files[-1])
        with dask_images.connect(f"local:{workers}") as client:
            dask_images.warm_up(client, model=case.model, weights=str(case.weights))
            start = time.perf_counter()
            features, skipped = dask_images.features_for_files(files, model=case.model, weights=str(case.weights),
                                                               dask=client)
            seconds = time.perf_counter() - start
        if skipped:
            raise RuntimeError(f"{len(skipped)} files skipped: {skipped[:2]}")
        return np.asarray(features, np.float32).reshape(len(files), -1), seconds

    row.__doc__ = f"Dask, {workers} local workers"
    return row


@dataclass(frozen=True)
class Row:
    """One way of computing the features: its label, its function, and the Python packages it needs
    beyond the base install (a row whose packages are missing is skipped, not failed, outside CI)."""

    label: str
    run: Callable[[Case], tuple[np.ndarray, float]]
    needs: tuple[str, ...] = ()
    runtime: str = ""  # its features are checked with this runtime's tolerance (runtimes.TOLERANCE)


#: The rows; the first is the baseline every ratio is against, the second the reference whose features
#: every other row must match.
ROWS: list[Row] = [
    Row("PixPlot: one predict() per image", pixplot_per_image),
    Row("TensorFlow batched", tensorflow_batched),
    Row("OpenVINO batched", converted_batched("openvino"), ("openvino",)),
    Row("OpenVINO bfloat16 batched", converted_batched("openvino-bf16"), ("openvino",), "openvino-bf16"),
    Row("ONNX Runtime batched", converted_batched("onnx"), ("onnxruntime", "tf2onnx", "onnx")),
    Row("Dask, 2 local workers (decoding too)", dask_local(2), ("distributed",)),
]


def missing(row: Row) -> list[str]:
    """The packages ``row`` needs that are not installed."""
    return [p for p in row.needs if importlib.util.find_spec(p) is None]


def failures(figures: dict) -> list[str]:
    """``model: row: reason`` for every row that failed (skipped rows are not failures)."""
    return [f"{model}: {label}: {r['error']}" for model, f in figures["models"].items()
            for label, r in f["rows"].items() if "error" in r]


def emoji_images(npm_dir: Path, folder: Path, n: int) -> list:
    """``n`` of the emoji PNGs, decoded as a build decodes them."""
    from bench_images import extract_pngs

    from dashboard.ingest.emoji import fetch_package
    from dashboard.ingest.images import open_image

    for package in ("emoji-datasource-google", "emoji-datasource-twitter"):
        fetch_package(package, npm_dir)
    return [open_image(f)[0] for f in extract_pngs(npm_dir, folder, n)]


def photo_like_images(n: int, side: int = 320) -> list:
    """``n`` photo-like images: smooth two-colour gradients with grain, of varied sizes."""
    from PIL import Image

    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        h, w = rng.integers(side // 2, side, 2)
        a, b = rng.uniform(0, 255, (2, 3))
        t = (np.linspace(0, 1, h)[:, None, None] + np.linspace(0, 1, w)[None, :, None]) / 2
        pixels = t * a + (1 - t) * b + rng.normal(0, 12, (h, w, 3))
        out.append(Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)))
    return out


def neighbours_kept(features: np.ndarray, reference: np.ndarray, k: int = 10) -> float:
    """What a map sees of a difference in features: the mean share of each image's ``k`` nearest neighbours
    (euclidean) by ``reference`` that are also its nearest by ``features``."""
    from dashboard.compute.neighbors import knn

    k = min(k, len(reference) - 1)
    mine, theirs = knn(features, k=k)[0], knn(reference, k=k)[0]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(mine, theirs)]))


def measure(case: Case) -> dict:
    """Every row on ``case``: images/s, ratio to the first row, and agreement with the second row's features.

    A row that raised has ``error``; a row whose packages are not installed has ``skipped`` (outside CI)
    or ``error`` (under CI, which installs them all).
    """
    from dashboard.compute import runtimes

    results: dict = {}
    reference = None
    for k, row in enumerate(ROWS):
        label = row.label
        absent = missing(row)
        if absent:
            reason = f"not installed: {', '.join(absent)}"
            results[label] = {"error": f"{reason} (CI installs the test extra)"} if os.environ.get("CI") else {
                "skipped": reason}
            print(f"  {label:<34} {'failed' if 'error' in results[label] else 'skipped'}: {reason}")
            continue
        try:
            features, seconds = row.run(case)
        except Exception as e:  # noqa: BLE001 - every row is measured; a failed one fails the run at the end
            results[label] = {"error": f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"}
            print(f"  {label:<34} failed: {results[label]['error']}")
            continue
        r = {"img_s": round(len(case.x) / seconds, 2)}
        if k == 1:
            reference = features
        if reference is not None and k != 1:
            rel, cos = runtimes.agreement(features, reference)
            max_rel, min_cos = runtimes.TOLERANCE.get(row.runtime, (runtimes.MAX_REL_DIFF, runtimes.MIN_COSINE))
            r.update(max_rel_diff=float(f"{rel:.2e}"), min_cosine=round(cos, 7),
                     same_features=bool(rel <= max_rel and cos >= min_cos),
                     neighbours_kept=round(neighbours_kept(features, reference), 4))
        results[label] = r
    base = results[ROWS[0].label].get("img_s")
    for label, r in results.items():
        if base and "img_s" in r:
            r["vs_pixplot"] = round(r["img_s"] / base, 2)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--npm-dir", type=Path, default=Path(os.environ.get("DASHBOARD_TEST_NPM_DIR", "npm")))
    ap.add_argument("--synthetic", action="store_true", help="photo-like images made here instead of the emoji PNGs")
    ap.add_argument("--images", type=int, default=128, help="images through each row")
    ap.add_argument("--batch", type=int, default=32, help="images per batch (a build's batch is 32)")
    ap.add_argument("--models", default="inception_v3,mobilenet_v3")
    args = ap.parse_args()
    import keras

    from dashboard.compute import features

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    figures: dict = {"images": args.images, "batch": args.batch, "cpus": os.cpu_count(),
                     "source": "synthetic" if args.synthetic else "emoji", "models": {}}
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        decoded = (photo_like_images(args.images) if args.synthetic
                   else emoji_images(args.npm_dir, d / "png", args.images))
        print(f"{len(decoded)} {'photo-like' if args.synthetic else 'emoji'} images, batches of {args.batch}, "
              f"{os.cpu_count()} CPUs")
        for model in models:
            ctor, side, _, dims = features.KERAS_MODELS[model]
            full = getattr(keras.applications, ctor)(weights=None, include_top=True)
            weights = d / f"{model}.weights.h5"
            full.save_weights(weights)
            network, preprocess = features.keras_network(model, full=full)
            inputs = np.stack([features._prepare_stretched(im, side) for im in decoded])
            case = Case(model, weights, network, inputs, preprocess(inputs.astype(np.float32)), args.batch, d / "converted")
            print(f"{model} ({dims}-d features):")
            results = measure(case)
            for label, r in results.items():
                if "img_s" in r:
                    same = "" if "same_features" not in r else (
                        f"  same features: {'yes' if r['same_features'] else 'NO'} (cosine ≥ {r['min_cosine']:.6f}, "
                        f"largest difference {r['max_rel_diff']:.1e}; {r['neighbours_kept']:.0%} of 10 neighbours kept)")
                    print(f"  {label:<34} {r['img_s']:8.1f} images/s  {r['vs_pixplot']:5.1f}× PixPlot's path{same}")
            for key, value in case.extra.items():
                print(f"  ({key.replace('_convert_s', '')} converted the network in {value:.1f} s, once per weights file)")
            figures["models"][model] = {"rows": results, **case.extra}
    best = {m: max((r.get("vs_pixplot", 0), label) for label, r in f["rows"].items()) for m, f in figures["models"].items()}
    for m, (ratio, label) in best.items():
        print(f"fastest for {m}: {label}, {ratio:.1f}× PixPlot's path (goal ≥ 5×)")
    save("features", figures)
    failed = failures(figures)
    for line in failed:
        print(f"FAILED {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
