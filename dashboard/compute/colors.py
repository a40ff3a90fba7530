"""Colours for the map: categorical, numeric and stored colours → RGBA bytes."""

from __future__ import annotations

import numpy as np
import pandas as pd
from plotly.colors import qualitative, sequential

from ..schema import css_color

#: Plotly's "Safe" qualitative palette, chosen for colour-blind readers.
PALETTE: list[str] = list(qualitative.Safe)
#: Items whose category is not among the first len(PALETTE) - 1 get this grey.
OTHER_COLOR = (170, 170, 170)
MISSING_COLOR = (200, 200, 200)
OTHER = "(other)"
MISSING = "(missing)"
SEQUENTIAL: list[str] = list(sequential.Viridis)


def parse_color(text: str) -> tuple[int, int, int]:
    """``#rrggbb``, ``#rgb`` or ``rgb(r, g, b)`` → (r, g, b); ValueError otherwise."""
    t = str(text).strip()
    if t.startswith("rgb"):
        parts = t[t.index("(") + 1 : t.rindex(")")].split(",")
        return tuple(int(float(p)) for p in parts[:3])  # type: ignore[return-value]
    t = t.lstrip("#")
    if len(t) == 3:
        t = "".join(c * 2 for c in t)
    if len(t) != 6:
        raise ValueError(f"not a colour: {text!r}")
    return int(t[0:2], 16), int(t[2:4], 16), int(t[4:6], 16)


def categorical(values: pd.Series) -> tuple[np.ndarray, list[dict]]:
    """RGBA per item and the legend, categories ordered by frequency.

    The most frequent categories get the palette's colours; the rest share
    one grey "(other)" entry so the legend stays short and honest.
    """
    # by codes, not Python objects: ten million strings as objects are half a gigabyte, and each
    # category's comparison with all of them seconds; missing values get code -1
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    order = np.argsort(-counts, kind="stable")  # most frequent first; ties in order of first appearance
    n_named = len(PALETTE) - 1 if len(uniques) > len(PALETTE) else len(uniques)
    table = np.empty((len(uniques) + 1, 4), np.uint8)  # one row per code; the last for code -1 (missing)
    table[:] = (*OTHER_COLOR, 255)
    table[-1] = (*MISSING_COLOR, 255)
    legend = []
    for k, code in enumerate(order[:n_named]):
        rgb = parse_color(PALETTE[k])
        table[code] = (*rgb, 255)
        legend.append({"value": str(uniques[code]), "color": _hex(rgb), "count": int(counts[code])})
    rest = int(counts[order[n_named:]].sum())
    if rest:
        legend.append({"value": OTHER, "color": _hex(OTHER_COLOR), "count": rest, "members": len(uniques) - n_named})
    missing = int((codes < 0).sum())
    if missing:
        legend.append({"value": MISSING, "color": _hex(MISSING_COLOR), "count": missing})
    rgba = table[codes]  # code -1 indexes the last row
    return rgba, legend


def category_keys(values: pd.Series, legend: list[dict]) -> np.ndarray:
    """Each item's legend entry (value, "(other)" or "(missing)"), to hide entries by."""
    s = values.astype("object")
    named = {e["value"] for e in legend if e["value"] not in (OTHER, MISSING)}
    keys = s.astype(str).where(s.notna(), MISSING)
    return np.where(keys.isin(named) | (keys == MISSING), keys, OTHER)


def numeric(values) -> tuple[np.ndarray, dict]:
    """Viridis over the central 98 % of the values (outliers clamp); NaN → grey."""
    v = np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=np.float64)
    finite = np.isfinite(v)
    rgba = np.empty((len(v), 4), np.uint8)
    rgba[:] = (*MISSING_COLOR, 255)
    if not finite.any():
        return rgba, {"min": None, "max": None, "colors": [], "missing": int(len(v))}
    lo, hi = np.percentile(v[finite], [1, 99])
    if hi <= lo:
        lo, hi = float(v[finite].min()), float(v[finite].max()) or 1.0
    lut = _lut(SEQUENTIAL)
    t = np.clip((v[finite] - lo) / ((hi - lo) or 1.0), 0, 1)
    rgba[finite, :3] = lut[(t * 255).astype(np.int64)]
    return rgba, {"min": float(lo), "max": float(hi), "colors": [_hex(parse_color(c)) for c in SEQUENTIAL],
                  "missing": int((~finite).sum())}


def stored(values: pd.Series) -> np.ndarray:
    """A colour column (``#rgb``, ``#rrggbb`` or a CSS colour name per item, e.g. an image's mean colour)
    as RGBA; anything else (a dataset written before colours were checked) is the missing grey."""
    rgba = np.empty((len(values), 4), np.uint8)
    rgba[:] = (*MISSING_COLOR, 255)
    # Few distinct strings in practice: parse each once.
    codes, uniques = pd.factorize(values)
    table = np.array([(*_stored_rgb(u), 255) for u in uniques] or [(0, 0, 0, 255)], np.uint8)
    ok = codes >= 0
    rgba[ok] = table[codes[ok]]
    return rgba


def single(n: int, rgb: tuple[int, int, int]) -> np.ndarray:
    rgba = np.empty((n, 4), np.uint8)
    rgba[:] = (*rgb, 255)
    return rgba


def _stored_rgb(value) -> tuple[int, int, int]:
    color = css_color(value)
    return parse_color(color) if color else MISSING_COLOR


def _lut(stops: list[str]) -> np.ndarray:
    rgb = np.array([parse_color(c) for c in stops], np.float64)
    x = np.linspace(0, 1, len(stops))
    t = np.linspace(0, 1, 256)
    return np.stack([np.interp(t, x, rgb[:, c]) for c in range(3)], axis=1).round().astype(np.uint8)


def _hex(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)
