"""HDBSCAN hotspots (compute/clusters.py)."""

from __future__ import annotations

import numpy as np

from dashboard.compute import clusters


def test_hdbscan_finds_separate_blobs():
    rng = np.random.default_rng(2)
    X = np.concatenate([rng.normal(c, 0.1, size=(100, 2)) for c in (0, 5, 10)])
    labels = clusters.hdbscan_labels(X, min_cluster_size=20)
    assert len(set(labels) - {-1}) == 3
    assert labels.dtype == np.int32


def test_hotspots_are_named_by_what_their_items_share():
    import pandas as pd

    from dashboard.compute.clusters import hotspots, name_hotspots

    rng = np.random.default_rng(0)
    centres = {"owls": (0, 0), "boats": (20, 0), "maps": (0, 20)}
    xy = np.concatenate([rng.normal(c, 1.0, size=(60, 2)) for c in centres.values()])
    subject = np.repeat(list(centres), 60)
    subject[::10] = "other"  # not every member shares it
    meta = pd.DataFrame({"i": np.arange(180), "name": [f"n{k}" for k in range(180)], "subject": subject,
                         "noise": rng.choice(["a", "b"], 180)})
    schema = {"i": "index", "name": "text", "subject": "categorical", "noise": "categorical"}
    named = name_hotspots(hotspots(xy, min_cluster_size=20), meta, schema)
    assert sorted(h["label"] for h in named) == ["boats", "maps", "owls"]
    words = name_hotspots(hotspots(xy, min_cluster_size=20), meta.drop(columns=["subject", "noise"]),
                          {"i": "index", "name": "text"}, text=True)
    assert all(h["label"] == meta["name"].iloc[h["representative"]] for h in words)  # a word names its hotspot
