"""The tile pyramid (dashboard.tiles): levels, tiles, quantised positions, polygon membership."""

from __future__ import annotations

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
