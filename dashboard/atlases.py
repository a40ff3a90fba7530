"""Image atlases: every item's thumbnail packed into ≤ 4096² textures, cached per dataset build.

Packing happens at build time (:func:`pack`), so an image map's first frame
only reads finished PNGs.

A map of more images than the tile threshold draws from its pyramid
(dashboard/tiles.py) instead, one atlas per tile (:func:`tile_atlas`): the
thumbnails of the tile's items in the tile's order, at a cell size for its zoom
(a mosaic of small cells on the pyramid's levels, larger cells on the zooms past
them), so a million images open as a coarse mosaic that sharpens where one
zooms. A build packs the pyramid's levels ahead (:func:`pack_tiles`, resumable:
each tile is its own cache entry); the deeper zooms are packed when first asked
for, as they cover the whole collection at 64 and 128 px (80 GB at a million).
"""

from __future__ import annotations

from PIL import Image

from . import cache as cache_mod
from . import tiles
from .compute import atlas as atlas_mod
from .errors import DashboardError
from .store import Dataset


def atlas_info(ds: Dataset, cell: int) -> dict:
    # the build names the images: a rebuilt dataset's textures and sharp images are new URLs, never stale caches
    return {"cell": cell, "n": ds.n, "build": ds.build_id, "textures": atlas_mod.grid(ds.n, cell)}


def atlas_texture(ds: Dataset, cell: int, k: int) -> bytes:
    """PNG bytes of atlas texture ``k`` at ``cell`` pixels, cached per dataset build."""
    textures = atlas_mod.grid(ds.n, cell)
    if not 0 <= k < len(textures):
        raise DashboardError(f"dataset {ds.name!r} has {len(textures)} atlas textures at {cell} px, not {k + 1}")
    key = f"atlas/{ds.name}/{ds.build_id}/{cell}/{k}"

    return cache_mod.cached(ds.path.parent, key, lambda: atlas_mod.pack(_opener(ds, cell), textures[k], cell))[0]


def _opener(ds: Dataset, cell: int, order=None):
    """``open_image(k)`` for :func:`atlas_mod.pack`: item ``order[k]`` (or k), from its thumbnail when the
    cell is no larger; None when unreadable (its cell stays transparent)."""
    def open_image(k: int) -> Image.Image | None:
        i = int(order[k]) if order is not None else k
        path = ds.image_path(i, thumb=cell <= 64)
        if not path.exists():
            path = ds.image_path(i)
        try:
            with Image.open(path) as im:
                im.load()
                return im
        except (OSError, ValueError):
            return None
    return open_image


def pack(ds: Dataset, cell: int) -> int:
    """Pack (and cache) every texture of a dataset at ``cell`` pixels; returns how many."""
    textures = atlas_mod.grid(ds.n, cell)
    for k in range(len(textures)):
        atlas_texture(ds, cell, k)
    return len(textures)


# --------------------------------------------------------------------------
# per-tile atlases of a large image map

#: Cell of a tile's atlas on the pyramid's levels: each level shows about ``tiles.image_base()`` images at
#: 10–40 px on a laptop's map; one and two zooms past the last level, 64 and 128 px.
MOSAIC_CELL = 32
#: Side of a tile's texture: 16 MB of GPU memory at most, so the tiles in view fit the browser's cap.
TILE_TEXTURE_SIDE = 2048
SMALLEST_CELL = 8


def tile_cell(levels: int, z: int, count: int) -> int:
    """The atlas cell (px) of tile zoom ``z`` holding ``count`` images: the zoom's cell, halved until they
    fit one texture (a tile crowded with images is one few will see at that zoom whole anyway)."""
    cell = MOSAIC_CELL if z < levels else min(128, MOSAIC_CELL * 2 ** (z - levels + 1))
    while cell > SMALLEST_CELL and (TILE_TEXTURE_SIDE // cell) ** 2 < count:
        cell //= 2
    return cell


def tile_atlas(ds: Dataset, state, z: int, x: int, y: int) -> tuple[bytes, int, int]:
    """PNG bytes of tile (z, x, y)'s atlas for the view's layout, its cell and how many images it holds
    (the tile's first ones, in the order :func:`tiles.tile_bytes` sends them; all but past 65,536)."""
    p = tiles.pyramid(ds, state, images=True)
    order = tiles.tile_indices(p, z, x, y)
    cell = tile_cell(p.levels, z, len(order))
    texture = atlas_mod.grid(len(order), cell, TILE_TEXTURE_SIDE)[:1] or [
        {"first": 0, "count": 0, "cols": 1, "width": cell, "height": cell}]
    key = f"tileatlas/{tiles.pyramid_key(ds, state, images=True)}/{z}/{x}/{y}/{cell}"
    png = cache_mod.cached(ds.path.parent, key, lambda: atlas_mod.pack(_opener(ds, cell, order), texture[0], cell))[0]
    return png, cell, texture[0]["count"]


def pack_tiles(ds: Dataset, state, progress: bool = True) -> int:
    """Pack (and cache) the atlas of every tile of the pyramid's levels of a large image map; returns how many.
    Resumes where an interrupted run stopped: each tile is its own cache entry."""
    from tqdm import tqdm

    p = tiles.pyramid(ds, state, images=True)
    todo = [t for z in range(p.levels) for t in tiles.tiles_of_level(p, z)]
    for z, x, y in tqdm(todo, desc="image tiles", unit="tile", disable=not progress, leave=False):
        tile_atlas(ds, state, z, x, y)
    return len(todo)
