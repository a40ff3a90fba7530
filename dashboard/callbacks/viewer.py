"""Callbacks of the map page, grouped by feature: view state, legend, projection jobs,
details, selection. Thin: they parse, read the store and the cache, and render."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qs, quote, urlencode

import numpy as np
from dash import ALL, Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update
from flask import current_app

from ..compute.neighbors import query as nearest
from ..computed import get_layout
from ..deckspec import spec
from ..errors import DashboardError
from ..layouts import viewer as ids
from ..layouts.vectors import RADIUS
from ..mapdata import color_legend, graph_metrics, numeric_values, search_matches, visible
from ..store import Dataset, default_data_dir, open_dataset
from ..viewstate import GRAPH_COLUMNS, MODES, ViewState, default_mode, parse
from .common import clicked
from .common import data_dir as _data_dir
from .common import dataset as _dataset
from .common import item_button as _item_button
from .common import notices as _notices
from .vectors import analogy_buttons, vector_options

NEIGHBORS = 20
SELECTION_SHOWN = 60
MAX_FILTER_OPTIONS = 300


# --------------------------------------------------------------------------
# view state: URL or dataset → controls; controls → the view the map draws


def _filters_panel(ds: Dataset, state: ViewState) -> list:
    """A multi-select per categorical column and a range slider per numeric column."""
    out = []
    meta = ds.meta
    for col, kind in ds.schema.items():
        if kind == "categorical":
            values = meta[col].dropna().astype(str).value_counts()
            if len(values) > MAX_FILTER_OPTIONS:
                continue
            out.append(html.Label(className="filter", children=[
                html.Span(col),
                dcc.Dropdown(id={"type": ids.CATEGORY, "column": col}, multi=True, placeholder="any",
                             options=[{"label": f"{v} ({c:,})", "value": v} for v, c in values.items()],
                             value=state.filters.get(col, [])),
            ]))
        elif kind in ("numeric", "date"):
            span = _value_range(ds, col)
            if span is None or span[0] == span[1]:
                continue
            lo, hi, whole = span
            chosen = state.ranges.get(col, (lo, hi))
            step = 1 if whole else (hi - lo) / 100
            out.append(html.Label(className="filter", children=[
                html.Span(col),
                dcc.RangeSlider(id={"type": ids.RANGE, "column": col}, min=lo, max=hi, step=step,
                                value=[max(lo, chosen[0]), min(hi, chosen[1])], marks=None, allowCross=False,
                                updatemode="mouseup", tooltip={"placement": "bottom", "always_visible": False}),
            ]))
    return out or [html.P("No columns to filter on.", className="muted")]


@callback(
    Output(ids.DATASET, "value"),
    Output(ids.DIM, "options"), Output(ids.DIM, "value"),
    Output(ids.PROJ, "options"), Output(ids.PROJ, "value"),
    Output(ids.PERPLEXITY, "value"), Output(ids.N_NEIGHBORS, "value"), Output(ids.MIN_DIST, "value"),
    Output(ids.COLOR, "options"), Output(ids.COLOR, "value"),
    Output(ids.Y, "options"), Output(ids.Y, "value"),
    Output(ids.MODE, "options"), Output(ids.MODE, "value"),
    Output(ids.SIZE, "value"), Output(ids.CELL, "value"), Output(ids.GRAPH, "value"),
    Output(ids.MUTUAL, "value"), Output(ids.EDGES, "value"), Output(ids.SIZE_BY, "options"), Output(ids.SIZE_BY, "value"),
    Output(ids.VECTOR, "options"), Output(ids.VECTOR, "value"), Output(RADIUS, "value"),
    Output(ids.SEARCH_FIELD, "options"), Output(ids.SEARCH_FIELD, "value"),
    Output(ids.SEARCH, "value"), Output(ids.REGEX, "value"),
    Output(ids.FILTERS, "children"),
    Output(ids.HIDE, "data"), Output(ids.SELECTION, "data"), Output(ids.CAMERA, "data"),
    Output(ids.CLICKED, "data"),
    Output(ids.NOTICE, "children"),
    Input(ids.URL, "search"),
    Input(ids.DATASET, "value"),
)
def load_view(search: str | None, chosen: str | None):
    """Fill every control from the page URL (on load) or from a newly chosen dataset."""
    query = f"dataset={quote(chosen)}" if ctx.triggered_id == ids.DATASET and chosen else (search or "")
    state, notices = parse(_data_dir(), query, default_dataset=current_app.config["DEFAULT_DATASET"])
    if state is None:
        return (None, [], None, _PROJECTIONS, "pca", None, None, None, [], None, [], None, [], "points", 1, 32, 0, [], "all", [], None, [], None, None,
                [], None, "", [], [], [], [], None, None, _notices(notices))
    ds = _dataset(state.dataset)
    schema = ds.schema
    spaces = [{"label": s.label, "value": s.id} for s in ds.spaces.values()]
    colorable = [c for c, t in schema.items() if t in ("categorical", "numeric", "color", "date")]
    y_options = [c for c, t in schema.items() if t in ("categorical", "numeric", "date")]
    sizable = [c for c, t in schema.items() if t in ("numeric", "date")]
    searchable = [c for c, t in schema.items() if t in ("text", "categorical", "index", "numeric", "date", "color")]
    modes = [m for m in MODES if m == "points" or m == default_mode(ds)]
    return (
        state.dataset,
        spaces, state.space,
        _PROJECTIONS + [{"label": _LAYOUT_LABELS.get(a, a.capitalize()), "value": a} for a in ds.arrangements], state.proj,
        state.params.get("perplexity"), state.params.get("n_neighbors"), state.params.get("min_dist"),
        [{"label": "(none)", "value": ""}] + [{"label": f"{c} ({schema[c]})", "value": c} for c in colorable]
        + _GRAPH_OPTIONS["color"],
        state.color,
        y_options, state.y or None,
        [{"label": m, "value": m} for m in modes], state.mode,
        state.size, state.cell, state.graph,
        ["mutual"] if state.mutual else [], state.edges,
        [{"label": c, "value": c} for c in sizable] + _GRAPH_OPTIONS["size"], state.size_by or None,
        vector_options(_data_dir(), ds.name), state.vector, state.radius,
        searchable, state.search_field,
        state.search, ["regex"] if state.regex else [],
        _filters_panel(ds, state),
        state.hide, state.selection,
        list(state.camera) if state.camera else None,
        None,
        _notices(notices),
    )


_PROJECTIONS = [{"label": "PCA", "value": "pca"}, {"label": "t-SNE", "value": "tsne"}, {"label": "UMAP", "value": "umap"},
                {"label": "Vector view", "value": "vector"}]
_LAYOUT_LABELS = {"pixplot_umap": "UMAP (PixPlot's)"}
# Columns of the kNN graph, offered beside the metadata columns.
_GRAPH_OPTIONS = {
    "color": [{"label": "community (Louvain on the neighbour graph)", "value": "graph:community"},
              {"label": "degree (neighbour graph)", "value": "graph:degree"},
              {"label": "eigenvector centrality", "value": "graph:eigenvector"}],
    "size": [{"label": "degree (neighbour graph)", "value": "graph:degree"},
             {"label": "eigenvector centrality", "value": "graph:eigenvector"}],
}


def _legend(legend: dict, hidden: list[str]):
    kind = legend["kind"]
    if kind == "categorical":
        return html.Div(className="legend", children=[
            html.Button(
                id={"type": ids.LEGEND_ITEM, "value": e["value"]},
                className="legend-item" + (" off" if e["value"] in hidden else ""),
                title="Click to hide or show",
                children=[html.Span(className="swatch", style={"background": e["color"]}),
                          html.Span(e["value"], className="legend-label"), html.Span(f"{e['count']:,}", className="muted")],
            )
            for e in legend["entries"]
        ])
    if kind == "numeric":
        if legend["min"] is None:
            return html.P("No numbers in this column.", className="muted")
        return html.Div(className="colorbar", children=[
            html.Div(className="colorbar-ramp", style={"background": f"linear-gradient(to right, {', '.join(legend['colors'])})"}),
            html.Div(className="colorbar-ticks", children=[html.Span(f"{legend['min']:.4g}"), html.Span(f"{legend['max']:.4g}")]),
            html.P(f"{legend['missing']:,} missing (grey)", className="muted") if legend["missing"] else None,
        ])
    if kind == "color":
        return html.P("Each item in its own colour.", className="muted")
    return html.P("One colour for all items.", className="muted")


@callback(
    Output(ids.VIEW, "data"), Output(ids.JOB, "data"),
    Output(ids.LEGEND, "children"), Output(ids.SEARCH_COUNT, "children"),
    Output("view-notice", "children"),
    Input(ids.DIM, "value"), Input(ids.PROJ, "value"),
    Input(ids.PERPLEXITY, "value"), Input(ids.N_NEIGHBORS, "value"), Input(ids.MIN_DIST, "value"),
    Input(ids.COLOR, "value"), Input(ids.Y, "value"), Input(ids.MODE, "value"), Input(ids.SIZE, "value"),
    Input(ids.CELL, "value"), Input(ids.GRAPH, "value"), Input(ids.SEARCH, "value"), Input(ids.SEARCH_FIELD, "value"), Input(ids.REGEX, "value"),
    Input({"type": ids.CATEGORY, "column": ALL}, "value"), Input({"type": ids.RANGE, "column": ALL}, "value"),
    Input(ids.HIDE, "data"), Input(ids.MUTUAL, "value"), Input(ids.EDGES, "value"), Input(ids.SIZE_BY, "value"),
    Input(ids.VECTOR, "value"), Input(RADIUS, "value"),
    State(ids.DATASET, "value"), State(ids.JOB, "data"),
)
def update_view(dim, proj, perplexity, n_neighbors, min_dist, color, y, mode, size, cell, graph, search, field, regex,
                categories, ranges, hide, mutual, edges, size_by, vector, radius, dataset, running_job):
    """The controls as one checked view; a projection not cached yet becomes a background job."""
    if not dataset or not dim:
        return no_update, no_update, no_update, no_update, no_update
    pairs: list[tuple[str, str]] = [("dataset", dataset), ("dim", dim), ("proj", proj or "pca")]
    params = {"tsne": {"perplexity": perplexity}, "umap": {"n_neighbors": n_neighbors, "min_dist": min_dist}}.get(proj, {})
    pairs += [(k, str(v)) for k, v in params.items() if v is not None]
    pairs += [("color", color or ""), ("y", y or ""), ("mode", mode or ""), ("size", str(size or 1)), ("cell", str(cell or 32)), ("graph", str(graph or 0)),
              ("q", search or ""), ("field", field or "name"), ("edges", edges or "all"), ("sizeby", size_by or "")]
    if regex:
        pairs.append(("regex", "1"))
    if mutual:
        pairs.append(("mutual", "1"))
    if vector is not None:
        pairs.append(("vector", str(vector)))
    if radius:
        pairs.append(("radius", str(radius)))
    for item, values in zip(ctx.inputs_list[14], categories):
        pairs += [(f"f.{item['id']['column']}", v) for v in values or []]
    shown_ds = _dataset(dataset) if ranges else None
    for item, value in zip(ctx.inputs_list[15], ranges):
        col = item["id"]["column"]
        span = _value_range(shown_ds, col) if col in shown_ds.schema else None
        # a slider at its full span is no filter (and stays out of the URL)
        if value and span and (value[0] > span[0] or value[1] < span[1]):
            pairs.append((f"r.{col}", f"{value[0]},{value[1]}"))
    state, notices = parse(_data_dir(), urlencode(pairs))
    if state is None:
        return no_update, no_update, no_update, no_update, _notices(notices)
    ds = _dataset(state.dataset)
    try:
        _, legend = color_legend(ds, state)
    except DashboardError as e:  # graph columns of a large dataset not computed yet
        notices.append(f"Colour by {state.color}: {e}")
        state.color = ""
        _, legend = color_legend(ds, state)
    if state.size_by in GRAPH_COLUMNS:  # the one way a size column can be missing: graph columns not computed yet
        try:
            graph_metrics(ds, state)
        except DashboardError as e:
            notices.append(f"Size by {state.size_by}: {e}")
            state.size_by = ""
    if legend["kind"] == "categorical":
        shown = {e["value"] for e in legend["entries"]}
        state.hide = [h for h in hide or [] if h in shown]

    job = no_update
    layout_state = state
    pending = None
    if state.proj in ("tsne", "umap") and get_layout(ds, state.space, state.proj, cached_only=True, **state.params) is None:
        wanted = {"dataset": ds.name, "dim": state.space, "proj": state.proj, "params": state.params}
        # Re-sending the same job would restart it: only a different one is sent.
        job = wanted if wanted != running_job else no_update
        pending = f"Computing {state.proj.upper()} of latent space {state.space}; showing PCA meanwhile."
        layout_state = replace(state, proj="pca", params={})

    count = None
    if state.search:
        try:
            count = f"{int(search_matches(ds, state).sum()):,} of {ds.n:,} match"
        except DashboardError as e:
            notices.append(str(e))
    filtered = bool(state.filters or state.ranges or state.hide or state.search)
    view = {
        "dataset": ds.name, "n": ds.n, "type": ds.type, "mode": state.mode, "cell": state.cell,
        "size": state.size, "color": state.color,
        "query": state.to_query(selection=False, camera=False),
        "layout": urlencode(layout_state.layout_query()),
        "wanted_layout": urlencode(state.layout_query()),
        "colors": urlencode(state.column_query("color", state.color)),
        "sizes": urlencode(state.column_query("sizeby", state.size_by)) if state.size_by else None,
        "mask": state.to_query(selection=False, camera=False) if filtered else None,
        "searching": bool(state.search),
        "labels": urlencode({"dataset": ds.name}) if state.mode == "words" else None,
        "edges": urlencode(state.graph_query()) if state.graph else None,
        "edgeScope": state.edges,
        "layoutOutline": urlencode({"dataset": ds.name, "proj": state.proj, "build": ds.build_id})
        if state.proj in ds.arrangements and ds.arrangements[state.proj].get("outline") and not state.y else None,
        "layoutLabels": urlencode({"dataset": ds.name, "proj": state.proj})
        if state.proj in ds.arrangements and ds.arrangements[state.proj].get("labels") and not state.y else None,
        # the vector overlay depends on the layout, the vector and the radius
        "vector": state.to_query(selection=False, camera=False) if state.vector is not None else None,
        "pending": pending,
        # grid-like stored layouts: images fill their cells (geographic points are not on a grid)
        "spec": spec(state.mode, state.size, ds.arrangements.get(state.proj, {}).get("cell")
                     if state.proj in ds.arrangements and state.proj != "geographic" and not state.y else None),
    }
    return view, job, _legend(legend, state.hide), count, _notices(notices)


def _value_range(ds: Dataset, column: str) -> tuple[float, float, bool] | None:
    """What a column's range slider spans: finite (min, max, all whole numbers), None if empty."""
    v = numeric_values(ds.meta[column], ds.schema[column])
    v = v[np.isfinite(v)]
    return (float(v.min()), float(v.max()), bool(np.all(v == np.round(v)))) if len(v) else None


