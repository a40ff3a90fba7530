"""What a user sees, in real headless Chromium against `python -m dashboard`.

These tests fail, not skip, when Chromium is missing: install it with
`apt-get install chromium` (the README's test command does).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from .conftest import SCREENSHOTS, open_page as _open, running_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(data_dir, tmp_path_factory):
    with running_server(data_dir, "digits", tmp_path_factory.mktemp("server") / "server.log") as url:
        yield url


def test_summary_page_shows_the_dataset(server, browser):
    page, errors = _open(browser, server + "/summary")
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
    page, errors = _open(browser, server + "/summary?dataset=nope")
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
