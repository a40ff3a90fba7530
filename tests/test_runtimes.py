"""The Keras image models on OpenVINO and ONNX Runtime: the same features as TensorFlow, and TensorFlow when not.

The models carry random weights saved to a file (this machine is offline); each conversion is done
once per session into a shared folder, as a build keeps it in its data directory's cache.
"""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from dashboard.cli import cli
from dashboard.compute import features, runtimes
from dashboard.store import open_dataset


@pytest.fixture(scope="session")
def network(tmp_path_factory):
    """model → (its weights file, its feature network, its preprocessing), built once per session with
    random weights standing in for ImageNet's."""
    import keras

    folder = tmp_path_factory.mktemp("runtime-weights")
    built: dict = {}

    def get(model: str):
        if model not in built:
            full = getattr(keras.applications, features.KERAS_MODELS[model][0])(weights=None, include_top=True)
            full.save_weights(folder / f"{model}.weights.h5")
            built[model] = (folder / f"{model}.weights.h5", *features.keras_network(model, full=full))
        return built[model]

    return get


@pytest.fixture(scope="session")
def weights(network):
    return {"mobilenet_v3": network("mobilenet_v3")[0]}


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory):
    """Where this session's conversions are kept (each one converted once), as a build keeps them."""
    return tmp_path_factory.mktemp("converted-models")


def conversion(network, models_dir, model: str, runtime: str):
    """The folder of ``model``'s conversion for ``runtime`` in ``models_dir`` (converted now if need be)."""
    w, net, _ = network(model)
    key = features.extractor(model, weights=str(w)).cache_id  # the name a build gives it
    runtimes.converted(net, runtime, models_dir, key)
    return models_dir / f"{key}-{runtime}-{runtimes.version(runtime)}"


def photo_batch(model: str, n: int = 6) -> np.ndarray:
    """``n`` photo-like images (smooth colour gradients with noise), prepared as ``model``'s input."""
    rng = np.random.default_rng(3)
    ramp = np.linspace(0, 1, 80)
    side = features.KERAS_MODELS[model][1]
    images = []
    for k in range(n):
        colour = rng.uniform(0, 255, (2, 3))
        pixels = ramp[:, None, None] * colour[0] + (1 - ramp[None, :, None]) * colour[1]
        pixels = np.clip(pixels + rng.normal(0, 20, pixels.shape), 0, 255).astype(np.uint8)
        images.append(features._prepare_stretched(Image.fromarray(pixels), side))
    return np.stack(images)


@pytest.mark.parametrize("model, runtime", [("mobilenet_v3", "openvino"), ("mobilenet_v3", "onnx"),
                                            ("inception_v3", "openvino")])
def test_converted_features_equal_tensorflows(model, runtime, network, models_dir):
    """InceptionV3 through ONNX Runtime is left to the benchmark: tf2onnx takes minutes to convert it."""
    _, net, preprocess = network(model)
    x = preprocess(photo_batch(model).astype(np.float32))
    reference = runtimes.tensorflow_runner(net)(x)
    ours = runtimes.load(runtime, conversion(network, models_dir, model, runtime))(x)
    assert ours.shape == reference.shape == (len(x), features.KERAS_MODELS[model][3])
    rel, cos = runtimes.agreement(ours, reference)
    assert rel <= runtimes.MAX_REL_DIFF and cos >= runtimes.MIN_COSINE, (rel, cos)
    if model == "mobilenet_v3":  # the tolerance means something: another network's features fail it
        other = runtimes.tensorflow_runner(features.keras_network(model)[0])(x)
        assert runtimes.agreement(other, reference)[1] < runtimes.MIN_COSINE


def test_the_extractor_uses_the_runtime_and_keeps_its_conversion(weights, tmp_path):
    models_dir = tmp_path / "models"
    batch = photo_batch("mobilenet_v3", 10)
    ex = features.extractor("mobilenet_v3", weights=str(weights["mobilenet_v3"]), runtime="auto", models_dir=models_dir)
    tf = features.extractor("mobilenet_v3", weights=str(weights["mobilenet_v3"]), runtime="tensorflow")
    assert ex.cache_id == tf.cache_id  # one feature cache whichever runtime computes them
    ours, reference = ex.run(batch), tf.run(batch)
    assert ex.runtime == runtimes.PREFERENCE[0] and tf.runtime == "tensorflow" and tf.notes == []
    rel, cos = runtimes.agreement(ours, reference)
    assert rel <= runtimes.MAX_REL_DIFF and cos >= runtimes.MIN_COSINE
    assert set(ex.speeds) == {"tensorflow", ex.runtime} and min(ex.speeds.values()) > 0
    assert len(ex.notes) == 1 and ex.notes[0].startswith(f"features by {ex.runtime}: ")
    kept = [p for p in models_dir.iterdir() if p.name.startswith(ex.cache_id)]
    assert len(kept) == 1 and not [p for p in models_dir.iterdir() if p.name.startswith(".")]
    # a second extractor loads that conversion instead of converting again
    mtime = kept[0].stat().st_mtime_ns
    again = features.extractor("mobilenet_v3", weights=str(weights["mobilenet_v3"]), models_dir=models_dir)
    again.run(batch[:2])
    assert again.runtime == ex.runtime and kept[0].stat().st_mtime_ns == mtime


