"""Column types of a metadata table: inferred, overridable, validated."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from PIL import ImageColor

from .errors import ValidationError

#: Types a metadata column can have. ``index`` is the ``i`` column only;
#: ``color`` holds colours (an image's mean colour): ``#rgb``, ``#rrggbb`` or a
#: CSS colour name, nothing else (a value reaches the page's CSS).
COLUMN_TYPES = ("index", "categorical", "numeric", "text", "date", "geographic", "color")

_LAT_NAMES = {"lat", "latitude"}
_LNG_NAMES = {"lng", "lon", "long", "longitude"}
_DATE_NAMES = {"date", "year", "datetime", "time", "timestamp", "created", "added"}
_HEX_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}\Z")
_DATE_DIGITS = r"\d{4}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2}"

#: An integer column with at most this many distinct values is a category
#: (digit labels, star ratings), not a quantity.
MAX_INT_CATEGORIES = 20


def css_color(value) -> str | None:
    """``#rrggbb`` for a colour (``#rgb``, ``#rrggbb`` or a CSS colour name, any case); None for anything
    else, such as ``url(…)`` or ``red;background:…``, which must never reach a style."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if _HEX_COLOR.match(text):
        return "#" + "".join(c * 2 for c in text[1:]) if len(text) == 4 else text
    named = ImageColor.colormap.get(text) if text.isalpha() else None  # Pillow's table of the CSS colour names
    if isinstance(named, tuple):  # Pillow's getrgb() caches what it parsed back into the table, as (r, g, b)
        named = "#{:02x}{:02x}{:02x}".format(*named[:3])
    return named


def clean_colors(table: pd.DataFrame, schema: dict[str, str]) -> tuple[pd.DataFrame, list[str]]:
    """The table with every value of a ``color`` column that is not a colour made missing, and a note
    per such column (how many, an example)."""
    notes, out = [], table
    for col, typ in schema.items():
        if typ != "color":
            continue
        values = table[col]
        bad = values.notna().to_numpy() & values.map(lambda v: css_color(v) is None).to_numpy(dtype=bool)
        if not bad.any():
            continue
        if out is table:
            out = table.copy()
        out[col] = values.astype("object").where(~bad, None)
        example = str(values[bad].iloc[0])
        example = example if len(example) <= 60 else example[:57] + "…"
        notes.append(f"column {col!r}: {int(bad.sum()):,} value(s) are not colours (#rgb, #rrggbb or a CSS "
                     f"colour name) and are left missing, e.g. {example!r}")
    return out, notes


#: Rows of a column of words looked at first, to tell free text from categories without the whole column.
HEAD_ROWS = 100_000


def _max_categories(n_rows: int) -> int:
    # A few hundred distinct strings is still a usable legend on a big table;
    # on a small one most strings being distinct means free text.
    return int(max(20, min(200, 0.05 * n_rows)))


def infer_column_type(name: str, values: pd.Series) -> str:
    """Guess one column's type from its name and values."""
    lname = name.lower()
    if lname == "i":
        return "index"
    if pd.api.types.is_bool_dtype(values):
        return "categorical"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "date"
    col = values.dropna()
    if pd.api.types.is_numeric_dtype(values):
        if lname in _LAT_NAMES and col.between(-90, 90).all():
            return "geographic"
        if lname in _LNG_NAMES and col.between(-180, 180).all():
            return "geographic"
        if lname in _DATE_NAMES:
            return "date"
        is_int = pd.api.types.is_integer_dtype(values) or bool(
            len(col) and np.all(np.mod(col.to_numpy(dtype=float), 1) == 0)
        )
        if is_int and col.nunique() <= MAX_INT_CATEGORIES and len(col) > 2 * col.nunique():
            return "categorical"
        return "numeric"
    # The first rows settle most columns of words without a copy of the whole column (ten million names
    # are hundreds of megabytes, their distinct values a hash table as large): a column is all colours only
    # if its head is, and has more distinct values than a legend shows if its head has.
    head = values.iloc[:HEAD_ROWS].dropna().astype(str)
    if lname not in _DATE_NAMES and len(head) and not head.str.match(_HEX_COLOR).all() \
            and head.nunique() > _max_categories(len(values)):
        return "text"
    strings = col.astype(str)
    if len(strings) and strings.str.match(_HEX_COLOR).all():
        return "color"
    if lname in _DATE_NAMES and len(strings):
        parsed = pd.to_datetime(strings, errors="coerce", format="mixed")
        if parsed.notna().mean() > 0.9:
            return "date"
    if strings.nunique() <= _max_categories(len(values)):
        return "categorical"
    return "text"


