"""Word labels that never overlap (compute/declutter.py)."""

from __future__ import annotations

import numpy as np

from dashboard.compute import declutter


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
