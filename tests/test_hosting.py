"""The WSGI entry under gunicorn with several workers, in a real browser."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from .conftest import SCREENSHOTS, _free_port, copy_dataset, open_page

pytestmark = pytest.mark.browser


def test_gunicorn_with_two_workers_serves_the_map(data_dir, tmp_path, browser):
    copy_dataset(data_dir, tmp_path, "digits")
    shutil.copytree(data_dir / ".cache", tmp_path / ".cache", ignore=shutil.ignore_patterns("jobs"))
    port = _free_port()
    env = dict(os.environ, DASHBOARD_DATA_DIR=str(tmp_path), DASHBOARD_DATASET="digits")
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "dashboard.wsgi:server"],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while True:
            try:
                assert urllib.request.urlopen(url + "/healthz", timeout=2).status == 200
                break
            except (OSError, urllib.error.URLError):
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail(f"gunicorn did not start:\n{log.read_text()}")
                time.sleep(0.5)
        assert len(urllib.request.urlopen(url + "/api/positions.bin?dataset=digits&dim=64&proj=umap").read()) == 8 * 1797
        page, errors = open_page(browser, url + "/?mode=points")
        page.wait_for_function("window.dashMap && dashMap.stats().drawnVersion > 0", timeout=120_000)
        assert page.evaluate("dashMap.stats().n") == 1797
        page.screenshot(path=str(SCREENSHOTS / "gunicorn_digits.png"))
        assert errors == []
        page.close()
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(url + "/files/digits/..%2F..%2Fetc%2Fpasswd")
        assert err.value.code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=30)
