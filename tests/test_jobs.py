"""Supervised background jobs: one per result whoever asks, no orphans, a killed server's tab recovers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from dashboard import jobs

from .conftest import _free_port, copy_dataset, open_page
from .conftest import wait_until as _wait

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = "tests.slow_projection"


@pytest.fixture
def slow(monkeypatch, tmp_path):
    """The test-only 'slow' projection in this process and in every job process; returns its run log."""
    import importlib

    monkeypatch.setenv("DASHBOARD_PLUGINS", PLUGIN)
    monkeypatch.setenv("SLOW_PROJECTION_LOG", str(tmp_path / "runs.log"))
    monkeypatch.chdir(ROOT)  # job processes import tests.slow_projection from here
    importlib.import_module(PLUGIN)
    return tmp_path / "runs.log"


def _runs(log: Path) -> list[int]:
    return [int(x) for x in log.read_text().split()] if log.exists() else []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()  # a zombie has ended
    except FileNotFoundError:
        return False


def test_one_job_per_result_whoever_asks_and_a_killed_one_restarts(slow, tmp_path, data_dir):
    data = tmp_path / "data"
    copy_dataset(data_dir, data, "digits")
    job = {"dataset": "digits", "space": "64", "proj": "slow", "params": {"seconds": 4.0}}
    assert jobs.status(data, job)["state"] == "absent"
    # twelve requests at once (tabs, server threads): one job
    threads = [threading.Thread(target=jobs.ensure, args=(data, job)) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    running = _wait(lambda: (s := jobs.status(data, job))["state"] == "running" and s.get("pid") and s, 30, "the job")
    for _ in range(5):
        assert jobs.ensure(data, job)["state"] == "running"  # later requests join it
    # the job process is killed: the next request starts it again, once
    os.kill(running["pid"], signal.SIGKILL)
    _wait(lambda: not _alive(running["pid"]), 10, "the killed job to end")
    # its lock goes when its last thread has ended, which can follow the main thread's by a moment
    _wait(lambda: jobs.status(data, job)["state"] == "absent", 10, "the killed job's lock to be free")
    for _ in range(4):
        jobs.ensure(data, job)
    _wait(lambda: jobs.status(data, job)["state"] == "done", 60, "the restarted job")
    assert len(_runs(slow)) == 2, _runs(slow)  # the killed run and the one after it, no duplicates
    assert jobs.status(data, job) == {"state": "done", "progress": 1.0}


def test_a_failed_job_says_why(slow, tmp_path, data_dir):
    data = tmp_path / "data"
    copy_dataset(data_dir, data, "digits")
    job = {"dataset": "digits", "space": "nope", "proj": "slow", "params": {"seconds": 1.0}}
    jobs.ensure(data, job)
    s = _wait(lambda: (s := jobs.status(data, job))["state"] == "failed" and s, 30, "the job to fail")
    assert "no latent space 'nope'" in s["error"]
    assert jobs.ensure(data, job)["state"] == "failed"  # not retried by polling
    assert jobs.ensure(data, job, retry_failed=True)["state"] == "starting"  # a new request tries again


def _serve(data: Path, port: int, log: Path) -> subprocess.Popen:
    out = open(log, "ab")
    return subprocess.Popen([sys.executable, "-m", "dashboard", "--data-dir", str(data), "--dataset", "digits",
                             "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)


def _up(url: str) -> bool:
    try:
        urllib.request.urlopen(url + "/healthz", timeout=2)
        return True
    except OSError:
        return False


def test_a_killed_server_takes_its_job_along_and_the_tab_recovers(slow, tmp_path, data_dir, browser):
    data = tmp_path / "data"
    copy_dataset(data_dir, data, "digits")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    server = _serve(data, port, log)
    try:
        _wait(lambda: _up(url), 120, "the server")
        page, errors = open_page(browser, url + "/?dataset=digits&space=64&proj=slow&mode=points")
        page.wait_for_function("(dashMap.stats().layout || '').includes('proj=pca')", timeout=60_000)  # PCA meanwhile
        page.wait_for_function("document.getElementById('progress-label').textContent.includes('%')", timeout=60_000)
        job = {"dataset": "digits", "space": "64", "proj": "slow", "params": {}}
        s = jobs.status(data, job)
        assert s["state"] == "running", (s, [p.read_text() for p in (data / ".cache" / "jobs").glob("*.json")])
        pid = s["pid"]
        assert _alive(pid)
        server.send_signal(signal.SIGKILL)
        server.wait()
        _wait(lambda: not _alive(pid), 10, "the job to end with its server")  # no orphan computing on
        time.sleep(2)  # the tab keeps asking while the server is away
        assert not page.evaluate("document.getElementById('progress').hidden")
        server = _serve(data, port, log)
        # the open tab recovers by itself: the job runs again, once, and the map moves to it
        page.wait_for_function("(dashMap.stats().layout || '').includes('proj=slow')", timeout=120_000)
        assert page.evaluate("document.getElementById('progress').hidden")
        assert len(_runs(slow)) == 2, _runs(slow)
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_a_cancelled_job_stops(slow, tmp_path, data_dir):
    data = tmp_path / "data"
    copy_dataset(data_dir, data, "digits")
    job = {"dataset": "digits", "space": "32", "proj": "slow", "params": {"seconds": 30.0}}
    assert not jobs.cancel(data, job)  # nothing to cancel yet
    jobs.ensure(data, job)
    running = _wait(lambda: (s := jobs.status(data, job))["state"] == "running" and s.get("pid") and s, 30, "the job")
    assert jobs.cancel(data, job)
    _wait(lambda: not _alive(running["pid"]), 10, "the cancelled job to end")
    _wait(lambda: jobs.status(data, job)["state"] in ("absent", "starting"), 10, "its lock to be free")
