"""Where a Keras image model runs: TensorFlow itself, or the same network converted once for OpenVINO or ONNX Runtime.

A converted model is kept on disk under a name made of the feature cache id (model and weights
file), the runtime and its version, so later builds load it instead of converting again. Before a
build uses it, :func:`select` runs TensorFlow and the converted model on the first few images and
keeps the conversion only when their features agree (:data:`MAX_REL_DIFF`, :data:`MIN_COSINE`);
otherwise, or when the runtime is missing or the conversion fails, TensorFlow runs the model and
the build report says why. Because features agree within that tolerance, the feature cache has one
id whichever runtime computed them.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import DashboardError

RUNTIMES = ("auto", "tensorflow", "onnx", "openvino", "openvino-bf16")
#: What ``auto`` tries, in order: OpenVINO converts InceptionV3 in half the time tf2onnx takes and runs it
#: at least as fast as ONNX Runtime (bench/bench_features.py measures all three). Never bfloat16: its
#: features are not TensorFlow's within MAX_REL_DIFF, so it is asked for by name.
PREFERENCE = ("openvino", "onnx")
#: The Python packages each runtime needs (the extras ``dashboard[openvino]`` and ``dashboard[onnx]``).
PACKAGES = {"openvino": ("openvino",), "onnx": ("onnxruntime", "tf2onnx", "onnx")}
#: The engine a runtime is, when it is one run another way (OpenVINO in bfloat16: the same conversion and
#: packages as in float32, computed in bf16).
ENGINE = {"openvino-bf16": "openvino"}
#: A converted model is used only when, on the check batch, its largest difference from TensorFlow's
#: features is at most this fraction of TensorFlow's largest feature, and every row's cosine is at least
#: MIN_COSINE (float32 arithmetic in another order differs by about 1e-6 of the largest).
MAX_REL_DIFF = 1e-3
MIN_COSINE = 0.9999
#: bfloat16 keeps 8 bits of mantissa: InceptionV3's features on 256 emoji moved by 0.5 % of the largest
#: (cosine ≥ 0.99998; 99 % of each image's 10 nearest neighbours kept: bench_features) for 5.5× float32's speed on a CPU
#: with AMX. They get a feature cache id of their own (:func:`feature_suffix`), never mixed with float32's.
TOLERANCE = {"openvino-bf16": (2e-2, 0.999)}
#: Images in the check batch (the first ones the build runs through the model).
CHECK_IMAGES = 8

Runner = Callable[[np.ndarray], np.ndarray]


def check_runtime(runtime: str) -> str:
    """``runtime`` when it is one of :data:`RUNTIMES`, else a one-line error."""
    if runtime not in RUNTIMES:
        raise DashboardError(f"--runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    return runtime


def missing(runtime: str) -> list[str]:
    """The packages ``runtime`` needs that are not installed."""
    return [p for p in PACKAGES.get(ENGINE.get(runtime, runtime), ()) if importlib.util.find_spec(p) is None]


def version(runtime: str) -> str:
    """The installed version of ``runtime``'s converter and engine (part of a converted model's name)."""
    return "-".join(importlib.metadata.version(p) for p in PACKAGES[runtime])


def feature_suffix(runtime: str) -> str:
    """What a runtime adds to the feature cache id: ``-bf16`` for bfloat16, whose features differ from
    float32's by more than the runtimes' shared tolerance; nothing for the others."""
    return "-bf16" if runtime.endswith("-bf16") else ""


def tensorflow_runner(model) -> Runner:
    """Features of a preprocessed batch from the Keras ``model`` itself, one predict() per batch."""

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict(x, batch_size=len(x), verbose=0), np.float32).reshape(len(x), -1)

    return run


def convert(model, runtime: str, folder: Path) -> None:
    """Write the Keras ``model`` converted for ``runtime`` into the empty ``folder``."""
    if runtime == "openvino":
        import openvino as ov

        with warnings.catch_warnings():  # Keras warns that OpenVINO's tracing passes the input as a tuple
            warnings.simplefilter("ignore")
            converted_model = ov.convert_model(model)
        # float32 weights: OpenVINO's default fp16 compression would move features by about 1e-3
        ov.save_model(converted_model, str(folder / "model.xml"), compress_to_fp16=False)
    elif runtime == "onnx":
        # tf2onnx logs (and survives) failures of its optional graph optimisers as full tracebacks
        logging.getLogger("tf2onnx").setLevel(logging.CRITICAL)
        model.export(str(folder / "model.onnx"), format="onnx", verbose=False)
    else:
        raise ValueError(runtime)


def load(runtime: str, folder: Path) -> Runner:
    """A function from a preprocessed batch to features, running the model converted into ``folder``."""
    if ENGINE.get(runtime, runtime) == "openvino":
        import openvino as ov

        # f32 asked for unless bf16 is: on CPUs with bfloat16 (AVX512-BF16, AMX) OpenVINO computes in bf16 by
        # default, whose features differ from TensorFlow's by ~1 %, beyond MAX_REL_DIFF
        precision = "bf16" if feature_suffix(runtime) else "f32"
        compiled = ov.Core().compile_model(str(folder / "model.xml"), "CPU", {"INFERENCE_PRECISION_HINT": precision})

        def run(x: np.ndarray) -> np.ndarray:
            return np.asarray(compiled(x)[0], np.float32).reshape(len(x), -1)

        return run
    if runtime == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name

        def run(x: np.ndarray) -> np.ndarray:
            return np.asarray(session.run(None, {name: x})[0], np.float32).reshape(len(x), -1)

        return run
    raise ValueError(runtime)


def converted(model, runtime: str, models_dir: Path | None, key: str) -> Runner:
    """``model`` run by ``runtime``: loaded from ``models_dir/<key>-<runtime>-<version>`` when an earlier build
    converted it, else converted now and kept there (in a temporary folder when ``models_dir`` is None).

    A kept conversion that cannot be loaded is removed (the next build converts again) and the error raised.
    """
    engine = ENGINE.get(runtime, runtime)
    if models_dir is None:
        with tempfile.TemporaryDirectory() as tmp:
            convert(model, engine, Path(tmp))
            return load(runtime, Path(tmp))  # both engines hold the model in memory once loaded
    target = Path(models_dir) / f"{key}-{engine}-{version(engine)}"
    if not target.is_dir():
        Path(models_dir).mkdir(parents=True, exist_ok=True)
        # converted beside the target and renamed into place: a killed build leaves no half-written model
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=models_dir))
        try:
            convert(model, engine, tmp)
            tmp.rename(target)
        except OSError:
            if not target.is_dir():  # another build renamed its own conversion into place first: use that
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    try:
        return load(runtime, target)
    except Exception:
        shutil.rmtree(target, ignore_errors=True)
        raise


def agreement(features: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(largest |difference| as a fraction of the reference's largest |value|, smallest row cosine)."""
    scale = float(np.abs(reference).max()) or 1.0
    rel = float(np.abs(features - reference).max()) / scale
    norms = np.linalg.norm(features, axis=1) * np.linalg.norm(reference, axis=1)
    cosines = np.where(norms > 0, (features * reference).sum(axis=1) / np.where(norms > 0, norms, 1.0),
                       np.all(features == reference, axis=1).astype(float))
    return rel, float(cosines.min())


