"""Which words to show at which zoom, so a word map stays readable."""

from __future__ import annotations

import numpy as np

#: Zoom levels considered; level l draws the layout at BASE_SCALE * 2**l pixels per unit.
LEVELS = 16
BASE_SCALE = 400.0
NEVER = 255


def label_levels(
    xy: np.ndarray, lengths: np.ndarray, *, char_px: float = 7.0, height_px: float = 15.0,
    levels: int = LEVELS, base_scale: float = BASE_SCALE, texts: list[str] | None = None, twin_px: float = 160.0,
) -> np.ndarray:
    """The first zoom level at which each label fits without overlapping, uint8.

    Labels earlier in the input win (callers order by priority: word frequency).
    With ``texts``, a label also waits while a label of the same text is drawn
    within ``twin_px`` of it: a cluster split in four is named once at overview,
    and each part once zooming in has drawn them apart.
    A greedy pass per level over a grid hash, like map label placement; a label
    placed at one level stays at every higher level. deck.gl's collision
    extension would do this on the GPU but pydeck's bundle does not ship it.
    """
    n = len(xy)
    out = np.full(n, NEVER, np.uint8)
    w_px = np.maximum(np.asarray(lengths, np.float64), 1) * char_px + 4
    for level in range(levels):
        scale = base_scale * 2.0**level
        w = w_px / scale
        h = height_px / scale
        twin = twin_px / scale if texts is not None else 0.0
        cell = max(float(w.max()), h, twin)
        grid: dict[tuple[int, int], list[int]] = {}
        placed = np.flatnonzero(out <= level)
        order = np.concatenate([placed, np.flatnonzero(out > level)])
        for i in order:
            x, y = xy[i]
            gx, gy = int(x // cell), int(y // cell)
            if out[i] > level:
                clash = False
                for dx in (-1, 0, 1):
                    for dy in (-1, 0, 1):
                        for j in grid.get((gx + dx, gy + dy), ()):
                            if abs(xy[j, 0] - x) * 2 < w[i] + w[j] and abs(xy[j, 1] - y) < h:
                                clash = True
                                break
                            if twin and texts[i] == texts[j] and np.hypot(xy[j, 0] - x, xy[j, 1] - y) < twin:
                                clash = True
                                break
                        if clash:
                            break
                    if clash:
                        break
                if clash:
                    continue
                out[i] = level
            grid.setdefault((gx, gy), []).append(i)
        if (out <= level).all():
            break
    return out
