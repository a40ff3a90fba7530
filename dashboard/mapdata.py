"""What the map draws for one view, computed on the server from a :class:`ViewState`.

Positions, colours, masks, sizes, edges and label levels as compact arrays:
the routes send them as raw bytes, never as per-point JSON. Image atlases are
in :mod:`dashboard.atlases`, the vector overlay and analogies in
:mod:`dashboard.vectorview`. Projections come from :mod:`dashboard.computed`
and are never computed here except PCA.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd

from . import cache as cache_mod
from .compute import beeswarm, colors, declutter
from .compute.graph import knn_edges
from .compute.neighbors import EXACT_MAX
from .computed import GRAPH_METRICS_INLINE_MAX, Layout, get_graph_metrics, get_layout, get_neighbors, get_vector_layout
from .computed import get_neighbor_change, get_trust
from .errors import DashboardError
from .groups import GroupStore, Vector
from .network import Network, assemble
from .store import Dataset
from .viewstate import GRAPH_COLUMNS, KEPT_PREFIX, TRUST_COLUMN, VECTOR_VIEW, ViewState, analysis_columns

ACCENT = (47, 111, 176)
#: mask bits
PASSES = 1
MATCHES = 2


class LayoutPending(DashboardError):
    """The projection is not computed yet (the page computes it in the background)."""


def numeric_values(series: pd.Series, kind: str) -> np.ndarray:
    """A numeric or date column as float64 (dates as decimal years); NaN where missing."""
    v = pd.to_numeric(series, errors="coerce")
    if kind == "date" and v.isna().mean() > 0.5:
        t = pd.to_datetime(series, errors="coerce", format="mixed", utc=True)
        v = t.dt.year + (t.dt.dayofyear - 1) / 365.25
    return v.to_numpy(dtype=np.float64)


def vector_groups(ds: Dataset, vector_id: int) -> tuple[Vector, np.ndarray, np.ndarray]:
    """A saved vector and the members of its start and end groups."""
    store = GroupStore(ds.path.parent)
    store.sync(ds)  # members saved on an earlier build are remapped by item name first
    v = store.vector(ds.name, vector_id)
    start, end = store.group(ds.name, v.start).members, store.group(ds.name, v.end).members
    for g in (start, end):
        if len(g) and g.max() >= ds.n:  # the dataset was rebuilt smaller since the group was saved
            raise DashboardError(f"vector {v.name!r}: its groups name items beyond the {ds.n:,} items of {ds.name}")
    return v, start, end


def layout(ds: Dataset, state: ViewState):
    """The view's 2-D layout (a projection, or the vector view), None while it is not computed."""
    if state.proj == VECTOR_VIEW:
        _, start, end = vector_groups(ds, state.vector)
        return get_vector_layout(ds, state.space, start, end)
    if state.proj in ds.arrangements:  # PixPlot's layouts, stored with the data
        return Layout(ds.arrangement(state.proj)[0], True, "stored")
    return get_layout(ds, state.space, state.proj, cached_only=state.proj != "pca", **state.params)


def positions(ds: Dataset, state: ViewState) -> np.ndarray:
    """n × 2 float32: the layout, with y replaced by a metadata column when asked."""
    found = layout(ds, state)
    if found is None:
        raise LayoutPending(
            f"{state.proj} of latent space {state.space} is not computed yet: open the map to compute it, "
            f"or run `python -m dashboard export-layout {ds.name} --dim {state.space} --projection {state.proj}`"
        )
    xy = np.array(found.xy, dtype=np.float32)
    if state.y:
        kind = ds.schema[state.y]
        if kind == "categorical":
            codes, _ = pd.factorize(ds.meta[state.y], sort=True)
            xy[:, 1] = beeswarm.bands(codes, xy[:, 0])
        else:
            xy[:, 1] = beeswarm.scale(numeric_values(ds.meta[state.y], kind))
    return xy


