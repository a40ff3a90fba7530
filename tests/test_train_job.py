"""The ``train`` job kind: an emoji dataset built with ``--quick`` (images and PCA) gets its VAE spaces from a
background job, each written into the published dataset as it finishes, so the map's space menu adds it;
``serve`` starts that job through :mod:`dashboard.jobs`, and a killed server takes it along and a restarted
one resumes it dim by dim. (On Celery, a worker runs it: see the conformance test in test_jobs_celery.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from dashboard import jobs
from dashboard.errors import DashboardError
from dashboard.store import open_dataset

from .conftest import _free_port, copy_dataset, wait_until

pytestmark = pytest.mark.slow


def emoji_data(quick_emoji: Path, into: Path) -> Path:
    """A copy of the quick emoji data directory of its own (a job writes into it)."""
    copy_dataset(quick_emoji, into, "emoji")
    return into


def test_a_train_job_adds_its_space_which_the_map_lists(quick_emoji, tmp_path):
    from dashboard.app import create_app
    from dashboard.callbacks import viewer
    from dashboard.layouts import viewer as ids

    data = emoji_data(quick_emoji, tmp_path)
    ds = open_dataset(data, "emoji")
    assert list(ds.spaces) == ["pca50"] and ds.state != "complete"
    job = jobs.train_job("emoji", dims=[4], epochs=2, layouts=["pca"])
    assert not jobs.KINDS["train"].ready(ds, job)
    with create_app(data, dataset="emoji").server.test_request_context("/"):
        options, stop_polling = viewer.refresh_spaces(0, "emoji")
        assert [o["value"] for o in options] == ["pca50", "__coming"] and not stop_polling
        # …and so does the page as it first renders, before any poll
        first = viewer.initial_props("dataset=emoji")
        assert [o["value"] for o in first[(ids.DIM, "options")]] == ["pca50", "__coming"]

        seen: list[float] = []
        jobs.KINDS["train"].compute(ds, job, seen.append)  # what jobs.run calls in the job's process
        assert seen == [0.5, 1.0]  # epochs trained / epochs to train

        ds = open_dataset(data, "emoji")
        assert jobs.KINDS["train"].ready(ds, job) and ds.state == "complete" and ds.default_space == "4"
        assert ds.space("4").kind == "vae" and ds.space("4").decoder and ds.latent("4").shape == (ds.n, 4)
        options, stop_polling = viewer.refresh_spaces(1, "emoji")  # the menu adds it, and stops asking
        assert [o["value"] for o in options] == ["pca50", "4"] and stop_polling


def test_a_train_job_refuses_a_dataset_without_a_vae_recipe(data_dir):
    job = jobs.train_job("digits", dims=[4], epochs=1)
    with pytest.raises(DashboardError, match="not built by the emoji recipe"):
        jobs.KINDS["train"].compute(open_dataset(data_dir, "digits"), job, lambda f: None)
    with pytest.raises(DashboardError, match="unknown parameter limit"):
        jobs.KINDS["train"].ready(open_dataset(data_dir, "digits"), jobs.train_job("digits", limit=3))


def _serve(data: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "dashboard", "--data-dir", str(data), "--dataset", "emoji",
                                 "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def answers() -> bool:
        assert proc.poll() is None, log.read_text()
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).status == 200
        except OSError:
            return False

    wait_until(answers, 120, "the server to answer")
    return proc, f"http://127.0.0.1:{port}"


def _running_under(data: Path, server: subprocess.Popen) -> int:
    """The pid of the training job, once it runs, checked to be one of the server's children."""
    import psutil

    s = wait_until(lambda: (s := jobs.status(data, jobs.train_job("emoji")))["state"] == "running" and s, 120,
                   "the training job to run")
    assert s["pid"] in {c.pid for c in psutil.Process(server.pid).children(recursive=True)}
    return s["pid"]


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" in f.read()
    except FileNotFoundError:
        return True


def test_serve_trains_in_a_job_that_dies_with_the_server_and_resumes_dim_by_dim(quick_emoji, tmp_path):
    data = emoji_data(quick_emoji, tmp_path / "data")
    log = tmp_path / "serve.log"
    server, url = _serve(data, log)
    try:
        pid = _running_under(data, server)
        assert "Training emoji's VAEs in a background process" in log.read_text()
        # the first VAE joins the served dataset while the map serves (PCA meanwhile)
        wait_until(lambda: "4" in open_dataset(data, "emoji").spaces, 180, "the first VAE space")
        assert urllib.request.urlopen(url + "/healthz", timeout=5).status == 200
        first = open_dataset(data, "emoji").space("4").fingerprint
    finally:
        server.send_signal(signal.SIGKILL)  # killed outright: the job must not outlive it
        server.wait()
    wait_until(lambda: _gone(pid), 10, "the job to die with its server")
    assert open_dataset(data, "emoji").state != "complete"

    server, _ = _serve(data, log)  # a restart resumes: dim 4 is kept, dim 8 trains next
    try:
        assert _running_under(data, server) != pid
        wait_until(lambda: "8" in open_dataset(data, "emoji").spaces, 180, "the next VAE space")
        assert open_dataset(data, "emoji").space("4").fingerprint == first
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert not [line for line in log.read_text().splitlines() if "Traceback" in line], log.read_text()
    assert os.path.exists(data / "emoji" / "models" / "decoder4.keras")


def test_the_wsgi_entry_starts_the_training_once_however_many_workers_import_it(quick_emoji, data_dir, tmp_path):
    # gunicorn's workers each import dashboard.wsgi: one of them starts the job, the others find it started
    import psutil

    data = emoji_data(quick_emoji, tmp_path / "data")
    env = {**os.environ, "DASHBOARD_DATA_DIR": str(data), "DASHBOARD_DATASET": "emoji", "DASHBOARD_JOBS": "local"}
    workers = [subprocess.Popen([sys.executable, "-c", "import time, dashboard.wsgi; time.sleep(300)"], env=env,
                                stdin=subprocess.DEVNULL) for _ in range(2)]
    try:
        pid = wait_until(lambda: (s := jobs.status(data, jobs.train_job("emoji")))["state"] == "running" and s["pid"],
                         120, "the training job to run")
        under = [w for w in workers if pid in {c.pid for c in psutil.Process(w.pid).children(recursive=True)}]
        assert len(under) == 1  # one job, started by one worker
        others = [c for w in workers for c in psutil.Process(w.pid).children(recursive=True) if c.pid != pid
                  and "dashboard.jobs" in " ".join(c.cmdline())]
        assert others == []
    finally:
        for w in workers:
            w.kill()
            w.wait()
    # nothing to train in a dataset that is complete, or not the emoji recipe's
    assert jobs.train_missing(data_dir, "digits") is None
