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


def test_a_pixplot_folder_s_hotspots_are_named_by_its_tags_else_a_description():
    """File names say nothing: PixPlot's pipe-separated tags name a hotspot whose items share one, and
    the representative item's description names the rest (never "Cluster k" while either says something)."""
    import pandas as pd

    from dashboard.compute.clusters import hotspots, name_hotspots
    from dashboard.compute.contrast import over_represented_tags

    rng = np.random.default_rng(1)
    xy = np.concatenate([rng.normal(c, 1.0, size=(60, 2)) for c in ((0, 0), (20, 0), (0, 20))])
    tags = ["harbour|boats"] * 54 + ["boats"] * 6 + ["portrait|studio"] * 60 + [f"misc{k}" for k in range(60)]
    description = [f"photograph number {k} of the archive, taken long ago" for k in range(180)]
    meta = pd.DataFrame({"i": np.arange(180), "name": [f"img_{k:04d}.jpg" for k in range(180)], "tags": tags,
                         "description": description})
    schema = {"i": "index", "name": "text", "tags": "text", "description": "text"}
    found = hotspots(xy, min_cluster_size=20)
    named = {h["label"] for h in name_hotspots(found, meta, schema)}
    assert {"boats", "portrait"} <= named or {"boats", "studio"} <= named, named
    rest = named - {"boats", "harbour", "portrait", "studio"}
    assert len(rest) == 1 and next(iter(rest)).startswith("photograph number") and next(iter(rest)).endswith("…")
    assert not any(label.startswith("Cluster ") for label in named)
    # a tag counts once per item however often it is written there
    inside = np.array([True, False, False])
    assert over_represented_tags(pd.Series(["a|a|b", "b", None]), inside)[0]["count_in"] == 1


def test_cluster_labels_of_a_large_layout_come_from_a_sample_and_sit_on_their_clusters(tmp_path, monkeypatch):
    """Above CLUSTER_LABEL_SAMPLE items the clusters are found on a random sample (HDBSCAN on a million
    points takes minutes): each category's label still sits on its blob."""
    from dashboard import computed, fixtures, mapdata
    from dashboard.store import open_dataset
    from dashboard.viewstate import parse

    fixtures.blobs(tmp_path, "b", n=3000, dim=4, categories=4)
    ds = open_dataset(tmp_path, "b")
    state, _ = parse(tmp_path, "dataset=b&proj=pca")
    xy = mapdata.positions(ds, state)
    monkeypatch.setattr(computed, "CLUSTER_LABEL_SAMPLE", 600)
    sizes = []
    real = computed.clusters_mod.hotspots
    monkeypatch.setattr(computed.clusters_mod, "hotspots", lambda X, **kw: sizes.append(len(X)) or real(X, **kw))
    labels = computed.get_cluster_labels(ds, state.space, xy)
    assert sizes == [600]
    categories = ds.meta["category"].astype(str).to_numpy()
    assert {text for text, *_ in labels} == set(categories)
    names = sorted(set(categories))
    centres = np.array([np.median(xy[categories == c], axis=0) for c in names])
    for text, x, y, _level in labels:  # nearer its own category's centre than any other's
        assert names[int(np.argmin(np.hypot(centres[:, 0] - x, centres[:, 1] - y)))] == text


def test_a_cluster_name_knows_the_share_of_its_cluster_the_filters_keep(tmp_path):
    from dashboard import computed, fixtures, mapdata
    from dashboard.store import open_dataset
    from dashboard.viewstate import parse

    fixtures.blobs(tmp_path, "b", n=1200, dim=4, categories=4)
    ds = open_dataset(tmp_path, "b")
    state, _ = parse(tmp_path, "dataset=b&proj=pca&f.category=c1")
    xy = mapdata.positions(ds, state)
    labels = computed.get_cluster_labels(ds, state.space, xy)
    keep = mapdata.visible(ds, state)
    shares = computed.get_cluster_label_shares(ds, state.space, xy, keep)
    assert len(shares) == len(labels) == 4
    for (text, *_), share in zip(labels, shares):
        assert (share > 0.9) if text == "c1" else (share < 0.1), (text, share)
    assert computed.get_cluster_label_shares(ds, state.space, xy, np.ones(ds.n, bool)) == [1.0] * 4


def test_a_mixed_hotspot_is_named_by_two_values_or_by_a_descriptive_name():
    """No value holds half of a hotspot: two values of one column that together do name it; failing that,
    names that say what an item is (emoji's, not file names) name it by its representative."""
    import pandas as pd

    from dashboard.compute.clusters import hotspots, name_hotspots, names_describe

    rng = np.random.default_rng(1)
    xy = np.concatenate([rng.normal(c, 1.0, size=(60, 2)) for c in ((0, 0), (20, 0))])
    kind = np.array(["owls"] * 24 + ["boats"] * 24 + ["maps"] * 12 + ["rest"] * 60, dtype=object)
    kind[60:] = rng.choice(["a", "b", "c", "d", "e", "f"], 60)  # the second blob shares nothing
    names = pd.Series([f"emoji {chr(97 + k % 26)}{chr(97 + k // 26)}" for k in range(120)])
    meta = pd.DataFrame({"i": np.arange(120), "name": names, "kind": kind})
    schema = {"i": "index", "name": "text", "kind": "categorical"}
    named = {min(h["members"]) < 60: h for h in name_hotspots(hotspots(xy, min_cluster_size=20), meta, schema)}
    assert named[True]["label"] in ("owls / boats", "boats / owls")
    assert named[False]["label"] == names.iloc[named[False]["representative"]]
    files = meta.assign(name=[f"IMG_{k:04d}.jpg" for k in range(120)])
    second = [h for h in name_hotspots(hotspots(xy, min_cluster_size=20), files, schema) if min(h["members"]) >= 60]
    assert second[0]["label"].startswith("Cluster ")
    assert names_describe(names) and not names_describe(files["name"])
    assert not names_describe(pd.Series(["1", "2", "3"])) and not names_describe(pd.Series(["a/b", "c/d"]))
    assert not names_describe(pd.Series([f"digit {k % 10} #{k}" for k in range(50)]))  # identifiers


def test_hotspots_of_many_items_come_from_a_sample_and_hold_every_item():
    """Above ``sample`` items HDBSCAN runs on a sample; every item still joins its blob's hotspot."""
    from dashboard.compute.clusters import hotspots

    rng = np.random.default_rng(3)
    X = np.concatenate([rng.normal(c, 0.3, size=(1500, 2)) for c in ((0, 0), (6, 0), (0, 6))])
    found = hotspots(X, min_cluster_size=100, sample=600)
    assert len(found) == 3
    for h in found:
        members = np.asarray(h["members"])
        assert len(members) > 1400 and len(set(members // 1500)) == 1  # one blob, nearly whole
        assert h["representative"] in set(members.tolist())
