"""The map page in real headless Chromium: drawn pixels, switching, details, lasso + CSV, URLs."""

from __future__ import annotations

import csv
import io
import json
import time

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dashboard.computed import get_layout
from dashboard.store import DatasetWriter, open_dataset

from .conftest import SCREENSHOTS, copy_dataset, open_page, running_server

pytestmark = pytest.mark.browser
BACKGROUND = (252, 252, 253)  # .map-area


@pytest.fixture(scope="module")
def viewer_data(data_dir, tmp_path_factory):
    """digits (with its cache) and a small word map."""
    d = tmp_path_factory.mktemp("viewer")
    copy_dataset(data_dir, d, "digits")
    # UMAP of the default space only, as a build leaves it: the others are computed in the page
    get_layout(open_dataset(d, "digits"), "64", "umap")
    rng = np.random.default_rng(3)
    words = [f"word{k}" for k in range(400)]
    with DatasetWriter(d, "words") as w:
        w.set_info(type="text", metric="cosine")
        w.write_meta(pd.DataFrame({"i": np.arange(400), "name": words, "group": ["alpha", "beta"] * 200}))
        w.write_latent(16, rng.normal(size=(400, 16)).astype(np.float32), kind="raw")
        w.finish()
    return d


@pytest.fixture(scope="module")
def server(viewer_data, tmp_path_factory):
    with running_server(viewer_data, "digits", tmp_path_factory.mktemp("viewer-server") / "server.log") as url:
        yield url


def wait_drawn(page, after: int = 0, timeout: float = 60_000) -> dict:
    """Until the map has drawn a view newer than ``after`` with every layer loaded (atlases included), and
    Dash has attached to it (its first view, the boot view's twin, has come)."""
    page.wait_for_function(
        f"window.dashMap && dashMap.stats().drawnVersion > {after} && dashMap.stats().drawnVersion === dashMap.stats().version"
        " && dashMap.stats().timings.dash !== undefined",
        timeout=timeout,
    )
    # …and Dash has rendered the page's controls (its dropdowns appear once their code has loaded, which may
    # be after the map has drawn): the page a user sees, laid out for good
    page.wait_for_selector("#color-select", state="attached", timeout=timeout)
    time.sleep(1.2)  # let a layout transition finish
    return page.evaluate("dashMap.stats()")


def map_pixels(page, name: str) -> np.ndarray:
    path = SCREENSHOTS / name
    page.screenshot(path=str(path))
    box = page.locator("#map").bounding_box()
    img = Image.open(path).convert("RGB").crop(
        (int(box["x"]), int(box["y"]), int(box["x"] + box["width"]), int(box["y"] + box["height"])))
    return np.asarray(img).astype(np.int16)


def drawn(pixels: np.ndarray) -> int:
    """Pixels that differ from the map's background."""
    return int((np.abs(pixels - np.array(BACKGROUND)).sum(axis=2) > 40).sum())


def coloured(pixels: np.ndarray) -> int:
    return int(((pixels.max(axis=2) - pixels.min(axis=2)) > 60).sum())


def choose(page, control_id: str, text: str) -> None:
    """Pick ``text`` in a dropdown, or press its button in a row of buttons (the layouts); a control
    in the top bar's "View options" opens them first, as a user would."""
    # Dash renders its dropdowns once their code has loaded, which may be after the map has drawn
    page.wait_for_selector(f"#{control_id}", state="attached", timeout=30_000)
    page.evaluate("id => { const d = document.getElementById(id).closest('details'); if (d) d.open = true; }", control_id)
    if page.locator(f"#{control_id}.dash-radioitems").count():
        page.locator(f"#{control_id} label", has_text=text).first.click()
        return
    page.click(f"#{control_id}")
    page.locator("[role=option]", has_text=text).first.click()


