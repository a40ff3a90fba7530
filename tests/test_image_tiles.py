"""Images at scale: an image map above the tile threshold draws per-tile atlases (dashboard/atlases.py).

The issue asks for a million images; CI uses the threshold setting instead: 3,000
shape images served as tiles above a threshold of 1,000 (an image level 0 of 250),
the same code path. ``bench/bench_scale.py --images`` runs it at a million.
"""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from dashboard import atlases, cache, fixtures, mapview, tiles
from dashboard.store import open_dataset
from dashboard.viewstate import parse

from .conftest import SCREENSHOTS, open_page, running_server

N = 3000
THRESHOLD = 1000


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """Dataset ``shapes``: N small PNGs (circles, squares, triangles, rings), pixel features, PCA."""
    from dashboard.ingest import images

    mp = pytest.MonkeyPatch()
    mp.setenv("DASHBOARD_TILE_THRESHOLD", str(THRESHOLD))  # servers started below inherit it
    folder = tmp_path_factory.mktemp("shape-images")
    meta = fixtures.shape_images(folder, N)
    d = tmp_path_factory.mktemp("shapes-data")
    images.build(d, name="shapes", images=str(folder), metadata=str(meta), model="pixels", layouts=("pca",))
    yield d
    mp.undo()


def _state(d, query=""):
    state, notices = parse(d, "dataset=shapes&proj=pca" + query)
    assert not notices
    return state


