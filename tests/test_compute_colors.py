"""Colour scales (compute/colors.py): the safe palette, numeric ramps, stored colours."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.compute import colors


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
