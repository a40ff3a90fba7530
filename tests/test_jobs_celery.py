"""Background jobs on Celery workers and a private Redis: the same promises as the local engine, across
processes — one task per job whoever asks, progress through Redis, a killed worker's job delivered again
and run once, cancel, a failed job's reason, an unreachable broker in one line."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

try:
    import celery  # noqa: F401
    import redis
except ImportError:
    if os.environ.get("CI"):  # CI installs the test extra: there, a missing celery is a failure
        raise
    pytest.skip("the celery extra is not installed: pip install 'dashboard[celery]'", allow_module_level=True)

from dashboard import jobs  # noqa: E402
from dashboard.errors import DashboardError  # noqa: E402

from .conftest import _free_port, copy_dataset  # noqa: E402
from .conftest import wait_until as _wait  # noqa: E402
from .redis_server import redis_url  # noqa: E402,F401 - the fixture

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = "tests.slow_projection"
VISIBILITY = 4  # seconds: a killed worker's job returns after this (a job's lock lives 2 s)


@pytest.fixture
def celery_jobs(redis_url, monkeypatch, tmp_path):  # noqa: F811
    """This process (and the workers started by ``worker``) on the celery engine, Redis emptied first;
    returns the paths of the slow projection's logs (runs started, runs finished)."""
    import importlib

    redis.Redis.from_url(redis_url).flushdb()
    logs = {"started": tmp_path / "runs.log", "finished": tmp_path / "done.log"}
    for name, value in {"DASHBOARD_JOBS": "celery", "DASHBOARD_BROKER": redis_url,
                        "DASHBOARD_VISIBILITY_TIMEOUT": str(VISIBILITY), "DASHBOARD_PLUGINS": PLUGIN,
                        "SLOW_PROJECTION_LOG": str(logs["started"]),
                        "SLOW_PROJECTION_DONE_LOG": str(logs["finished"])}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(ROOT)  # workers import tests.slow_projection from here
    importlib.import_module(PLUGIN)
    return logs


@pytest.fixture
def data(tmp_path, data_dir) -> Path:
    d = tmp_path / "data"
    copy_dataset(data_dir, d, "digits")
    return d


@pytest.fixture
def worker(celery_jobs, tmp_path):
    """Starts ``python -m dashboard worker`` processes (each waited for until ready); stops them after."""
    started: list[subprocess.Popen] = []

    def start(name: str = "w") -> subprocess.Popen:
        log = tmp_path / f"worker-{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "dashboard", "worker", "--broker", os.environ["DASHBOARD_BROKER"],
                 "--concurrency", "1"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT)
        started.append(proc)
        proc.log = log
        _wait(lambda: proc.poll() is not None or " ready." in log.read_text(errors="replace"), 60, f"worker {name}")
        assert proc.poll() is None, log.read_text()
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
    for proc in started:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _lines(log: Path) -> list[int]:
    return [int(x) for x in log.read_text().split()] if log.exists() else []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()
    except FileNotFoundError:
        return False


def _children(pid: int) -> set[int]:
    import psutil

    return {c.pid for c in psutil.Process(pid).children(recursive=True)}


def _running(data: Path, job: dict, timeout: float = 60):
    def check():
        s = jobs.status(data, job)
        return s["state"] == "running" and s["progress"] > 0 and s

    return _wait(check, timeout, "the job to run")


def _expected_layout(data: Path, space: str) -> np.ndarray:
    from dashboard.compute import projections
    from dashboard.store import open_dataset

    return projections.normalize_layout(np.asarray(open_dataset(data, "digits").latent(space)[:, :2], dtype=np.float32))


def _ensure_at_once(data: str, job: dict, barrier, sent) -> None:
    barrier.wait()
    sent.put(jobs.ensure(data, job)["state"])