def test_bfloat16_is_asked_for_by_name_and_its_features_are_cached_apart(weights, tmp_path):
    """``openvino-bf16`` runs the float32 conversion in bfloat16: features within its own tolerance, under a
    feature cache id of their own (never mixed with float32 features), and never chosen by ``auto``."""
    models_dir = tmp_path / "models"
    batch = photo_batch("mobilenet_v3", 10)
    w = str(weights["mobilenet_v3"])
    bf16 = features.extractor("mobilenet_v3", weights=w, runtime="openvino-bf16", models_dir=models_dir)
    f32 = features.extractor("mobilenet_v3", weights=w, runtime="openvino", models_dir=models_dir)
    tf = features.extractor("mobilenet_v3", weights=w, runtime="tensorflow")
    assert bf16.cache_id == tf.cache_id + "-bf16" and f32.cache_id == tf.cache_id
    assert "openvino-bf16" not in runtimes.PREFERENCE
    ours, reference = bf16.run(batch), tf.run(batch)
    assert bf16.runtime == "openvino-bf16", bf16.notes
    assert bf16.notes[0].startswith("features by openvino-bf16: ") and "within its tolerance" in bf16.notes[0]
    rel, cos = runtimes.agreement(ours, reference)
    max_rel, min_cos = runtimes.TOLERANCE["openvino-bf16"]
    assert rel <= max_rel and cos >= min_cos, (rel, cos)
    f32.run(batch[:2])  # the same conversion serves both precisions
    assert [p.name for p in models_dir.iterdir()] == [f"{tf.cache_id}-openvino-{runtimes.version('openvino')}"]


def test_a_corrupt_conversion_falls_back_to_tensorflow_with_a_note(network, models_dir, tmp_path):
    batch = photo_batch("mobilenet_v3", 4)
    w = str(network("mobilenet_v3")[0])
    kept = conversion(network, models_dir, "mobilenet_v3", "openvino")
    folder = tmp_path / kept.name
    shutil.copytree(kept, folder)  # what an earlier build kept
    (folder / "model.xml").write_text("<net><layers><layer id=")  # cut short, as by a full disk
    broken = features.extractor("mobilenet_v3", weights=w, runtime="openvino", models_dir=tmp_path)
    ours = broken.run(batch)
    assert broken.runtime == "tensorflow"
    assert broken.notes[0].startswith("openvino could not run the model (") and "features by TensorFlow" in broken.notes[0]
    assert set(broken.speeds) == {"tensorflow"}
    reference = features.extractor("mobilenet_v3", weights=w, runtime="tensorflow").run(batch)
    np.testing.assert_array_equal(ours, reference)
    assert not folder.exists()  # removed: the next build converts again


def test_a_missing_runtime_falls_back_to_tensorflow_with_a_note(weights, monkeypatch):
    # an uninstalled package: Python's import system finds no module under that name
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    monkeypatch.setitem(sys.modules, "openvino", None)
    assert runtimes.missing("onnx") == ["onnxruntime"]
    batch = photo_batch("mobilenet_v3", 2)
    w = str(weights["mobilenet_v3"])
    asked = features.extractor("mobilenet_v3", weights=w, runtime="onnx")
    x = asked.run(batch)
    assert asked.runtime == "tensorflow" and x.shape == (2, 576)
    assert asked.notes == ["--runtime onnx needs onnxruntime (pip install 'dashboard[onnx]'): features by TensorFlow"]
    auto = features.extractor("mobilenet_v3", weights=w)
    auto.run(batch)
    assert auto.runtime == "tensorflow" and "pip install 'dashboard[openvino]'" in auto.notes[0]


def test_a_bad_runtime_is_one_line(tmp_path):
    r = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "build", "images", "x",
                                 "--images", str(tmp_path), "--runtime", "gpu"])
    assert r.exit_code == 1 and r.output.count("\n") == 1, r.output
    assert r.output == "Error: --runtime must be one of auto, tensorflow, onnx, openvino, openvino-bf16, got 'gpu'\n"
    r = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "build", "digits", "--runtime", "onnx"])
    assert r.exit_code == 2 and "--runtime does not apply to the digits recipe" in r.output


def test_build_report_names_the_runtime_and_both_speeds(network, models_dir, tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "photos").mkdir()
    for k in range(5):
        Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(tmp_path / "photos" / f"{k}.png")
    # an earlier build of another collection converted the same model: this build loads it
    models = tmp_path / "data" / ".cache" / "models"
    kept = conversion(network, models_dir, "mobilenet_v3", "onnx")
    shutil.copytree(kept, models / kept.name)
    mtime = (models / kept.name / "model.onnx").stat().st_mtime_ns
    r = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "build", "images", "photos",
                                 "--images", str(tmp_path / "photos"), "--model", "mobilenet_v3",
                                 "--weights", str(network("mobilenet_v3")[0]), "--runtime", "onnx", "--layouts", "none"])
    assert r.exit_code == 0, r.output
    report = open_dataset(tmp_path / "data", "photos").report
    assert any(n.startswith("features by onnx: ") for n in report["notes"]), report["notes"]
    assert report["timings"]["features_img_s_onnx"] > 0 and report["timings"]["features_img_s_tensorflow"] > 0
    assert [p.name for p in models.iterdir()] == [kept.name]
    assert (models / kept.name / "model.onnx").stat().st_mtime_ns == mtime  # loaded, not converted again
    info = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "info", "photos"])
    assert "note: features by onnx: " in info.output
