"""``build images --dask``: decoding and model batches on a Dask cluster give the dataset a build here gives,
stream into the feature cache so a killed build resumes, and bad clusters are one-line errors."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dask
import distributed  # noqa: F401 - its config defaults are loaded before a test sets one of them
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from dashboard import cache as cache_mod
from dashboard.cli import cli
from dashboard.compute import features
from dashboard.ingest import dask_images, images
from dashboard.store import open_dataset

from .conftest import _free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """160 small generated pictures in two folders, plus a truncated PNG, a text file, an animated GIF
    (a note) and a hidden file: the skips and notes a build reports."""
    root = tmp_path_factory.mktemp("pictures")
    rng = np.random.default_rng(18)
    for k in range(160):
        sub = root / ("a" if k % 3 else "b")
        sub.mkdir(exist_ok=True)
        h, w = 24 + k % 17, 30 + k % 11
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(sub / f"p{k:03d}.png")
    whole = (root / "a" / "p001.png").read_bytes()
    (root / "a" / "truncated.png").write_bytes(whole[: len(whole) // 3])
    (root / "b" / "notes.txt").write_text("not an image")
    frames = [Image.new("RGB", (20, 20), c) for c in ("blue", "yellow")]
    frames[0].save(root / "b" / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    return root


def _build(data: Path, folder: Path, *extra: str):
    return CliRunner().invoke(cli, ["--data-dir", str(data), "build", "images", "pics", "--images", str(folder),
                                    "--model", "pixels", "--layouts", "none", *extra])


def _build_here(data: Path, folder: Path) -> None:
    """The build without Dask, in a process of its own: its decoders are forked, and a fork of this process,
    whose Dask clients leave threads running, could inherit a held lock and hang."""
    p = subprocess.run([sys.executable, "-m", "dashboard", "--data-dir", str(data), "build", "images", "pics",
                        "--images", str(folder), "--model", "pixels", "--layouts", "none"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr


def _assert_same(got: dict, expected: dict) -> None:
    """Two builds' results equal, the report's parts first (a difference there explains the rest)."""
    for part in ("skipped", "notes", "counts", "names", "provenance", "thumbs"):
        assert got[part] == expected[part], part


def _result(data: Path) -> dict:
    """What a build produced that must not depend on where it ran (features apart)."""
    ds = open_dataset(data, "pics")
    thumbs = [hashlib.sha1(ds.image_path(i, thumb=True).read_bytes()).hexdigest() for i in range(ds.n)]
    return {"names": list(ds.meta["name"]), "thumbs": thumbs, "skipped": ds.report["skipped"],
            "notes": ds.report["notes"], "counts": ds.report["counts"], "provenance": ds.manifest.get("provenance")}


@pytest.fixture(scope="module")
def here(folder, tmp_path_factory) -> Path:
    """The folder built without Dask: what every --dask build must equal."""
    data = tmp_path_factory.mktemp("here")
    _build_here(data, folder)
    return data


def test_a_dask_build_is_the_build_made_here(folder, here, tmp_path):
    r = _build(tmp_path, folder, "--dask", "local:2")
    assert r.exit_code == 0, r.output
    expected, got = _result(here), _result(tmp_path)
    _assert_same(got, expected)
    reasons = {s["item"]: s["reason"] for s in got["skipped"]}
    assert reasons["a/truncated.png"].startswith("truncated or corrupt PNG") and reasons["b/notes.txt"] == "not an image"
    assert reasons[".DS_Store"] == "hidden file or system clutter (ignored)"
    assert any(n.startswith("b/anim.gif: animated (2 frames)") for n in got["notes"])
    assert got["counts"]["items"] == 161 and got["counts"]["features_from_cache"] == 0
    a, b = open_dataset(here, "pics"), open_dataset(tmp_path, "pics")
    np.testing.assert_allclose(b.latent("pixels"), a.latent("pixels"), atol=1e-6)
    assert not (tmp_path / "pics" / images.SCRATCH).exists()


def _cached_features(data: Path) -> int:
    with cache_mod.open_cache(data) as cache:
        return sum(1 for key in cache.iterkeys() if str(key).startswith("features/"))


def _kill_once_cached(data: Path, folder: Path, threshold: int) -> int:
    """Start a --dask build, SIGKILL its process once ``threshold`` features are cached; the features cached."""
    p = subprocess.Popen([sys.executable, "-m", "dashboard", "--data-dir", str(data), "build", "images", "pics",
                          "--images", str(folder), "--model", "pixels", "--layouts", "none", "--dask", "local:2"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while _cached_features(data) < threshold:
            assert p.poll() is None, p.communicate()[0].decode()
            assert time.monotonic() < deadline, "no features cached after 120 s"
            time.sleep(0.02)
        import psutil

        workers = psutil.Process(p.pid).children(recursive=True)
        os.kill(p.pid, signal.SIGKILL)  # the build's process only: its workers must notice and go
        p.wait()
        gone, alive = psutil.wait_procs(workers, timeout=30)
        assert not alive, [w.cmdline() for w in alive]
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert not (data / "pics").exists()  # nothing published by the killed run
    return _cached_features(data)


def test_a_killed_dask_build_resumes_from_the_feature_cache(folder, here, tmp_path):
    """The build's process is killed (SIGKILL) once some batches' features are cached: its workers go with it,
    and the next --dask build sends only the rest to the workers."""
    # A fast machine may cache every batch between two looks at the cache: kill sooner on the next try.
    for attempt, threshold in enumerate((2 * images.BATCH, images.BATCH, 1)):
        data = tmp_path / f"try{attempt}"
        cached = _kill_once_cached(data, folder, threshold)
        if cached < 161:
            break
    else:
        pytest.fail("every build finished before it was killed")
    r = _build(data, folder, "--dask", "local:2")
    assert r.exit_code == 0, r.output
    expected, got = _result(here), _result(data)
    assert got["counts"]["features_from_cache"] >= cached > 0
    got["counts"]["features_from_cache"] = 0
    _assert_same(got, expected)
    np.testing.assert_allclose(open_dataset(data, "pics").latent("pixels"),
                               open_dataset(here, "pics").latent("pixels"), atol=1e-6)


@pytest.mark.parametrize("value", ["local:0", "local", "workers", "http://127.0.0.1:8786", "tcp://"])
def test_a_bad_dask_value_is_a_one_line_error(folder, tmp_path, value):
    r = _build(tmp_path, folder, "--dask", value)
    assert r.exit_code == 1
    assert r.output.strip().splitlines() == [
        f"Error: --dask must be local:N (N ≥ 1 worker processes on this machine) or tcp://HOST:PORT "
        f"(a running Dask scheduler), got {value!r}"]


def test_an_unreachable_scheduler_is_a_one_line_error(folder, tmp_path):
    address = f"tcp://127.0.0.1:{_free_port()}"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        r = _build(tmp_path, folder, "--dask", address)
    assert r.exit_code == 1
    line = r.output.strip().splitlines()[-1]
    assert line.startswith(f"Error: --dask {address}: cannot reach a Dask scheduler there ("), r.output
    assert "Traceback" not in r.output


def test_dask_is_for_the_images_recipe_only(tmp_path):
    r = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "build", "digits", "--dask", "local:2"])
    assert r.exit_code == 2 and "--dask does not apply to the digits recipe" in r.output


def test_keras_features_on_dask_workers_match_and_the_model_loads_once_per_worker(folder, tmp_path):
    """A small Keras model (random weights standing in for ImageNet's) on one Dask worker: the features of a
    build here, within float tolerance; the worker builds its extractor once for every batch it runs."""
    import keras

    weights = tmp_path / "mobilenet.weights.h5"
    keras.applications.MobileNetV3Small(weights=None, include_top=True).save_weights(weights)
    paths = sorted((folder / "a").glob("p0*.png"))[:40] + [folder / "a" / "truncated.png"]
    local = features.extractor("mobilenet_v3", weights=str(weights))
    expected = local.run(np.stack([local.prepare(images.open_image(p)[0]) for p in paths[:-1]]))
    with dask_images.connect("local:1") as client:
        dask_images.warm_up(client, model="mobilenet_v3", weights=str(weights))
        got, skipped = dask_images.features_for_files(paths, model="mobilenet_v3", weights=str(weights), dask=client)
        again, _ = dask_images.features_for_files(paths[:5], model="mobilenet_v3", weights=str(weights), dask=client)
        built = client.run(lambda: sorted(str(k[0]) for k in dask_images._WORKER if isinstance(k, tuple)))
    assert [p for p, _ in skipped] == [str(paths[-1])] and skipped[0][1].startswith("truncated or corrupt PNG")
    assert got.shape == expected.shape == (40, 576)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(again, got[:5], rtol=1e-5, atol=1e-5)
    assert list(built.values()) == [["extractor"]]  # one extractor for the warm-up and the 3 batches


# -- a running scheduler and its workers (dask scheduler / dask worker, as a cluster runs them)

def _start(args: list[str], *, wrap: list[str] | None = None, daemon: bool = False) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DASK_DISTRIBUTED__WORKER__DAEMON": str(daemon)}
    return subprocess.Popen([*(wrap or []), sys.executable, "-m", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


@pytest.fixture(scope="module")
def scheduler():
    port = _free_port()
    p = _start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"])
    address = f"tcp://127.0.0.1:{port}"
    yield address
    _stop(p)


def _workers(address: str) -> list[str]:
    """The names of the workers the scheduler at ``address`` has."""
    with distributed.Client(address, timeout="20s") as client:
        return [str(w.get("name")) for w in client.scheduler_info()["workers"].values()]


def _start_worker(address: str, wrap: list[str] | None = None, daemon: bool = False) -> subprocess.Popen:
    name = f"worker-{uuid.uuid4().hex[:8]}"
    p = _start(["distributed.cli.dask_worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-dashboard",
                "--name", name], wrap=wrap, daemon=daemon)
    deadline = time.monotonic() + 60
    while name not in _workers(address):
        assert p.poll() is None, f"the worker stopped (exit code {p.returncode})"
        assert time.monotonic() < deadline, "the worker did not join in 60 s"
        time.sleep(0.5)
    return p


def test_a_scheduler_without_workers_is_a_one_line_error(folder, scheduler, tmp_path, monkeypatch):
    assert _workers(scheduler) == []
    monkeypatch.setattr(dask_images, "WORKERS_TIMEOUT", 1.0)
    r = _build(tmp_path, folder, "--dask", scheduler)
    assert r.exit_code == 1
    assert r.output.strip().splitlines()[-1] == (f"Error: --dask {scheduler}: the scheduler has no workers "
                                                 "(none joined within 1 s)"), r.output


def _can_hide_folders() -> bool:
    unshare = shutil.which("unshare")
    return bool(unshare) and subprocess.run([unshare, "-m", "--propagation", "private", "true"],
                                            capture_output=True).returncode == 0


def test_a_worker_that_cannot_see_the_folder_is_a_one_line_error(folder, scheduler, tmp_path):
    if not _can_hide_folders():
        pytest.skip("needs `unshare -m` (a mount namespace) to give a worker another view of the disk")
    hidden = tmp_path / "pictures"
    shutil.copytree(folder / "b", hidden)
    # this worker sees an empty folder where the pictures are: a volume not shared with it
    wrap = ["unshare", "-m", "--propagation", "private", "sh", "-c", f"mount -t tmpfs none '{hidden}' && exec \"$0\" \"$@\""]
    worker = _start_worker(scheduler, wrap=wrap)
    try:
        r = _build(tmp_path / "data", hidden, "--dask", scheduler)
    finally:
        _stop(worker)
    assert r.exit_code == 1
    line = r.output.strip().splitlines()[-1]
    assert line.startswith("Error: --dask: the worker at tcp://127.0.0.1:") and \
        f"cannot read the image folder {hidden} (the workers must see the image folder and the data directory " \
        "at the same paths as this machine: a shared volume)" in line, r.output


def test_a_build_on_a_running_scheduler_is_the_build_made_here(folder, scheduler, tmp_path):
    small = tmp_path / "pictures"
    shutil.copytree(folder / "b", small)
    _build_here(tmp_path / "here", small)
    # dask worker's default: a daemonic worker process, which may not start the decoding process
    worker = _start_worker(scheduler, daemon=True)
    try:
        r = _build(tmp_path / "daemonic", small, "--dask", scheduler)
    finally:
        _stop(worker)
    assert r.exit_code == 1
    assert r.output.strip().splitlines()[-1].endswith(
        "runs as a daemonic process, which cannot start its decoding process: start the workers with "
        "DASK_DISTRIBUTED__WORKER__DAEMON=False"), r.output
    worker = _start_worker(scheduler)
    try:
        r = _build(tmp_path / "there", small, "--dask", scheduler)
    finally:
        _stop(worker)
    assert r.exit_code == 0, r.output
    _assert_same(_result(tmp_path / "there"), _result(tmp_path / "here"))
    np.testing.assert_allclose(open_dataset(tmp_path / "there", "pics").latent("pixels"),
                               open_dataset(tmp_path / "here", "pics").latent("pixels"), atol=1e-6)