def test_points_and_images_are_drawn(server, browser):
    page, errors = open_page(browser, server + "/?dataset=digits&mode=points")
    stats = wait_drawn(page)
    assert stats["n"] == 1797 and stats["layers"] == ["points"] and "proj=umap" in stats["layout"]
    px = map_pixels(page, "map_digits_points.png")
    assert coloured(px) > 2000, "too few coloured points on the map"
    assert "label" in page.inner_text("#legend") or "3" in page.inner_text("#legend")

    page.goto(server + "/?dataset=digits&mode=images")
    stats = wait_drawn(page)
    assert stats["layers"] == ["images-0"]
    px = map_pixels(page, "map_digits_images.png")
    assert drawn(px) > 5000, f"only {drawn(px)} pixels drawn: the image atlas was not drawn"
    assert errors == []
    page.close()


def close_lightbox(page) -> None:
    """A click on the map opens the item in the lightbox; Esc closes it, as a user would, to go on."""
    page.wait_for_selector("#lightbox:not([hidden])", timeout=30_000)
    page.keyboard.press("Escape")
    page.wait_for_function("document.getElementById('lightbox').hidden", timeout=5_000)


def wait_camera_rests(page, timeout: float = 15) -> None:
    """Until the map's camera stops moving (a click centres the map on its item, in 0.7 s)."""
    last, deadline = None, time.time() + timeout
    while time.time() < deadline:
        camera = page.evaluate("dashMap.stats().camera")
        if camera == last:
            return
        last = camera
        time.sleep(0.3)
    raise AssertionError("the camera kept moving")


def changed(a: np.ndarray, b: np.ndarray) -> int:
    return int((np.abs(a - b).sum(axis=2) > 30).sum())


def test_switching_dim_projection_and_colour_changes_the_map(server, browser):
    page, errors = open_page(browser, server + "/?dataset=digits&mode=points&proj=umap&dim=64")
    stats = wait_drawn(page)
    umap64 = map_pixels(page, "switch_0_umap64.png")

    choose(page, "dim-select", "32")  # UMAP of 32 is not cached: PCA now, UMAP from a background job
    page.wait_for_selector("#progress:not([hidden])", timeout=30_000)
    assert "showing PCA meanwhile" in page.inner_text("#map-status")
    stats = wait_drawn(page, stats["drawnVersion"])
    pca32 = map_pixels(page, "switch_1_pca32_meanwhile.png")
    assert changed(pca32, umap64) > 1000
    page.wait_for_function("dashMap.stats().layout === 'dataset=digits&space=32&proj=umap'", timeout=240_000)
    stats = wait_drawn(page, stats["drawnVersion"])
    umap32 = map_pixels(page, "switch_2_umap32.png")
    assert changed(umap32, pca32) > 1000 and changed(umap32, umap64) > 1000

    choose(page, "proj-select", "PCA")
    stats = wait_drawn(page, stats["drawnVersion"])
    assert stats["layout"] == "dataset=digits&space=32&proj=pca"

    choose(page, "color-select", "ink")
    stats = wait_drawn(page, stats["drawnVersion"])
    ink = map_pixels(page, "switch_3_colour.png")
    assert page.locator(".colorbar-ramp").count() == 1
    assert changed(ink, pca32) > 500
    assert errors == []
    page.close()


def test_click_opens_details_and_neighbours_move_there(server, browser):
    page, errors = open_page(browser, server + "/?dataset=digits&mode=points&proj=pca&dim=64")
    wait_drawn(page)
    box = page.locator("#map").bounding_box()
    target = 42
    x, y = page.evaluate(f"dashMap.project({target})")[:2]
    page.mouse.move(box["x"] + x, box["y"] + y)
    page.wait_for_selector("#map-tooltip:not([hidden]) strong", timeout=20_000)
    assert page.inner_text("#map-tooltip strong").startswith("digit ") and "label:" in page.inner_text("#map-tooltip")
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_selector("#details .details-name", timeout=30_000)
    close_lightbox(page)  # the click opens it large too
    name = page.inner_text("#details .details-name")
    assert name.startswith("digit ")
    assert page.locator("#details .neighbors .item-button").count() == 20
    assert page.locator("#details img.details-image").count() == 1
    page.screenshot(path=str(SCREENSHOTS / "details_digits.png"))
    camera = page.evaluate("dashMap.stats().camera")
    page.locator("#details .neighbors .item-button").first.click()
    page.wait_for_function(f"document.querySelector('#details .details-name').innerText !== {name!r}", timeout=30_000)
    time.sleep(1.5)
    assert page.evaluate("dashMap.stats().camera") != camera  # flew to the neighbour
    assert errors == []
    page.close()


