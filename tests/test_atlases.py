"""Image atlases (atlases.py, compute/atlas.py): cells packed in order."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from dashboard import atlases
from dashboard.compute import atlas


def test_atlas_packs_cells_in_order(digits_ds):
    grid = atlas.grid(40_000, 32)
    assert [t["count"] for t in grid] == [16384, 16384, 7232] and grid[0]["width"] == 4096
    textures = atlases.atlas_info(digits_ds, 64)["textures"]
    png = atlases.atlas_texture(digits_ds, 64, 0)
    sheet = Image.open(io.BytesIO(png)).convert("RGBA")
    assert sheet.size == (textures[0]["width"], textures[0]["height"])
    cols = textures[0]["cols"]
    k = 100
    cell = np.asarray(sheet.crop(((k % cols) * 64, (k // cols) * 64, (k % cols) * 64 + 64, (k // cols) * 64 + 64)))
    original = np.asarray(Image.open(digits_ds.image_path(k)).convert("RGBA").resize((64, 64), Image.Resampling.NEAREST))
    assert np.array_equal(cell, original)
