"""PixPlot's layouts beside the projections: grid, alphabetical, categorical, date, geographic.

Each function returns n × 2 positions in [-1, 1] (aspect kept) and, where
PixPlot drew them, text labels as (text, x, y). Items a layout cannot place
(no category, no year, no coordinates) go to a strip below it, labelled.
"""

from __future__ import annotations

import math

import numpy as np

Labels = list[tuple[str, float, float]]
#: Above this many items the grid uses a row sweep instead of an exact assignment (O(n³)).
ASSIGN_MAX = 3000
#: Arrangements placed by metadata (names, categories, dates, places), not by the latent space: no
#: neighbourhoods of the space to keep, so no layout trust is measured on them. (The grid is a UMAP's.)
BY_METADATA = ("alphabetical", "categorical", "date", "geographic")


def _square_grid(n: int) -> np.ndarray:
    side = max(1, math.ceil(math.sqrt(n)))
    k = np.arange(n)
    return np.stack([k % side, -(k // side)], axis=1).astype(np.float64)


def _fit(xy: np.ndarray, labels: Labels | None = None, pad: float = 0.5) -> tuple[np.ndarray, Labels]:
    """Centre and scale so the longer side, with ``pad`` cells around it (images fill their cells), spans [-1, 1];
    labels move with the points."""
    labels = labels or []
    pts = np.vstack([xy] + ([np.array([[x, y] for _, x, y in labels])] if labels else []))
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    centre, span = (lo + hi) / 2, max(float((hi - lo).max()) / 2 + pad, 1e-9)
    out = ((xy - centre) / span).astype(np.float32)
    return out, [(t, float((x - centre[0]) / span), float((y - centre[1]) / span)) for t, x, y in labels]


def alphabetical(names: list[str]) -> tuple[np.ndarray, Labels]:
    """A square grid in name order (PixPlot's "alphabetic")."""
    order = np.argsort(np.array([n.lower() for n in names], dtype=object), kind="stable")
    xy = np.empty((len(names), 2))
    xy[order] = _square_grid(len(names))
    return _fit(xy)


def grid(layout: np.ndarray) -> tuple[np.ndarray, Labels]:
    """A 2-D layout snapped to a square grid, neighbours kept together (PixPlot's "grid").

    Up to ASSIGN_MAX items: the assignment of points to cells with the least
    total squared distance (scipy's linear_sum_assignment, what PixPlot's lap
    variant solved). Above: rows by y, then x within each row.
    """
    n = len(layout)
    cells = _square_grid(n)
    side = max(1, math.ceil(math.sqrt(n)))
    src = np.asarray(layout, np.float64)
    src = (src - src.min(axis=0)) / np.maximum(np.ptp(src, axis=0), 1e-9) * (side - 1)
    cells_pos = np.stack([cells[:, 0], cells[:, 1] + (side - 1)], axis=1)  # rows counted up from 0
    xy = np.empty((n, 2))
    if n <= ASSIGN_MAX:
        from scipy.optimize import linear_sum_assignment
        from scipy.spatial.distance import cdist

        rows, cols = linear_sum_assignment(cdist(src, cells_pos, "sqeuclidean"))
        xy[rows] = cells[cols]
    else:
        order = np.argsort(-src[:, 1], kind="stable")
        for r in range(0, n, side):
            chunk = order[r:r + side]
            chunk = chunk[np.argsort(src[chunk, 0], kind="stable")]
            xy[chunk] = cells[r:r + len(chunk)]
    return _fit(xy)


def _boxes(groups: list[tuple[str, np.ndarray]], n: int, margin: float = 2.0) -> tuple[np.ndarray, Labels]:
    """Square boxes of points, one per group (largest first), packed into rows; a label under each."""
    xy = np.zeros((n, 2))
    labels: Labels = []
    sides = [max(1, math.ceil(math.sqrt(len(members)))) for _, members in groups]
    width = max(max(sides, default=1), math.sqrt(sum((s + margin) ** 2 for s in sides)) * 1.1)  # roughly square
    x = y = 0.0
    row_height = 0.0
    for (name, members), side in zip(groups, sides):
        if x > 0 and x + side > width:
            x, y = 0.0, y - row_height - margin - 1
            row_height = 0.0
        cells = _square_grid(len(members))
        xy[members] = cells + [x, y]
        labels.append((f"{name} ({len(members):,})", x + (side - 1) / 2, y - math.ceil(len(members) / side) - 0.4))
        x += side + margin
        row_height = max(row_height, math.ceil(len(members) / side))
    return xy, labels


def categorical(values: list) -> tuple[np.ndarray, Labels]:
    """One box per category, largest first (PixPlot's categorical layout); no category: its own box."""
    keys = np.array(["(no category)" if v is None or v != v or str(v) == "" else str(v) for v in values], dtype=object)
    names, counts = np.unique(keys, return_counts=True)
    groups = [(str(name), np.flatnonzero(keys == name)) for name in names[np.argsort(-counts, kind="stable")]]
    return _fit(*_boxes(groups, len(values)))


def date(years: np.ndarray, *, max_bins: int = 24) -> tuple[np.ndarray, Labels]:
    """A bar per year (or per 2, 5, 10, … years when there are many), items stacked upward, as
    PixPlot's timeline; bars as wide as makes the whole roughly 5:3. Undated items get their own bar."""
    years = np.asarray(years, np.float64)
    n = len(years)
    xy = np.zeros((n, 2))
    labels: Labels = []
    dated = np.flatnonzero(np.isfinite(years))
    span = (np.floor(years[dated]).max() - np.floor(years[dated]).min() + 1) if len(dated) else 1
    width = next((w for w in (1, 2, 5, 10, 20, 25, 50, 100, 250, 500, 1000) if span / w <= max_bins), 1000)
    start = np.floor(years[dated] / width) * width if len(dated) else np.array([])
    bins = np.unique(start).astype(int)
    counts = [int((start == b).sum()) for b in bins]
    undated = np.flatnonzero(~np.isfinite(years))
    tallest = max(counts + [len(undated), 1])
    n_bars = len(bins) + (1 if len(undated) else 0)
    cols = max(1, round(math.sqrt(tallest / (0.6 * max(n_bars, 1)))))
    x = 0.0
    every = max(1, math.ceil(len(bins) / 8))  # labels at most every few bars, so they do not overlap
    for j, b in enumerate(bins):
        members = dated[start == b]
        k = np.arange(len(members))
        xy[members] = np.stack([x + k % cols, k // cols], axis=1)
        if j % every == 0:
            labels.append((str(b) if width == 1 else f"{b}–{b + width - 1}", x + (cols - 1) / 2, -1.0))
        x += cols + 1
    if len(undated):
        k = np.arange(len(undated))
        xy[undated] = np.stack([x + 1 + k % cols, k // cols], axis=1)
        labels.append((f"no date ({len(undated):,})", x + 1 + (cols - 1) / 2, -1.0))
    return _fit(xy, labels)


def geographic(lat: np.ndarray, lng: np.ndarray) -> tuple[np.ndarray, Labels]:
    """Longitude, latitude on a plate carrée (PixPlot: [lng/180, lat/180]); unplaced items on a strip below."""
    lat, lng = np.asarray(lat, np.float64), np.asarray(lng, np.float64)
    ok = np.isfinite(lat) & np.isfinite(lng) & (np.abs(lat) <= 90) & (np.abs(lng) <= 180)
    xy = np.zeros((len(lat), 2))
    xy[ok, 0], xy[ok, 1] = lng[ok] / 180.0, lat[ok] / 180.0
    labels: Labels = []
    missing = np.flatnonzero(~ok)
    if len(missing):
        per_row = 100
        k = np.arange(len(missing))
        xy[missing] = np.stack([-1 + 2 * (k % per_row) / per_row, -0.62 - 0.02 * (k // per_row)], axis=1)
        labels.append((f"no coordinates ({len(missing):,})", 0.0, -0.57))
    # the world's frame is fixed (not fitted to the points), so maps of different datasets agree
    return xy.astype(np.float32), labels
