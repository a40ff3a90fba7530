"""Tables users download: layouts with their metadata, safe for spreadsheets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .store import Dataset

#: A cell starting with one of these is run as a formula by spreadsheets.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralize_formulas(table: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells that a spreadsheet would run as a formula with ``'``.

    Only text is touched: a negative number stays a number.
    """
    out = table.copy()
    for col in out.columns:
        if pd.api.types.is_numeric_dtype(out[col]) or pd.api.types.is_bool_dtype(out[col]):
            continue
        s = out[col]
        mask = s.notna() & s.astype(str).str.startswith(FORMULA_PREFIXES)
        if mask.any():
            s = s.astype(object)
            s[mask] = "'" + s[mask].astype(str)
            out[col] = s
    return out


def layout_table(dataset: Dataset, xy: np.ndarray) -> pd.DataFrame:
    """``i, name, x, y`` followed by every other metadata column."""
    meta = dataset.meta
    table = meta[["i", "name"]].copy()
    table["x"] = xy[:, 0].astype(np.float64).round(6)
    table["y"] = xy[:, 1].astype(np.float64).round(6)
    for col in meta.columns[2:]:
        table[col] = meta[col]
    return table


def write_csv(table: pd.DataFrame, path: Path | str) -> None:
    """Write a CSV (UTF-8, formulas neutralised), atomically."""
    from .store import atomic_path

    with atomic_path(Path(path)) as tmp:
        neutralize_formulas(table).to_csv(tmp, index=False, encoding="utf-8")


def item_table(dataset: Dataset, **columns: np.ndarray) -> pd.DataFrame:
    """``i, name`` and one column per keyword (an analysis per item: trust, Jaccard…), rounded to 6 places."""
    table = dataset.meta[["i", "name"]].copy()
    for name, values in columns.items():
        table[name] = np.asarray(values, np.float64).round(6)
    return table
