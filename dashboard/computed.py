"""Cached computations on a dataset: what the CLI, the app and builds call.

Each wrapper validates its parameters once (naming the parameter, what is
allowed and what it got), fills in defaults so equal requests share a key,
then reads the cache or runs the pure function from :mod:`dashboard.compute`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import cache as cache_mod
from . import registry
from .compute import clusters as clusters_mod
from .compute import contrast
from .compute import graph as graph_mod
from .compute import neighbors as neighbors_mod
from .compute import projections
from .compute import quality as quality_mod
from .compute import vectors as vectors_mod
from .errors import DashboardError
from .registry import Param
from .store import Dataset


RANDOM_STATE = 42


def projection_params(dataset: Dataset, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """Validated, fully defaulted parameters of a projection."""
    spec = registry.get(method).params
    unknown = sorted(k for k, v in params.items() if k not in spec and v is not None)
    if unknown:
        allowed = ", ".join(spec) or "none"
        raise DashboardError(f"{method}: unknown parameter {', '.join(unknown)} (allowed: {allowed})")
    out = {name: p.check(method, name, params.get(name)) for name, p in spec.items()}
    # a dataset may carry its own defaults (an image build's --n-neighbors, --min-dist, supervised label)
    for name, value in dataset.manifest.get("projection_defaults", {}).get(method, {}).items():
        if name in spec and params.get(name) is None:
            out[name] = spec[name].check(method, name, value)
    if "metric" in out and out["metric"] is None:
        out["metric"] = dataset.metric
    if out.get("label") is not None:
        col = out["label"]
        if dataset.schema.get(col) != "categorical":
            cats = [c for c, t in dataset.schema.items() if t == "categorical"]
            raise DashboardError(
                f"umap: label must be a categorical column ({', '.join(cats) or 'none'}), got {col!r}"
            )
    return out


@dataclass
class Layout:
    """A 2-D layout whose bulk fills [-1, 1], and where it came from."""

    xy: np.ndarray
    from_cache: bool
    source: str  # "cache" | "computed" | "stored"


def _label_codes(dataset: Dataset, column: str) -> np.ndarray:
    codes, _ = dataset.meta[column].factorize()  # NaN → -1, which UMAP treats as unlabelled
    return codes.astype(np.int64)


def get_layout(
    dataset: Dataset,
    space: str | int,
    method: str,
    *,
    progress: Callable[[float], None] | None = None,
    cached_only: bool = False,
    **params: Any,
) -> Layout | None:
    """The layout of a latent space by a projection method, cached.

    With ``cached_only`` nothing is computed: ``None`` when not cached yet
    (what a page request uses, so it never waits for UMAP).
    """
    s = dataset.space(space)
    full = projection_params(dataset, method, params)
    stored = dataset.stored_layout(s.id, method, full)
    if stored is not None:
        return Layout(projections.normalize_layout(stored), True, "stored")

    key = _layout_key(dataset, s, method, full)

    def compute() -> np.ndarray:
        y = _label_codes(dataset, full["label"]) if full.get("label") else None
        proj = registry.get(method)
        X = dataset.rows(s.id) if proj.blocks else dataset.latent(s.id)
        xy = proj.compute(X, full, y=y, random_state=RANDOM_STATE, progress=progress)
        return projections.normalize_layout(xy)

    xy, hit = cache_mod.cached(dataset.path.parent, key, None if cached_only else compute)
    if xy is None:
        return None
    return Layout(xy, hit, "cache" if hit else "computed")


def _layout_key(dataset: Dataset, s, method: str, full: dict[str, Any]) -> str:
    key_params = dict(full, random_state=RANDOM_STATE)
    if full.get("label"):
        key_params["meta"] = dataset.manifest["meta_fingerprint"]
    return cache_mod.make_key(dataset.name, s.fingerprint, s.id, method, key_params)


def layout_ready(dataset: Dataset, space: str | int, method: str, **params: Any) -> bool:
    """Whether :func:`get_layout` would answer at once (stored or cached), without reading the layout."""
    s = dataset.space(space)
    full = projection_params(dataset, method, params)
    if dataset.stored_layout(s.id, method, full) is not None:
        return True
    return cache_mod.contains(dataset.path.parent, _layout_key(dataset, s, method, full))


def get_neighbors(
    dataset: Dataset, space: str | int, k: int = 20, *, cached_only: bool = False
) -> tuple[np.ndarray, np.ndarray] | None:
    """The ``k`` nearest neighbours of every item in a latent space, cached.

    With ``cached_only`` nothing is computed: ``None`` when not cached yet.
    """
    s = dataset.space(space)
    k = Param(int, 20, 1, 200).check("neighbors", "k", k)
    key = _neighbors_key(dataset, s, k)
    compute = None if cached_only else (lambda: neighbors_mod.knn(dataset.latent(s.id), k=k, metric=dataset.metric))
    return cache_mod.cached(dataset.path.parent, key, compute)[0]


def _neighbors_key(dataset: Dataset, s, k: int) -> str:
    return cache_mod.make_key(dataset.name, s.fingerprint, s.id, "knn", {"k": k, "metric": dataset.metric})


def neighbors_ready(dataset: Dataset, space: str | int, k: int = 20) -> bool:
    """Whether :func:`get_neighbors` would answer at once (cached), without reading the neighbours."""
    k = Param(int, 20, 1, 200).check("neighbors", "k", k)
    return cache_mod.contains(dataset.path.parent, _neighbors_key(dataset, dataset.space(space), k))


#: Graph metrics (Louvain above all) are computed on request up to this many
#: items (about 7 s at 20k); larger datasets are served once cached
#: (``export-network --communities`` fills the cache; Louvain takes ~50 s at 100k).
GRAPH_METRICS_INLINE_MAX = 20_000


def get_graph_metrics(
    dataset: Dataset, space: str | int, k: int = 10, *, mutual: bool = False, cached_only: bool | None = None
) -> dict[str, np.ndarray] | None:
    """Louvain community, degree and eigenvector centrality of the kNN graph of a latent space, cached.

    ``cached_only`` defaults to True above GRAPH_METRICS_INLINE_MAX items;
    then ``None`` when not cached yet.
    """
    s = dataset.space(space)
    k = Param(int, 10, 1, 200).check("graph", "k", k)
    if cached_only is None:
        cached_only = dataset.n > GRAPH_METRICS_INLINE_MAX
    key = cache_mod.make_key(dataset.name, s.fingerprint, s.id, "graph-metrics",
                             {"k": k, "mutual": bool(mutual), "metric": dataset.metric, "seed": RANDOM_STATE})

    def compute() -> dict[str, np.ndarray]:
        idx, dist = get_neighbors(dataset, s.id, k=k)
        edges = graph_mod.knn_edges(idx, dist, mutual=bool(mutual))
        return graph_mod.metrics(dataset.n, edges, seed=RANDOM_STATE)

    return cache_mod.cached(dataset.path.parent, key, None if cached_only else compute)[0]


def get_clusters(
    dataset: Dataset,
    space: str | int,
    *,
    min_cluster_size: int = 20,
    min_samples: int | None = None,
    layout: str | None = "umap",
) -> np.ndarray:
    """HDBSCAN labels, on a 2-D layout (PixPlot's hotspots) or on the latent space itself."""
    s = dataset.space(space)
    mcs = Param(int, 20, 2, 100_000).check("hdbscan", "min_cluster_size", min_cluster_size)
    ms = None if min_samples is None else Param(int, None, 1, 10_000).check("hdbscan", "min_samples", min_samples)
    if layout is not None and layout not in registry.PROJECTIONS:
        raise DashboardError(f"hdbscan: layout must be one of {', '.join(registry.PROJECTIONS)} or none, got {layout!r}")
    key = cache_mod.make_key(
        dataset.name, s.fingerprint, s.id, "hdbscan", {"min_cluster_size": mcs, "min_samples": ms, "on": layout or "latent"}
    )

    def compute() -> np.ndarray:
        X = get_layout(dataset, s.id, layout).xy if layout else dataset.latent(s.id)
        return clusters_mod.hdbscan_labels(X, min_cluster_size=mcs, min_samples=ms)

    return cache_mod.cached(dataset.path.parent, key, compute)[0]


def _vector_key(dataset: Dataset, space: str | int, what: str, start: np.ndarray, end: np.ndarray) -> str:
    # Keyed on the members themselves, so a vector is recomputed only if its groups differ.
    s = dataset.space(space)
    members = hashlib.sha1(np.asarray(start, np.int64).tobytes() + b"|" + np.asarray(end, np.int64).tobytes())
    return cache_mod.make_key(dataset.name, s.fingerprint, s.id, what, {"members": members.hexdigest()[:16]})


def get_vector_layout(dataset: Dataset, space: str | int, start: np.ndarray, end: np.ndarray) -> Layout:
    """The vector view (x along centroid(end) − centroid(start), y the residual's PC1), cached."""
    key = _vector_key(dataset, space, "vector-view", start, end)

    def compute() -> np.ndarray:
        X = dataset.latent(space)
        xy, _, _ = vectors_mod.vector_view(X, vectors_mod.direction(X, start, end))
        return projections.normalize_layout(xy)

    xy, hit = cache_mod.cached(dataset.path.parent, key, compute)
    return Layout(xy, hit, "cache" if hit else "computed")


def get_vector_scores(dataset: Dataset, space: str | int, start: np.ndarray, end: np.ndarray) -> dict:
    """Consistency (Cohen's d against random pairs fixed per dataset) and the cosine between the
    centroid direction and a logistic-regression normal, cached per latent space."""
    key = _vector_key(dataset, space, "vector-scores", start, end)

    def compute() -> dict:
        X = dataset.latent(space)
        baseline = vectors_mod.random_pairs(dataset.n, seed=RANDOM_STATE)  # the same pairs in every space
        out = vectors_mod.consistency(X, start, end, baseline)
        centroid_dir = vectors_mod.direction(X, start, end)
        out["classifier_cosine"] = vectors_mod.cosine(centroid_dir, vectors_mod.classifier_direction(X, start, end))
        out["length"] = float(np.linalg.norm(centroid_dir))
        return out

    return cache_mod.cached(dataset.path.parent, key, compute)[0]


def get_radius(dataset: Dataset, space: str | int) -> float:
    """The default "items within" radius of a latent space (median distance to the 10th neighbour), cached."""
    s = dataset.space(space)
    key = cache_mod.make_key(dataset.name, s.fingerprint, s.id, "radius", {"k": 10, "metric": dataset.metric})
    compute = lambda: vectors_mod.default_radius(dataset.latent(s.id), dataset.metric, seed=RANDOM_STATE)  # noqa: E731
    return cache_mod.cached(dataset.path.parent, key, compute)[0]


def cached_layouts(dataset: Dataset) -> list[str]:
    """Human-readable list of the current (not stale) cached results of a dataset."""
    current = {s.id: s.fingerprint for s in dataset.spaces.values()}
    with cache_mod.open_cache(dataset.path.parent) as c:
        entries = cache_mod.entries_for(c, dataset.name)
    out = []
    for e in entries:
        if current.get(e["space"]) != e["fingerprint"]:
            continue
        params = ", ".join(f"{k}={v}" for k, v in e["params"].items() if k not in ("random_state", "meta"))
        out.append(f"{e['method']} of {e['space']}" + (f" ({params})" if params else ""))
    out += [f"{v['method']} of {v['space']} (stored with the data)" for v in dataset.stored_layouts.values()]
    return sorted(out)


# --------------------------------------------------------------------------
# layout trust and neighbour change (dashboard.compute.quality)

#: Trustworthiness and continuity are computed on request up to this many items (a second or two);
#: larger datasets are served once cached (``python -m dashboard quality`` fills the cache).
QUALITY_INLINE_MAX = 5_000


def _layout_digest(xy: np.ndarray) -> str:
    # Keyed on the positions themselves: any layout (a projection, the vector view, a stored or
    # beeswarm layout) gets its own entry, and a recomputed layout never reads a stale one.
    return hashlib.sha1(np.ascontiguousarray(xy, np.float32).tobytes()).hexdigest()[:16]


def _k(k: int) -> int:
    return Param(int, 10, 1, 200).check("quality", "k", k)


def get_trust(dataset: Dataset, space: str | int, xy: np.ndarray, k: int = 10, *,
              cached_only: bool = False) -> np.ndarray | None:
    """Each item's share of its ``k`` latent neighbours also among its ``k`` nearest on layout ``xy``, cached.

    The latent neighbour lists are :func:`get_neighbors`'s (shared with the neighbour graph). With
    ``cached_only``, ``None`` unless those lists are cached (above EXACT_MAX items they take a minute).
    """
    s = dataset.space(space)
    k = _k(k)
    key = cache_mod.make_key(dataset.name, s.fingerprint, s.id, "trust",
                             {"k": k, "metric": dataset.metric, "layout": _layout_digest(xy)})
    found, _ = cache_mod.cached(dataset.path.parent, key, None)
    if found is not None:
        return found
    latent = get_neighbors(dataset, s.id, k=k, cached_only=cached_only)
    if latent is None:
        return None
    compute = lambda: quality_mod.neighbor_trust(latent[0], quality_mod.layout_neighbors(xy, k))  # noqa: E731
    return cache_mod.cached(dataset.path.parent, key, compute)[0]


def get_layout_quality(dataset: Dataset, space: str | int, xy: np.ndarray, k: int = 10, *,
                       cached_only: bool | None = None) -> dict | None:
    """Trustworthiness and continuity of layout ``xy`` of a latent space (see
    :func:`dashboard.compute.quality.trustworthiness_continuity`), cached.

    ``cached_only`` defaults to True above QUALITY_INLINE_MAX items; then ``None`` when not cached yet.
    """
    s = dataset.space(space)
    k = _k(k)
    if not 1 <= k < dataset.n / 2:
        raise DashboardError(f"quality: k must be below half the items ({dataset.n:,}), got {k}")
    if cached_only is None:
        cached_only = dataset.n > QUALITY_INLINE_MAX
    key = cache_mod.make_key(dataset.name, s.fingerprint, s.id, "layout-quality",
                             {"k": k, "metric": dataset.metric, "layout": _layout_digest(xy), "seed": RANDOM_STATE,
                              "exact_max": quality_mod.EXACT_MAX, "sample": quality_mod.SAMPLE})

    def compute() -> dict:
        return quality_mod.trustworthiness_continuity(dataset.latent(s.id), xy, k=k, metric=dataset.metric,
                                                      seed=RANDOM_STATE)

    return cache_mod.cached(dataset.path.parent, key, None if cached_only else compute)[0]


def get_neighbor_change(dataset: Dataset, space: str | int, other: str | int, k: int = 10, *,
                        cached_only: bool = False) -> np.ndarray | None:
    """Each item's Jaccard overlap between its ``k`` nearest neighbours in two latent spaces, cached.

    Built on :func:`get_neighbors` of each space; with ``cached_only``, ``None`` unless both are cached.
    """
    a, b = dataset.space(space), dataset.space(other)
    k = _k(k)
    key = cache_mod.make_key(dataset.name, a.fingerprint, a.id, "neighbour-change",
                             {"k": k, "metric": dataset.metric, "other": b.id, "other_fingerprint": b.fingerprint})
    found, _ = cache_mod.cached(dataset.path.parent, key, None)
    if found is not None:
        return found
    lists = [get_neighbors(dataset, s.id, k=k, cached_only=cached_only) for s in (a, b)]
    if any(nn is None for nn in lists):
        return None
    compute = lambda: quality_mod.jaccard(lists[0][0], lists[1][0])  # noqa: E731
    return cache_mod.cached(dataset.path.parent, key, compute)[0]


def get_selection_report(dataset: Dataset, space: str | int, members) -> dict:
    """What sets ``members`` apart from the rest (see :func:`dashboard.compute.contrast.report`), cached
    per latent space and set of members."""
    members = np.unique(np.asarray(members, np.int64))
    if not len(members) or members[0] < 0 or members[-1] >= dataset.n:
        raise DashboardError(f"a report needs items from 0 to {dataset.n - 1:,}; got {len(members):,} items")
    s = dataset.space(space)
    key = cache_mod.make_key(dataset.name, s.fingerprint, s.id, "selection-report",
                             {"members": hashlib.sha1(members.tobytes()).hexdigest()[:16],
                              "meta": dataset.manifest.get("meta_fingerprint"), "types": dataset.revision, "v": 1})

    def compute() -> dict:
        numeric = {c: _as_numbers(dataset.meta[c], t) for c, t in dataset.schema.items() if t in ("numeric", "date")}
        return contrast.report(dataset.meta, dataset.schema, dataset.latent(s.id), members, metric=dataset.metric,
                               numeric=numeric)

    return cache_mod.cached(dataset.path.parent, key, compute)[0]


def _as_numbers(values, kind: str) -> np.ndarray:
    """A numeric column as floats, a date column as decimal years; NaN where missing.

    (mapdata.numeric_values does the same for the map; importing it here would point back up.)
    """
    import pandas as pd

    if kind == "date":
        t = pd.to_datetime(values, errors="coerce", format="mixed", utc=True)
        return (t.dt.year + (t.dt.dayofyear - 1) / 365.25).to_numpy(np.float64)
    return pd.to_numeric(values, errors="coerce").to_numpy(np.float64)


#: Automatic labels: at most this many clusters are named on a map.
MAX_CLUSTER_LABELS = 40
#: Above this many items, clusters are found on a random sample of this many: where clusters lie and
#: what they share shows in a sample, and HDBSCAN on a million points takes minutes and gigabytes (on
#: 20,000 ~10 s on 2 cores, on 5,000 a fifth of a second, finding the same clusters of synthetic blobs).
CLUSTER_LABEL_SAMPLE = 5_000


def get_cluster_labels(dataset: Dataset, space: str | int, xy: np.ndarray) -> list[list]:
    """Names for the clusters of layout ``xy`` (HDBSCAN on the layout, cached): ``[[text, x, y, level], …]``,
    biggest clusters first; ``level`` is the first zoom level at which the label fits without overlapping
    the labels before it (:func:`dashboard.compute.declutter.label_levels`), so more appear as users zoom in."""
    return _cluster_labels(dataset, space, xy)["labels"]


def get_cluster_label_shares(dataset: Dataset, space: str | int, xy: np.ndarray, keep: np.ndarray) -> list[float]:
    """For each of :func:`get_cluster_labels`' clusters, the share of its items that ``keep`` (one bool per
    item: what the filters and the search leave) keeps: a name whose cluster the filters emptied recedes."""
    found = _cluster_labels(dataset, space, xy)
    of, sample = found["of"], found["sample"]
    kept = keep if sample is None else keep[sample]
    named = of >= 0
    total = np.bincount(of[named], minlength=len(found["labels"]))
    shown = np.bincount(of[named & kept], minlength=len(found["labels"]))
    return [round(float(a) / b, 3) if b else 0.0 for a, b in zip(shown, total)]


def _cluster_labels(dataset: Dataset, space: str | int, xy: np.ndarray) -> dict:
    """The cached clusters of a layout: ``labels`` (as get_cluster_labels), ``of`` (each clustered item's label,
    -1 for none, int16) and ``sample`` (the items clustered, None for all)."""
    from .compute.declutter import label_levels

    s = dataset.space(space)
    sample = None
    if dataset.n > CLUSTER_LABEL_SAMPLE:
        sample = np.sort(np.random.default_rng(0).choice(dataset.n, CLUSTER_LABEL_SAMPLE, replace=False))
    mcs = max(15, (dataset.n if sample is None else len(sample)) // 300)
    key = cache_mod.make_key(dataset.name, s.fingerprint, s.id, "cluster-labels",
                             {"layout": _layout_digest(xy), "min_cluster_size": mcs, "max": MAX_CLUSTER_LABELS,
                              "build": dataset.revision, "sample": None if sample is None else len(sample),
                              "names": 2, "members": 1, "twins": 1})  # how clusters are named (clusters.name_hotspots): 2 = pairs, names

    def compute() -> dict:
        points = xy if sample is None else xy[sample]
        meta = dataset.meta if sample is None else dataset.meta.iloc[sample].reset_index(drop=True)
        found = clusters_mod.hotspots(points, min_cluster_size=mcs, max_clusters=MAX_CLUSTER_LABELS)
        named = clusters_mod.name_hotspots(found, meta, dataset.schema, text=dataset.type == "text", unique=False)
        named = [h for h in named if not h["label"].startswith("Cluster ")]  # nothing to say: no label
        of = np.full(len(points), -1, np.int16)
        for k, h in enumerate(named):
            of[np.asarray(h["members"], np.int64)] = k
        if not named:
            return {"labels": [], "of": of, "sample": sample}
        where = np.array([np.median(points[np.asarray(h["members"])], axis=0) for h in named], np.float32)
        levels = label_levels(where, np.array([len(h["label"]) for h in named]), char_px=8.0, height_px=18.0,
                              texts=[h["label"] for h in named])
        return {"labels": [[h["label"], float(x), float(y), int(level)] for h, (x, y), level in zip(named, where, levels)],
                "of": of, "sample": sample}

    return cache_mod.cached(dataset.path.parent, key, compute)[0]