@callback(
    Output(ids.HIDE, "data", allow_duplicate=True),
    Input({"type": ids.LEGEND_ITEM, "value": ALL}, "n_clicks"),
    State(ids.HIDE, "data"),
    prevent_initial_call=True,
)
def toggle_legend_entry(clicks, hidden):
    """Clicking a legend entry hides (dims) or shows that category."""
    if not ctx.triggered_id or not any(c for c in clicks or []) or not ctx.triggered[0]["value"]:
        return no_update
    value = ctx.triggered_id["value"]
    hidden = list(hidden or [])
    return [h for h in hidden if h != value] if value in hidden else hidden + [value]


# --------------------------------------------------------------------------
# slow projections: computed in a background process with a progress bar


@callback(
    Output(ids.READY, "data"),
    Input(ids.JOB, "data"),
    background=True,
    progress=[Output(ids.PROGRESS_BAR, "value"), Output(ids.PROGRESS_LABEL, "children")],
    running=[(Output(ids.PROGRESS, "hidden"), False, True)],
    prevent_initial_call=True,
)
def compute_projection(set_progress, job):
    """Compute (and cache) a projection; the map animates to it when it is ready."""
    if not job:
        return no_update
    ds = open_dataset(default_data_dir(), job["dataset"])  # a job process has no Flask app
    label = f"{job['proj'].upper()} of latent space {job['dim']}"
    set_progress(("0", f"Computing {label}…"))

    def progress(fraction: float) -> None:
        set_progress((str(int(fraction * 100)), f"Computing {label}… {fraction:.0%}"))

    get_layout(ds, job["dim"], job["proj"], progress=progress, **job["params"])
    return job


