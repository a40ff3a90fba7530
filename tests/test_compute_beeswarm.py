"""Metadata as the y axis (compute/beeswarm.py)."""

from __future__ import annotations

import numpy as np

from dashboard.compute import beeswarm


def test_beeswarm_puts_each_category_in_its_own_band():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, 2000)
    y = beeswarm.bands(codes, rng.normal(size=2000))
    for c in range(4):
        band = y[codes == c]
        assert band.min() > 1 - 0.5 * (c + 1) and band.max() < 1 - 0.5 * c  # inside its band
        assert band.std() > 0  # spread, not a line
