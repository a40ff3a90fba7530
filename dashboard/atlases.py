"""Image atlases: every item's thumbnail packed into ≤ 4096² textures, cached per dataset build.

Packing happens at build time (:func:`pack`), so an image map's first frame
only reads finished PNGs.
"""

from __future__ import annotations

from PIL import Image

from . import cache as cache_mod
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

    def open_image(i: int) -> Image.Image | None:
        path = ds.image_path(i, thumb=cell <= 64)
        if not path.exists():
            path = ds.image_path(i)
        try:
            with Image.open(path) as im:
                im.load()
                return im
        except (OSError, ValueError):
            return None

    return cache_mod.cached(ds.path.parent, key, lambda: atlas_mod.pack(open_image, textures[k], cell))[0]


def pack(ds: Dataset, cell: int) -> int:
    """Pack (and cache) every texture of a dataset at ``cell`` pixels; returns how many."""
    textures = atlas_mod.grid(ds.n, cell)
    for k in range(len(textures)):
        atlas_texture(ds, cell, k)
    return len(textures)