def _inside(points: np.ndarray, poly: list[tuple[float, float]]) -> np.ndarray:
    """Even-odd rule, vectorised over the points (screen coordinates)."""
    x, y = points[:, 0], points[:, 1]
    inside = np.zeros(len(points), bool)
    for (xa, ya), (xb, yb) in zip(poly, poly[-1:] + poly[:-1]):
        crosses = (ya > y) != (yb > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            inside ^= crosses & (x < (xb - xa) * (y - ya) / (yb - ya) + xa)
    return inside


def test_lasso_selection_downloads_the_right_rows(server, browser):
    page, errors = open_page(browser, server + "/?dataset=digits&mode=points&proj=pca&dim=64&color=label")
    wait_drawn(page)
    box = page.locator("#map").bounding_box()
    cx, cy = box["width"] / 2, box["height"] / 2
    poly = [(cx - 160, cy - 120), (cx + 40, cy - 170), (cx + 120, cy + 10), (cx - 20, cy + 140), (cx - 150, cy + 40)]
    page.click("#tool-lasso")
    page.mouse.move(box["x"] + poly[0][0], box["y"] + poly[0][1])
    page.mouse.down()
    for px, py in poly[1:] + [poly[0]]:
        page.mouse.move(box["x"] + px, box["y"] + py, steps=6)
    page.mouse.up()
    page.wait_for_function("dashMap.stats().selection > 0", timeout=20_000)
    screen = np.array(page.evaluate("Array.from({length: 1797}, (_, i) => dashMap.project(i).slice(0, 2))"))
    expected = set(np.flatnonzero(_inside(screen, poly)).tolist())
    assert len(expected) > 20
    page.wait_for_function(f"document.querySelector('#selection-panel h2').innerText.includes('{len(expected):,}')", timeout=20_000)
    page.screenshot(path=str(SCREENSHOTS / "lasso_digits.png"))
    got = page.evaluate("dashMap.stats().selection")
    # a point exactly on the lasso's edge may fall either way in two implementations
    assert abs(got - len(expected)) <= 2
    with page.expect_download() as dl:
        page.click("#download-selection")
    text = open(dl.value.path(), encoding="utf-8").read()
    rows = list(csv.DictReader(io.StringIO(text)))
    ids = {int(r["i"]) for r in rows}
    assert len(ids ^ expected) <= 2 and len(rows) == got
    assert {"i", "name", "label", "x", "y", "latent_dim", "projection"} <= set(rows[0])
    assert errors == []
    page.close()


def test_a_copied_url_reproduces_the_view(server, browser):
    page, errors = open_page(browser, server + "/?dataset=digits&mode=points&proj=pca&dim=32")
    stats = wait_drawn(page)
    choose(page, "color-select", "ink")
    stats = wait_drawn(page, stats["drawnVersion"])
    page.fill("#search-input", "digit 7")
    page.keyboard.press("Enter")
    stats = wait_drawn(page, stats["drawnVersion"])
    page.mouse.move(640, 600)
    page.mouse.wheel(0, -300)  # zoom in
    time.sleep(1)
    page.click("#tool-box")
    box = page.locator("#map").bounding_box()
    page.mouse.move(box["x"] + 100, box["y"] + 100)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 100, box["y"] + box["height"] - 100, steps=5)
    page.mouse.up()
    page.wait_for_function("dashMap.stats().selection > 0", timeout=20_000)
    page.wait_for_function("location.search.includes('sel=')", timeout=10_000)  # written 250 ms after a change
    url = page.url
    assert "color=ink" in url and "q=digit+7" in url and "sel=" in url and "cam=" in url
    original = page.evaluate("dashMap.stats()")
    first = map_pixels(page, "url_original.png")

    fresh = browser.new_context(viewport={"width": 1280, "height": 1400})
    again = fresh.new_page()
    again.goto(url)
    stats = wait_drawn(again)
    assert stats["layout"] == original["layout"] and stats["selection"] == original["selection"]
    assert np.allclose(stats["camera"], original["camera"], atol=1e-3)
    assert again.input_value("#search-input") == "digit 7"
    second = map_pixels(again, "url_reopened.png")
    differs = (np.abs(first - second).sum(axis=2) > 40).mean()
    assert differs < 0.01, f"{differs:.1%} of the map differs"
    fresh.close()
    assert errors == []
    page.close()