def _timed(run: Runner, x: np.ndarray) -> tuple[np.ndarray, float]:
    """The features of ``x`` and the images per second of a second run (the first one warms the engine up)."""
    out = run(x)
    start = time.perf_counter()
    run(x)
    return out, len(x) / max(time.perf_counter() - start, 1e-9)


@dataclass
class Selection:
    """The runner a build uses, which runtime that is, and what was measured on the check batch."""

    runtime: str
    run: Runner
    notes: list[str] = field(default_factory=list)
    speeds: dict[str, float] = field(default_factory=dict)  # runtime → images/s on the check batch


def select(model, runtime: str, x: np.ndarray, *, models_dir: Path | None = None, key: str = "model") -> Selection:
    """The runner for ``runtime`` (see :data:`RUNTIMES`), checked against TensorFlow on the preprocessed batch ``x``.

    ``tensorflow`` runs the Keras model. Otherwise each candidate (``auto``: those of :data:`PREFERENCE` that are
    installed) is converted or loaded, timed and compared with TensorFlow on ``x``; the first that agrees is
    used. When none does, TensorFlow runs the model and the notes say why.
    """
    check_runtime(runtime)
    tf_run = tensorflow_runner(model)
    if runtime == "tensorflow":
        return Selection("tensorflow", tf_run)
    notes = []
    candidates = []
    for r in (PREFERENCE if runtime == "auto" else (runtime,)):
        if missing(r):
            if runtime != "auto":
                notes.append(f"--runtime {r} needs {', '.join(missing(r))} (pip install 'dashboard[{ENGINE.get(r, r)}]'): "
                             "features by TensorFlow")
        else:
            candidates.append(r)
    if not candidates:
        if runtime == "auto":
            notes.append("features by TensorFlow (pip install 'dashboard[openvino]' or 'dashboard[onnx]' for a faster "
                         "runtime)")
        return Selection("tensorflow", tf_run, notes)
    reference, tf_speed = _timed(tf_run, x)
    speeds = {"tensorflow": round(tf_speed, 2)}
    for r in candidates:
        try:
            run = converted(model, r, models_dir, key)
            features, speed = _timed(run, x)
        except Exception as e:  # noqa: BLE001 - any failure of a converter or engine means: use TensorFlow
            reason = " ".join(str(e).split())[:200] or type(e).__name__
            notes.append(f"{r} could not run the model ({type(e).__name__}: {reason}): features by TensorFlow")
            continue
        rel, cos = agreement(features, reference)
        speeds[r] = round(speed, 2)
        max_rel, min_cos = TOLERANCE.get(r, (MAX_REL_DIFF, MIN_COSINE))
        if rel > max_rel or cos < min_cos:
            notes.append(f"{r}'s features differ from TensorFlow's (largest difference {rel:.1e} of the largest "
                         f"feature, cosine {cos:.6f}; allowed {max_rel:g}, {min_cos}): features by TensorFlow")
            continue
        notes.append(f"features by {r}: {speed:.1f} images/s, TensorFlow {tf_speed:.1f} on the first {len(x)} images "
                     f"({'within its tolerance' if r in TOLERANCE else 'same features'}: largest difference "
                     f"{rel:.1e} of the largest, cosine ≥ {cos:.6f})")
        return Selection(r, run, notes, speeds)
    notes.append(f"features by TensorFlow: {tf_speed:.1f} images/s on the first {len(x)} images")
    return Selection("tensorflow", tf_run, notes, speeds)
