"""The tile pyramid (dashboard.tiles): levels, tiles, quantised positions, polygon membership."""

from __future__ import annotations

import io

import numpy as np
import pytest

from dashboard import tiles
from dashboard.errors import DashboardError


def blobs_xy(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-1, 1, size=(6, 2))
    xy = centres[rng.integers(0, 6, n)] + rng.normal(scale=0.15, size=(n, 2))
    xy[:5] = [[3.5, -2.2], [-7.0, 9.0], [0.0, 0.0], [-2.0, -2.0], [1e6, -1e6]]  # outliers, a corner, the far edge
    return xy.astype(np.float32)


@pytest.fixture(scope="module")
def pyr():
    return tiles.build(blobs_xy(40_000), base=500)


def levels_by_index(p: tiles.Pyramid) -> np.ndarray:
    out = np.empty(p.n, np.int64)
    for level in range(p.levels):
        out[p.order[p.starts[level]:p.starts[level + 1]]] = level
    return out


def brute_tile(xy, level, z, x, y):
    """Items of levels ≤ z whose grid cell lies in tile (z, x, y), by the same cell arithmetic."""
    cx, cy = tiles._cells(xy)
    shift = tiles.GRID - z
    return np.flatnonzero((level <= z) & (cx >> shift == x) & (cy >> shift == y))


def test_morton_round_trips():
    rng = np.random.default_rng(1)
    cx, cy = rng.integers(0, 2**26, 1000), rng.integers(0, 2**26, 1000)
    back = tiles.unmorton(tiles.morton(cx, cy))
    assert np.array_equal(back[0], cx) and np.array_equal(back[1], cy)
    assert tiles.morton(np.array([1]), np.array([0]))[0] == 1 and tiles.morton(np.array([0]), np.array([1]))[0] == 2


def test_every_item_is_on_exactly_one_level_and_levels_grow_fourfold(pyr):
    assert np.array_equal(np.sort(pyr.order), np.arange(pyr.n))  # a permutation: each item once
    sizes = np.diff(pyr.starts)
    assert sizes.sum() == pyr.n and pyr.levels == 5  # 500, 2000, 8000, 32000, then the rest
    assert list(np.cumsum(sizes)[:-1]) == [500, 2000, 8000, 32000]


def test_coarse_levels_are_density_preserving(pyr):
    xy, level = blobs_xy(40_000), levels_by_index(pyr)
    right = xy[:, 0] > 0.3
    for coarse in (0, 1, 2):
        share = right[level <= coarse].mean()
        assert abs(share - right.mean()) < 4 * np.sqrt(0.25 / (500 * 4**coarse)) + 0.01


def test_a_tile_holds_exactly_its_square_up_to_its_level(pyr):
    xy, level = blobs_xy(40_000), levels_by_index(pyr)
    meta = tiles.metadata(pyr)
    checked = 0
    for z in (0, 1, 3, 5, 7):
        tx, ty = tiles._cells(xy)
        shift = tiles.GRID - z
        for x, y in {(int(a) >> shift, int(b) >> shift) for a, b in zip(tx[:60], ty[:60])} | {(-99, 4), (3, -2)}:
            got = np.sort(tiles.tile_indices(pyr, z, x, y))
            assert np.array_equal(got, brute_tile(xy, level, z, x, y)), (z, x, y)
            checked += len(got)
    assert checked > 10_000
    # the per-level counts of tiles.json add up to every item, and level 0's tiles are its 500
    assert sum(c for level_counts in meta["counts"] for _, _, c in level_counts) == pyr.n
    assert sum(c for _, _, c in meta["counts"][0]) == 500


def test_finer_tiles_only_add_items(pyr):
    for z, x, y in [(0, -1, -1), (0, 0, 0), (2, 1, 1), (4, -3, 2)]:
        parent = set(tiles.tile_indices(pyr, z, x, y).tolist())
        children = set()
        for dx in (0, 1):
            for dy in (0, 1):
                children |= set(tiles.tile_indices(pyr, z + 1, 2 * x + dx, 2 * y + dy).tolist())
        assert parent <= children and len(children) >= len(parent)