@callback(
    Output(ids.VIEW, "data", allow_duplicate=True),
    Input(ids.READY, "data"), State(ids.VIEW, "data"),
    prevent_initial_call=True,
)
def apply_projection(job, view):
    """A finished projection replaces the PCA stand-in, if the view still asks for it.

    (Not an input of update_view: that would make a loop job → ready → job.)
    """
    if not job or not view or not view.get("pending"):
        return no_update
    state, _ = parse(_data_dir(), view["wanted_layout"])
    wanted = {"dataset": state.dataset, "dim": state.space, "proj": state.proj, "params": state.params}
    if wanted != job:
        return no_update
    return {**view, "layout": view["wanted_layout"], "pending": None}


# --------------------------------------------------------------------------
# details of a clicked item, with its nearest neighbours


def _value(col: str, value, kind: str):
    if value is None or (isinstance(value, float) and value != value):
        return html.Span("—", className="muted")
    text = str(value)
    if (col.lower() in ("permalink", "url", "link") or kind == "text") and text.startswith(("http://", "https://")):
        return html.A(text, href=text, target="_blank", rel="noopener noreferrer")
    if kind == "color":
        return html.Span([html.Span(className="swatch", style={"background": text}), text])
    return text


@callback(Output(ids.DETAILS, "children"), Input(ids.CLICKED, "data"), State(ids.VIEW, "data"))
def show_details(i, view):
    """The clicked item: full image, every field (as text), permalink, 20 nearest neighbours."""
    header = html.H2("Details")
    if i is None or not view:
        return [header, html.P("Click a point to see it here.", className="muted")]
    ds = _dataset(view["dataset"])
    if not 0 <= int(i) < ds.n:
        return [header, html.P(f"No item {i}.", className="muted")]
    i = int(i)
    row = ds.meta.iloc[i]
    space = _space_of(view)
    children = [header]
    if ds.type == "image":
        children.append(html.Img(src=ds.image_url(i), className="details-image", alt=str(row["name"])))
    children.append(html.H3(str(row["name"]), className="details-name"))
    children += analogy_buttons(view)
    children.append(html.Table(className="table fields", children=[
        html.Tbody([html.Tr([html.Th(c), html.Td(_value(c, row[c], ds.schema.get(c, "text")))]) for c in ds.meta.columns])
    ]))
    idx, dist = nearest(ds.latent(space), i, k=NEIGHBORS, metric=ds.metric)
    children += [
        html.H3(f"{len(idx)} nearest in latent space {space}", className="details-sub"),
        html.Div(className="neighbors " + ("thumbs" if ds.type == "image" else "words"),
                 children=[_item_button(ds, j) for j in idx]),
    ]
    return children


