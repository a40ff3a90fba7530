"""What the map draws, computed on the server from a :class:`ViewState`.

Positions, colours, masks, atlases and label levels as compact arrays: the
routes send them as raw bytes, never as per-point JSON. Slow results (label
levels, atlases) are cached in the data directory's cache; projections come
from :mod:`dashboard.computed` and are never computed here except PCA.
"""

from __future__ import annotations

import base64
import functools
import io
import re

import numpy as np
import pandas as pd
from PIL import Image

from . import cache as cache_mod
from .compute import atlas as atlas_mod
from .compute import beeswarm, colors, declutter
from .compute.graph import knn_edges
from .compute.neighbors import EXACT_MAX
from .compute import vectors as vectors_mod
from .computed import (GRAPH_METRICS_INLINE_MAX, Layout, get_graph_metrics, get_layout, get_neighbors, get_radius,
                       get_vector_layout, get_vector_scores)
from .errors import DashboardError
from .groups import GroupStore, Vector
from .network import Network, assemble
from .store import Dataset
from .viewstate import GRAPH_COLUMNS, VECTOR_VIEW, ViewState

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
    return ds.meta[column], ds.schema[column]


def color_legend(ds: Dataset, state: ViewState) -> tuple[np.ndarray, dict]:
    """RGBA per item for the view's colour-by column and what the legend shows for it."""
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
    values = ds.meta[state.search_field].astype(str)
    if state.regex:
        try:
            return values.str.contains(state.search, case=False, regex=True, na=False).to_numpy()
        except re.error as e:
            raise DashboardError(f"search: {state.search!r} is not a valid regular expression ({e})") from None
    return values.str.contains(state.search, case=False, regex=False, na=False).to_numpy()


def passes_filters(ds: Dataset, state: ViewState) -> np.ndarray:
    """Items that pass the category filters, numeric ranges and the legend's hidden entries."""
    meta = ds.meta
    ok = np.ones(ds.n, bool)
    for col, values in state.filters.items():
        if values:
            ok &= meta[col].astype(str).isin(values).to_numpy()
    for col, (lo, hi) in state.ranges.items():
        v = numeric_values(meta[col], ds.schema[col])
        ok &= (v >= lo) & (v <= hi)
    if state.hide and state.color and ds.schema.get(state.color) == "categorical":
        values, _ = column_values(ds, state, state.color)
        _, legend = color_legend(ds, state)
        keys = colors.category_keys(values, legend["entries"])
        ok &= ~np.isin(keys, state.hide)
    return ok


def mask(ds: Dataset, state: ViewState) -> np.ndarray:
    """One byte per item: bit 1 passes the filters, bit 2 matches the search."""
    out = passes_filters(ds, state).astype(np.uint8) * PASSES
    if state.search:
        out |= search_matches(ds, state).astype(np.uint8) * MATCHES
    return out


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

    with cache_mod.open_cache(ds.path.parent) as c:
        value, _ = cache_mod.get_or_compute(c, key, compute)
    return value


def atlas_info(ds: Dataset, cell: int) -> dict:
    return {"cell": cell, "n": ds.n, "textures": atlas_mod.grid(ds.n, cell)}


def atlas_texture(ds: Dataset, cell: int, k: int) -> bytes:
    """PNG bytes of atlas texture ``k`` at ``cell`` pixels, cached per dataset build."""
    textures = atlas_mod.grid(ds.n, cell)
    if not 0 <= k < len(textures):
        raise DashboardError(f"dataset {ds.name!r} has {len(textures)} atlas textures at {cell} px, not {k + 1}")
    key = f"atlas/{ds.name}/{ds.build_id}/{cell}/{k}"

    def open_image(i: int) -> Image.Image | None:
        path = ds.image_path(i, thumb=cell <= 64)
        if not path.exists():
            path = ds.image_path(i)
        try:
            with Image.open(path) as im:
                im.load()
                return im
        except (OSError, ValueError):
            return None

    with cache_mod.open_cache(ds.path.parent) as c:
        value, _ = cache_mod.get_or_compute(c, key, lambda: atlas_mod.pack(open_image, textures[k], cell))
    return value


def rows_for_export(ds: Dataset, state: ViewState, rows: str) -> np.ndarray:
    """Indices a download holds: the selection, what passes the filters, or all."""
    if rows == "selection":
        return np.asarray(state.selection, np.int64)
    if rows == "filtered":
        return np.flatnonzero(visible(ds, state))
    if rows == "all":
        return np.arange(ds.n)
    raise DashboardError(f"rows must be selection, filtered or all, got {rows!r}")


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
    return table


# --------------------------------------------------------------------------
# attribute vectors: the overlay the map draws, analogies

@functools.lru_cache(maxsize=4)
def _decoder(path: str, fingerprint: str):
    from .compute import vae

    return vae.load(path)


def reconstructions(ds: Dataset, space: str, Z: np.ndarray) -> list[str] | None:
    """PNG data URIs of latent points decoded by the space's VAE decoder; None without one."""
    s = ds.space(space)
    if not s.decoder or not (ds.path / s.decoder).exists():
        return None
    from .compute import vae

    images = vae.decode(_decoder(str(ds.path / s.decoder), s.fingerprint), np.asarray(Z, np.float32))
    out = []
    for im in images:
        buf = io.BytesIO()
        Image.fromarray(im).save(buf, format="PNG")
        out.append("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii"))
    return out