def infer_schema(table: pd.DataFrame, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Column name → type for every column, with ``overrides`` applied.

    Raises :class:`ValidationError` naming every override that refers to an
    unknown column or an unknown type.
    """
    overrides = dict(overrides or {})
    problems = []
    for col, typ in overrides.items():
        if col not in table.columns:
            problems.append(
                f"schema names column {col!r}, which is not in the table "
                f"(columns: {', '.join(map(str, table.columns))})"
            )
        if typ not in COLUMN_TYPES:
            problems.append(
                f"column {col!r}: unknown type {typ!r} (expected one of {', '.join(COLUMN_TYPES)})"
            )
    if problems:
        raise ValidationError("The column schema does not fit the table:", problems)
    return {
        str(col): overrides.get(col) or infer_column_type(str(col), table[col])
        for col in table.columns
    }


#: Share of a column's values that must read as its new type when a user changes the type: a few stray
#: entries ("c. 1900", "?") become missing; a column of words is not numbers.
FIT_SHARE = 0.9
#: Types a user may give a column (``index`` is the ``i`` column's alone).
CHOOSABLE_TYPES = tuple(t for t in COLUMN_TYPES if t != "index")


def type_problem(name: str, values: pd.Series, typ: str) -> str | None:
    """Why column ``name`` cannot be of type ``typ`` (one line), or None when its values fit it.

    Used when a user changes a column's type after the build: the values stay as imported, so a type must
    read them (numbers for ``numeric``, dates or years for ``date``, degrees for ``geographic``, colours
    for ``color``); ``categorical`` and ``text`` read anything.
    """
    if name == "i" or typ == "index":
        return "column 'i' numbers the items; its type cannot change" if name == "i" else \
            f"only column 'i' is the index; column {name!r} can be {', '.join(CHOOSABLE_TYPES)}"
    if typ not in CHOOSABLE_TYPES:
        return f"unknown type {typ!r} (expected one of {', '.join(CHOOSABLE_TYPES)})"
    present = values.dropna()
    if typ in ("categorical", "text") or not len(present):
        return None
    if typ == "color":
        bad = present[present.map(lambda v: css_color(v) is None).to_numpy(dtype=bool)]
        return None if bad.empty else (f"column {name!r} holds values that are not colours "
                                       f"(#rgb, #rrggbb or a CSS colour name), e.g. {str(bad.iloc[0])[:40]!r}")
    numbers = pd.to_numeric(present, errors="coerce")
    share = float(numbers.notna().mean())
    if typ == "date" and share < FIT_SHARE:
        text = present.astype(str)
        # the parser reads too much ("t1" is 1 January of year 1): a date also shows a year or a d/m/y
        dated = pd.to_datetime(text, errors="coerce", format="mixed").notna() & text.str.contains(_DATE_DIGITS)
        share = float(dated.mean())
        noun = "dates or years"
    else:
        noun = "numbers"
    if share < FIT_SHARE:
        return (f"column {name!r} cannot be {typ}: only {share:.0%} of its values read as {noun} "
                f"(at least {FIT_SHARE:.0%} must)")
    if typ == "geographic":
        degrees = numbers.dropna()
        if not degrees.between(-180, 180).all():
            return f"column {name!r} cannot be geographic: its values run from {degrees.min():g} to {degrees.max():g}, " \
                   "not degrees (-180 to 180)"
    return None
