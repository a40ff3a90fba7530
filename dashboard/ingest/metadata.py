"""PixPlot-style metadata for image folders: a CSV, or a glob of JSON files, one row per image.

Columns PixPlot users rely on: filename, category, tags (pipe-delimited),
description, permalink, year, label (drives supervised UMAP), lat, lng; any
other column is kept. A bad value costs that cell, never the build: each is
reported with its row.
"""

from __future__ import annotations

import glob
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import DashboardError

#: Per-row messages listed before "and N more".
SHOWN = 20

#: PixPlot's columns that hold words, never numbers (a category "1", a description "1990").
TEXT_COLUMNS = ("filename", "category", "tags", "description", "permalink", "label")

# A plain decimal number; "007" (leading zero) is an identifier, not the number 7.
_NUMBER = re.compile(r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_LEADING_ZERO = re.compile(r"^[+-]?0[0-9]")
#: How spreadsheets and R write "no value" in a column of numbers; in a column of words they stay words.
MISSING_WORDS = ("NA", "N/A", "n/a", "na", "NaN", "nan", "null", "NULL", "None", "none", "#N/A", "-")


def numbers_or_text(values: pd.Series) -> pd.Series:
    """A column read as text, as numbers when every non-empty cell is one.

    Whole numbers become pandas' nullable ``Int64``, so a year shows as 1990
    and never 1990.0 even when some cells are empty; other numbers become
    floats. Words such as ``NA`` or ``null`` count as missing only in a
    column of numbers; anything else (and any "007") is returned unchanged,
    so in a column of words ``NA`` stays the word.
    """
    # pyarrow strings, not Python str objects: ten million cells as objects are half a gigabyte a copy
    text = values.astype(STRING).fillna("").str.strip()
    text = text.where(~text.isin(MISSING_WORDS), "")
    present = text != ""
    filled = text[present]
    if not len(filled) or not filled.str.match(_NUMBER).all() or filled.str.match(_LEADING_ZERO).any():
        return values
    return integers_if_whole(to_numbers(text.where(present)))


#: The string type columns are examined as (pyarrow's: compact, and its regular expressions run in C++).
STRING = "string[pyarrow]"


def to_numbers(text: pd.Series) -> pd.Series:
    """Strings (missing ones stay missing) as float64, unparsable ones missing: pyarrow parses the column
    when every cell is a number; otherwise :func:`pandas.to_numeric` does, which goes through Python objects."""
    try:
        parsed = pc.cast(pa.array(text.astype(STRING)), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pd.to_numeric(text, errors="coerce").astype(float)
    return pd.Series(parsed.to_numpy(zero_copy_only=False), index=text.index, name=text.name)


def integers_if_whole(numbers: pd.Series) -> pd.Series:
    """Numbers as nullable ``Int64`` when every present value is a whole number (missing stays missing)."""
    numbers = pd.to_numeric(numbers, errors="coerce")
    present = numbers.dropna()
    if len(present) and np.isfinite(present.to_numpy(dtype=float)).all() \
            and (np.mod(present.to_numpy(dtype=float), 1) == 0).all() and (present.abs() < 2**53).all():
        return numbers.astype("Int64")
    return numbers.astype(float)


def _read_csv(path: Path) -> tuple[pd.DataFrame, list[str]]:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig"), []
    except UnicodeDecodeError:
        # Spreadsheets on Windows save cp1252; latin-1 reads any byte, so it is the last resort.
        for encoding in ("cp1252", "latin-1"):
            try:
                table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding)
                return table, [f"{path.name}: not UTF-8; read as {encoding} (check accented characters)"]
            except UnicodeDecodeError:
                continue
    raise DashboardError(f"--metadata {path}: cannot decode it")  # not reached: latin-1 decodes anything


def _read_json(pattern: str) -> tuple[pd.DataFrame, list[str]]:
    rows, messages = [], []
    for p in sorted(glob.glob(os.path.expanduser(pattern), recursive=True)):
        try:
            value = json.loads(Path(p).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            messages.append(f"{Path(p).name}: not readable JSON ({e}); skipped")
            continue
        for obj in value if isinstance(value, list) else [value]:
            if isinstance(obj, dict):
                rows.append({str(k): "" if v is None else ("|".join(map(str, v)) if isinstance(v, list) else str(v))
                             for k, v in obj.items()})
            else:
                messages.append(f"{Path(p).name}: expected an object per image; skipped")
    if not rows:
        raise DashboardError(f"--metadata {pattern!r}: no JSON objects found")
    return pd.DataFrame(rows).fillna(""), messages


def _year(value: str) -> float | None:
    v = value.strip()
    if not v:
        return np.nan
    try:
        return float(int(float(v)))
    except ValueError:
        pass
    t = pd.to_datetime(v, errors="coerce")
    return float(t.year) if not pd.isna(t) else None


def read_metadata(spec: str) -> tuple[pd.DataFrame, list[str]]:
    """The metadata table (lower-case columns, typed PixPlot columns) and a message per problem."""
    path = Path(os.path.expanduser(spec))
    if path.suffix.lower() == ".csv" and path.is_file():
        table, messages = _read_csv(path)
    elif glob.has_magic(spec) or path.suffix.lower() == ".json":
        table, messages = _read_json(spec)
    elif not path.exists():
        raise DashboardError(f"--metadata {spec}: no such file")
    else:
        raise DashboardError(f"--metadata {spec}: expected a .csv file or a glob of .json files")
    table.columns = [str(c).strip().lower() for c in table.columns]
    if "filename" not in table.columns:
        raise DashboardError(f"--metadata {spec}: needs a 'filename' column (it has {', '.join(table.columns)})")
    table = table.loc[:, ~table.columns.duplicated()].copy()
    problems = []
    if "tags" in table.columns and "category" in table.columns:
        empty = table["tags"].str.strip() == ""
        table.loc[empty, "tags"] = table.loc[empty, "category"]  # as PixPlot: no tags → the category
    if "year" in table.columns:
        years = []
        for row, v in enumerate(table["year"], start=2):
            y = _year(v)
            if y is None:
                problems.append(f"row {row}: year {v!r} is not a year; left empty")
                y = np.nan
            years.append(y)
        table["year"] = integers_if_whole(pd.Series(years, index=table.index, dtype=float))
    for col, limit in (("lat", 90.0), ("lng", 180.0)):
        if col in table.columns:
            values = []
            for row, v in enumerate(table[col], start=2):
                x = pd.to_numeric(v.strip() or np.nan, errors="coerce")
                if v.strip() and (pd.isna(x) or not -limit <= x <= limit):
                    problems.append(f"row {row}: {col} {v!r} is not between -{limit:g} and {limit:g}; left empty")
                    x = np.nan
                values.append(x)
            table[col] = values
    for col in table.columns:
        if col not in TEXT_COLUMNS and col not in ("year", "lat", "lng"):
            table[col] = numbers_or_text(table[col])
    if problems:
        messages.append(f"metadata: {len(problems)} value(s) left empty: " + "; ".join(problems[:SHOWN])
                        + (f"; and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""))
    return table, messages


def match_metadata(table: pd.DataFrame, names: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """Metadata rows aligned to the images ``names`` (paths below the images root).

    A row matches by relative path, else by file name when only one image has
    it. Rows without an image and images without a row are both reported.
    """
    by_path = {n: k for k, n in enumerate(names)}
    base_counts = pd.Series([Path(n).name for n in names]).value_counts()
    by_base = {Path(n).name: k for k, n in enumerate(names) if base_counts[Path(n).name] == 1}
    rows = np.full(len(names), -1)
    orphans, ambiguous = [], []
    for r, key in enumerate(table["filename"].astype(str).str.strip().str.replace("\\", "/", regex=False)):
        k = by_path.get(key.removeprefix("./"), by_base.get(Path(key).name))
        if k is None:
            (ambiguous if base_counts.get(Path(key).name, 0) > 1 else orphans).append(key)
        elif rows[k] < 0:
            rows[k] = r
    columns = [c for c in table.columns if c != "filename"]
    # take() keeps each column's type (Int64 years stay integers); -1 (no row) becomes missing
    aligned = pd.DataFrame({c: table[c].reset_index(drop=True).array.take(rows, allow_fill=True) for c in columns})
    for c in columns:
        if not pd.api.types.is_numeric_dtype(aligned[c]):
            aligned[c] = aligned[c].astype("object").where(aligned[c].notna() & (aligned[c] != ""), None)
    report = []
    if orphans:
        report.append(f"metadata: {len(orphans)} row(s) name no image: " + ", ".join(orphans[:SHOWN])
                      + (" …" if len(orphans) > SHOWN else ""))
    if ambiguous:
        report.append(f"metadata: {len(ambiguous)} row(s) name a file name several images share; give the path: "
                      + ", ".join(ambiguous[:SHOWN]))
    missing = [names[k] for k in np.flatnonzero(rows < 0)]
    if missing:
        report.append(f"metadata: {len(missing)} image(s) have no row: " + ", ".join(missing[:SHOWN])
                      + (" …" if len(missing) > SHOWN else ""))
    return aligned, report
