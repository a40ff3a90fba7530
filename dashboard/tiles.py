"""Levels of detail for large maps: a tile pyramid over a layout's x/y.

Above :func:`threshold` items the browser no longer holds every point; it asks for
the tiles in view. Every item gets one *level* from a random rank: levels ≤ l hold
the ``base·4^l`` lowest ranks, so each level is a uniform random sample of the
whole map (density-preserving) and a finer level only adds items. One zoom step
halves the view's width and quarters its area, so the items in view stay about
``base`` at every level.

Tiles are squares of world width ``TILE_WORLD / 2^z`` anchored at the origin: the
grid deck.gl's ``TileLayer`` uses in an ``OrthographicView``, with negative indices
left and below the origin. Tile (z, x, y) serves the items of levels ≤ z inside it,
so a tile drawn alone is a faithful sample of its square.

Storage: items sorted by (level, Morton code of their cell on a ``2^GRID`` grid per
level-0 tile), so any tile is one contiguous run per level, found by binary search;
nothing per tile is stored. Building is a few vectorised passes and one argsort
(10M items: seconds, under a GB).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from . import cache as cache_mod
from .errors import DashboardError

#: World width of a level-0 tile (layouts fill about [-1, 1]: four level-0 tiles hold the bulk).
TILE_WORLD = 2.0
#: Depth of the cell grid inside a level-0 tile: the deepest tile a request may name.
GRID = 16
#: Coordinates are clipped to ±MAX_WORLD (far outliers of a layout sit on its edge) so cells fit 26 bits.
MAX_WORLD = 1000.0
DEFAULT_THRESHOLD = 500_000
#: Format of the cached pyramid; part of its cache key.
VERSION = 1
_U16 = 65535


def threshold() -> int:
    """Maps of more items than this are served as tiles (``DASHBOARD_TILE_THRESHOLD``, default 500,000)."""
    raw = os.environ.get("DASHBOARD_TILE_THRESHOLD", "")
    try:
        value = int(raw) if raw else DEFAULT_THRESHOLD
    except ValueError:
        raise DashboardError(f"DASHBOARD_TILE_THRESHOLD must be a whole number of items, got {raw!r}") from None
    if value < 4:
        raise DashboardError(f"DASHBOARD_TILE_THRESHOLD must be at least 4, got {value}")
    return value


def use_tiles(n: int) -> bool:
    """Whether a map of ``n`` items is served as tiles."""
    return n > threshold()


def default_base() -> int:
    """Items of level 0 (the first frame): a quarter of what a map below the threshold draws whole."""
    return max(1, threshold() // 4)


#: Thumbnails of level 0 of an image map: each level is a mosaic of about this many images in view.
IMAGE_BASE = 4096


def image_base() -> int:
    """Items of level 0 of an image map's pyramid (never more than a point map's)."""
    return max(1, min(IMAGE_BASE, default_base()))


@dataclass
class Pyramid:
    """Items sorted by (level, cell code): ``order`` their global indices, ``xy`` their positions.

    ``starts[l]:starts[l + 1]`` is level l's run; ``origin`` the cell of the grid's corner
    (a multiple of ``2^GRID``, so every tile is a whole block of cells).
    """

    n: int
    base: int
    levels: int
    origin: tuple[int, int]
    starts: np.ndarray  # int64, levels + 1
    order: np.ndarray  # uint32, n
    codes: np.ndarray  # uint64, n (Morton code of each item's cell)
    xy: np.ndarray  # float32, n × 2
    bounds: tuple[float, float, float, float]  # x0, y0, x1, y1 of the items

    @property
    def nbytes(self) -> int:
        return int(self.order.nbytes + self.codes.nbytes + self.xy.nbytes)


def _spread(v: np.ndarray) -> np.ndarray:
    """Bits of ``v`` (< 2^32) moved to the even bit positions (half of a Morton code)."""
    v = v.astype(np.uint64)
    for shift, magic in ((16, 0x0000FFFF0000FFFF), (8, 0x00FF00FF00FF00FF), (4, 0x0F0F0F0F0F0F0F0F),
                         (2, 0x3333333333333333), (1, 0x5555555555555555)):
        v = (v | (v << np.uint64(shift))) & np.uint64(magic)
    return v


def morton(cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
    """Morton (Z-order) codes of non-negative cells: x bits even, y bits odd."""
    return _spread(cx) | (_spread(cy) << np.uint64(1))


def _compact(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.uint64) & np.uint64(0x5555555555555555)
    for shift, magic in ((1, 0x3333333333333333), (2, 0x0F0F0F0F0F0F0F0F), (4, 0x00FF00FF00FF00FF),
                         (8, 0x0000FFFF0000FFFF), (16, 0x00000000FFFFFFFF)):
        v = (v | (v >> np.uint64(shift))) & np.uint64(magic)
    return v


def unmorton(code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of :func:`morton`."""
    code = np.asarray(code, np.uint64)
    return _compact(code).astype(np.int64), _compact(code >> np.uint64(1)).astype(np.int64)


