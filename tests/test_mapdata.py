"""What the map draws: colours, masks, y override, word levels, atlases, export rows."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from PIL import Image

from dashboard import mapdata
from dashboard.compute import atlas, beeswarm, colors, declutter
from dashboard.viewstate import parse


def test_categorical_colours_are_the_safe_palette_and_lump_the_tail():
    values = pd.Series([f"c{k}" for k in range(15) for _ in range(15 - k)] + [None])
    rgba, legend = colors.categorical(values)
    assert rgba.shape == (len(values), 4) and rgba.dtype == np.uint8
    assert legend[0]["value"] == "c0" and legend[0]["color"] == colors._hex(colors.parse_color(colors.PALETTE[0]))
    assert [e["value"] for e in legend][-2:] == [colors.OTHER, colors.MISSING]
    assert sum(e["count"] for e in legend) == len(values)
    keys = colors.category_keys(values, legend)
    assert keys[0] == "c0" and keys[-1] == colors.MISSING and keys[-2] == colors.OTHER


def test_numeric_colours_clamp_outliers_and_grey_missing():
    rgba, scale = colors.numeric(np.r_[np.arange(100.0), 1e9, np.nan])
    assert scale["max"] < 1e9 and scale["missing"] == 1
    assert tuple(rgba[-2, :3]) == tuple(rgba[99, :3])  # the outlier clamps to the top colour
    assert tuple(rgba[-1, :3]) == colors.MISSING_COLOR


def test_stored_colours_are_parsed():
    rgba = colors.stored(pd.Series(["#ff0000", "#00ff00", "oops"]))
    assert rgba[:, :3].tolist() == [[255, 0, 0], [0, 255, 0], list(colors.MISSING_COLOR)]


def test_beeswarm_puts_each_category_in_its_own_band():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, 2000)
    y = beeswarm.bands(codes, rng.normal(size=2000))
    for c in range(4):
        band = y[codes == c]
        assert band.min() > 1 - 0.5 * (c + 1) and band.max() < 1 - 0.5 * c  # inside its band
        assert band.std() > 0  # spread, not a line


def test_declutter_never_overlaps_at_a_level():
    rng = np.random.default_rng(1)
    xy = rng.uniform(-1, 1, (3000, 2))
    lengths = rng.integers(3, 12, 3000)
    levels = declutter.label_levels(xy, lengths)
    assert (levels == 0).sum() < 3000 and levels.min() == 0
    shown = np.flatnonzero(levels <= 2)
    scale = declutter.BASE_SCALE * 4
    w = (lengths[shown] * 7.0 + 4) / scale
    h = 15.0 / scale
    for a in range(len(shown)):
        dx = np.abs(xy[shown, 0] - xy[shown[a], 0]) * 2 < w + w[a]
        dy = np.abs(xy[shown, 1] - xy[shown[a], 1]) < h
        assert (dx & dy).sum() == 1  # only itself


def test_atlas_packs_cells_in_order(digits_ds):
    grid = atlas.grid(40_000, 32)
    assert [t["count"] for t in grid] == [16384, 16384, 7232] and grid[0]["width"] == 4096
    textures = mapdata.atlas_info(digits_ds, 64)["textures"]
    png = mapdata.atlas_texture(digits_ds, 64, 0)
    sheet = Image.open(io.BytesIO(png)).convert("RGBA")
    assert sheet.size == (textures[0]["width"], textures[0]["height"])
    cols = textures[0]["cols"]
    k = 100
    cell = np.asarray(sheet.crop(((k % cols) * 64, (k // cols) * 64, (k % cols) * 64 + 64, (k // cols) * 64 + 64)))
    original = np.asarray(Image.open(digits_ds.image_path(k)).convert("RGBA").resize((64, 64), Image.Resampling.NEAREST))
    assert np.array_equal(cell, original)


def test_mask_filters_and_search(data_dir, digits_ds):
    state, _ = parse(data_dir, "dataset=digits&f.label=3&q=%233&hide=4")
    m = mapdata.mask(digits_ds, state)
    labels = digits_ds.meta["label"].astype(str).to_numpy()
    assert m.dtype == np.uint8 and len(m) == digits_ds.n
    assert np.array_equal((m & 1) > 0, labels == "3")
    names = digits_ds.meta["name"].astype(str)
    assert np.array_equal((m & 2) > 0, names.str.contains("#3", regex=False).to_numpy())
    state, _ = parse(data_dir, "dataset=digits&hide=4&color=label")
    assert np.array_equal(mapdata.passes_filters(digits_ds, state), labels != "4")


def test_y_override_keeps_x(data_dir, digits_ds):
    plain, _ = parse(data_dir, "dataset=digits&proj=pca")
    banded, _ = parse(data_dir, "dataset=digits&proj=pca&y=label")
    a, b = mapdata.positions(digits_ds, plain), mapdata.positions(digits_ds, banded)
    assert np.array_equal(a[:, 0], b[:, 0]) and not np.array_equal(a[:, 1], b[:, 1])
    codes = pd.factorize(digits_ds.meta["label"], sort=True)[0]
    assert b[codes == 0, 1].min() > b[codes == 9, 1].max()  # bands are ordered top to bottom


def test_export_rows(data_dir, digits_ds):
    state, _ = parse(data_dir, "dataset=digits&proj=pca&sel=3-5&f.label=1")
    table = mapdata.export_table(digits_ds, state, "selection")
    assert table["i"].tolist() == [3, 4, 5]
    assert list(table.columns[:2]) == ["i", "name"] and {"x", "y", "latent_dim", "projection", "label"} <= set(table.columns)
    filtered = mapdata.export_table(digits_ds, state, "filtered")
    assert set(filtered["label"].astype(str)) == {"1"} and len(filtered) == (digits_ds.meta["label"].astype(str) == "1").sum()


def test_neighbours_can_be_asked_for_only_when_cached(digits_ds):
    from dashboard.computed import get_neighbors

    assert get_neighbors(digits_ds, "8", k=13, cached_only=True) is None
    idx, dist = get_neighbors(digits_ds, "8", k=13)
    again = get_neighbors(digits_ds, "8", k=13, cached_only=True)
    assert np.array_equal(again[0], idx) and np.array_equal(again[1], dist)


def test_graph_columns_of_a_large_dataset_wait_for_the_cli(data_dir, digits_ds, monkeypatch):
    import pytest
    from click.testing import CliRunner

    from dashboard import computed
    from dashboard.cli import cli

    monkeypatch.setattr(computed, "GRAPH_METRICS_INLINE_MAX", 1000)  # digits (1,797) counts as large
    state, _ = parse(data_dir, "dataset=digits&dim=32&graph=7&color=graph:community")
    with pytest.raises(mapdata.LayoutPending, match="--n-neighbors 7 --communities"):
        mapdata.color_legend(digits_ds, state)
    r = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "export-network", "--dataset", "digits", "--dim", "32",
                                 "--projection", "pca", "--n-neighbors", "7", "--communities",
                                 "-o", str(data_dir.parent / "g.gexf")])
    assert r.exit_code == 0, r.output
    rgba, legend = mapdata.color_legend(digits_ds, state)  # now cached: served
    assert legend["entries"][0]["value"] == "community 1" and rgba.shape == (1797, 4)
