"""Callbacks of the summary page: pick a dataset, show what it holds."""

from __future__ import annotations

import contextlib
from urllib.parse import parse_qs

import plotly.graph_objects as go
from dash import ALL, Input, Output, State, callback, clientside_callback, ctx, html, no_update
from flask import current_app

from ..compute import colors
from ..computed import get_layout
from ..errors import DashboardError
from ..layouts import summary as ids
from ..layouts.summary import summary, type_note
from ..store import Dataset, open_dataset, set_column_type
from .common import message


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
        return html.P(message(e), className="notice error")


@callback(
    Output(ids.TYPES_NOTICE, "children"),
    Output(ids.TYPES_CHANGED, "data"),
    Output({"type": ids.COLUMN_TYPE, "column": ALL}, "value"),
    Output({"type": ids.COLUMN_NOTE, "column": ALL}, "children"),
    Input({"type": ids.COLUMN_TYPE, "column": ALL}, "value"),
    State(ids.DATASET, "value"),
    prevent_initial_call=True,
)
def change_type(chosen: list[str], name: str | None):
    """A column's new type from its menu: checked against all its values, saved, and told to the map page.
    A type the values do not fit leaves the menu at the type the column has, and says why."""
    columns = [o["id"]["column"] for o in ctx.inputs_list[0]]
    column = (ctx.triggered_id or {}).get("column")
    typ = dict(zip(columns, chosen)).get(column)
    data_dir = current_app.config["DATA_DIR"]
    unchanged = [no_update] * len(columns)
    try:
        ds = open_dataset(data_dir, name)
        if column is None or ds.schema.get(column) == typ:
            return no_update, no_update, unchanged, unchanged
        ds = set_column_type(data_dir, name, column, typ)
    except DashboardError as e:
        current = {}  # the menus go back to the types the columns have
        with contextlib.suppress(DashboardError):
            current = open_dataset(data_dir, name).schema
        return (html.Span(message(e), className="field-error", role="alert"), no_update,
                [current.get(c, no_update) for c in columns], unchanged)
    return (f"{column!r} is {typ} now: the map's colours, filters and histograms follow.", ds.revision,
            unchanged, [type_note(ds, c) for c in columns])


# The map page shows this page in its About panel: it redraws its controls for the new types (assets/page.js).
clientside_callback(
    """function(revision, dataset) {
        if (revision && window.parent !== window) {
            window.parent.postMessage({kind: 'column-types', dataset: dataset, revision: revision}, window.location.origin);
        }
        return window.dash_clientside.no_update;
    }""",
    Output(ids.TYPES_ACK, "data"), Input(ids.TYPES_CHANGED, "data"), State(ids.DATASET, "value"),
    prevent_initial_call=True,
)