def test_bad_url_values_give_notices_and_a_map(server, browser):
    page, errors = open_page(browser, server + "/?dataset=nope&dim=99&color=zzz&cam=1,2&sel=5-1&proj=umap&n_neighbors=x")
    stats = wait_drawn(page)
    notices = page.inner_text("#url-notice")
    for expected in ("dataset 'nope'", "no latent space '99'", "no column 'zzz'", "Camera '1,2'", "Selection in the link",
                     "n_neighbors must be int"):
        assert expected in notices, notices
    assert "dataset 'nope'" not in page.inner_text("#view-notice")  # each notice said once
    assert stats["n"] == 1797
    page.screenshot(path=str(SCREENSHOTS / "url_notices.png"))
    assert errors == []
    page.close()


def test_words_are_drawn_decluttered(server, browser):
    page, errors = open_page(browser, server + "/?dataset=words&proj=pca")
    stats = wait_drawn(page)
    assert stats["layers"] == ["points", "words"] and stats["mode"] == "words"
    shown = page.evaluate("dashMap.stats().layers")
    px = map_pixels(page, "map_words.png")
    assert drawn(px) > 3000
    assert shown
    assert errors == []
    page.close()


def test_a_link_to_a_projection_not_computed_yet_opens_cleanly(server, browser):
    page, errors = open_page(browser, server + "/?dataset=digits&dim=16&proj=tsne&perplexity=11&mode=points")
    stats = wait_drawn(page)
    assert stats["layout"] == "dataset=digits&space=16&proj=pca"  # PCA meanwhile
    assert "showing PCA meanwhile" in page.inner_text("#map-status")
    page.wait_for_function("dashMap.stats().layout.includes('proj=tsne')", timeout=240_000)
    assert errors == []
    page.close()