def graph_metrics(ds: Dataset, state: ViewState) -> dict[str, np.ndarray]:
    """Community, degree and eigenvector centrality of the view's kNN graph.

    Above GRAPH_METRICS_INLINE_MAX items Louvain takes close to a minute:
    those are served once cached (``export-network --communities`` fills the cache).
    """
    found = get_graph_metrics(ds, state.space, k=state.graph_k, mutual=state.mutual)
    if found is None:
        raise LayoutPending(
            f"the communities of the {state.graph_k}-neighbour graph of {ds.name} ({ds.n:,} items, more than "
            f"{GRAPH_METRICS_INLINE_MAX:,}) are not computed yet: run `python -m dashboard export-network "
            f"--dataset {ds.name} --dim {state.space} --n-neighbors {state.graph_k}"
            f"{' --mutual' if state.mutual else ''} --communities`"
        )
    return found


def column_values(ds: Dataset, state: ViewState, column: str) -> tuple[pd.Series, str]:
    """A metadata column or a graph column (``graph:community`` …), and its kind."""
    if column in GRAPH_COLUMNS:
        values = graph_metrics(ds, state)[column.split(":", 1)[1]]
        if column == "graph:community":  # categories named like the legend shows them
            return pd.Series([f"community {c + 1}" for c in values]), "categorical"
        return pd.Series(values), GRAPH_COLUMNS[column]
    if column in analysis_columns(ds):
        return pd.Series(analysis_values(ds, state, column)), "numeric"
    return ds.meta[column], ds.schema[column]


def analysis_values(ds: Dataset, state: ViewState, column: str) -> np.ndarray:
    """Layout trust of the drawn layout, or the neighbours kept from another space, with the graph's k.

    Above EXACT_MAX items they are served once the neighbour lists are cached (the CLI fills the cache).
    """
    k, cached_only = state.graph_k, ds.n > EXACT_MAX
    if column == TRUST_COLUMN:
        found = get_trust(ds, state.space, positions(ds, state), k, cached_only=cached_only)
        fill = f"quality {ds.name} --dim {state.space} --projection {state.proj} --k {k} -o trust.csv"
    else:
        other = column[len(KEPT_PREFIX):]
        found = get_neighbor_change(ds, state.space, other, k, cached_only=cached_only)
        fill = f"compare {ds.name} --dims {state.space},{other} --k {k} -o kept.csv"
    if found is None:
        raise LayoutPending(f"the {k}-neighbour lists of {ds.name} are not computed yet: run `python -m dashboard {fill}`")
    return found


def analysis_label(column: str) -> str:
    """An analysis column's name in a CSV: ``trust``, ``kept_from_<space>``."""
    return "trust" if column == TRUST_COLUMN else "kept_from_" + column[len(KEPT_PREFIX):]


def color_legend(ds: Dataset, state: ViewState) -> tuple[np.ndarray, dict]:
    """RGBA per item for the view's colour-by column and what the legend shows for it."""
    key = (str(ds.path), ds.revision, json.dumps(state.column_query("color", state.color), sort_keys=True))
    return _COLORINGS.get(key, lambda: _color_legend(ds, state))


#: The last few colourings, per process: one view asks for its colours three times (the legend, the
#: colour buffer, the legend's hidden entries). Keyed by the dataset's build, so never stale.
_COLORINGS = cache_mod.Memo(6)


def _color_legend(ds: Dataset, state: ViewState) -> tuple[np.ndarray, dict]:
    rgba, legend = _colors_of(ds, state)
    rgba.setflags(write=False)  # shared by every caller
    return rgba, legend


def _colors_of(ds: Dataset, state: ViewState) -> tuple[np.ndarray, dict]:
    column = state.color
    if not column:
        return colors.single(ds.n, ACCENT), {"kind": "none"}
    values, kind = column_values(ds, state, column)
    if kind == "categorical":
        rgba, entries = colors.categorical(values)
        return rgba, {"kind": "categorical", "column": column, "entries": entries}
    if kind == "color":
        return colors.stored(values), {"kind": "color", "column": column}
    rgba, scale = colors.numeric(numeric_values(values, kind))
    return rgba, {"kind": "numeric", "column": column, **scale}