def test_the_deepest_tiles_hold_every_item(pyr):
    z = pyr.levels - 1
    cx, cy = tiles._cells(blobs_xy(40_000))
    shift = tiles.GRID - z
    seen = np.concatenate([tiles.tile_indices(pyr, z, x, y) for x, y in set(zip((cx >> shift).tolist(), (cy >> shift).tolist()))])
    assert np.array_equal(np.sort(seen), np.arange(pyr.n))


def test_tile_bytes_are_indices_and_quantised_positions(pyr):
    xy = blobs_xy(40_000)
    z, x, y = 2, 0, 1
    body = tiles.tile_bytes(pyr, z, x, y)
    m = len(body) // 8
    assert m > 100 and len(body) == 8 * m
    idx = np.frombuffer(body[:4 * m], "<u4")
    q = np.frombuffer(body[4 * m:], "<u2").reshape(m, 2).astype(np.float64)
    x0, y0, w = tiles.tile_box(z, x, y)
    decoded = np.array([x0, y0]) + q / 65535 * w
    assert np.abs(decoded - xy[idx]).max() <= w / 65535


def test_bad_tiles_and_polygons_give_one_line_errors(pyr, monkeypatch):
    with pytest.raises(DashboardError, match="tile zoom"):
        tiles.tile_rows(pyr, 17, 0, 0)
    for bad in ("", "[[0,0],[1,1]]", "nope", "[[0,0],[1,0],[0,\"a\"]]"):
        with pytest.raises(DashboardError, match="polygon"):
            tiles.parse_polygon(bad)
    monkeypatch.setenv("DASHBOARD_TILE_THRESHOLD", "lots")
    with pytest.raises(DashboardError, match="DASHBOARD_TILE_THRESHOLD"):
        tiles.threshold()
    monkeypatch.setenv("DASHBOARD_TILE_THRESHOLD", "1000")
    assert tiles.use_tiles(1001) and not tiles.use_tiles(1000) and tiles.default_base() == 250


def test_inside_polygon_matches_a_point_by_point_ray_cast():
    rng = np.random.default_rng(4)
    xy = rng.uniform(-1, 1, size=(3000, 2))
    poly = np.array([[-0.8, -0.7], [0.9, -0.2], [0.1, 0.3], [0.6, 0.9], [-0.5, 0.4]])

    def one(px, py):
        inside = False
        for (xa, ya), (xb, yb) in zip(poly, np.roll(poly, 1, axis=0)):
            if (ya > py) != (yb > py) and px < (xb - xa) * (py - ya) / (yb - ya) + xa:
                inside = not inside
        return inside

    expected = np.array([one(*p) for p in xy])
    assert np.array_equal(tiles.inside_polygon(xy, poly), expected) and 300 < expected.sum() < 2700


# --------------------------------------------------------------------------
# the routes (Flask's test client), on a map above a small threshold

N_ROUTES = 6000


@pytest.fixture(scope="module")
def tiled(tmp_path_factory):
    """A blobs dataset of 6,000 items served as tiles (threshold 1,000: level 0 holds 250)."""
    from dashboard import fixtures
    from dashboard.app import create_app

    mp = pytest.MonkeyPatch()
    mp.setenv("DASHBOARD_TILE_THRESHOLD", "1000")
    d = tmp_path_factory.mktemp("tiled")
    fixtures.blobs(d, "blobs", n=N_ROUTES, dim=8, categories=5)
    yield create_app(d, dataset="blobs").server.test_client(), d
    mp.undo()


def _body(resp) -> bytes:
    import gzip

    assert resp.status_code == 200, resp.data
    return gzip.decompress(resp.data) if resp.headers.get("Content-Encoding") == "gzip" else resp.data


LAYOUT = "dataset=blobs&space=8&proj=pca"


