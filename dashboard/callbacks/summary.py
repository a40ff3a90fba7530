"""Callbacks of the summary page: pick a dataset, show what it holds."""

from __future__ import annotations

from urllib.parse import parse_qs

import plotly.graph_objects as go
from dash import Input, Output, State, callback, html, no_update
from flask import current_app

from ..compute import colors
from ..computed import get_layout
from ..errors import DashboardError
from ..layouts import summary as ids
from ..layouts.summary import summary
from ..store import Dataset, open_dataset


def preview_figure(ds: Dataset) -> tuple[go.Figure, str]:
    """UMAP of the default space if it is cached (else PCA), coloured by its label column."""
    space = ds.default_space
    umap = get_layout(ds, space, "umap", cached_only=True)
    method, xy = ("UMAP", umap.xy) if umap is not None else ("PCA", get_layout(ds, space, "pca").xy)
    meta = ds.meta
    label = ds.label_column
    fig = go.Figure()
    if label:
        # the map's colours for the same column (one assignment: colors.categorical), in its legend's order
        _, entries = colors.categorical(meta[label])
        keys = colors.category_keys(meta[label], entries)
        for e in entries:
            sel = keys == e["value"]
            fig.add_trace(go.Scattergl(x=xy[sel, 0], y=xy[sel, 1], mode="markers", name=e["value"],
                                       marker={"size": 4, "color": e["color"]}, text=meta["name"][sel], hoverinfo="text"))
    else:
        fig.add_trace(go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers", marker={"size": 4},
                                   text=meta["name"], hoverinfo="text"))
    fig.update_layout(height=420, margin={"l": 10, "r": 10, "t": 10, "b": 10}, legend_title_text=label,
                      # the normalised frame holds the bulk of the points; far outliers are cut off here
                      xaxis={"visible": False, "range": [-1.1, 1.1]},
                      yaxis={"visible": False, "range": [-1.1, 1.1], "scaleanchor": "x"},
                      plot_bgcolor="#fafafa")
    return fig, f"{method} of latent space {space}"


@callback(
    Output(ids.DATASET, "value"),
    Output(ids.NOTICE, "children"),
    Input(ids.URL, "search"),
    State(ids.DATASET, "options"),
    State(ids.DATASET, "value"),
)
def dataset_from_url(search: str | None, options: list[dict], current: str | None):
    """``?dataset=NAME`` in the URL selects a dataset; an unknown one gets a notice."""
    name = (parse_qs((search or "").lstrip("?")).get("dataset") or [None])[0]
    if not name:
        return no_update, None
    known = [o["value"] for o in options or []]
    if name not in known:
        shown = f"; showing {current}" if current else ""
        return no_update, html.P(
            f"The link asks for dataset {name!r}, which is not here (available: {', '.join(known) or 'none'}){shown}.",
            className="notice error",
        )
    return name, None


@callback(Output(ids.SUMMARY, "children"), Input(ids.DATASET, "value"))
def show_summary(name: str | None):
    if not name:
        return html.P("No dataset selected. Build one with `python -m dashboard build digits`.", className="notice")
    try:
        ds = open_dataset(current_app.config["DATA_DIR"], name)
        return summary(ds, *preview_figure(ds))
    except DashboardError as e:
        return html.P(str(e), className="notice error")