def _space_of(view: dict) -> str:
    return parse_qs(view["layout"])["dim"][0]


@callback(
    Output(ids.CLICKED, "data", allow_duplicate=True),
    Input({"type": ids.NEIGHBOR, "index": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def go_to_item(clicks):
    """Clicking a neighbour (or a selected item) moves to it."""
    if not clicked():
        return no_update
    return clicked()["index"]


# --------------------------------------------------------------------------
# selection


@callback(Output(ids.SELECTION_PANEL, "children"), Input(ids.SELECTION, "data"), Input(ids.VIEW, "data"))
def show_selection(selection, view):
    """Count, the first items, and the downloads."""
    selection = selection or []
    header = html.H2(f"Selection: {len(selection):,}")
    buttons = html.Div(className="button-row", children=[
        html.Button("Download selection CSV", className="button small", disabled=not selection,
                    id="download-selection", **{"data-rows": "selection"}),
        html.Button("Download filtered CSV", className="button small", id="download-filtered", **{"data-rows": "filtered"}),
        html.Button("Clear", className="button small", id="clear-selection", disabled=not selection),
    ])
    if not view or not selection:
        return [header, html.P("Lasso or box-select on the map (hold Space for the lasso); Shift-click adds or removes one item.",
                               className="muted"), buttons]
    ds = _dataset(view["dataset"])
    shown = [i for i in selection[:SELECTION_SHOWN] if 0 <= i < ds.n]
    more = len(selection) - len(shown)
    return [
        header, buttons,
        html.Div(className="neighbors " + ("thumbs" if ds.type == "image" else "words"),
                 children=[_item_button(ds, i) for i in shown]),
        html.P(f"and {more:,} more", className="muted") if more > 0 else None,
    ]


@callback(
    Output(ids.SELECTION, "data", allow_duplicate=True),
    Input(ids.SEARCH_ADD, "n_clicks"),
    State(ids.VIEW, "data"), State(ids.SELECTION, "data"),
    prevent_initial_call=True,
)
def add_matches(_clicks, view, selection):
    """Add every search match (that passes the filters) to the selection."""
    if not view:
        return no_update
    state, _ = parse(_data_dir(), view["query"])
    if state is None or not state.search:
        return no_update
    ds = _dataset(state.dataset)
    return sorted(set(selection or []) | set(np.flatnonzero(visible(ds, state)).tolist()))


# --------------------------------------------------------------------------
# the map itself lives in assets/map.js

clientside_callback(
    "function(view) { return window.dashMap.render(view); }",
    Output("map-ack", "data"), Input(ids.VIEW, "data"),
)
clientside_callback(
    "function(sel) { return window.dashMap.setSelection(sel || []); }",
    Output("selection-ack", "data"), Input(ids.SELECTION, "data"),
)
clientside_callback(
    "function(i) { return window.dashMap.focus(i); }",
    Output("focus-ack", "data"), Input(ids.CLICKED, "data"),
)
clientside_callback(
    "function(cam) { return window.dashMap.setCamera(cam); }",
    Output("camera-ack", "data"), Input(ids.CAMERA, "data"),
)
clientside_callback(
    # CSS shows only the chosen projection's parameters and, for images, the cell size.
    """function(mode, proj) {
        const v = document.querySelector('.viewer');
        if (v) { v.dataset.mode = mode || ''; v.dataset.proj = proj || ''; }
        return [mode, proj];
    }""",
    Output("controls-ack", "data"), Input(ids.MODE, "value"), Input(ids.PROJ, "value"),
)
clientside_callback(
    "function(fmt) { return window.dashMap.setNetworkFormat(fmt); }",
    Output("network-ack", "data"), Input(ids.NETWORK_FORMAT, "value"),
)