def test_a_tile_atlas_holds_each_item_of_the_tile_in_its_cell(shapes):
    d = shapes
    ds, state = open_dataset(d, "shapes"), _state(shapes)
    p = tiles.pyramid(ds, state, images=True)
    assert p.base == THRESHOLD // 4 and p.levels >= 3
    z, x, y = max(tiles.tiles_of_level(p, 1), key=lambda t: len(tiles.tile_indices(p, *t)))
    order = tiles.tile_indices(p, z, x, y)
    png, cell, count = atlases.tile_atlas(ds, state, z, x, y)
    assert (cell, count) == (atlases.MOSAIC_CELL, len(order)) and count > 20
    sheet = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
    cols = sheet.shape[1] // cell
    for k in (0, count // 2, count - 1):  # cell k is item order[k]'s thumbnail: its centre pixel agrees
        with Image.open(ds.image_path(int(order[k]), thumb=True)) as im:
            want = np.asarray(im.convert("RGBA").resize((cell, cell)))[cell // 2, cell // 2]
        got = sheet[(k // cols) * cell + cell // 2, (k % cols) * cell + cell // 2]
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 40, (k, got, want)


def test_cells_grow_past_the_pyramid_and_shrink_to_fit_a_crowded_tile():
    assert atlases.tile_cell(5, 0, 1000) == atlases.tile_cell(5, 4, 1000) == 32
    assert atlases.tile_cell(5, 5, 1000) == 64 and atlases.tile_cell(5, 6, 200) == atlases.tile_cell(5, 9, 10) == 128
    assert atlases.tile_cell(5, 6, 1000) == 64  # 1,000 cells of 128 px do not fit 2048²
    assert atlases.tile_cell(5, 2, 5000) == 16  # 5,000 cells of 32 px do not fit 2048²
    side = atlases.TILE_TEXTURE_SIDE
    for z, count in ((0, 4096), (5, 4097), (6, 70_000)):
        cell = atlases.tile_cell(5, z, count)
        assert cell >= atlases.SMALLEST_CELL and ((side // cell) ** 2 >= count or cell == atlases.SMALLEST_CELL)


def test_prepare_packs_the_levels_and_a_second_run_resumes_from_the_cache(shapes, monkeypatch):
    d = shapes
    ds = open_dataset(d, "shapes")
    state = _state(d)
    p = tiles.pyramid(ds, state, images=True)
    wanted = [t for z in range(p.levels) for t in tiles.tiles_of_level(p, z)]
    mapview.prepare(ds)  # what build does when it finishes: the default view's tile atlases
    key = tiles.pyramid_key(ds, state, images=True)
    for z, x, y in wanted:
        cell = atlases.tile_cell(p.levels, z, len(tiles.tile_indices(p, z, x, y)))
        assert cache.contains(d, f"tileatlas/{key}/{z}/{x}/{y}/{cell}")
    from dashboard.compute import atlas as atlas_mod

    def fail(*a, **k):
        raise AssertionError("packed again")

    monkeypatch.setattr(atlas_mod, "pack", fail)
    assert atlases.pack_tiles(ds, state, progress=False) == len(wanted)  # every tile from the cache


def test_the_atlas_route_says_its_cell_and_count_and_refuses_non_image_datasets(shapes, tmp_path):
    from dashboard.app import create_app

    client = create_app(shapes, dataset="shapes").server.test_client()
    meta = client.get("/api/tiles.json?dataset=shapes&proj=pca&images=1").get_json()
    assert meta["base"] == THRESHOLD // 4 and meta["n"] == N
    x, y, _ = meta["counts"][0][0]
    r = client.get(f"/api/tile/0/{x}/{y}/atlas.png?dataset=shapes&proj=pca&images=1")
    assert r.status_code == 200 and r.mimetype == "image/png"
    assert r.headers["X-Cell"] == "32" and int(r.headers["X-Count"]) > 0
    fixtures.blobs(tmp_path, "blobs", n=50)
    other = create_app(tmp_path, dataset="blobs").server.test_client()
    r = other.get("/api/tile/0/0/0/atlas.png?dataset=blobs&proj=pca")
    assert r.status_code == 404 and b"has no images" in r.data


@pytest.mark.browser
def test_a_large_image_map_opens_as_a_mosaic_and_sharpens_where_one_zooms(shapes, browser, tmp_path):
    with running_server(shapes, "shapes", tmp_path / "server.log") as url:
        page, errors = open_page(browser, url + "/?dataset=shapes&proj=pca")
        page.set_viewport_size({"width": 1440, "height": 900})
        stats = _wait(page, "s.tiles.cells.length > 0")
        t = stats["tiles"]
        assert t["zooms"] == [0] and t["cells"] == [atlases.MOSAIC_CELL]
        assert 0 < t["drawn"] <= THRESHOLD // 4  # level 0 only: a mosaic of a sample
        urls = page.evaluate("performance.getEntriesByType('resource').map((e) => e.name)")
        assert not any("/api/atlas/" in u or "/api/positions.bin" in u for u in urls), "whole atlases were fetched"
        pyramids = [u for u in urls if "/api/tiles.json" in u]  # the page's preload is the image pyramid's
        assert pyramids and all("images=1" in u for u in pyramids)
        assert page.locator("#topbar-stage").count() == 0  # the top bar's stand-in went when Dash rendered
        page.screenshot(path=str(SCREENSHOTS / "image_tiles_first_1440.png"))

        from dashboard import mapdata

        cam, levels = stats["camera"], t["levels"]
        x, y = mapdata.positions(open_dataset(shapes, "shapes"), _state(shapes))[0]  # onto an item, past the last level
        page.evaluate(f"dashMap.setCamera([{x}, {y}, {cam[2] + levels + 2}])")
        deep = _wait(page, "s.tiles.cells.some((c) => c >= 64)")["tiles"]
        assert max(deep["zooms"]) >= levels and max(deep["cells"]) >= 64 and deep["inView"] > 0
        assert deep["texturePeak"] <= deep["textureCap"] and deep["textureBytes"] > 0
        page.screenshot(path=str(SCREENSHOTS / "image_tiles_zoomed_1440.png"))

        # coloured by a column: the thumbnails take their colours' frames; a click opens the item
        page.goto(url + "/?dataset=shapes&proj=pca&color=shape")
        _wait(page, "s.tiles.cells.length > 0")
        page.screenshot(path=str(SCREENSHOTS / "image_tiles_by_shape_1440.png"))
        page.set_viewport_size({"width": 800, "height": 900})
        _wait(page, "s.tiles.cells.length > 0")
        page.screenshot(path=str(SCREENSHOTS / "image_tiles_by_shape_800.png"))
        assert errors == []


def _wait(page, condition: str, timeout: float = 120_000) -> dict:
    page.wait_for_function(
        "(() => { const s = window.dashMap && dashMap.stats(); return s && s.tiled && s.tiles && s.tiles.tilesShown > 0"
        f" && s.drawnVersion === s.version && ({condition}); }})()", timeout=timeout)
    time.sleep(1.0)
    page.wait_for_function("dashMap.stats().drawnVersion === dashMap.stats().version", timeout=timeout)
    return page.evaluate("dashMap.stats()")
