"""The summary ("About") page: its preview colours items as the map does."""

from __future__ import annotations

import numpy as np

from dashboard import fixtures, mapdata
from dashboard.callbacks.summary import preview_figure
from dashboard.viewstate import parse


def test_preview_colours_each_category_as_the_map_does(tmp_path):
    # first seen: rare, then mid, then common; by size (the map's order) the other way round
    kinds = ["rare"] * 2 + ["mid"] * 10 + ["common"] * 40 + [None] * 3
    ds = fixtures.write(tmp_path, "kinds", np.random.default_rng(0).normal(size=(len(kinds), 4)),
                        kind=kinds, schema={"kind": "categorical"})
    state, _ = parse(tmp_path, "dataset=kinds")
    assert state.color == "kind"
    _, legend = mapdata.color_legend(ds, state)
    fig, _ = preview_figure(ds)
    shown = [(t.name, t.marker.color, len(t.x)) for t in fig.data]
    assert shown == [(e["value"], e["color"], e["count"]) for e in legend["entries"]]
    assert [name for name, _, _ in shown] == ["common", "mid", "rare", "(missing)"]