def test_routes_serve_the_pyramid_tiles_and_their_slices(tiled):
    client, d = tiled
    from dashboard import mapdata
    from dashboard.store import open_dataset
    from dashboard.viewstate import parse

    meta = client.get("/api/tiles.json?" + LAYOUT).get_json()
    assert meta["n"] == N_ROUTES and meta["base"] == 250 and meta["levels"] == 4
    assert sum(c for level in meta["counts"] for _, _, c in level) == N_ROUTES
    ds = open_dataset(d, "blobs")
    state, _ = parse(d, LAYOUT + "&color=category&f.category=c1")
    xy = mapdata.positions(ds, state)
    rgba, _ = mapdata.color_legend(ds, state)
    seen = []
    for x, y, _ in meta["counts"][0]:  # level-0 tiles: 250 items in all
        body = _body(client.get(f"/api/tile/0/{x}/{y}.bin?{LAYOUT}", headers={"Accept-Encoding": "gzip"}))
        k = len(body) // 8
        idx = np.frombuffer(body[:4 * k], "<u4")
        q = np.frombuffer(body[4 * k:], "<u2").reshape(k, 2)
        w = tiles.TILE_WORLD
        assert np.abs(np.array([x * w, y * w]) + q / 65535 * w - xy[idx]).max() <= w / 65535
        colours = np.frombuffer(_body(client.get(f"/api/tile/0/{x}/{y}/colors.bin?{LAYOUT}&color=category")), "u1")
        assert np.array_equal(colours.reshape(k, 4), rgba[idx])
        seen.append(idx)
    assert len(np.concatenate(seen)) == 250
    assert client.get(f"/api/tile/40/0/0.bin?{LAYOUT}").status_code == 400  # a one-line error, not a traceback
    assert b"tile zoom" in client.get(f"/api/tile/40/0/0.bin?{LAYOUT}").data


def test_a_lasso_selects_every_item_inside_on_the_server_and_exports_them(tiled):
    client, d = tiled
    import json

    from dashboard import mapdata
    from dashboard.store import open_dataset
    from dashboard.viewstate import parse

    poly = [[-0.6, -0.5], [0.7, -0.4], [0.2, 0.8], [-0.4, 0.3]]
    query = LAYOUT + "&f.category=c0&f.category=c2"
    found = np.frombuffer(_body(client.post("/api/lasso.bin?" + query, data={"polygon": json.dumps(poly)})), "<u4")
    ds = open_dataset(d, "blobs")
    state, _ = parse(d, query)
    xy = mapdata.positions(ds, state).astype(np.float64)
    expected = np.flatnonzero(tiles.inside_polygon(xy, np.array(poly)) & mapdata.visible(ds, state))
    assert len(expected) > 100 and np.array_equal(found, expected)
    from dashboard.viewstate import encode_selection

    text = client.post("/export/blobs.csv", data={"dataset": "blobs", "space": "8", "proj": "pca",
                                                 "sel": encode_selection(found.tolist())}).data.decode()
    rows = text.strip().splitlines()[1:]
    assert len(rows) == len(expected) and [int(r.split(",")[0]) for r in rows] == expected.tolist()
    assert b"polygon" in client.post("/api/lasso.bin?" + LAYOUT, data={"polygon": "[1, 2]"}).data


def test_points_and_density_routes(tiled):
    client, d = tiled
    pts = np.frombuffer(client.get(f"/api/points.bin?{LAYOUT}&sel=3.10-11").data, "<f4").reshape(-1, 2)
    assert pts.shape == (3, 2)
    resp = client.get("/api/density.png?" + LAYOUT)
    assert resp.status_code == 200 and resp.mimetype == "image/png"
    x0, y0, x1, y1 = map(float, resp.headers["X-Bounds"].split(","))
    assert x0 < -0.5 and x1 > 0.5 and abs((x1 - x0) - (y1 - y0)) < 1e-3
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(resp.data)))
    assert img.shape == (512, 512, 4) and (img[..., 3] > 0).sum() > 2000


def test_prepare_leaves_a_large_default_view_ready_for_its_first_visit(tmp_path, monkeypatch):
    """What `add` and `build` do when they finish: the default view's layout and tile pyramid in the cache."""
    from dashboard import cache, computed, fixtures, mapview
    from dashboard.viewstate import parse

    monkeypatch.setenv("DASHBOARD_TILE_THRESHOLD", "2000")
    ds = fixtures.blobs(tmp_path, "big", n=5000)
    state, _ = parse(tmp_path, "", dataset="big")
    shown = mapview.drawn_layout(ds, state)  # PCA while the default UMAP waits for a background job
    assert (state.proj, shown.proj) == ("umap", "pca")
    assert not computed.layout_ready(ds, shown.space, "pca")
    assert not cache.contains(tmp_path, tiles.pyramid_key(ds, shown))
    mapview.prepare(ds)
    assert computed.layout_ready(ds, shown.space, "pca")
    assert cache.contains(tmp_path, tiles.pyramid_key(ds, shown))
    assert not computed.layout_ready(ds, state.space, "umap")  # never a background job's work