def levels_of(rank: np.ndarray, base: int) -> np.ndarray:
    """The level of each rank: 0 below ``base``, l below ``base·4^l``."""
    top = int(rank.max()) if len(rank) else 0
    limits = [base]
    while limits[-1] <= top:
        limits.append(limits[-1] * 4)
    return np.searchsorted(np.asarray(limits, np.int64), rank, side="right").astype(np.uint8)


def _cells(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = TILE_WORLD / 2**GRID
    c = np.floor(np.clip(xy, -MAX_WORLD, MAX_WORLD) / w).astype(np.int64)
    return c[:, 0], c[:, 1]


def build(xy: np.ndarray, base: int | None = None, seed: int = 0) -> Pyramid:
    """The pyramid of a layout (n × 2): each item's level from a random rank, sorted by (level, cell)."""
    xy = np.asarray(xy, np.float32)
    n = len(xy)
    if n == 0:
        raise DashboardError("cannot tile an empty layout")
    if n >= 2**32:
        raise DashboardError(f"a layout of {n:,} items is beyond the 2^32 a tile's uint32 indices can name")
    base = base or default_base()
    level = levels_of(np.random.default_rng(seed).permutation(n), base)
    levels = int(level.max()) + 1
    cx, cy = _cells(xy)
    block = 2**GRID
    origin = (int(np.floor(cx.min() / block)) * block, int(np.floor(cy.min() / block)) * block)
    cx -= origin[0]
    cy -= origin[1]
    codes = morton(cx, cy)
    del cx, cy
    # one sort by (level, code): the level above the code's 52 bits (cells < 2^26 per axis)
    order = np.argsort(codes | (level.astype(np.uint64) << np.uint64(56)), kind="stable")
    codes = codes[order]
    starts = np.searchsorted(level[order], np.arange(levels + 1), side="left").astype(np.int64)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    return Pyramid(n=n, base=base, levels=levels, origin=origin, starts=starts, order=order.astype(np.uint32),
                   codes=codes, xy=xy[order], bounds=(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])))


def tile_box(z: int, x: int, y: int) -> tuple[float, float, float]:
    """(x0, y0, width) of tile (z, x, y) in world units."""
    w = TILE_WORLD / 2**z
    return x * w, y * w, w


def _check(z: int) -> None:
    if not 0 <= z <= GRID:
        raise DashboardError(f"tile zoom must be from 0 to {GRID}, got {z}")


def tile_rows(p: Pyramid, z: int, x: int, y: int) -> np.ndarray:
    """Rows (into the pyramid's sorted arrays) of the items of tile (z, x, y): levels ≤ z, inside its square."""
    _check(z)
    shift = GRID - z
    tx, ty = x - (p.origin[0] >> shift), y - (p.origin[1] >> shift)
    if tx < 0 or ty < 0:
        return np.zeros(0, np.int64)
    lo = int(morton(np.array([tx]), np.array([ty]))[0]) << (2 * shift)
    hi = lo + (1 << (2 * shift))
    runs = []
    for level in range(min(z, p.levels - 1) + 1):
        a, b = int(p.starts[level]), int(p.starts[level + 1])
        seg = p.codes[a:b]
        i, j = np.searchsorted(seg, np.uint64(lo)), np.searchsorted(seg, np.uint64(hi))
        if j > i:
            runs.append(np.arange(a + i, a + j))
    return np.concatenate(runs) if runs else np.zeros(0, np.int64)


def tile_indices(p: Pyramid, z: int, x: int, y: int) -> np.ndarray:
    """Global indices (uint32) of the items of tile (z, x, y), in the order :func:`tile_bytes` sends them."""
    return p.order[tile_rows(p, z, x, y)]


