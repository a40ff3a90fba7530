"""Density clusters (HDBSCAN), as PixPlot's hotspots."""

from __future__ import annotations

import numpy as np
import pandas as pd


def hdbscan_labels(
    X: np.ndarray, *, min_cluster_size: int = 20, min_samples: int | None = None
) -> np.ndarray:
    """Cluster label per row (int32); -1 is noise.

    The ``hdbscan`` package rather than scikit-learn's HDBSCAN: 2.6× faster
    on 50k × 2 here.
    """
    import hdbscan

    min_cluster_size = int(max(2, min(min_cluster_size, len(X))))
    est = hdbscan.HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples)
    return est.fit_predict(np.asarray(X, dtype=np.float64)).astype(np.int32)


def medoid(X: np.ndarray, members: np.ndarray, *, sample: int = 2000, seed: int = 0) -> int:
    """The member with the least total distance to the others (PixPlot's representative was the last member).

    Above ``sample`` members the distances are to a random sample of them, so
    memory stays bounded.
    """
    members = np.asarray(members)
    P = np.asarray(X[members], np.float64)
    ref = P if len(P) <= sample else P[np.random.default_rng(seed).choice(len(P), sample, replace=False)]
    D = np.sqrt(np.maximum((P ** 2).sum(1)[:, None] - 2 * P @ ref.T + (ref ** 2).sum(1)[None, :], 0))
    return int(members[int(np.argmin(D.sum(axis=1)))])


#: Above this many items, hotspots are found on a random sample and every item joins the cluster HDBSCAN
#: predicts for it: HDBSCAN itself on 100,000 points took over 10 minutes on 2 cores, on 20,000 seconds.
HOTSPOT_SAMPLE = 20_000


def hotspots(X: np.ndarray, *, min_cluster_size: int = 20, max_clusters: int = 10,
             sample: int = HOTSPOT_SAMPLE, seed: int = 0) -> list[dict]:
    """PixPlot's hotspots: HDBSCAN clusters (min_samples 1, selection epsilon 0.01), noise and any cluster
    holding more than half the items dropped, largest first, at most ``max_clusters``; each with its medoid.
    Above ``sample`` items the clusters come from a random sample (``min_cluster_size`` scaled to it), and
    every item is assigned by ``hdbscan.approximate_predict``."""
    import hdbscan

    X = np.asarray(X, np.float64)
    fit = X
    if len(X) > sample:
        fit = X[np.sort(np.random.default_rng(seed).choice(len(X), sample, replace=False))]
        min_cluster_size = max(5, round(min_cluster_size * sample / len(X)))
    mcs = int(max(2, min(min_cluster_size, len(fit))))
    est = hdbscan.HDBSCAN(min_cluster_size=mcs, min_samples=1, cluster_selection_epsilon=0.01,
                          prediction_data=fit is not X)
    labels = est.fit_predict(fit)
    if fit is not X:
        labels = np.concatenate([hdbscan.approximate_predict(est, X[a:a + 100_000])[0]
                                 for a in range(0, len(X), 100_000)])
    found = [np.flatnonzero(labels == c) for c in np.unique(labels) if c >= 0]
    found = sorted((m for m in found if len(m) <= len(X) / 2), key=len, reverse=True)[:max_clusters]
    return [{"label": f"Cluster {k + 1}", "members": m.tolist(), "representative": medoid(X, m)}
            for k, m in enumerate(found)]


def names_describe(names) -> bool:
    """Whether items' names say what they are ("japanese ogre"), not which one they are: at most a tenth
    look like file names or paths, or end in a number ("digit 3 #17", "p42")."""
    s = names.astype(str)
    if not len(s):
        return False
    filelike = s.str.contains(r"[/\\]|\.[A-Za-z0-9]{2,5}$|\d$", regex=True)
    return bool(filelike.mean() <= 0.1)


#: Columns of several values an item (PixPlot's ``tags``: ``a|b|c``), tested tag by tag.
TAG_COLUMNS = ("tags",)
#: Text columns that say what an item is, in order of preference (PixPlot's ``description``).
DESCRIBING_COLUMNS = ("title", "description", "caption")


def _short(text: str, limit: int = 40) -> str:
    """A description cut at a word to fit a hotspot's name."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def name_hotspots(found: list[dict], meta, schema: dict[str, str], *, text: bool = False,
                  unique: bool = True) -> list[dict]:
    """Label each hotspot by what its items share: the categorical value or PixPlot tag most
    over-represented in it (held by at least half of its items, one-sided Fisher p < 0.001; the column
    named unless it is the first categorical one or the tags); else the two values of one column that together hold
    half of it ("Objects / Animals & Nature"); else, where names say what an item is (words, emoji: not
    file names), its representative item's name, or where a describing column does (PixPlot's
    ``description``, a title), the representative's; else "Cluster k".
    ``unique``: a name given twice gets a number (hotspots are listed by name; map labels need not)."""
    from .contrast import over_represented, over_represented_tags

    columns = [c for c, t in schema.items() if t == "categorical"]
    tags = [c for c in TAG_COLUMNS if c in meta and schema.get(c) == "text"]
    named = "name" in meta and names_describe(meta["name"])
    describing = next((c for c in DESCRIBING_COLUMNS if c in meta and meta[c].notna().any()), None)
    tested = [(c, over_represented) for c in columns] + [(c, over_represented_tags) for c in tags]
    bare = set(columns[:1] + tags)  # the main category's values and tags are names by themselves
    used: dict[str, int] = {}
    out = []
    for k, h in enumerate(found):
        inside = np.zeros(len(meta), bool)
        inside[np.asarray(h["members"], np.int64)] = True
        best, pair = None, None
        for col, test in tested:
            top = test(meta[col], inside, column=col)[:2]
            for r in top[:1]:
                if r["share_in"] >= 0.5 and r["p"] < 1e-3 and (best is None or r["p"] < best["p"]):
                    best = r
            if (len(top) == 2 and top[0]["p"] < 1e-3 and top[1]["p"] < 0.05 and pair is None
                    and top[0]["share_in"] + top[1]["share_in"] >= 0.5):
                pair = top
        if best is not None:
            label = best["value"] if best["column"] in bare else f"{best['column']}: {best['value']}"
        elif pair is not None:
            values = " / ".join(r["value"] for r in pair)
            label = values if pair[0]["column"] in bare else f"{pair[0]['column']}: {values}"
        elif text or named:
            label = str(meta["name"].iloc[h["representative"]])
        elif describing and pd.notna(meta[describing].iloc[h["representative"]]):
            label = _short(str(meta[describing].iloc[h["representative"]]))
        else:
            label = f"Cluster {k + 1}"
        used[label] = used.get(label, 0) + 1
        out.append({**h, "label": label if used[label] == 1 or not unique else f"{label} ({used[label]})"})
    return out
