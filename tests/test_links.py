"""Links copied before the view-state table (``dim=`` for the latent space) still open the same view.

The expected states were recorded from the parser of 2026-12-01, before the codec
was rebuilt; a link someone shared then must keep meaning what it meant.
"""

from __future__ import annotations

import pytest

from dashboard.viewstate import parse

OLD_LINKS = [
    (
        "dataset=digits&dim=32&proj=umap&n_neighbors=30&min_dist=0.2&color=label&mode=points&size=2&q=1&field=name"
        "&sel=0-4.9&cam=0.1,0.2,7",
        dict(dataset="digits", space="32", proj="umap", params={"n_neighbors": 30, "min_dist": 0.2}, color="label",
             hide=[], y="", size=2.0, mode="points", cell=64, search="1", search_field="name", regex=False,
             filters={}, ranges={}, selection=[0, 1, 2, 3, 4, 9], camera=(0.1, 0.2, 7.0), graph=0, mutual=False,
             edges="all", size_by="", vector=None, radius=None),
    ),
    (
        "dataset=digits&dim=64&proj=tsne&perplexity=50&f.label=3&f.label=5&graph=10&mutual=1&edges=selection"
        "&sizeby=graph:degree&regex=1&q=%5E1",
        dict(dataset="digits", space="64", proj="tsne", params={"perplexity": 50.0}, color="label", hide=[], y="",
             size=1.0, mode="images", cell=64, search="^1", search_field="name", regex=True,
             filters={"label": ["3", "5"]}, ranges={}, selection=[], camera=None, graph=10, mutual=True,
             edges="selection", size_by="graph:degree", vector=None, radius=None),
    ),
    (
        "dim=16&proj=pca&hide=0&hide=7&y=label&color=label&cell=64",
        dict(dataset="digits", space="16", proj="pca", params={}, color="label", hide=["0", "7"], y="label",
             size=1.0, mode="images", cell=64, search="", search_field="name", regex=False, filters={}, ranges={},
             selection=[], camera=None, graph=0, mutual=False, edges="all", size_by="", vector=None, radius=None),
    ),
]


@pytest.mark.parametrize("query,expected", OLD_LINKS, ids=["umap-selection-camera", "tsne-filters-graph", "pca-hide-y"])
def test_old_links_open_the_same_view(data_dir, query, expected):
    state, notices = parse(data_dir, query)
    assert notices == []
    assert {k: getattr(state, k) for k in expected} == expected


@pytest.mark.parametrize("query,expected", OLD_LINKS[:1])
def test_old_links_reencode_with_space(data_dir, query, expected):
    """Re-encoding an old link writes ``space=`` and opens the same view again."""
    state, _ = parse(data_dir, query)
    again, notices = parse(data_dir, state.to_query())
    assert notices == [] and again == state