def quantise(xy: np.ndarray, z: int, x: int, y: int) -> np.ndarray:
    """Positions as uint16 steps of 1/65535 of the tile's width from its corner (the browser adds them back)."""
    x0, y0, w = tile_box(z, x, y)
    q = np.rint((xy - np.array([x0, y0], np.float64)) / w * _U16)
    return np.clip(q, 0, _U16).astype(np.uint16)


def tile_bytes(p: Pyramid, z: int, x: int, y: int) -> bytes:
    """m uint32 global indices, then m × 2 uint16 positions in the tile: 8 bytes per item."""
    rows = tile_rows(p, z, x, y)
    return p.order[rows].astype("<u4").tobytes() + quantise(p.xy[rows], z, x, y).astype("<u2").tobytes()


def _tile_counts(p: Pyramid, z: int, codes: np.ndarray) -> list[list[int]]:
    """``[[x, y, count], …]``: the tiles of zoom z that items with these cell codes fall in, and how many."""
    cells, k = np.unique(codes >> np.uint64(2 * (GRID - z)), return_counts=True)
    tx, ty = unmorton(cells)
    ox, oy = p.origin[0] >> (GRID - z), p.origin[1] >> (GRID - z)
    return [[int(a + ox), int(b + oy), int(c)] for a, b, c in zip(tx, ty, k)]


def metadata(p: Pyramid) -> dict:
    """What the browser needs to ask for tiles: levels, bounds, and items per tile of each level (its own)."""
    counts = [_tile_counts(p, level, p.codes[p.starts[level]:p.starts[level + 1]]) for level in range(p.levels)]
    return {"n": p.n, "base": p.base, "levels": p.levels, "tileWorld": TILE_WORLD, "grid": GRID,
            "bounds": list(p.bounds), "version": VERSION, "counts": counts}


