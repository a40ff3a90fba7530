"""What the map draws for one view: masks, y override, export rows, graph columns (mapdata.py)."""

from __future__ import annotations

import numpy as np
import pytest
import pandas as pd

from dashboard import mapdata
from dashboard.errors import DashboardError
from dashboard.viewstate import parse


def test_mask_filters_and_search(data_dir, digits_ds):
    state, _ = parse(data_dir, "dataset=digits&f.label=3&q=%233&hide=4")
    m = mapdata.mask(digits_ds, state)
    labels = digits_ds.meta["label"].astype(str).to_numpy()
    assert m.dtype == np.uint8 and len(m) == digits_ds.n
    assert np.array_equal((m & 1) > 0, labels == "3")
    names = digits_ds.meta["name"].astype(str)
    assert np.array_equal((m & 2) > 0, names.str.contains("#3", regex=False).to_numpy())
    state, _ = parse(data_dir, "dataset=digits&hide=4&color=label")
    assert np.array_equal(mapdata.passes_filters(digits_ds, state), labels != "4")


def test_y_override_keeps_x(data_dir, digits_ds):
    plain, _ = parse(data_dir, "dataset=digits&proj=pca")
    banded, _ = parse(data_dir, "dataset=digits&proj=pca&y=label")
    a, b = mapdata.positions(digits_ds, plain), mapdata.positions(digits_ds, banded)
    assert np.array_equal(a[:, 0], b[:, 0]) and not np.array_equal(a[:, 1], b[:, 1])
    codes = pd.factorize(digits_ds.meta["label"], sort=True)[0]
    assert b[codes == 0, 1].min() > b[codes == 9, 1].max()  # bands are ordered top to bottom


def test_export_rows(data_dir, digits_ds):
    state, _ = parse(data_dir, "dataset=digits&proj=pca&sel=3-5&f.label=1")
    table = mapdata.export_table(digits_ds, state, "selection")
    assert table["i"].tolist() == [3, 4, 5]
    assert list(table.columns[:2]) == ["i", "name"] and {"x", "y", "latent_dim", "projection", "label"} <= set(table.columns)
    filtered = mapdata.export_table(digits_ds, state, "filtered")
    assert set(filtered["label"].astype(str)) == {"1"} and len(filtered) == (digits_ds.meta["label"].astype(str) == "1").sum()


def test_neighbours_can_be_asked_for_only_when_cached(digits_ds):
    from dashboard.computed import get_neighbors

    assert get_neighbors(digits_ds, "8", k=13, cached_only=True) is None
    idx, dist = get_neighbors(digits_ds, "8", k=13)
    again = get_neighbors(digits_ds, "8", k=13, cached_only=True)
    assert np.array_equal(again[0], idx) and np.array_equal(again[1], dist)


def test_graph_columns_of_a_large_dataset_wait_for_the_cli(data_dir, digits_ds, monkeypatch):
    import pytest
    from click.testing import CliRunner

    from dashboard import computed
    from dashboard.cli import cli

    monkeypatch.setattr(computed, "GRAPH_METRICS_INLINE_MAX", 1000)  # digits (1,797) counts as large
    state, _ = parse(data_dir, "dataset=digits&dim=32&graph=7&color=graph:community")
    with pytest.raises(mapdata.LayoutPending, match="--n-neighbors 7 --communities"):
        mapdata.color_legend(digits_ds, state)
    r = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "export-network", "--dataset", "digits", "--dim", "32",
                                 "--projection", "pca", "--n-neighbors", "7", "--communities",
                                 "-o", str(data_dir.parent / "g.gexf")])
    assert r.exit_code == 0, r.output
    rgba, legend = mapdata.color_legend(digits_ds, state)  # now cached: served
    assert legend["entries"][0]["value"] == "community 1" and rgba.shape == (1797, 4)


def test_the_table_page_is_the_selection_else_what_is_shown_sorted_with_missing_values_last(tmp_path):
    from dataclasses import replace

    from dashboard.mapdata import table_page
    from dashboard.store import DatasetWriter, open_dataset
    from dashboard.viewstate import parse

    n = 12
    with DatasetWriter(tmp_path, "t") as w:
        w.set_info(type="other", metric="euclidean")
        w.write_meta(pd.DataFrame({"i": np.arange(n), "name": [f"n{k}" for k in range(n)],
                                   "kind": ["a", "b"] * 6, "score": [np.nan, 5, 3, np.nan, 9, 1, 2, 8, 7, 6, 4, 0]}))
        w.write_latent(2, np.random.default_rng(0).normal(size=(n, 2)).astype(np.float32), kind="raw")
        w.finish()
    ds = open_dataset(tmp_path, "t")
    state, _ = parse(tmp_path, "dataset=t&proj=pca&f.kind=b")
    rows, total, what = table_page(ds, state, sort="score", descending=True, page=0, size=4)
    assert (total, what) == (6, "shown") and list(rows["i"]) == [7, 9, 1, 5]
    rows, _, _ = table_page(ds, state, sort="score", page=1, size=4)
    assert list(rows["i"]) == [7, 3]  # ascending: scores 0, 1, 5, 6 on page 0; then 8, then the missing one
    rows, total, what = table_page(ds, replace(state, selection=[4, 0, 2]), sort="score", size=10)
    assert (total, what) == (3, "selected") and list(rows["i"]) == [2, 4, 0]
    with pytest.raises(DashboardError, match="cannot sort by 'nope'"):
        table_page(ds, state, sort="nope")