def test_neighbour_graph_overlay_communities_and_download(server, browser, tmp_path):
    import networkx as nx

    page, errors = open_page(browser, server + "/?dataset=digits&mode=points&proj=pca&dim=64")
    stats = wait_drawn(page)
    without = map_pixels(page, "graph_off.png")
    choose(page, "graph-select", "10 nearest")
    stats = wait_drawn(page, stats["drawnVersion"])
    assert stats["layers"][0] == "edges" and stats["edges"] == 1797 * 10
    page.wait_for_function("location.search.includes('graph=10')", timeout=10_000)
    with_graph = map_pixels(page, "graph_on.png")
    assert drawn(with_graph) > drawn(without) + 2000  # the edges add visible lines

    # communities as colour-by, centrality as size-by
    choose(page, "color-select", "community")
    page.wait_for_function("document.querySelector('#legend').innerText.includes('community 1')", timeout=30_000)
    choose(page, "size-by-select", "degree")
    stats = wait_drawn(page, stats["drawnVersion"])
    page.wait_for_function("dashMap.stats().sized && location.search.includes('sizeby=graph')", timeout=10_000)
    legend = page.inner_text("#legend")
    assert legend.count("community") >= 8  # Louvain finds about one community per digit
    pixels = map_pixels(page, "graph_communities.png")
    hues = {tuple(int(c) // 32 for c in px) for px in pixels.reshape(-1, 3)[::7] if px.max() - px.min() > 60}
    assert len(hues) >= 6

    # mutual neighbours only: fewer edges
    page.get_by_text("mutual neighbours only").click()
    page.wait_for_function("location.search.includes('mutual=1')", timeout=10_000)
    stats = wait_drawn(page, stats["drawnVersion"])
    assert 0 < stats["edges"] < 1797 * 10

    # the edges of the clicked item only
    page.get_by_text("mutual neighbours only").click()
    page.locator("#graph-edges label", has_text="clicked item").click()
    page.wait_for_function("location.search.includes('edges=item') && !location.search.includes('mutual')",
                           timeout=10_000)
    page.wait_for_function("dashMap.stats().edges === 0", timeout=15_000)  # nothing clicked yet
    x, y = page.evaluate("dashMap.project(5)")
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    close_lightbox(page)
    page.wait_for_function("dashMap.stats().edges === 10", timeout=15_000)

    # "Download network" sends what passes the filters (no selection), as GEXF by default
    with page.expect_download() as info:
        page.click("#download-network")
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    assert path.suffix == ".gexf"
    g = nx.read_gexf(path)
    assert g.number_of_nodes() == 1797 and g.number_of_edges() == 1797 * 10
    assert "community" in g.nodes["0"]
    assert errors == []
    page.close()


def test_groups_vector_view_analogy_and_compare_grid(server, browser, viewer_data):
    ds = open_dataset(viewer_data, "digits")
    label = ds.meta["label"].astype(str)
    ones, sevens = np.flatnonzero(label == "1").tolist(), np.flatnonzero(label == "7").tolist()
    page, errors = open_page(browser, server + "/?dataset=digits&mode=points&proj=pca&dim=64")
    stats = wait_drawn(page)
    message = "document.querySelector('#groups-message').innerText"

    page.fill("#group-name", "nothing")
    page.click("#group-save")  # nothing selected: a clear message, nothing saved
    page.wait_for_function(f"{message}.includes('is empty')", timeout=15_000)
    for name, members in (("ones", ones), ("sevens", sevens)):
        page.evaluate(f"dash_clientside.set_props('selection-store', {{data: {members}}})")
        page.fill("#group-name", name)
        page.click("#group-save")
        page.wait_for_function(f"{message}.includes('Saved group \\'{name}\\'')", timeout=15_000)
        page.wait_for_function("dashMap.stats().selection === 0", timeout=15_000)  # saved: the selection clears
    assert "nothing" not in page.inner_text("#group-list")
    upload = "#group-upload input[type=file]"
    page.set_input_files(upload, files=[{"name": "bad.csv", "mimeType": "text/csv",
                                         "buffer": b"name\ndigit 1 #1\nno such digit\n"}])
    page.wait_for_function(f"{message}.includes('line 3: no item named')", timeout=15_000)
    page.set_input_files(upload, files=[{"name": "uploaded.csv", "mimeType": "text/csv", "buffer": b"i\n1\n2\n3\n"}])
    page.wait_for_function(f"{message}.includes('Saved group \\'uploaded\\'')", timeout=15_000)
    rename = page.locator("#group-list input").nth(2)
    rename.fill("three items")
    rename.press("Enter")
    page.wait_for_function(f"{message}.includes('Renamed')", timeout=15_000)
    assert "bad" not in page.inner_text("#group-list")
    choose(page, "vector-start", "ones")
    choose(page, "vector-end", "sevens")
    page.fill("#vector-name", "one to seven")
    page.click("#vector-create")
    page.wait_for_function(f"{message}.includes('Saved vector')", timeout=15_000)

    page.locator("#vector-list button", has_text="Show").click()
    page.wait_for_function("dashMap.stats().vector && dashMap.stats().layout.includes('proj=vector')", timeout=30_000)
    stats = wait_drawn(page, stats["drawnVersion"])
    assert {"hulls", "path", "steps"} <= set(stats["layers"]) and stats["vector"]["steps"] == 10
    page.wait_for_function("location.search.includes('proj=vector') && location.search.includes('vector=')", timeout=10_000)
    page.wait_for_selector("#vector-score", timeout=30_000)
    assert float(page.inner_text("#vector-score")) > 0.5
    assert page.locator(".path-table tbody tr").count() == 10
    # the key names both groups and what x and y mean, as page text over the map
    key = page.inner_text(".vector-key")
    assert "ones (start" in key and "sevens (end" in key, key
    assert "x: position along one to seven (ones → sevens)" in key and "y: first principal component" in key, key
    assert "position along one to seven" in page.inner_text(".vector-axis.x")
    # Fit keeps every hull and path point in the map, below the tool rows over its top (the path's
    # overshoot to 1.5 used to run off the right edge, the hulls' tops under the buttons)
    page.click("#tool-fit")
    time.sleep(1.2)  # the camera's transition
    box = page.evaluate("""(() => {
        const map = document.getElementById('map').getBoundingClientRect();
        const tools = [...document.querySelectorAll('.map-tools > *')].map((e) => e.getBoundingClientRect())
            .filter((r) => r.height > 0);
        return {w: map.width, h: map.height, top: Math.max(...tools.map((r) => r.bottom)) - map.top};
    })()""")
    points = page.evaluate("dashMap.vectorPoints()")
    assert len(points) > 10
    assert all(0 <= x <= box["w"] and box["top"] <= y <= box["h"] for x, y in points), (box, points)
    map_pixels(page, "vector_view_digits.png")

    # analogy: a one plus the vector lands among sevens
    page.evaluate(f"dash_clientside.set_props('clicked-store', {{data: {ones[0]}}})")
    page.locator("#details button", has_text="Apply vector").click()
    page.wait_for_selector("#analogy .item-button", timeout=30_000)
    found = [b.get_attribute("title") for b in page.locator("#analogy .item-button").all()]
    assert sum("digit 7" in t for t in found) >= 10, found
    page.screenshot(path=str(SCREENSHOTS / "vector_analogy_digits.png"))

    # the compare grid: this vector in every latent space; a cell opens it there
    page.goto(server + "/compare?dataset=digits")
    page.wait_for_selector("#compare-grid td.score-cell", timeout=60_000)
    assert page.locator("#compare-grid td.score-cell").count() == len(ds.spaces)
    assert "one to seven" in page.inner_text("#compare-grid")
    page.screenshot(path=str(SCREENSHOTS / "compare_digits.png"))
    page.locator("#compare-grid td.score-cell a").nth(2).click()
    page.wait_for_function("window.dashMap && dashMap.stats().vector && dashMap.stats().layout.includes('space=16')",
                           timeout=60_000)
    assert errors == []
    page.close()


def test_a_change_redraws_only_what_changed(browser, server):
    """The first view is drawn in one frame, without waiting for a Dash callback; a selection rebuilds the
    points once (what is not selected dims) and its marker; a click only its marker; a colour change
    rebuilds the points once."""
    page, errors = open_page(browser, server + "/?dataset=digits&mode=points&proj=pca&space=64&color=label")
    stats = wait_drawn(page, after=-1)
    # the points once; the cluster labels join in their own update when the server has named them
    points_frames = [e for e in stats["events"] if e[1].startswith("layers") and "points" in e[1]]
    assert stats["decks"] == 1 and len(points_frames) == 1, stats["events"]
    assert stats["timings"]["view"] < stats["timings"]["dash"]  # the boot view, not a Dash callback, drew first

    def events_after(mark: int) -> list[str]:
        return [what for t, what in page.evaluate("dashMap.stats().events") if t > mark]

    mark = page.evaluate("performance.now()")
    page.evaluate("dash_clientside.set_props('selection-store', {data: [1, 2, 3]})")
    page.wait_for_function("dashMap.stats().selection === 3")
    page.wait_for_function("dashMap.stats().layers.includes('selection')")
    rebuilt = [e for e in events_after(mark) if e.startswith("layers")]
    assert sum("points" in e for e in rebuilt) == 1, rebuilt
    mark = page.evaluate("performance.now()")
    page.evaluate("dash_clientside.set_props('clicked-store', {data: 5})")
    page.wait_for_function("dashMap.stats().layers.includes('focus')")
    rebuilt = [e for e in events_after(mark) if e.startswith("layers")]
    assert rebuilt and all("points" not in e for e in rebuilt), rebuilt

    mark = page.evaluate("performance.now()")
    version = page.evaluate("dashMap.stats().drawnVersion")
    page.evaluate("dash_clientside.set_props('color-select', {value: 'ink'})")
    wait_drawn(page, after=version)
    rebuilt = [e for e in events_after(mark) if e.startswith("layers")]
    assert sum("points" in e for e in rebuilt) == 1, rebuilt
    assert errors == []
    page.close()


def test_hostile_colour_values_never_make_the_page_request_another_origin(browser, tmp_path):
    """A colour column and a category column full of ``url(http://127.0.0.1:<trap>/…)``: the map, its legend
    (every swatch clicked), a clicked item's details and the summary page load nothing from the trap."""
    import http.server
    import threading

    hits: list[str] = []

    class Trap(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            hits.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    trap = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trap)
    threading.Thread(target=trap.serve_forever, daemon=True).start()
    bad = [f"url(http://127.0.0.1:{trap.server_address[1]}/{k})" for k in range(3)]
    hostile = bad + [f"red;background:url(http://127.0.0.1:{trap.server_address[1]}/semi)", "#3a7"]
    n = 60
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    with DatasetWriter(data, "hostile") as w:
        w.set_info(type="other", metric="euclidean")
        meta = pd.DataFrame({"i": np.arange(n), "name": [f"p{k}" for k in range(n)],
                             "tint": [hostile[k % len(hostile)] for k in range(n)],
                             "kind": [bad[k % len(bad)] for k in range(n)]})
        w.write_meta(meta, {"tint": "color", "kind": "categorical"})
        w.write_latent(4, rng.normal(size=(n, 4)).astype(np.float32), kind="raw")
        w.finish()
    ds = open_dataset(data, "hostile")
    assert ds.meta["tint"].notna().sum() == n // len(hostile)  # checked when written: only "#3a7" kept
    assert any("'tint'" in note for note in ds.report["notes"])
    meta.to_parquet(ds.path / "meta.parquet", index=False)  # …but an older dataset may hold them all

    with running_server(data, "hostile", tmp_path / "server.log") as url:
        page, errors = open_page(browser, "about:blank")
        requested: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        page.goto(url + "/?dataset=hostile&proj=pca&color=tint")
        stats = wait_drawn(page)
        assert "Each item in its own colour" in page.inner_text("#legend")
        box = page.locator("#map").bounding_box()
        for i in (0, 3, 4):  # a url(…) value, the one with a semicolon, a real colour
            x, y = page.evaluate(f"dashMap.project({i})")[:2]
            page.mouse.click(box["x"] + x, box["y"] + y)
            close_lightbox(page)
            page.wait_for_function(f"document.querySelector('#details .details-name') && "
                                   f"document.querySelector('#details .details-name').innerText === 'p{i}'", timeout=30_000)
            wait_camera_rests(page)  # a click centres the map on the item: the next one is measured after
        swatches = page.eval_on_selector_all("#details .swatch", "els => els.map(e => e.getAttribute('style') || '')")
        assert swatches == ["background: rgb(51, 170, 119);"]  # only the real colour (#3a7) is drawn

        choose(page, "color-select", "kind")
        stats = wait_drawn(page, stats["drawnVersion"])
        items = page.locator("#legend .legend-item")
        assert items.count() == 3
        for k in range(3):
            items.nth(k).click()
            stats = wait_drawn(page, stats["drawnVersion"])
        assert page.locator("#legend .legend-item.off").count() == 3
        page.goto(url + "/summary?dataset=hostile")
        page.wait_for_selector("#preview-graph .main-svg", timeout=30_000)
        time.sleep(1)
        page.screenshot(path=str(SCREENSHOTS / "hostile_colours.png"))
        page.close()
    trap.shutdown()
    assert hits == [], f"the page asked the other origin for {hits}"
    foreign = [u for u in requested if not u.startswith((url + "/", "data:", "blob:"))]
    assert foreign == [] and len(requested) > 10
    assert errors == []


def test_filters_and_legend_entries_redraw_from_the_browser(browser, server, viewer_data):
    """A category filter, a range and a hidden legend entry redraw the map from the browser's own mask, even
    when the server never answers the change; the mask is the server's, also with a search."""
    from dashboard import mapdata
    from dashboard.viewstate import parse

    ds = open_dataset(viewer_data, "digits")
    base = "dataset=digits&mode=points&proj=pca&space=64&color=label"

    def server_mask(query: str) -> list[int]:
        state, notices = parse(viewer_data, query)
        assert notices == []
        return mapdata.mask(ds, state).tolist()

    page, errors = open_page(browser, f"{server}/?{base}")
    wait_drawn(page, after=-1)
    page.wait_for_selector("#legend .legend-item")
    assert page.evaluate("dashMap.mask()") is None
    # the server's answer to each change (the view, its legend and counts) never comes
    page.route("**/_dash-update-component", lambda route: route.abort() if "view-store.data" in (route.request.post_data or "")
               else route.continue_())

    def after(action: str, query: str) -> None:
        expected = json.dumps(server_mask(query), separators=(",", ":"))
        page.evaluate(action)
        try:
            page.wait_for_function("expected => JSON.stringify(dashMap.mask()) === expected", arg=expected, timeout=20_000)
        except Exception:  # noqa: BLE001 - say what differs
            got = page.evaluate("dashMap.mask()")
            raise AssertionError(f"{query}: {sum(a != b for a, b in zip(got or [], json.loads(expected)))} items differ") from None

    after("dash_clientside.set_props({type: 'category', column: 'label'}, {value: ['3', '5']})", f"{base}&f.label=3&f.label=5")
    lo, hi = mapdata.numeric_values(ds.meta["ink"], ds.schema["ink"]).min(), 30
    after("dash_clientside.set_props({type: 'range', column: 'ink'}, {value: [%r, 30]})" % float(lo + 5),
          f"{base}&f.label=3&f.label=5&r.ink={lo + 5:g},30")
    page.locator("#legend .legend-item", has_text="3").first.click()
    after("null", f"{base}&f.label=3&f.label=5&r.ink={lo + 5:g},30&hide=3")
    # drawn (a render of another store's change may still be in flight: it must finish, with this mask)
    page.wait_for_function("dashMap.stats().drawnVersion === dashMap.stats().version", timeout=20_000)
    assert json.dumps(page.evaluate("dashMap.mask()"), separators=(",", ":")) == json.dumps(
        server_mask(f"{base}&f.label=3&f.label=5&r.ink={lo + 5:g},30&hide=3"), separators=(",", ":"))
    page.unroute("**/_dash-update-component")
    page.close()

    # a search is matched on the server; the rest of the mask is the browser's
    query = f"{base}&q=1&field=label&f.label=1&f.label=7&hide=7"
    page, errors = open_page(browser, f"{server}/?{query}")
    wait_drawn(page, after=-1)
    assert page.evaluate("dashMap.mask()") == server_mask(query)
    assert errors == []
    page.close()