def test_many_processes_asking_send_one_task_which_a_worker_runs_with_progress(celery_jobs, data, worker, redis_url):  # noqa: F811
    job = {"dataset": "digits", "space": "64", "proj": "slow", "params": {"seconds": 3.0}}
    assert jobs.status(data, job)["state"] == "absent"
    # six web processes ask at once, before any worker runs: one task is queued
    ctx = multiprocessing.get_context("fork")
    barrier, sent = ctx.Barrier(6), ctx.Queue()
    procs = [ctx.Process(target=_ensure_at_once, args=(str(data), job, barrier, sent)) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=30)
    assert [sent.get(timeout=5) for _ in procs] == ["starting"] * 6
    r = redis.Redis.from_url(redis_url)
    assert r.llen("dashboard.jobs") == 1
    assert jobs.ensure(data, job)["state"] == "starting"  # still one
    assert r.llen("dashboard.jobs") == 1

    w = worker()
    s = _running(data, job)
    assert 0 < s["progress"] < 1 and s["eta"] is not None and s["eta"] > 0
    assert s["pid"] in _children(w.pid) and s["pid"] != os.getpid()  # computed in the worker's pool process
    assert jobs.ensure(data, job)["state"] == "running"
    _wait(lambda: jobs.status(data, job)["state"] == "done", 60, "the job to finish")
    assert _lines(celery_jobs["started"]) == [s["pid"]] == _lines(celery_jobs["finished"])
    assert len(r.keys("celery-task-meta-*")) == 1  # one task ran, and its result is in the backend

    # the layout is read from the cache by this process
    from dashboard.computed import get_layout
    from dashboard.store import open_dataset

    lay = get_layout(open_dataset(data, "digits"), "64", "slow", cached_only=True, seconds=3.0)
    assert lay is not None and lay.source == "cache"
    np.testing.assert_allclose(lay.xy, _expected_layout(data, "64"))
    assert jobs.ensure(data, job) == {"state": "done", "progress": 1.0}


def test_a_killed_workers_job_is_delivered_again_and_runs_once(celery_jobs, data, worker):
    job = {"dataset": "digits", "space": "32", "proj": "slow", "params": {"seconds": 4.0}}
    first = worker("first")
    jobs.ensure(data, job)
    s = _running(data, job)
    assert s["pid"] in _children(first.pid)
    first.send_signal(signal.SIGKILL)  # the worker, mid-job: its pool process goes with it
    first.wait()
    _wait(lambda: not _alive(s["pid"]), 10, "the killed worker's pool process to end")
    assert jobs.status(data, job)["state"] in ("running", "starting")  # its lock expires; its message waits
    worker("second")
    # nobody asks again: the broker gives the unacknowledged message to the second worker
    _wait(lambda: jobs.status(data, job)["state"] == "done", 60, "the job to run again")
    started, finished = _lines(celery_jobs["started"]), _lines(celery_jobs["finished"])
    assert len(started) == 2 and started[0] == s["pid"], started
    assert finished == [started[1]], (started, finished)  # exactly one run finished: the second worker's

    from dashboard.computed import get_layout
    from dashboard.store import open_dataset

    lay = get_layout(open_dataset(data, "digits"), "32", "slow", cached_only=True, seconds=4.0)
    np.testing.assert_allclose(lay.xy, _expected_layout(data, "32"))


def test_cancel_stops_a_job_and_a_failed_job_says_why(celery_jobs, data, worker):
    w = worker()
    job = {"dataset": "digits", "space": "16", "proj": "slow", "params": {"seconds": 30.0}}
    assert not jobs.cancel(data, job)  # nothing to cancel yet
    jobs.ensure(data, job)
    _running(data, job)
    assert [(j["job"], j["state"]) for j in jobs.listing(data, "digits")] == [(job, "running")]  # the page's list
    assert jobs.cancel(data, job)
    _wait(lambda: jobs.status(data, job)["state"] == "absent", 15, "the cancelled job to stop")
    assert jobs.listing(data, "digits") == []
    assert _lines(celery_jobs["finished"]) == []
    from dashboard.computed import layout_ready
    from dashboard.store import open_dataset

    assert not layout_ready(open_dataset(data, "digits"), "16", "slow", seconds=30.0)  # nothing half-made
    assert w.poll() is None  # the worker lives on and takes the next job

    bad = {"dataset": "digits", "space": "nope", "proj": "slow", "params": {"seconds": 1.0}}
    jobs.ensure(data, bad)
    s = _wait(lambda: (s := jobs.status(data, bad))["state"] == "failed" and s, 30, "the job to fail")
    assert "no latent space 'nope'" in s["error"] and "\n" not in s["error"]
    assert jobs.ensure(data, bad)["state"] == "failed"  # not retried by polling
    assert [(j["job"], j["state"]) for j in jobs.listing(data, "digits")] == [(bad, "failed")]
    assert jobs.ensure(data, bad, retry_failed=True)["state"] == "starting"  # a new request tries again
    _wait(lambda: jobs.status(data, bad)["state"] == "failed", 30, "the retried job to fail again")
    assert json.loads(redis.Redis.from_url(os.environ["DASHBOARD_BROKER"]).get(
        jobs.engine().state(data, bad).status_key))["runs"] == 2


