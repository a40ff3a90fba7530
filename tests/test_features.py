"""Image feature models: Keras's own download of the ImageNet weights, and the ways to go on without it.

No test downloads: the network call Keras makes (``urllib.request.urlopen``) is replaced by one
that records the request and fails, as it does on a machine without internet.
"""

from __future__ import annotations

import urllib.error
import urllib.request

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from dashboard.cli import cli
from dashboard.compute import features
from dashboard.errors import DashboardError
from dashboard.store import open_dataset


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty Keras cache, and a network that refuses every request (the URLs asked for are recorded)."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    asked: list[str] = []

    def refuse(url, *args, **kwargs):
        asked.append(url if isinstance(url, str) else url.full_url)
        raise urllib.error.URLError("no internet here (test)")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    return asked


@pytest.fixture(scope="module")
def mobilenet_weights(tmp_path_factory):
    """A MobileNetV3Small weights file (random weights standing in for ImageNet's)."""
    import keras

    path = tmp_path_factory.mktemp("weights") / "mobilenet.weights.h5"
    keras.applications.MobileNetV3Small(weights=None, include_top=True).save_weights(path)
    return path


@pytest.fixture
def photos(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    folder.mkdir()
    for k in range(6):
        Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(folder / f"{k}.png")
    return folder


def test_missing_weights_are_downloaded_by_keras_and_a_failed_download_is_one_line(offline):
    with pytest.raises(DashboardError) as failed:
        features.extractor("mobilenet_v3")
    # Keras itself asked for its ImageNet file (nothing of ours names a URL)
    assert len(offline) == 1 and offline[0].endswith("/" + features.KERAS_WEIGHT_FILES["mobilenet_v3"])
    message = str(failed.value)
    assert "\n" not in message
    assert "Keras could not download them" in message and "no internet here (test)" in message
    assert "pass --weights FILE" in message and "--model pixels" in message and "works offline" in message


def test_weights_in_the_keras_cache_need_no_download(offline, tmp_path):
    import keras

    cache = features.keras_cache("mobilenet_v3")
    cache.parent.mkdir(parents=True)
    # the legacy HDF5 layout Keras's ImageNet files have (random weights standing in)
    keras.applications.MobileNetV3Small(weights=None, include_top=True).save(cache)
    ex = features.extractor("mobilenet_v3")
    x = ex.run(np.stack([ex.prepare(Image.new("RGB", (50, 50), c)) for c in ("red", "navy")]))
    assert x.shape == (2, 576) and np.isfinite(x).all()
    assert offline == []


def test_build_with_weights_file_runs_offline(offline, mobilenet_weights, photos, tmp_path):
    r = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "build", "images", "cnn", "--images", str(photos),
                                 "--model", "mobilenet_v3", "--weights", str(mobilenet_weights), "--layouts", "none"])
    assert r.exit_code == 0, r.output
    ds = open_dataset(tmp_path / "data", "cnn")
    assert ds.n == 6 and ds.latent("mobilenet").shape == (6, 576)
    assert offline == []


def test_offline_default_model_stops_before_any_work(offline, photos, tmp_path):
    r = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "build", "images", "photos",
                                 "--images", str(photos)])
    assert r.exit_code == 1 and r.output.count("\n") == 1, r.output
    assert r.output.startswith("Error: --model inception_v3 needs its ImageNet weights and Keras could not download")
    assert offline[0].endswith("/" + features.KERAS_WEIGHT_FILES["inception_v3"])
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())


def test_a_successful_download_is_used_and_cached_like_any_weights(offline, monkeypatch):
    """Keras's download stood in for (this machine is offline): the model it returns is the one used,
    and the file it leaves in the Keras cache keys the feature cache."""
    import keras

    real = keras.applications.MobileNetV3Small
    calls: list = []

    def downloading(*args, weights=None, **kwargs):
        calls.append(weights)
        model = real(*args, weights=None, **kwargs)
        if weights == "imagenet":  # what Keras does: the file lands in its cache
            features.keras_cache("mobilenet_v3").parent.mkdir(parents=True, exist_ok=True)
            model.save(features.keras_cache("mobilenet_v3"))
        return model

    monkeypatch.setattr(keras.applications, "MobileNetV3Small", downloading)
    ex = features.extractor("mobilenet_v3")
    assert calls == ["imagenet"] and ex.cache_id == "mobilenet_v3-" + features._file_id(features.keras_cache("mobilenet_v3"))
    x = ex.run(np.stack([ex.prepare(Image.new("RGB", (50, 50), "teal"))]))
    assert x.shape == (1, 576) and calls == ["imagenet"]  # the downloaded model, not a second one
    assert features.extractor("mobilenet_v3").cache_id == ex.cache_id and calls == ["imagenet"]  # now cached
