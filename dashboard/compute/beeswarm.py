"""Bee-swarm bands: a categorical column as y, as LSC's metadata y-axis."""

from __future__ import annotations

import numpy as np
import pandas as pd


def bands(codes: np.ndarray, x: np.ndarray, *, bins: int = 120) -> np.ndarray:
    """y for each item: its category's band, items stacked around the band's centre line.

    ``codes`` are category numbers 0..k-1 (negative = missing, drawn as a last
    band). Within a band, items are binned by x and each bin's items alternate
    above and below the centre (a dot histogram), scaled to fit the band, so
    the band's shape shows how the category spreads along x.
    """
    codes = np.asarray(codes).copy()
    k = int(codes.max()) + 1 if len(codes) else 0
    codes[codes < 0] = k
    n_bands = int(codes.max()) + 1 if len(codes) else 1
    lo, hi = (float(x.min()), float(x.max())) if len(x) else (0.0, 1.0)
    b = np.clip(((x - lo) / ((hi - lo) or 1.0) * bins).astype(np.int64), 0, bins - 1)
    rank = pd.DataFrame({"c": codes, "b": b}).groupby(["c", "b"]).cumcount().to_numpy()
    offset = ((rank + 1) // 2) * np.where(rank % 2 == 1, 1.0, -1.0)
    height = 2.0 / n_bands
    centre = 1.0 - height * (codes + 0.5)
    # The tallest stack in any band fills 90 % of the band's half height.
    tallest = max(float(np.abs(offset).max()) if len(offset) else 0.0, 1.0)
    return (centre + offset / tallest * height * 0.45).astype(np.float32)


def scale(values: np.ndarray) -> np.ndarray:
    """A numeric column as y in [-1, 1] (central 98 %; outside clamps, NaN at the bottom)."""
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    out = np.full(len(v), -1.1, np.float32)
    if finite.any():
        lo, hi = np.percentile(v[finite], [1, 99])
        if hi <= lo:
            lo, hi = float(v[finite].min()), float(v[finite].max())
        out[finite] = np.clip((v[finite] - lo) / ((hi - lo) or 1.0) * 2 - 1, -1.05, 1.05)
    return out