def search_matches(ds: Dataset, state: ViewState) -> np.ndarray:
    """Items whose search field contains the search text (case-insensitive), or match the regex."""
    key = (str(ds.path), ds.build_id, state.search_field, state.search, state.regex)
    return _MATCHES.get(key, lambda: _search_matches(ds, state))  # a view reads it 3 times (~35 ms a million)


_MATCHES = cache_mod.Memo(4)


def _search_matches(ds: Dataset, state: ViewState) -> np.ndarray:
    values = ds.meta[state.search_field].astype(str)
    try:
        found = values.str.contains(state.search, case=False, regex=state.regex, na=False).to_numpy()
    except re.error as e:
        raise DashboardError(f"search: {state.search!r} is not a valid regular expression ({e})") from None
    found.setflags(write=False)  # shared by every caller
    return found


def passes_filters(ds: Dataset, state: ViewState) -> np.ndarray:
    """Items that pass the category filters, numeric ranges and the legend's hidden entries."""
    ok = np.ones(ds.n, bool)
    for col, values in state.filters.items():
        if values:
            ok &= _code_in(*column_codes(ds, col), set(values))
    for col, (lo, hi) in state.ranges.items():
        v = column_codes(ds, col)[1]  # the column as numbers, converted once per process
        ok &= (v >= lo) & (v <= hi)
    if state.hide and state.color and ds.schema.get(state.color) == "categorical":
        head, codes = column_codes(ds, state.color, legend=True)
        ok &= ~_code_in(head, codes, set(state.hide))
    return ok


def _code_in(head: dict, codes: np.ndarray, chosen: set[str]) -> np.ndarray:
    """Items whose value (a column's codes, :func:`column_codes`) is one of ``chosen``: a lookup per code,
    not a string comparison per item."""
    return np.array([v in chosen for v in head["values"]], bool)[codes]


def mask(ds: Dataset, state: ViewState) -> np.ndarray:
    """One byte per item: bit 1 passes the filters, bit 2 matches the search."""
    out = passes_filters(ds, state).astype(np.uint8) * PASSES
    if state.search:
        out |= search_matches(ds, state).astype(np.uint8) * MATCHES
    return out


def column_codes(ds: Dataset, column: str, *, legend: bool = False) -> tuple[dict, np.ndarray]:
    """A metadata column as the browser filters it without asking the server again: ``({"kind":
    "categories", "values": [...]}, codes)`` with one uint16 (uint32 past 65,535 values) code per item,
    the strings compared exactly as :func:`passes_filters` compares them; or ``({"kind": "numbers"},
    float64 per item)`` (NaN where missing) for a range. ``legend``: the codes of the colour legend's
    entries (what hiding an entry hides), for a categorical colour column."""
    if column not in ds.schema:
        raise DashboardError(f"no column {column!r} in {ds.name}")
    return _CODES.get((str(ds.path), ds.revision, column, legend), lambda: _column_codes(ds, column, legend))


def _column_codes(ds: Dataset, column: str, legend: bool) -> tuple[dict, np.ndarray]:
    kind = ds.schema[column]
    if legend or kind not in ("numeric", "date"):
        if legend:
            if kind != "categorical":
                raise DashboardError(f"{column!r} is not categorical: its legend has no entries to hide")
            state = ViewState(dataset=ds.name, space="", color=column)
            values = pd.Series(colors.category_keys(ds.meta[column], color_legend(ds, state)[1]["entries"]))
        else:
            values = ds.meta[column].astype(str)
        codes, uniques = pd.factorize(values, sort=False)
        dtype = np.uint16 if len(uniques) <= np.iinfo(np.uint16).max else np.uint32
        found = ({"kind": "categories", "values": [str(u) for u in uniques]}, codes.astype(dtype))
    else:
        found = ({"kind": "numbers"}, numeric_values(ds.meta[column], kind))
    found[1].setflags(write=False)  # shared by every caller
    return found


