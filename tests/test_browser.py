"""What a user sees, in real headless Chromium against `python -m dashboard`.

These tests fail, not skip, when Chromium is missing: install it with
`apt-get install chromium` (the README's test command does).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import SCREENSHOTS

CHROMIUM = os.environ.get("DASHBOARD_CHROMIUM", "/usr/bin/chromium")
# Playwright adds --headless and a fresh temporary profile itself.
CHROMIUM_ARGS = [
    "--no-sandbox", "--enable-unsafe-swiftshader", "--disable-gpu", "--disable-quic",
    "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(data_dir: Path, dataset: str, log: Path, timeout: float = 240):
    """`python -m dashboard --dataset NAME` on a free port; its log is shown if it dies."""
    port = _free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dashboard", "--data-dir", str(data_dir), "--dataset", dataset, "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the server exited with {proc.returncode}:\n{log.read_text()}")
            try:
                urllib.request.urlopen(url + "/healthz", timeout=2)
                break
            except OSError:
                if time.time() > deadline:
                    pytest.fail(f"the server did not answer within {timeout:.0f} s:\n{log.read_text()}")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def server(data_dir, tmp_path_factory):
    with running_server(data_dir, "digits", tmp_path_factory.mktemp("server") / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install it (apt-get install chromium) or set DASHBOARD_CHROMIUM")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _open(browser, url):
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    return page, errors


def test_summary_page_shows_the_dataset(server, browser):
    page, errors = _open(browser, server + "/")
    page.wait_for_selector(".stat-value", timeout=60_000)
    page.wait_for_selector("#preview-graph .scatterlayer, #preview-graph canvas", timeout=60_000)
    page.wait_for_function(
        "Array.from(document.querySelectorAll('.thumbs img')).length === 48 && "
        "Array.from(document.querySelectorAll('.thumbs img')).every(i => i.complete && i.naturalWidth === 64)",
        timeout=30_000,
    )
    text = page.inner_text("main")
    assert "1,797" in text and "items" in text
    assert "UMAP of latent space 64" in text and "64 (default)" in text and "label" in text and "Nothing was skipped." in text
    time.sleep(1)  # let plotly finish drawing before the screenshot
    shot = SCREENSHOTS / "summary_digits.png"
    page.screenshot(path=str(shot), full_page=True)

    # pixels, not just the DOM: the preview plot has coloured points
    from PIL import Image

    box = page.locator("#preview-graph").bounding_box()
    img = Image.open(shot).convert("RGB").crop(
        (int(box["x"]), int(box["y"]), int(box["x"] + box["width"]), int(box["y"] + box["height"]))
    )
    coloured = sum(1 for r, g, b in img.getdata() if max(r, g, b) - min(r, g, b) > 60)
    assert coloured > 500, f"only {coloured} coloured pixels in the preview plot"
    assert errors == []
    page.close()


def test_unknown_dataset_in_url_shows_a_notice(server, browser):
    page, errors = _open(browser, server + "/?dataset=nope")
    page.wait_for_selector(".notice.error", timeout=30_000)
    assert "asks for dataset 'nope', which is not here (available: digits); showing digits" in page.inner_text(".notice.error")
    page.wait_for_selector(".stat-value", timeout=30_000)  # and the default dataset is shown
    page.screenshot(path=str(SCREENSHOTS / "summary_unknown_dataset.png"))
    assert errors == []
    page.close()


def test_health_and_path_traversal(server):
    assert urllib.request.urlopen(server + "/healthz").status == 200
    assert urllib.request.urlopen(server + "/files/digits/images/0.png").status == 200
    for bad in ("/files/digits/images/..%2F..%2F..%2Fetc%2Fpasswd", "/files/digits/%2e%2e/%2e%2e/etc/passwd",
                "/files/nope/images/0.png", "/files/digits/images/99999.png", "/files/..%2f..%2fetc/passwd"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server + bad)
        assert err.value.code == 404, bad


def test_serving_a_missing_recipe_builds_it_first(tmp_path):
    data = tmp_path / "empty"
    with running_server(data, "digits", tmp_path / "log.txt") as url:
        health = json.loads(urllib.request.urlopen(url + "/healthz").read())
        assert health == {"status": "ok", "datasets": 1}
    assert (data / "digits" / "manifest.json").is_file()
    assert "digits is not built yet" in (tmp_path / "log.txt").read_text()