#: One job of each kind in jobs.KINDS: on the digits dataset, and VAE training on a quick-built emoji one.
SAMPLES = {
    "layout": {"dataset": "digits", "space": "8", "proj": "slow", "params": {"seconds": 0.5}},
    "neighbors": {"kind": "neighbors", "dataset": "digits", "space": "8", "params": {"k": 7}},
    "train": jobs.train_job("emoji", dims=[4], epochs=1, layouts=["pca"]),
}


def _check_result(data: Path, job: dict) -> None:
    """The job's result, read back from the cache or the dataset, equals the same thing computed here."""
    from dashboard.compute import neighbors, vae
    from dashboard.computed import get_layout, get_neighbors
    from dashboard.store import open_dataset

    ds = open_dataset(data, job["dataset"])
    name = job.get("kind", "layout")
    if name == "layout":
        got = get_layout(ds, job["space"], job["proj"], cached_only=True, **job["params"]).xy
        np.testing.assert_allclose(got, _expected_layout(data, job["space"]))
    elif name == "neighbors":
        got = get_neighbors(ds, job["space"], cached_only=True, **job["params"])[0]
        np.testing.assert_allclose(got, neighbors.knn(ds.latent(job["space"]), k=job["params"]["k"], metric=ds.metric)[0])
    else:  # the space written is what its saved encoder makes of the dataset's images
        from PIL import Image

        space = ds.space("4")
        assert space.kind == "vae" and ds.state == "complete"
        x = vae.premultiply(np.stack([np.asarray(Image.open(ds.image_path(i)).convert("RGBA")) for i in range(ds.n)]))
        np.testing.assert_allclose(ds.latent("4"), vae.encode(vae.load(str(ds.path / space.encoder)), x),
                                   rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("engine", ["local", "celery"])
def test_every_job_kind_runs_on_every_engine(engine, celery_jobs, data, worker, quick_emoji, monkeypatch):
    assert set(SAMPLES) == set(jobs.KINDS), "add a sample job for each kind"
    copy_dataset(quick_emoji, data, "emoji")
    if engine == "local":
        monkeypatch.setenv("DASHBOARD_JOBS", "local")
    else:
        w = worker()
    for name, job in SAMPLES.items():
        assert jobs.status(data, job)["state"] == "absent", name
        assert jobs.ensure(data, job)["state"] == "starting", name
        _wait(lambda: jobs.status(data, job)["state"] == "done", 120, f"the {name} job on {engine}")
        from dashboard.store import open_dataset

        assert jobs.KINDS[name].ready(open_dataset(data, job["dataset"]), job)
        _check_result(data, job)
        assert jobs.ensure(data, job) == {"state": "done", "progress": 1.0}
        ran_in = jobs.engine().state(data, job).read()["pid"]  # another process: the worker's pool on Celery
        assert ran_in != os.getpid() and (engine == "local" or ran_in in _children(w.pid)), name


def test_an_unreachable_broker_is_one_line(celery_jobs, data, monkeypatch):
    from click.testing import CliRunner

    from dashboard.cli import cli

    gone = f"redis://127.0.0.1:{_free_port()}/0"
    monkeypatch.setenv("DASHBOARD_BROKER", gone)
    job = {"dataset": "digits", "space": "64", "proj": "slow", "params": {"seconds": 1.0}}
    with pytest.raises(DashboardError, match=r"cannot reach the jobs broker redis://127\.0\.0\.1:\d+/0") as e:
        jobs.ensure(data, job)
    assert "\n" not in str(e.value)
    with pytest.raises(DashboardError, match="cannot reach the jobs broker"):
        jobs.configure("celery", gone)

    result = CliRunner().invoke(cli, ["--data-dir", str(data), "serve", "--dataset", "digits",
                                      "--jobs", "celery", "--broker", gone])
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot reach the jobs broker") and result.output.count("\n") == 1, result.output
    result = CliRunner().invoke(cli, ["worker", "--broker", gone])
    assert result.exit_code == 1 and "cannot reach the jobs broker" in result.output, result.output
    result = CliRunner().invoke(cli, ["--data-dir", str(data), "serve", "--jobs", "celery", "--broker", "http://x"])
    assert result.exit_code == 1 and "expected a Redis URL" in result.output, result.output
