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
#: Labels are spaced for a map whose shorter side is this many pixels (a laptop's map between the panels) at
#: the camera's fit, which shows [-1, 1] and a little more (FIT_MARGIN in assets/map.js): a larger map or a
#: closer camera only spreads them; on a smaller one the page hides those that would overlap (map-labels.js).
LABEL_MAP_PX, FIT_MARGIN = 600.0, 2.3
#: A page label's size in pixels (assets/style.css .map-label: bold 14 px on a pill; map-labels.js keeps 3 px
#: around each): a character's width at most, the padding and gaps, the line's height.
LABEL_CHAR_PX, LABEL_PAD_PX, LABEL_LINE_PX = 8.5, 14.0, 20.0
#: Items on one exact coordinate from which the geographic layout says how many are there.
STACK_MIN = 5
#: Stacks counted at most (the largest).
STACKS_MAX = 50


def label_size(text: str) -> tuple[float, float]:
    """A label's width and height in a layout's units ([-1, 1]) on the map LABEL_MAP_PX assumes."""
    unit = LABEL_MAP_PX / FIT_MARGIN  # pixels per layout unit at the fit
    return (len(text) * LABEL_CHAR_PX + LABEL_PAD_PX) / unit, LABEL_LINE_PX / unit


def overlapping(labels: Labels) -> list[tuple[str, str]]:
    """The pairs of labels whose boxes (centred on x, hanging below y, as map-labels.js places them) overlap."""
    boxes = []
    for t, x, y in labels:
        w, h = label_size(t)
        boxes.append((t, x - w / 2, x + w / 2, y - h, y))
    return [(a[0], b[0]) for k, a in enumerate(boxes) for b in boxes[k + 1:]
            if a[1] < b[2] and b[1] < a[2] and a[3] < b[4] and b[3] < a[4]]


def _square_grid(n: int) -> np.ndarray:
    side = max(1, math.ceil(math.sqrt(n)))
    k = np.arange(n)
    return np.stack([k % side, -(k // side)], axis=1).astype(np.float64)


def _frame(xy: np.ndarray, labels: Labels | None = None, pad: float = 0.5) -> tuple[np.ndarray, float]:
    """The centre and half-span _fit maps to [-1, 1]: the points' and the labels' box, ``pad`` cells around it."""
    labels = labels or []
    pts = np.vstack([xy] + ([np.array([[x, y] for _, x, y in labels])] if labels else []))
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return (lo + hi) / 2, max(float((hi - lo).max()) / 2 + pad, 1e-9)


def _fit(xy: np.ndarray, labels: Labels | None = None, pad: float = 0.5) -> tuple[np.ndarray, Labels]:
    """Centre and scale so the longer side, with ``pad`` cells around it (images fill their cells), spans [-1, 1];
    labels move with the points."""
    labels = labels or []
    centre, span = _frame(xy, labels, pad)
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
    PixPlot's timeline; bars as wide as makes the whole roughly 5:3. Undated items get their own bar.

    Every bar is named when the names fit side by side on the map (LABEL_MAP_PX); else every decade
    ("1880s", under its bars), on one row or two staggered rows; else as many decades as fit.
    """
    years = np.asarray(years, np.float64)
    n = len(years)
    xy = np.zeros((n, 2))
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
    centres = []  # each bar's centre, in cells
    for b in bins:
        members = dated[start == b]
        k = np.arange(len(members))
        xy[members] = np.stack([x + k % cols, k // cols], axis=1)
        centres.append(x + (cols - 1) / 2)
        x += cols + 1
    fixed: Labels = []
    if len(undated):
        k = np.arange(len(undated))
        xy[undated] = np.stack([x + 1 + k % cols, k // cols], axis=1)
        fixed.append((f"no date ({len(undated):,})", x + 1 + (cols - 1) / 2, -1.0))
    centre, half = _frame(xy, [("", float(c), -1.0) for c in centres] + fixed)
    labels = _date_labels(bins, width, centres, fixed, centre, half)
    return _fit(xy, labels)


def _bar_name(b: int, width: int) -> str:
    if width == 1:
        return str(b)
    if width == 10 and b % 10 == 0:
        return f"{b}s"
    return f"{b}–{b + width - 1}"


def _date_labels(bins: np.ndarray, width: int, centres: list[float], fixed: Labels, centre: np.ndarray,
                 half: float) -> Labels:
    """The date layout's labels (in cells): the finest set of names that does not overlap on the map."""
    if not len(bins):
        return fixed
    row = 1.15 * LABEL_LINE_PX / (LABEL_MAP_PX / FIT_MARGIN) * half  # a label's height and a little, in cells
    bars = [(_bar_name(int(b), width), c) for b, c in zip(bins, centres)]
    decades: dict[int, list[float]] = {}
    for b, c in zip(bins, centres):
        decades.setdefault(int(b) // 10 * 10, []).append(c)
    # a decade's name under the middle of its bars (only where bars are narrower than a decade)
    named = [(f"{d}s", (min(cs) + max(cs)) / 2) for d, cs in decades.items()] if width < 10 else []

    def fits(labels: Labels) -> bool:
        return not overlapping([(t, (x - centre[0]) / half, (y - centre[1]) / half) for t, x, y in labels])

    for names in (bars, named):
        if not names:
            continue
        one = [(t, c, -1.0) for t, c in names]
        if fits(one + fixed):
            return one + fixed
        two = [(t, c, -1.0 - row * (k % 2)) for k, (t, c) in enumerate(names)]  # every other name a row lower
        if fits(two + fixed):
            return two + fixed
    # too many to name each: every k-th of the coarsest names, k as small as fits
    names = named or bars
    for k in range(2, len(names) + 1):
        some = [(t, c, -1.0) for t, c in names[::k]]
        if fits(some + fixed):
            return some + fixed
    return [(names[0][0], names[0][1], -1.0)] + fixed


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
    labels += stack_labels(xy[ok])
    # the world's frame is fixed (not fitted to the points), so maps of different datasets agree
    return xy.astype(np.float32), labels


def stack_labels(xy: np.ndarray, *, minimum: int = STACK_MIN, most: int = STACKS_MAX) -> Labels:
    """"80 here" where at least ``minimum`` items share one exact position (their images are drawn on one
    another, so the map cannot show how many), the largest stacks first, ``most`` at most."""
    if not len(xy):
        return []
    points, counts = np.unique(np.asarray(xy, np.float32), axis=0, return_counts=True)
    order = [k for k in np.argsort(-counts, kind="stable") if counts[k] >= minimum][:most]
    return [(f"{int(counts[k]):,} here", float(points[k, 0]), float(points[k, 1])) for k in order]
