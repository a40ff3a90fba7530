"""The analyses in real headless Chromium: colour by layout trust and by neighbours kept, the
trustworthiness note, the neighbour-change panel, and the selection report."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard import fixtures
from dashboard.computed import get_layout
from dashboard.store import open_dataset
from dashboard.viewstate import encode_selection

from .conftest import SCREENSHOTS, copy_dataset, open_page, running_server
from .test_viewer_browser import changed, choose, coloured, map_pixels, wait_drawn

pytestmark = pytest.mark.browser
N = 400


@pytest.fixture(scope="module")
def planted():
    """A selection of 60 random items, 48 of them "red" against 10 % of the rest."""
    rng = np.random.default_rng(11)
    selection = np.sort(rng.choice(N, 60, replace=False))
    colour = rng.choice(["green", "blue", "grey", "red"], N, p=[0.3, 0.3, 0.3, 0.1])
    colour[selection[:48]] = "red"
    return selection, colour


@pytest.fixture(scope="module")
def server(data_dir, planted, tmp_path_factory):
    d = tmp_path_factory.mktemp("analysis")
    copy_dataset(data_dir, d, "digits")
    get_layout(open_dataset(d, "digits"), "64", "umap")  # the cache stays behind with the session's data
    fixtures.blobs(d, "planted", n=N, colour=planted[1])
    with running_server(d, "digits", tmp_path_factory.mktemp("analysis-server") / "server.log") as url:
        yield url


def test_colour_by_layout_trust_and_by_neighbours_kept(server, browser):
    page, errors = open_page(browser, server + "/?dataset=digits&mode=points&proj=umap&space=64&color=layout:trust")
    stats = wait_drawn(page)
    page.wait_for_function("document.querySelector('#layout-quality').innerText.includes('Trustworthiness 0.9')",
                           timeout=120_000)
    assert page.locator(".colorbar-ramp").count() == 1
    trust = map_pixels(page, "analysis_trust_umap_digits.png")
    assert coloured(trust) > 2000
    dark = int(((trust.max(axis=2) < 110) & (trust[:, :, 2] > trust[:, :, 1])).sum())  # viridis' low end
    assert dark > 50, "no low-trust (dark purple) points drawn"

    choose(page, "color-select", "Neighbours kept from space 8")
    stats = wait_drawn(page, stats["drawnVersion"])
    page.wait_for_function("location.search.includes('color=kept%3A8')", timeout=30_000)  # in the URL too
    kept = map_pixels(page, "analysis_kept_64_vs_8_digits.png")
    assert changed(kept, trust) > 500

    # the panel: the items that changed most, with their neighbours in both spaces
    page.wait_for_selector(".change-row", timeout=30_000)
    assert page.locator(".change-row").count() == 8
    assert page.locator(".change-row").first.locator("img").count() == 21  # the item and 2 × 10 neighbours
    page.locator(".change-panel").screenshot(path=str(SCREENSHOTS / "analysis_change_panel_digits.png"))
    assert errors == []
    page.close()


def test_the_selection_report_lists_the_planted_category_first(server, browser, planted):
    selection, colour = planted
    red = int((colour[selection] == "red").sum())
    page, errors = open_page(browser, server + f"/?dataset=planted&sel={encode_selection(selection)}")
    wait_drawn(page)
    page.wait_for_selector(".report-table td", timeout=30_000)
    assert page.inner_text(".report-table tbody tr td") == "colour = red"
    assert f"{red} ({red / 60:.0%})" in page.inner_text(".report-table tbody tr")
    page.locator(".report-panel").screenshot(path=str(SCREENSHOTS / "analysis_selection_report.png"))
    page.click("#report-save-vector")
    page.wait_for_selector("#report-message .ok", timeout=30_000)
    assert "towards selection of 60" in page.inner_text("#report-message")
    # the same report for the group that click saved ("or a group")
    page.click("#selection-panel #clear-selection")
    page.wait_for_selector("#selection-report p.muted", timeout=30_000)
    choose(page, "report-subject", "group selection of 60")
    page.wait_for_function("document.querySelector('.report-table td') && "
                           "document.querySelector('.report-table td').innerText === 'colour = red'", timeout=30_000)
    assert errors == []
    page.close()
