"""Image features: Keras InceptionV3 (PixPlot's), MobileNetV3, a pixel baseline, a VAE, or your own vectors.

An extractor turns a decoded image into its model input (``prepare``, run in
the decoding threads) and a batch of inputs into vectors (``run``, batched:
PixPlot ran one image at a time). Keras models take their ImageNet weights
from ``--weights``, else from the Keras cache, else from Keras's own download
(into that cache, as PixPlot did); when the download fails the build stops
before any work, with one line that says how to go on offline. ``--runtime``
runs them through TensorFlow or, converted once, through OpenVINO or ONNX
Runtime (see :mod:`dashboard.compute.runtimes`).
"""

from __future__ import annotations

import functools
import io
import os
import sys
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from ..errors import DashboardError
from . import runtimes

#: Pixel baseline: images shrunk to this many pixels a side, RGB on white.
PIXELS_SIDE = 24

# name → (keras.applications constructor, input side, the layer whose output is the feature, dims)
KERAS_MODELS = {
    "inception_v3": ("InceptionV3", 299, "avg_pool", 2048),
    "mobilenet_v3": ("MobileNetV3Small", 224, "global_average_pooling2d", 576),  # the pooled last conv block
}
# Weight files keras.applications downloads into ~/.keras/models (ImageNet, with the top).
KERAS_WEIGHT_FILES = {
    "inception_v3": "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
    "mobilenet_v3": "weights_mobilenet_v3_small_224_1.0_float.h5",
}
MODELS = ("inception_v3", "mobilenet_v3", "pixels", "vae", "vectors")


@dataclass
class Extractor:
    name: str
    space_id: str
    description: str
    cache_id: str
    prepare: Callable[[Image.Image], np.ndarray] | None = None
    run: Callable[[np.ndarray], np.ndarray] | None = None
    positional: bool = False  # features come from a file, row k for the k-th image found
    rows: np.ndarray | None = field(default=None, repr=False)
    # Keras models: the runtime asked for, then (after the first batch) the one used; what the build report says
    runtime: str = ""
    notes: list[str] = field(default_factory=list)
    speeds: dict[str, float] = field(default_factory=dict)  # runtime → images/s measured on the first batch

    def row(self, k: int) -> np.ndarray:
        return np.asarray(self.rows[k], np.float32)


def on_white(im: Image.Image) -> Image.Image:
    """RGB, transparent parts composited on white (what ImageNet models and our eyes expect)."""
    if im.mode == "RGBA":
        bg = Image.new("RGB", im.size, (255, 255, 255))
        bg.paste(im, mask=im.getchannel("A"))
        return bg
    return im.convert("RGB")


# Model inputs are prepared by module-level functions (bound with functools.partial):
# the build runs them in decoding worker processes, which receive them pickled.

def _prepare_pixels(im: Image.Image) -> np.ndarray:
    return np.asarray(on_white(im).resize((PIXELS_SIDE, PIXELS_SIDE), Image.BILINEAR), np.uint8)