#: Each filtered column's codes, per process (computing one takes ~0.1 s a million items).
_CODES = cache_mod.Memo(16)


#: A categorical column with more values than this gets no filter (a list that long helps nobody).
MAX_FILTER_OPTIONS = 300


def filter_categories(ds: Dataset) -> dict[str, pd.Series]:
    """The categorical columns the map filters by, each value with its count, most frequent first."""
    def compute():
        counts = {col: ds.meta[col].dropna().astype(str).value_counts()
                  for col, kind in ds.schema.items() if kind == "categorical"}
        return {col: c for col, c in counts.items() if len(c) <= MAX_FILTER_OPTIONS}
    return _COUNTS.get((str(ds.path), ds.revision), compute)


_COUNTS = cache_mod.Memo(4)


def visible(ds: Dataset, state: ViewState) -> np.ndarray:
    """Items drawn at full strength: passing the filters and, while searching, matching."""
    m = mask(ds, state)
    keep = (m & PASSES) > 0
    if state.search:
        keep &= (m & MATCHES) > 0
    return keep


def sizes(ds: Dataset, state: ViewState) -> np.ndarray:
    """One byte per item scaling its size by the size-by column (sqrt, central 98 %); 0 where missing."""
    values, kind = column_values(ds, state, state.size_by)
    v = numeric_values(values, kind)
    ok = np.isfinite(v)
    out = np.zeros(ds.n, np.uint8)
    if not ok.any():
        return out
    lo, hi = np.percentile(v[ok], [1, 99])
    t = np.clip((v[ok] - lo) / ((hi - lo) or 1.0), 0.0, 1.0)
    out[ok] = np.round(1 + 254 * np.sqrt(t))  # area grows with the value
    return out


def _knn_edges(ds: Dataset, state: ViewState) -> dict[str, np.ndarray]:
    """The view's kNN graph as edges (see :func:`knn_edges`).

    Neighbour lists above EXACT_MAX items take pynndescent about a minute at
    100k: those are served once cached (``export-network`` fills the cache).
    """
    found = get_neighbors(ds, state.space, k=state.graph_k, cached_only=ds.n > EXACT_MAX)
    if found is None:
        raise LayoutPending(
            f"the {state.graph_k}-neighbour graph of {ds.name} is not computed yet: run "
            f"`python -m dashboard export-network --dataset {ds.name} --dim {state.space} --n-neighbors {state.graph_k}`"
        )
    idx, dist = found
    return knn_edges(idx, dist, mutual=state.mutual)


def edges(ds: Dataset, state: ViewState) -> tuple[np.ndarray, np.ndarray]:
    """The kNN graph of the shown latent space: (source, target) uint32 pairs, and a uint8 opacity per edge.

    Opacity grows with the edge weight (closer neighbours draw stronger).
    """
    e = _knn_edges(ds, state)
    w = e["weight"]
    if len(w):
        lo, hi = np.percentile(w, [2, 98])
        alpha = 30 + 170 * np.clip((w - lo) / ((hi - lo) or 1.0), 0.0, 1.0)
    else:
        alpha = w
    return np.stack([e["source"], e["target"]], axis=1).astype(np.uint32), np.round(alpha).astype(np.uint8)


def network(ds: Dataset, state: ViewState, rows: str) -> Network:
    """The network the map shows for a download: the chosen rows and the kNN edges among them,
    at their map positions, in their map colours, sized by the size-by column (else in-degree)."""
    idx = rows_for_export(ds, state, rows)
    if not len(idx):
        raise DashboardError(f"no items to export: the {rows} rows are empty")
    rgba, _ = color_legend(ds, state)
    size = 4.0 + 16.0 * sizes(ds, state) / 255.0 if state.size_by else None
    metrics = get_graph_metrics(ds, state.space, k=state.graph_k, mutual=state.mutual)  # None: not cached, too large
    return assemble(ds, positions(ds, state), _knn_edges(ds, state), rows=idx, colours=rgba, sizes=size,
                    metrics=metrics, include_metadata=True)


