"""The map page as the server fills it in for a URL (before any callback runs)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard import registry
from dashboard.app import create_app
from dashboard.computed import projection_params
from dashboard.layouts import viewer as ids
from dashboard.store import DatasetWriter, open_dataset


def _page_props(app, query: str) -> dict[str, dict]:
    """Component id → its props, for the page at ``/?query``."""
    from dashboard.callbacks.viewer import initial_props

    with app.server.test_request_context("/?" + query):
        tree = ids.page(["own"], initial_props(query))
    return {c.id: c.to_plotly_json()["props"] for c in tree._traverse() if isinstance(getattr(c, "id", None), str)}


def test_every_parameter_box_starts_at_the_datasets_default(tmp_path):
    n = 40
    with DatasetWriter(tmp_path, "own") as w:
        w.set_info(type="other", metric="cosine")
        w.write_meta(pd.DataFrame({"i": np.arange(n), "name": [f"p{k}" for k in range(n)]}))
        w.write_latent(4, np.random.default_rng(0).normal(size=(n, 4)).astype(np.float32), kind="raw")
        # what an image build records: PixPlot's min_dist, its own n_neighbors
        w.manifest["projection_defaults"] = {"umap": {"min_dist": 0.01, "n_neighbors": 7}}
        w.finish()
    ds = open_dataset(tmp_path, "own")
    app = create_app(tmp_path, dataset="own")

    props = _page_props(app, "dataset=own")
    boxes = ids.param_inputs()
    assert {m for m, _ in boxes} == {p.name for p in registry.PROJECTIONS.values() if any(
        q.step is not None for q in p.params.values())}
    for (method, name), id_ in boxes.items():
        default = projection_params(ds, method, {})[name]
        assert props[id_]["value"] == default and props[id_]["placeholder"] == str(default), (method, name)
    assert props[boxes["umap", "min_dist"]]["value"] == 0.01 and props[boxes["umap", "n_neighbors"]]["value"] == 7
    assert props[boxes["tsne", "perplexity"]]["value"] == 30

    # a value the URL gives is shown in its box; the others keep the dataset's defaults
    props = _page_props(app, "dataset=own&proj=umap&min_dist=0.3")
    assert props[boxes["umap", "min_dist"]]["value"] == 0.3 and props[boxes["umap", "n_neighbors"]]["value"] == 7


def test_a_page_load_resolves_its_view_once_and_later_changes_resolve_afresh(tmp_path, monkeypatch):
    """The HTML's boot script and Dash's filled-in page come in two requests for one URL: they share one
    resolution (and so always agree); a change after the page loaded (update_view) resolves again."""
    from dashboard import fixtures, mapview
    from dashboard.callbacks import viewer as viewer_callbacks
    from dashboard.callbacks.viewer import view_for
    from dashboard.viewstate import parse

    fixtures.blobs(tmp_path, "b", n=300, dim=4, categories=3)
    app = create_app(tmp_path, dataset="b")
    calls = []
    real = mapview.resolve
    counting = lambda ds, state: calls.append(state) or real(ds, state)  # noqa: E731
    monkeypatch.setattr(mapview, "resolve", counting)
    monkeypatch.setattr(viewer_callbacks, "resolve", counting)
    query = "dataset=b&color=category&proj=pca"
    page = app.server.test_client().get("/?" + query).get_data(as_text=True)
    assert 'id="map-boot"' in page and len(calls) == 1
    props = _page_props(app, query)
    assert len(calls) == 1 and props[ids.VIEW]["data"]["colors"] in page.replace("&amp;", "&")
    with app.server.test_request_context("/"):
        view_for(parse(tmp_path, query)[0], [])
    assert len(calls) == 2


def test_a_brushed_range_from_the_browser_is_two_finite_numbers_in_order():
    from dashboard.callbacks.viewer import _brushed

    assert _brushed({"column": "ink", "range": [19, 26.5]}) == [19.0, 26.5]
    for hostile in (None, {}, {"range": "19,26"}, {"range": ["x", 2]}, {"range": [3, 2]}, {"range": [1, "inf"]},
                    {"range": [1]}, {"range": [float("nan"), 2]}):
        assert _brushed(hostile) is None, hostile