def inside_polygon(xy: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Which points lie inside a polygon (even-odd rule), vectorised over the points.

    numpy ray casting, one pass per edge over the points in the polygon's bounding box:
    no polygon library is among our dependencies, and this is the same rule the
    browser's lasso uses for small maps.
    """
    poly = np.asarray(polygon, np.float64)
    out = np.zeros(len(xy), bool)
    lo, hi = poly.min(axis=0), poly.max(axis=0)
    cand = np.flatnonzero((xy[:, 0] >= lo[0]) & (xy[:, 0] <= hi[0]) & (xy[:, 1] >= lo[1]) & (xy[:, 1] <= hi[1]))
    px, py = xy[cand, 0].astype(np.float64), xy[cand, 1].astype(np.float64)
    inside = np.zeros(len(cand), bool)
    for (xa, ya), (xb, yb) in zip(poly, np.roll(poly, 1, axis=0)):
        crosses = (ya > py) != (yb > py)
        if not crosses.any():
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            xcross = (xb - xa) * (py - ya) / (yb - ya) + xa
        inside ^= crosses & (px < xcross)
    out[cand] = inside
    return out


def parse_polygon(text: str | None) -> np.ndarray:
    """A lasso or box as the browser sends it: JSON ``[[x, y], …]`` in world units, at least 3 vertices."""
    import json

    try:
        poly = np.asarray(json.loads(text or ""), np.float64)
    except (TypeError, ValueError):
        raise DashboardError("polygon must be a JSON list of [x, y] pairs, e.g. [[0,0],[1,0],[0,1]]") from None
    if poly.ndim != 2 or poly.shape[1] != 2 or len(poly) < 3 or not np.isfinite(poly).all():
        raise DashboardError("polygon must be a JSON list of at least 3 finite [x, y] pairs")
    if len(poly) > 10_000:
        raise DashboardError(f"polygon may have at most 10,000 vertices, got {len(poly):,}")
    return poly


# --------------------------------------------------------------------------
# cached per layout (the wrappers routes call)

_PYRAMIDS = cache_mod.Memo(2)
_MASKS = cache_mod.Memo(4)


def pyramid_key(ds, state, images: bool = False) -> str:
    """The cache key of a view's pyramid: its layout's parameters, the build and the level-0 size."""
    s = ds.space(state.space)
    params = {**state.layout_query(), "build": ds.build_id, "base": image_base() if images else default_base(),
              "tiles": VERSION}
    return cache_mod.make_key(ds.name, s.fingerprint, s.id, "tiles", params)


def pyramid(ds, state, images: bool = False) -> Pyramid:
    """The pyramid of the view's layout, built once and kept in the cache beside the layout. ``images``: the
    image map's, whose levels are smaller (:func:`image_base` thumbnails in view rather than points)."""
    from .mapdata import positions

    key = pyramid_key(ds, state, images)
    base = image_base() if images else default_base()
    return _PYRAMIDS.get(key, lambda: cache_mod.cached(ds.path.parent, key,
                                                      lambda: build(positions(ds, state), base=base))[0])


def metadata_of(ds, state, images: bool = False) -> dict:
    """:func:`metadata` of the view's pyramid, computed once per process (counting the tiles of ten
    million items sorts their codes: ~100 MB and half a second, for every tiles.json asked)."""
    return _METADATA.get(pyramid_key(ds, state, images), lambda: metadata(pyramid(ds, state, images)))


_METADATA = cache_mod.Memo(4)


def tiles_of_level(p: Pyramid, z: int) -> list[tuple[int, int, int]]:
    """Every non-empty tile (z, x, y) of a pyramid level z (< levels): what a build packs ahead."""
    return [(z, x, y) for x, y, _ in _tile_counts(p, z, p.codes[:p.starts[min(z, p.levels - 1) + 1]])]


def mask(ds, state) -> np.ndarray:
    """The view's filter/search mask (see :func:`dashboard.mapdata.mask`), computed once per view, not per tile."""
    from . import mapdata

    key = (str(ds.path), ds.revision, state.to_query(selection=False, camera=False))
    return _MASKS.get(key, lambda: mapdata.mask(ds, state))


def select_polygon(ds, state, polygon: np.ndarray) -> np.ndarray:
    """Every item of the view inside a polygon (world units) that passes the filters and the search: all n items,
    whatever the browser holds."""
    from . import mapdata

    m = mask(ds, state)
    keep = (m & mapdata.PASSES) > 0
    if state.search:
        keep &= (m & mapdata.MATCHES) > 0
    if use_tiles(ds.n):  # the pyramid holds the same positions, already in memory
        p = pyramid(ds, state, images=state.mode == "images")
        found = p.order[inside_polygon(p.xy, polygon)]
        return np.sort(found[keep[found]])
    return np.flatnonzero(inside_polygon(mapdata.positions(ds, state), polygon) & keep).astype(np.uint32)


# --------------------------------------------------------------------------
# the density overview

#: Light to dark blue: where the mass of a map is, at any zoom, without drawing every point.
DENSITY_RAMP = np.array([[222, 235, 247], [158, 202, 225], [66, 146, 198], [8, 81, 156], [8, 48, 107]], np.float64)


def density_raster(xy: np.ndarray, size: int = 512) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """An RGBA image (size × size, row 0 at the top) of how many items fall in each pixel, log-scaled,
    over the central 99.8 % of the layout (a few outliers would otherwise shrink the bulk to a dot);
    and its bounds (x0, y0, x1, y1) in world units. Empty pixels are transparent."""
    xy = np.asarray(xy)
    lo = np.percentile(xy, 0.1, axis=0)
    hi = np.percentile(xy, 99.9, axis=0)
    side = float(max(hi - lo)) * 1.1 or 1.0
    centre = (lo + hi) / 2
    x0, y0 = centre - side / 2
    counts, _, _ = np.histogram2d(xy[:, 0], xy[:, 1], bins=size, range=[[x0, x0 + side], [y0, y0 + side]])
    t = np.log1p(counts.T[::-1])  # rows from the top, y up
    t = t / (t.max() or 1.0)
    pos = t * (len(DENSITY_RAMP) - 1)
    k = np.minimum(pos.astype(int), len(DENSITY_RAMP) - 2)
    frac = (pos - k)[..., None]
    rgb = DENSITY_RAMP[k] * (1 - frac) + DENSITY_RAMP[k + 1] * frac
    alpha = np.where(counts.T[::-1] > 0, 90 + 165 * t, 0)
    out = np.dstack([rgb, alpha]).round().astype(np.uint8)
    return out, (float(x0), float(y0), float(x0 + side), float(y0 + side))
