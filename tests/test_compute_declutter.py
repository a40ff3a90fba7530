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


def test_a_name_repeated_nearby_waits_until_zooming_draws_its_twins_apart():
    """Four clusters of the same digit side by side (as PCA splits a digit) are named once at overview;
    a twin far away, and a different name nearby, are not held back."""
    xy = np.array([[0.0, 0.0], [0.1, 0.05], [0.05, 0.15], [0.15, 0.12], [0.9, 0.9], [0.0, 0.3]])
    texts = ["0", "0", "0", "0", "0", "7"]
    levels = declutter.label_levels(xy, np.ones(6), texts=texts)
    assert levels[0] == 0 and (levels[1:4] >= 1).all()  # 40-80 px apart at overview: one "0" there
    assert levels[4] == 0 and levels[5] == 0
    assert list(levels[:4]) == [0, 2, 2, 3]  # each part named once 160 px from its twins (0.1 at level 2)
    assert (declutter.label_levels(xy, np.ones(6)) == 0).all()  # words (no texts): as before
