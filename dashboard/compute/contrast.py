"""What sets a set of items apart from the rest: over-represented categories, shifted numbers, the
items nearest its centroid, and the direction to it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .vectors import centroid, nearest

#: Categorical columns with more distinct values than this (names, ids) are not tested.
MAX_CATEGORIES = 1_000


def over_represented(values: pd.Series, inside: np.ndarray, *, column: str = "") -> list[dict]:
    """Each value more common inside than outside, with its counts and a one-sided Fisher exact p-value.

    ``inside`` is a boolean mask. Sorted by p-value, then by how many times more common it is.
    """
    inside = np.asarray(inside, bool)
    s = values.astype("object").where(values.notna(), None)
    if not inside.any() or s.nunique(dropna=True) > MAX_CATEGORIES:
        return []
    return _tested(s[inside].value_counts(dropna=True), s.value_counts(dropna=True), inside, column)


def over_represented_tags(values: pd.Series, inside: np.ndarray, *, column: str = "", sep: str = "|") -> list[dict]:
    """As :func:`over_represented` for a column of several values per item (PixPlot's ``tags``,
    ``a|b|c``): each tag counted once per item that carries it."""
    inside = np.asarray(inside, bool)
    pairs = pd.DataFrame({"row": np.arange(len(values)),
                          "tag": values.fillna("").astype(str).str.split(sep).to_numpy()}).explode("tag")
    pairs["tag"] = pairs["tag"].str.strip()
    pairs = pairs[pairs["tag"] != ""].drop_duplicates()
    if not inside.any() or pairs["tag"].nunique() > MAX_CATEGORIES:
        return []
    kept = pairs["tag"][inside[pairs["row"].to_numpy(np.int64)]]
    return _tested(kept.value_counts(), pairs["tag"].value_counts(), inside, column)


def _tested(counts_in: pd.Series, counts_all: pd.Series, inside: np.ndarray, column: str) -> list[dict]:
    from scipy.stats import fisher_exact

    n_in, n_out = int(inside.sum()), int((~inside).sum())
    out = []
    for value, a in counts_in.items():
        c = int(counts_all[value]) - int(a)  # the same value outside
        share_in, share_out = a / n_in, (c / n_out if n_out else 0.0)
        if share_in <= share_out:
            continue
        p = fisher_exact([[int(a), n_in - int(a)], [c, n_out - c]], alternative="greater").pvalue
        out.append({"column": column, "value": str(value), "count_in": int(a), "n_in": n_in, "count_out": c,
                    "n_out": n_out, "share_in": float(share_in), "share_out": float(share_out),
                    "ratio": float(share_in / share_out) if share_out else float("inf"), "p": float(p)})
    return sorted(out, key=lambda r: (r["p"], -r["ratio"]))


def shifted(values: np.ndarray, inside: np.ndarray, *, column: str = "") -> dict | None:
    """How a numeric column differs inside: medians, the rank-biserial correlation (−1…1: the share of
    (inside, outside) pairs where the inside value is larger, minus the share where it is smaller) and
    the Mann–Whitney U p-value. None when either side has no numbers."""
    from scipy.stats import mannwhitneyu

    v = np.asarray(values, np.float64)
    inside = np.asarray(inside, bool)
    a, b = v[inside & np.isfinite(v)], v[~inside & np.isfinite(v)]
    if not len(a) or not len(b):
        return None
    test = mannwhitneyu(a, b, alternative="two-sided")
    effect = 2.0 * test.statistic / (len(a) * len(b)) - 1.0
    return {"column": column, "median_in": float(np.median(a)), "median_out": float(np.median(b)),
            "effect": float(effect), "p": float(test.pvalue)}


def report(meta: pd.DataFrame, schema: dict[str, str], X: np.ndarray, members: np.ndarray, *,
           metric: str = "euclidean", numeric: dict[str, np.ndarray] | None = None, nearest_k: int = 12,
           top: int = 8) -> dict:
    """A set of items (``members``) against the rest of ``meta``'s rows.

    ``numeric`` gives the numeric and date columns as float arrays (NaN where missing); ``X`` is the
    latent space the centroid, its nearest outsiders and the direction are taken in. The direction
    goes from the rest's centroid to the members' (an LSC attribute vector with the rest as start).
    """
    members = np.unique(np.asarray(members, np.int64))
    inside = np.zeros(len(meta), bool)
    inside[members] = True
    cats = [r for col, kind in schema.items() if kind == "categorical"
            for r in over_represented(meta[col], inside, column=col)]
    cats.sort(key=lambda r: (r["p"], -r["ratio"]))
    nums = [r for col, v in (numeric or {}).items() if (r := shifted(v, inside, column=col)) is not None]
    nums.sort(key=lambda r: -abs(r["effect"]))
    rest = np.flatnonzero(~inside)
    near: list[int] = []
    if len(rest):
        c = centroid(X, members)
        idx, _ = nearest(X, c, k=min(len(X), nearest_k + len(members)), metric=metric)
        near = [int(i) for i in idx if not inside[i]][:nearest_k]
    direction = (c - centroid(X, rest)) if len(rest) else np.zeros(X.shape[1], np.float32)
    return {"n_in": int(inside.sum()), "n_out": int(len(rest)), "categories": cats[:top], "numbers": nums[:top],
            "nearest": near, "direction_length": float(np.linalg.norm(direction))}