def _hull(points: np.ndarray) -> list[list[float]]:
    """Convex hull of 2-D points (scipy), as a closed-ring polygon; the points themselves when degenerate."""
    from scipy.spatial import ConvexHull, QhullError

    if len(points) >= 3:
        try:
            points = points[ConvexHull(points).vertices]
        except QhullError:  # all on a line (or one point)
            pass
    return np.asarray(points, np.float64).round(5).tolist()


def vector_overlay(ds: Dataset, state: ViewState) -> dict:
    """What the map draws for the shown vector: hulls of both groups and the path between their
    centroids (9 steps and an overshoot to 1.5), each step with its support and, for generative
    datasets, its decoded image."""
    v, start, end = vector_groups(ds, state.vector)
    X = ds.latent(state.space)
    xy = positions(ds, state)
    locations = vectors_mod.path(vectors_mod.centroid(X, start), vectors_mod.centroid(X, end))
    linear = state.proj in ("pca", VECTOR_VIEW) and not state.y
    placed = vectors_mod.place(X, xy, locations, linear=linear, metric=ds.metric)
    radius = state.radius or get_radius(ds, state.space)
    counts, near, near_d = vectors_mod.path_support(X, locations, radius, ds.metric)
    images = reconstructions(ds, state.space, locations)
    names = ds.meta["name"].astype(str).to_numpy()
    steps = [
        {"k": round(float(k), 3), "x": float(p[0]), "y": float(p[1]), "count": int(c), "nearest": int(j),
         "nearest_name": names[j], "nearest_distance": round(float(d), 4), "image": images[s] if images else None}
        for s, (k, p, c, j, d) in enumerate(zip(vectors_mod.PATH_STEPS, placed, counts, near, near_d))
    ]
    return {
        "id": v.id, "name": v.name, "description": v.description, "radius": radius, "placement": "linear" if linear else "neighbours",
        "start": {"name": v.start_name, "size": int(len(start)), "hull": _hull(xy[start])},
        "end": {"name": v.end_name, "size": int(len(end)), "hull": _hull(xy[end])},
        "steps": steps,
    }


def analogy(ds: Dataset, state: ViewState, i: int, *, reverse: bool = False, k: int = 20) -> dict:
    """Item ``i`` moved along the shown vector (or against it): the ``k`` items nearest the result by the
    dataset's metric (true cosine for text), the item's own neighbours, and decoded images along the way."""
    v, start, end = vector_groups(ds, state.vector)
    if not 0 <= int(i) < ds.n:
        raise DashboardError(f"item {i} is outside 0–{ds.n - 1}")
    X = ds.latent(state.space)
    d = vectors_mod.direction(X, start, end) * (-1 if reverse else 1)
    source = np.asarray(X[int(i)], np.float64)
    found, dist = vectors_mod.nearest(X, source + d, k, ds.metric, exclude=(int(i),))
    own, _ = vectors_mod.nearest(X, source, k, ds.metric, exclude=(int(i),))
    names = ds.meta["name"].astype(str).to_numpy()
    return {
        "item": int(i), "name": names[int(i)], "vector": v.name, "reverse": reverse,
        "results": [{"i": int(j), "name": names[j], "distance": round(float(e), 4)} for j, e in zip(found, dist)],
        "own_neighbours": [int(j) for j in own],
        "images": reconstructions(ds, state.space, vectors_mod.path(source, source + d, np.linspace(0, 1, 6))),
    }


def vector_scores(ds: Dataset, state: ViewState) -> dict:
    """The shown vector's scores in the shown space, and its cosine with every other saved vector."""
    v, start, end = vector_groups(ds, state.vector)
    X = ds.latent(state.space)
    scores = dict(get_vector_scores(ds, state.space, start, end))
    mine = vectors_mod.direction(X, start, end)
    others = []
    for other in GroupStore(ds.path.parent).vectors(ds.name):
        if other.id != v.id:
            _, a, b = vector_groups(ds, other.id)
            others.append({"id": other.id, "name": other.name,
                           "cosine": round(vectors_mod.cosine(mine, vectors_mod.direction(X, a, b)), 3)})
    scores["others"] = others
    return scores


def vector_score_table(ds: Dataset) -> pd.DataFrame:
    """Every saved vector in every latent space: consistency (Cohen's d), pairs, classifier cosine,
    and the space's VAE validation loss where known (LSC's comparison across dimensions)."""
    rows = []
    for v in GroupStore(ds.path.parent).vectors(ds.name):
        _, start, end = vector_groups(ds, v.id)
        for s in ds.spaces.values():
            scores = get_vector_scores(ds, s.id, start, end)
            rows.append({"vector_id": v.id, "vector": v.name, "start": v.start_name, "end": v.end_name,
                         "latent_dim": s.id, "kind": s.kind, "dims": s.dim, "val_loss": s.val_loss,
                         "cohens_d": scores["d"], "pairs": scores["pairs"],
                         "classifier_cosine": scores["classifier_cosine"]})
    columns = ["vector_id", "vector", "start", "end", "latent_dim", "kind", "dims", "val_loss", "cohens_d", "pairs",
               "classifier_cosine"]
    return pd.DataFrame(rows, columns=columns)