def labels(ds: Dataset) -> list[str]:
    """Each item's name, one line each (what a word map draws)."""
    return [s.replace("\n", " ") for s in ds.meta["name"].astype(str)]


def label_levels(ds: Dataset, state: ViewState) -> np.ndarray:
    """The zoom level from which each word is drawn (uint8), cached per layout."""
    s = ds.space(state.space)
    key = cache_mod.make_key(ds.name, s.fingerprint, s.id, "declutter", {**state.layout_query(), "v": 1})

    def compute() -> np.ndarray:
        lengths = np.array([len(w) for w in labels(ds)])
        return declutter.label_levels(positions(ds, state), lengths)

    return cache_mod.cached(ds.path.parent, key, compute)[0]


def rows_for_export(ds: Dataset, state: ViewState, rows: str) -> np.ndarray:
    """Indices a download holds: the selection, what passes the filters, or all."""
    if rows == "selection":
        return np.asarray(state.selection, np.int64)
    if rows == "filtered":
        return np.flatnonzero(visible(ds, state))
    if rows == "all":
        return np.arange(ds.n)
    raise DashboardError(f"rows must be selection, filtered or all, got {rows!r}")


def table_page(ds: Dataset, state: ViewState, *, sort: str | None = None, descending: bool = False,
               page: int = 0, size: int = 25) -> tuple[pd.DataFrame, int, str]:
    """One page of the table view: the selection if there is one, else what the search and filters keep.

    Returns the page's rows (``i``, ``name``, the metadata, and the analysis the map is coloured by), the
    number of rows in all, and what they are ("selected", "shown"). ``sort`` names one of those columns;
    missing values sort last either way.
    """
    rows = "selection" if state.selection else "filtered"
    idx = rows_for_export(ds, state, rows)
    table = ds.meta
    extra = None
    if state.color in analysis_columns(ds):
        extra = (analysis_label(state.color), np.asarray(analysis_values(ds, state, state.color), np.float64))
    if sort and len(idx):
        if extra and sort == extra[0]:
            key = pd.Series(extra[1][idx])
        elif sort in table.columns:
            key = table[sort].iloc[idx].reset_index(drop=True)
        else:
            raise DashboardError(f"cannot sort by {sort!r}: not a column of {ds.name}")
        idx = idx[key.sort_values(ascending=not descending, na_position="last", kind="stable").index.to_numpy()]
    start = max(0, page) * size
    shown = idx[start:start + size]
    out = table.iloc[shown].reset_index(drop=True).copy()
    if extra:
        out[extra[0]] = extra[1][shown].round(6)
    return out, len(idx), "selected" if rows == "selection" else "shown"


def export_table(ds: Dataset, state: ViewState, rows: str) -> pd.DataFrame:
    """i, name, every metadata column, x, y, latent dim and projection, for the chosen rows."""
    idx = rows_for_export(ds, state, rows)
    xy = positions(ds, state)
    meta = ds.meta
    table = meta.iloc[idx].reset_index(drop=True).copy()
    table["x"] = xy[idx, 0].astype(np.float64).round(6)
    table["y"] = xy[idx, 1].astype(np.float64).round(6)
    table["latent_dim"] = state.space
    if state.proj == VECTOR_VIEW:
        table["projection"] = f"vector {state.vector}: {vector_groups(ds, state.vector)[0].name}"
    else:
        table["projection"] = state.proj + "".join(f" {k}={v}" for k, v in state.params.items())
    if state.color in analysis_columns(ds):  # what the map is coloured by travels with it
        table[analysis_label(state.color)] = np.asarray(analysis_values(ds, state, state.color), np.float64)[idx].round(6)
    return table
