"""Attribute vectors on the map: the overlay (group hulls, the path and its decoded images), analogies,
scores and the comparison across latent spaces. VAE decoders are loaded here, once per process."""

from __future__ import annotations

import base64
import functools
import io

import numpy as np
import pandas as pd
from PIL import Image

from .compute import vectors as vectors_mod
from .computed import get_radius, get_vector_scores
from .errors import DashboardError
from .groups import GroupStore
from .mapdata import positions, vector_groups
from .store import Dataset
from .viewstate import VECTOR_VIEW, ViewState


@functools.lru_cache(maxsize=4)
def _decoder(path: str, fingerprint: str):
    from .compute import vae

    return vae.load(path)


def decoded_pngs(ds: Dataset, space: str, Z: np.ndarray) -> list[bytes] | None:
    """PNGs of latent points decoded by the space's VAE decoder; None without one."""
    s = ds.space(space)
    if not s.decoder or not (ds.path / s.decoder).exists():
        return None
    from .compute import vae

    images = vae.decode(_decoder(str(ds.path / s.decoder), s.fingerprint), np.asarray(Z, np.float32))
    out = []
    for im in images:
        buf = io.BytesIO()
        Image.fromarray(im).save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def reconstructions(ds: Dataset, space: str, Z: np.ndarray) -> list[str] | None:
    """PNG data URIs of latent points decoded by the space's VAE decoder; None without one."""
    pngs = decoded_pngs(ds, space, Z)
    return None if pngs is None else ["data:image/png;base64," + base64.b64encode(b).decode("ascii") for b in pngs]


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
        "axes": vector_axes(v, state),
    }


def vector_axes(v, state: ViewState) -> dict | None:
    """What x and y mean in the vector view (the map's key and axis names); None on another layout,
    where the overlay sits on a projection whose axes mean nothing by themselves."""
    if state.proj != VECTOR_VIEW:
        return None
    return {"x": f"position along {v.name} ({v.start_name} → {v.end_name})",
            # compute.vectors.vector_view: y is the data's first principal component once x's direction is removed
            "y": state.y if state.y else "first principal component of the rest (the vector's direction removed)"}


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