def _prepare_square(im: Image.Image, side: int) -> np.ndarray:
    """RGBA squared with transparent padding, ``side`` px (the VAE's input)."""
    rgba = im.convert("RGBA")
    big = max(rgba.size)
    square = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    square.paste(rgba, ((big - rgba.width) // 2, (big - rgba.height) // 2))
    return np.asarray(square.resize((side, side), Image.LANCZOS), np.uint8)


def _prepare_stretched(im: Image.Image, side: int) -> np.ndarray:
    return np.asarray(on_white(im).resize((side, side), Image.BILINEAR), np.uint8)  # PixPlot: no aspect kept


def _pixels() -> Extractor:
    prepare = _prepare_pixels

    def run(batch: np.ndarray) -> np.ndarray:
        return batch.reshape(len(batch), -1).astype(np.float32) / 255.0

    return Extractor("pixels", "pixels", f"the image's RGB pixels at {PIXELS_SIDE}×{PIXELS_SIDE} (a fast baseline)",
                     f"pixels{PIXELS_SIDE}", prepare, run)


#: The VAE's input: images squared (transparent padding) at this many pixels a side.
VAE_SIDE = 64


def _vae_input() -> Extractor:
    """Collects each image at 64 × 64 RGBA; the build trains the VAE on all of them afterwards
    (its features depend on the whole folder, so nothing is cached per image)."""

    return Extractor("vae", "vae", "convolutional VAE", "", functools.partial(_prepare_square, side=VAE_SIDE),
                     lambda batch: batch)


def keras_cache(model: str) -> Path:
    """Where Keras keeps the ImageNet weights of ``model`` (``$KERAS_HOME/models``, else ``~/.keras/models``)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models" / KERAS_WEIGHT_FILES[model]


def keras_weights(model: str, weights: str | None) -> Path | None:
    """The weights file to use: ``--weights``, else the Keras cache's; None when Keras must download them."""
    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise DashboardError(f"--weights {weights}: no such file")
        return path
    cached = keras_cache(model)
    return cached if cached.is_file() else None


class _HoldAnnouncement(io.TextIOBase):
    """stdout while Keras downloads: its "Downloading data from …" line is held back until the progress
    bar writes (bytes are arriving), so an offline machine prints only our one-line error."""

    def __init__(self, out):
        self.out = out
        self.held: str | None = ""

    def write(self, text: str) -> int:
        if self.held == "":
            self.held = text
        else:
            if self.held:
                self.out.write(self.held)
            self.held = None
            self.out.write(text)
        return len(text)

    def flush(self) -> None:
        self.out.flush()


def download_imagenet(model: str):
    """The full Keras ``model`` with ImageNet weights, downloaded by Keras into its cache
    (``weights="imagenet"``); when that fails, a DashboardError that says how to go on offline."""
    ctor = KERAS_MODELS[model][0]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    try:
        with redirect_stdout(_HoldAnnouncement(sys.stdout)):
            return getattr(keras.applications, ctor)(weights="imagenet", include_top=True)
    except Exception as e:  # Keras reports a failed download as a bare Exception (and a bad file as ValueError)
        reason = " ".join(str(e).split()) or type(e).__name__
        raise DashboardError(
            f"--model {model} needs its ImageNet weights and Keras could not download them ({reason}); "
            f"pass --weights FILE (the Keras {ctor} weights .h5), or use --model pixels (a fast pixel baseline), "
            f"which works offline, as does a model whose weights are in {keras_cache(model).parent}"
        ) from None


def keras_network(model: str, weights: Path | str | None = None, full=None):
    """(the Keras ``model`` cut at its feature layer, its input preprocessing), built from the ``weights`` file
    (None: random weights), or from ``full``, a whole model already built."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    ctor, _, layer, _ = KERAS_MODELS[model]
    if full is None:
        full = getattr(keras.applications, ctor)(weights=None if weights is None else str(weights), include_top=True)
    # Layer names get numbered suffixes when a process builds a model twice: fall back to the type.
    pool = next((x for x in full.layers if x.name == layer), None) or [
        x for x in full.layers if type(x).__name__ == "GlobalAveragePooling2D"][-1]
    return keras.Model(full.input, pool.output), getattr(keras.applications, model).preprocess_input


def _keras_model(model: str, weights: str | None, runtime: str, models_dir: Path | None) -> Extractor:
    path = keras_weights(model, weights)
    ctor, side, layer, dims = KERAS_MODELS[model]
    state: dict = {}
    if path is None:
        # Downloaded now, in the main thread and before any image is read: a failure costs nothing.
        state["full"] = download_imagenet(model)
        path = keras_cache(model)
    # Keras may keep its cache elsewhere (an unwritable home): then the weights are known by name only.
    file_id = _file_id(path) if path.is_file() else "imagenet"

    def net():
        # Built on first use, in the main thread, after the checks above (TensorFlow takes seconds to import).
        if "model" not in state:  # the one Keras just downloaded for, else one built from the weights file
            state["model"], state["preprocess"] = keras_network(model, path, full=state.pop("full", None))
        return state["model"], state["preprocess"]

    prepare = functools.partial(_prepare_stretched, side=side)
    model_id = f"{model}-{file_id}"  # the converted models' name
    cache_id = model_id + runtimes.feature_suffix(runtime)
    notes: list[str] = []
    speeds: dict[str, float] = {}

    def run(batch: np.ndarray) -> np.ndarray:
        m, preprocess = net()
        x = preprocess(batch.astype(np.float32))
        if "runner" not in state:  # the first batch: convert (or load) and check the runtime on its first images
            chosen = runtimes.select(m, runtime, x[:runtimes.CHECK_IMAGES], models_dir=models_dir, key=model_id)
            state["runner"] = chosen.run
            ex.runtime = chosen.runtime
            notes.extend(chosen.notes)
            speeds.update(chosen.speeds)
        return state["runner"](x)

    ex = Extractor(model, model.split("_")[0], f"Keras {ctor} '{layer}' features ({dims}-d, ImageNet weights {path.name})",
                   cache_id, prepare, run, runtime=runtime, notes=notes, speeds=speeds)
    return ex


def _file_id(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size:x}{int(st.st_mtime):x}"


def _vectors(path_text: str) -> Extractor:
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise DashboardError(f"--vectors {path_text}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            rows = np.load(path, allow_pickle=False)
        elif suffix in (".h5", ".hdf5"):
            import h5py

            with h5py.File(path, "r") as f:
                keys = list(f.keys())
                rows = f["latent" if "latent" in keys else keys[0]][()]
        elif suffix == ".parquet":
            import pandas as pd

            rows = pd.read_parquet(path).select_dtypes("number").to_numpy()
        else:
            raise DashboardError(f"--vectors {path_text}: expected .npy, .h5 or .parquet")
    except (OSError, ValueError, KeyError, IndexError) as e:
        raise DashboardError(f"--vectors {path_text}: cannot read it ({e})") from None
    rows = np.asarray(rows)
    if rows.ndim != 2 or not np.issubdtype(rows.dtype, np.number):
        raise DashboardError(f"--vectors {path_text}: expected a 2-d numeric array, got shape {rows.shape}")
    if not np.isfinite(rows).all():
        raise DashboardError(f"--vectors {path_text}: contains NaN or infinite values")
    return Extractor("vectors", "vectors", f"vectors from {path.name} ({rows.shape[1]}-d)", f"vectors-{_file_id(path)}",
                     positional=True, rows=rows)


def extractor(model: str, *, weights: str | None = None, vectors: str | None = None, runtime: str = "auto",
              models_dir: Path | None = None) -> Extractor:
    """The feature extractor a build asked for (checks weights, files and the runtime before any work).

    ``runtime`` (Keras models): one of :data:`runtimes.RUNTIMES`; a converted model is kept in ``models_dir``
    (None: converted again by each extractor).
    """
    runtimes.check_runtime(runtime)
    if vectors:
        return _vectors(vectors)
    if model == "pixels":
        return _pixels()
    if model == "vae":
        return _vae_input()
    if model in KERAS_MODELS:
        return _keras_model(model, weights, runtime, models_dir)
    raise DashboardError(f"--model must be one of {', '.join(m for m in MODELS if m != 'vectors')}, got {model!r}")
