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

from .conftest import SCREENSHOTS, _free_port, copy_dataset, open_page
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
        # (the map may draw before Dash has rendered the progress box)
        page.wait_for_function("(document.getElementById('progress-label') || {textContent: ''}).textContent.includes('%')",
                               timeout=60_000)
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


def test_a_job_is_the_same_job_however_its_numbers_are_written():
    # the page's copy went through JSON.stringify, which writes 60.0 as 60
    page = {"dataset": "digits", "space": "64", "proj": "slow", "params": {"seconds": 60}}
    server = {"dataset": "digits", "space": "64", "proj": "slow", "params": {"seconds": 60.0}}
    assert jobs.job_id(page) == jobs.job_id(server)
    assert jobs.job_id(page) != jobs.job_id({**page, "params": {"seconds": 60.5}})


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


def test_the_jobs_list_names_what_runs_and_what_failed(slow, tmp_path, data_dir):
    data = tmp_path / "data"
    copy_dataset(data_dir, data, "digits")
    assert jobs.listing(data, "digits") == []
    running = {"dataset": "digits", "space": "32", "proj": "slow", "params": {"seconds": 30.0}}
    failing = {"dataset": "digits", "space": "nope", "proj": "slow", "params": {"seconds": 1.0}}
    jobs.ensure(data, running)
    jobs.ensure(data, failing)
    _wait(lambda: [j["state"] for j in jobs.listing(data, "digits")] == ["running", "failed"], 30, "both jobs")
    first, second = jobs.listing(data, "digits")
    assert first["job"] == running and first["label"] == "Slow of latent space 32" and first["id"] == jobs.job_id(running)
    assert "no latent space 'nope'" in second["error"]
    assert jobs.listing(data, "other") == []
    jobs.cancel(data, running)
    _wait(lambda: [j["state"] for j in jobs.listing(data, "digits")] == ["failed"], 30, "the cancelled job to leave the list")


def test_the_page_lists_jobs_and_cancels_one(slow, tmp_path, data_dir, browser):
    data = tmp_path / "data"
    copy_dataset(data_dir, data, "digits")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = _serve(data, port, tmp_path / "server.log")
    try:
        _wait(lambda: _up(url), 120, "the server")
        other = {"dataset": "digits", "space": "32", "proj": "slow", "params": {"seconds": 60.0}}
        jobs.ensure(data, other)  # started elsewhere (another tab, the CLI): listed all the same
        page, errors = open_page(browser, url + "/?dataset=digits&space=64&proj=slow&seconds=60&mode=points")
        page.wait_for_function("document.querySelectorAll('#jobs-list .job.running').length === 2", timeout=60_000)
        assert page.locator("#jobs-panel").is_visible()
        labels = page.locator("#jobs-list .job-label").all_inner_texts()
        assert sorted(labels) == ["Slow of latent space 32", "Slow of latent space 64"]
        assert page.locator("#jobs-list .job progress").count() == 2
        page.set_viewport_size({"width": 800, "height": 900})  # the right panel is a drawer: opened to look
        page.click("#right-toggle")
        page.wait_for_function("document.querySelector('.viewer').dataset.right === 'open'")
        time.sleep(0.6)
        page.screenshot(path=str(SCREENSHOTS / "jobs_list_800.png"))
        page.set_viewport_size({"width": 1440, "height": 900})
        time.sleep(0.6)
        page.screenshot(path=str(SCREENSHOTS / "jobs_list_1440.png"))
        # cancel the map's own job from the list: it stops, and the map's progress box does not start it again
        page.locator("#jobs-list .job", has_text="latent space 64").locator("button").click()
        page.wait_for_function("document.querySelectorAll('#jobs-list .job').length === 1", timeout=30_000)
        time.sleep(3)
        mine = {"dataset": "digits", "space": "64", "proj": "slow", "params": {"seconds": 60.0}}
        assert jobs.status(data, mine)["state"] == "absent"
        assert jobs.status(data, other)["state"] == "running"
        assert page.evaluate("document.getElementById('progress').hidden")  # the map's box no longer follows it
        jobs.cancel(data, other)
        page.wait_for_function("document.getElementById('jobs-panel').hidden", timeout=30_000)
        assert errors == []
    finally:
        server.terminate()
        server.wait(timeout=20)
