"""Callbacks of the map page, grouped by feature: view state, legend, projection jobs,
details, selection. Thin: they parse, read the store and the cache, and render."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from urllib.parse import parse_qs, quote, urlencode

import numpy as np
import pandas as pd
from dash import ALL, Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update
from flask import current_app

from ..compute.neighbors import query as nearest
from .. import jobs, registry
from ..computed import projection_params
from ..errors import DashboardError
from ..ingest.html_text import split_links
from ..layouts import viewer as ids
from ..mapdata import column_codes, filter_categories, numeric_values, visible
from ..mapview import resolve, resolve_for_page
from ..schema import css_color
from ..store import Dataset
from ..viewstate import FIELD, MODES, SEARCH_NOTICE, VECTOR_VIEW, ViewState, default_mode, encode, parse, search_notices
from .common import clicked
from .common import data_dir as _data_dir
from .common import duration
from .common import dataset as _dataset
from .common import item_strip
from .common import notices as _notices
from .analysis import color_options as analysis_color_options
from .vectors import analogy_buttons, vector_options

NEIGHBORS = 20
SELECTION_SHOWN = 60


# --------------------------------------------------------------------------
# view state: URL or dataset → controls; controls → the view the map draws


def _filters_panel(ds: Dataset, state: ViewState) -> list:
    """A multi-select per categorical column and a range slider per numeric column."""
    out = []
    for col, kind in ds.schema.items():
        if kind == "categorical":
            values = filter_categories(ds).get(col)
            if values is None:
                continue
            out.append(html.Label(className="filter", children=[
                html.Span(col),
                html.Div(id={"type": ids.HIST, "column": col}, className="histogram"),
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
                html.Div(id={"type": ids.HIST, "column": col}, className="histogram"),
                dcc.RangeSlider(id={"type": ids.RANGE, "column": col}, min=lo, max=hi, step=step,
                                value=[max(lo, chosen[0]), min(hi, chosen[1])], marks=None, allowCross=False,
                                updatemode="mouseup", tooltip={"placement": "bottom", "always_visible": False}),
            ]))
    return out or [html.P("No columns to filter on.", className="muted")]


def _to_control(name: str, value):
    """A view-state value as its control holds it."""
    if name == "labels":  # on unless switched off
        return [] if value == "off" else ["on"]
    if name in ids.CHECKBOXES:
        return [name] if value else []
    if name in ("y", "size_by") and not value:
        return None  # a clearable dropdown shows its placeholder
    return value


def _from_control(name: str, value):
    """A control's value as the view-state field it edits."""
    if name == "labels":
        return "" if value else "off"
    if name in ids.CHECKBOXES:
        return bool(value)
    return FIELD[name].default if value is None or value == "" and name != "color" else value


_CONTROL_OUTPUTS = {name: Output(id_, "value") for name, id_ in ids.CONTROLS.items()}
_OPTIONS = {name: Output(ids.CONTROLS[name], "options")
            for name in ("space", "proj", "color", "y", "mode", "size_by", "vector", "search_field")}


def controls_for(state: ViewState | None, notices: list[str]) -> dict:
    """Every control's value and options, the filters panel and the stores, for a view (load_view's outputs)."""
    if state is None:
        return dict(dataset=None, controls={k: no_update for k in _CONTROL_OUTPUTS}, options={k: [] for k in _OPTIONS},
                    params={k: None for k in ids.param_inputs().values()},
                    placeholders={k: no_update for k in ids.param_inputs().values()}, filters=[], hide=[], selection=[],
                    camera=None, clicked=None, notice=_notices(notices))
    ds = _dataset(state.dataset)
    schema = ds.schema

    def columns(*kinds: str) -> list[str]:
        return [c for c, t in schema.items() if t in kinds]

    options = {
        "space": space_options(ds),
        "proj": projection_options(ds),
        "color": [{"label": "(none)", "value": ""}]
        + [{"label": f"{c} ({schema[c]})", "value": c} for c in columns("categorical", "numeric", "color", "date")]
        + _GRAPH_OPTIONS["color"] + analysis_color_options(ds),
        "y": columns("categorical", "numeric", "date"),
        "mode": [{"label": m, "value": m} for m in MODES if m == "points" or m == default_mode(ds)],
        "size_by": [{"label": c, "value": c} for c in columns("numeric", "date")] + _GRAPH_OPTIONS["size"],
        "vector": vector_options(_data_dir(), ds.name),
        "search_field": columns("text", "categorical", "index", "numeric", "date", "color"),
    }
    full = {method: projection_params(ds, method, state.params if method == state.proj else {})
            for method, _ in ids.param_inputs()}
    defaults = {(method, name): full[method][name] for method, name in ids.param_inputs()}
    return dict(
        dataset=state.dataset,
        controls={name: _to_control(name, getattr(state, name)) for name in _CONTROL_OUTPUTS},
        options=options,
        # every parameter box starts at the value the view uses: the dataset's own defaults (an image
        # build's min_dist 0.01) where the URL gives none
        params={id_: defaults[method, name] for (method, name), id_ in ids.param_inputs().items()},
        placeholders={id_: str(defaults[method, name]) for (method, name), id_ in ids.param_inputs().items()},
        filters=_filters_panel(ds, state), hide=state.hide, selection=state.selection,
        camera=list(state.camera) if state.camera else None, clicked=None, notice=_notices(notices),
    )


def view_for(state: ViewState, notices: list[str], *, page: bool = False) -> dict:
    """What the map draws for a state, its legend, the search count and the notices (update_view's outputs);
    ``page``: for a page load, sharing the view its boot script resolved."""
    resolved = (resolve_for_page if page else resolve)(_dataset(state.dataset), state)
    # a bad regular expression is said under the search box, where it was typed
    about_search, notices = search_notices(notices)
    count = resolved.search_count
    if about_search:
        count = [html.Span(n.removeprefix(SEARCH_NOTICE), className="field-error", role="alert") for n in about_search] + [
            html.Span(count)]
    return dict(view=resolved.view, legend=_legend(resolved.legend, resolved.state.hide), count=count,
                notice=_notices(notices + resolved.notices))


_LOAD_OUTPUTS = dict(
    dataset=Output(ids.DATASET, "value"), controls=_CONTROL_OUTPUTS, options=_OPTIONS,
    params={id_: Output(id_, "value") for id_ in ids.param_inputs().values()},
    placeholders={id_: Output(id_, "placeholder") for id_ in ids.param_inputs().values()},
    filters=Output(ids.FILTERS, "children"), hide=Output(ids.HIDE, "data"), selection=Output(ids.SELECTION, "data"),
    camera=Output(ids.CAMERA, "data"), clicked=Output(ids.CLICKED, "data"), notice=Output(ids.NOTICE, "children"),
)
_VIEW_OUTPUTS = dict(view=Output(ids.VIEW, "data"), legend=Output(ids.LEGEND, "children"),
                     count=Output(ids.SEARCH_COUNT, "children"), notice=Output("view-notice", "children"))


def initial_props(query: str) -> dict[tuple[str, str], object]:
    """(component id, property) → value for the whole page at a URL: the page is built filled in, so
    nothing waits for a callback round trip after it appears (the callbacks run on changes only)."""
    state, notices = parse(_data_dir(), query, default_dataset=current_app.config["DEFAULT_DATASET"])
    out = {}

    def flatten(outputs: dict, got: dict) -> None:
        for key, output in outputs.items():
            if isinstance(output, dict):
                flatten(output, got[key])
            elif key in got and got[key] is not no_update:
                out[(output.component_id, output.component_property)] = got[key]

    flatten(_LOAD_OUTPUTS, controls_for(state, notices))  # the URL's notices go in the top notice area…
    if state is not None:
        flatten(_VIEW_OUTPUTS, view_for(state, [], page=True))  # …and what the view could not show in the other, once
        out[(ids.SPACES_POLL, "disabled")] = _dataset(state.dataset).state == "complete"
    return out


@callback(output=_LOAD_OUTPUTS, inputs=dict(search=Input(ids.URL, "search"), chosen=Input(ids.DATASET, "value"),
                                             types=Input(ids.TYPES, "data"),
                                             view=State(ids.VIEW, "data"), selection=State(ids.SELECTION, "data")),
          prevent_initial_call=True)
def load_view(search: str | None, chosen: str | None, types: dict | None, view: dict | None, selection: list | None):
    """Fill every control from a changed URL, a newly chosen dataset, or the view as it is when a column's
    type changed (the first page comes filled)."""
    query = f"dataset={quote(chosen)}" if ctx.triggered_id == ids.DATASET and chosen else (search or "")
    if ctx.triggered_id == ids.TYPES and types:
        query = types.get("search") or query
    state, notices = parse(_data_dir(), query, default_dataset=current_app.config["DEFAULT_DATASET"])
    if (ctx.triggered_id == ids.URL and state is not None and view and not notices
            and view.get("query") == state.to_query(selection=False, camera=False) and state.selection == (selection or [])):
        # the URL the page was built from, reported by the location as the page appears: every control
        # shows it already, and filling them again would recompute the view and every panel for nothing
        return {key: _unchanged(output) for key, output in _LOAD_OUTPUTS.items()}
    return controls_for(state, notices)


def _unchanged(outputs):
    return {k: _unchanged(v) for k, v in outputs.items()} if isinstance(outputs, dict) else no_update


def projection_options(ds: Dataset) -> list[dict]:
    """The projection menu: every registered projection, the vector view, the dataset's stored layouts."""
    return ([{"label": p.label, "value": p.name} for p in registry.PROJECTIONS.values()]
            + [{"label": "Vector view", "value": VECTOR_VIEW}]
            + [{"label": _LAYOUT_LABELS.get(a, a.capitalize()), "value": a} for a in ds.arrangements])


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
                children=[_swatch(e["color"]),
                          html.Span(e["value"], className="legend-label"),
                          html.Span(f"{e['in_view']:,} of {e['count']:,}" if "in_view" in e else f"{e['count']:,}",
                                    className="muted", title="in view of total" if "in_view" in e else "items")],
            )
            for e in legend["entries"]
        ])
    if kind == "numeric":
        if legend["min"] is None:
            return html.P("No numbers in this column.", className="muted")
        return html.Div(className="colorbar", children=[
            html.Div(className="colorbar-ramp", style={"background": f"linear-gradient(to right, {', '.join(filter(None, map(css_color, legend['colors'])))})"}),
            html.Div(className="colorbar-ticks", children=[html.Span(f"{legend['min']:.4g}"), html.Span(f"{legend['max']:.4g}")]),
            html.P(f"{legend['missing']:,} missing (grey)", className="muted") if legend["missing"] else None,
        ])
    if kind == "color":
        return html.P("Each item in its own colour.", className="muted")
    return html.P("One colour for all items.", className="muted")


@callback(
    output=_VIEW_OUTPUTS,
    prevent_initial_call=True,
    inputs=dict(
        controls={name: Input(id_, "value") for name, id_ in ids.CONTROLS.items()},
        params={id_: Input(id_, "value") for id_ in ids.param_inputs().values()},
        categories=Input({"type": ids.CATEGORY, "column": ALL}, "value"),
        ranges=Input({"type": ids.RANGE, "column": ALL}, "value"),
        hide=Input(ids.HIDE, "data"),
        dataset=State(ids.DATASET, "value"),
        current=State(ids.VIEW, "data"),
    ),
)
def update_view(controls: dict, params: dict, categories: list, ranges: list, hide: list | None, dataset: str | None,
                current: dict | None):
    """The controls as one checked view (a projection not cached yet names its background job in it)."""
    unchanged = dict(view=no_update, legend=no_update, count=no_update, notice=no_update)
    if not dataset or not controls["space"]:
        return unchanged
    values = {name: _from_control(name, value) for name, value in controls.items()}
    proj = values["proj"]
    # parameters the map has no input for (a metric, a supervising label, a plugin's) stay as the URL gave them
    before = (current or {}).get("state") or {}
    kept = before.get("params", {}) if before.get("proj") == proj and before.get("dataset") == dataset else {}
    inputs = ids.param_inputs()
    values.update(
        dataset=dataset, hide=hide or [],
        params={**{name: v for name, v in kept.items() if (proj, name) not in inputs},
                **{name: params[id_] for (method, name), id_ in inputs.items()
                   if method == proj and params[id_] is not None}},
        filters={item["id"]["column"]: item["value"] for item in ctx.args_grouping["categories"] if item["value"]},
        ranges={},
    )
    shown_ds = _dataset(dataset) if ranges else None
    for item in ctx.args_grouping["ranges"]:
        col, value = item["id"]["column"], item["value"]
        span = _value_range(shown_ds, col) if col in shown_ds.schema else None
        # a slider at its full span is no filter (and stays out of the URL)
        if value and span and (value[0] > span[0] or value[1] < span[1]):
            values["ranges"][col] = tuple(value)
    state, notices = parse(_data_dir(), urlencode(encode(values)))
    if state is None:
        return {**unchanged, "notice": _notices(notices)}
    return view_for(state, notices)


@callback(Output(ids.JOB, "data"), Input(ids.VIEW, "data"), State(ids.JOB, "data"))
def request_job(view: dict | None, running: dict | None):
    """Start the background job a view names (a projection not computed yet): one per result, even when
    several tabs or server processes ask (see dashboard.jobs)."""
    job = (view or {}).get("job")
    if not job or job == running:
        return no_update
    with contextlib.suppress(DashboardError):  # follow_job shows why it cannot start
        jobs.ensure(_data_dir(), job, retry_failed=True)
    return job


def _rows(n: int) -> str:
    return f"{n:,} row" + ("" if n == 1 else "s")


HIST_BINS = 24
HIST_CATEGORIES = 12


def _bins(ds: Dataset, column: str) -> np.ndarray | None:
    """A numeric column's histogram edges over its whole span (whole numbers stay whole)."""
    span = _value_range(ds, column)
    if span is None or span[0] == span[1]:
        return None
    lo, hi, whole = span
    edges = np.linspace(lo, hi, HIST_BINS + 1)
    return np.unique(np.round(edges)) if whole and hi - lo >= HIST_BINS else edges


@callback(
    Output({"type": ids.HIST, "column": ALL}, "children"),
    Input(ids.VIEW, "data"), State({"type": ids.HIST, "column": ALL}, "id"),
)
def draw_histograms(view, hist_ids):
    """Each filter's histogram: all items in grey, what the search and the other filters keep in colour;
    a bar is a filter (click a range, or a category; click it again to clear)."""
    if not view or not hist_ids:
        return [no_update] * len(hist_ids or [])
    ds = _dataset(view["dataset"])
    state, _ = parse(_data_dir(), view["query"])
    if state is None:
        return [no_update] * len(hist_ids)
    out = []
    for hid in hist_ids:
        col = hid["column"]
        if col not in ds.schema:
            out.append(None)
            continue
        # in view: every filter but this column's own, so its bars show what choosing them would give
        others = replace(state, filters={k: v for k, v in state.filters.items() if k != col},
                         ranges={k: v for k, v in state.ranges.items() if k != col})
        keep = visible(ds, others)
        if ds.schema[col] == "categorical":
            head, codes = column_codes(ds, col)  # per process: counted by code, not by comparing strings
            kept = dict(zip(head["values"], np.bincount(codes[keep], minlength=len(head["values"]))))
            counts = [(v, int(total), int(kept.get(v, 0))) for v, total in _top_categories(ds, col).items()]
            chosen = set(state.filters.get(col, []))
            out.append(_bars(col, counts, lambda k, label: label in chosen))
        else:
            edges = _bins(ds, col)
            if edges is None:
                out.append(None)
                continue
            v = numeric_values(ds.meta[col], ds.schema[col])
            everything, _ = np.histogram(v[np.isfinite(v)], edges)
            shown, _ = np.histogram(v[np.isfinite(v) & keep], edges)
            lo, hi = state.ranges.get(col, (edges[0], edges[-1]))
            counts = [(f"{edges[k]:.4g}–{edges[k + 1]:.4g}", int(everything[k]), int(shown[k])) for k in range(len(everything))]
            out.append(_bars(col, counts, lambda k, label: lo <= edges[k] and edges[k + 1] <= hi and (lo, hi) != (edges[0], edges[-1]),
                             edges=edges))
    return out


def _bars(col: str, counts: list[tuple[str, int, int]], chosen, edges: np.ndarray | None = None) -> html.Div:
    """A histogram's bars as buttons; a numeric one's carry their bin edges, for brushing a range
    across bars in the browser (assets/histogram-brush.js)."""
    top = max((c for _, c, _ in counts), default=0) or 1

    def span(k: int) -> dict:
        if edges is None:
            return {}
        return {"data-column": col, "data-lo": repr(float(edges[k])), "data-hi": repr(float(edges[k + 1]))}

    return html.Div(className="hist-bars" + (" brushable" if edges is not None else ""), children=[
        html.Button(
            id={"type": ids.HIST_BAR, "column": col, "bin": k}, className="hist-bar" + (" chosen" if chosen(k, label) else ""),
            title=f"{label}: {shown:,} in view of {total:,}" + (" (drag across bars for a range)" if edges is not None else ""),
            **{"aria-label": f"{col} {label}: {shown:,} of {total:,}"}, **span(k),
            children=[html.Span(className="hist-all", style={"height": f"{100 * total / top:.1f}%"}),
                      html.Span(className="hist-shown", style={"height": f"{100 * shown / top:.1f}%"})])
        for k, (label, total, shown) in enumerate(counts)])


@callback(
    Output({"type": ids.RANGE, "column": ALL}, "value", allow_duplicate=True),
    Output({"type": ids.CATEGORY, "column": ALL}, "value", allow_duplicate=True),
    Input({"type": ids.HIST_BAR, "column": ALL, "bin": ALL}, "n_clicks"), Input(ids.HIST_BRUSH, "data"),
    State({"type": ids.RANGE, "column": ALL}, "id"), State({"type": ids.RANGE, "column": ALL}, "value"),
    State({"type": ids.CATEGORY, "column": ALL}, "id"), State({"type": ids.CATEGORY, "column": ALL}, "value"),
    State(ids.VIEW, "data"), prevent_initial_call=True,
)
def filter_by_bar(_clicks, brush, range_ids, range_values, category_ids, category_values, view):
    """A histogram bar clicked: filter to its range or category (again: clear that filter). A range
    brushed across a numeric histogram's bars (in the browser): filter to it."""
    ranges, categories = [no_update] * len(range_ids), [no_update] * len(category_ids)
    if ctx.triggered_id == ids.HIST_BRUSH:
        span = _brushed(brush)
        for j, rid in enumerate(range_ids):
            if span and rid["column"] == brush.get("column"):
                ranges[j] = span
        return ranges, categories
    bar = clicked()
    if not bar or not view:
        return ranges, categories
    ds = _dataset(view["dataset"])
    col, k = bar["column"], int(bar["bin"])
    for j, rid in enumerate(range_ids):
        if rid["column"] == col:
            edges = _bins(ds, col)
            wanted = [float(edges[k]), float(edges[k + 1])]
            full = [float(edges[0]), float(edges[-1])]
            ranges[j] = full if list(map(float, range_values[j] or full)) == wanted else wanted
    for j, cid in enumerate(category_ids):
        if cid["column"] == col:
            value = str(_top_categories(ds, col).index[k])
            current = list(category_values[j] or [])
            categories[j] = [] if current == [value] else [value]
    return ranges, categories


def _brushed(brush) -> list[float] | None:
    """The [low, high] a brush sent from the browser, or None unless it is two finite numbers in order."""
    try:
        lo, hi = (float(v) for v in brush["range"])
    except (TypeError, KeyError, ValueError):
        return None
    return [lo, hi] if np.isfinite(lo) and np.isfinite(hi) and lo <= hi else None


def _top_categories(ds: Dataset, column: str) -> pd.Series:
    """A categorical column's most frequent values (as the filter compares them) with their counts: a
    histogram's bars, in order."""
    counts = filter_categories(ds).get(column)
    if counts is None:
        counts = ds.meta[column].dropna().astype(str).value_counts()
    return counts[:HIST_CATEGORIES]


def _value_range(ds: Dataset, column: str) -> tuple[float, float, bool] | None:
    """What a column's range slider spans: finite (min, max, all whole numbers), None if empty."""
    v = numeric_values(ds.meta[column], ds.schema[column])
    v = v[np.isfinite(v)]
    return (float(v.min()), float(v.max()), bool(np.all(v == np.round(v)))) if len(v) else None


clientside_callback(
    # Clicking a legend entry hides (dims) or shows that category: in the browser, no round trip.
    """function(clicks, hidden) {
        const c = window.dash_clientside.callback_context, t = c.triggered_id;
        if (!t || !(clicks || []).some((n) => n) || !c.triggered[0].value) return window.dash_clientside.no_update;
        hidden = hidden || [];
        return hidden.includes(t.value) ? hidden.filter((h) => h !== t.value) : hidden.concat([t.value]);
    }""",
    Output(ids.HIDE, "data", allow_duplicate=True),
    Input({"type": ids.LEGEND_ITEM, "value": ALL}, "n_clicks"),
    State(ids.HIDE, "data"),
    prevent_initial_call=True,
)


# --------------------------------------------------------------------------
# slow projections: computed in a background process with a progress bar


@callback(
    Output(ids.READY, "data"),
    Output(ids.PROGRESS, "hidden"), Output(ids.PROGRESS_BAR, "value"), Output(ids.PROGRESS_LABEL, "children"),
    Output(ids.JOB_POLL, "disabled"),
    Input(ids.JOB, "data"), Input(ids.JOB_POLL, "n_intervals"),
    prevent_initial_call=True,
)
def follow_job(job, _ticks):
    """How the job is getting on, every second until it is done.

    A job whose process died (a server restart) is started again; the tab keeps asking
    while the server is away, so it recovers instead of waiting forever.
    """
    if not job:
        return no_update, True, "0", "", True
    label = jobs.label(job)
    try:
        s = jobs.ensure(_data_dir(), job)
    except DashboardError as e:  # e.g. a full or read-only cache folder
        return no_update, False, "0", f"{label} cannot start: {e}", True
    if s["state"] == "done":
        return job, True, "100", "", True
    if s["state"] == "failed":
        return no_update, False, "0", f"{label} failed: {s['error']}", True
    if s["state"] == "starting":
        return no_update, False, "0", f"Computing {label}…", False
    eta = f", about {duration(s['eta'])} left" if s.get("eta") else ""
    return no_update, False, str(int(s["progress"] * 100)), f"Computing {label}… {s['progress']:.0%}{eta}", False


@callback(
    Output(ids.PROGRESS_LABEL, "children", allow_duplicate=True), Output(ids.JOB_POLL, "disabled", allow_duplicate=True),
    Output(ids.JOB, "data", allow_duplicate=True),
    Input(ids.JOB_CANCEL, "n_clicks"), State(ids.JOB, "data"), prevent_initial_call=True,
)
def cancel_job(clicks, job):
    """Stop the running job; the map keeps the PCA stand-in and the menu can ask again."""
    if not clicks or not job:
        return no_update, no_update, no_update
    stopped = jobs.cancel(_data_dir(), job)
    return ("Cancelled; choose the projection again to restart it." if stopped else "Nothing was running."), True, None


@callback(
    Output(ids.DIM, "options", allow_duplicate=True),
    Output(ids.SPACES_POLL, "disabled"),
    Input(ids.SPACES_POLL, "n_intervals"), Input(ids.DATASET, "value"), prevent_initial_call=True,
)
def refresh_spaces(_ticks, name):
    """While a dataset is still training latent spaces (emoji's VAEs), new ones join the menu without a reload."""
    if not name:
        return no_update, True
    ds = _dataset(name)
    return space_options(ds), ds.state == "complete"


def space_options(ds: Dataset) -> list[dict]:
    """The latent space menu: each space, and while the dataset still trains spaces, a line saying more
    are coming (from the page's first render, not only after the first poll)."""
    options = [{"label": s.label, "value": s.id} for s in ds.spaces.values()]
    if ds.state != "complete":
        options.append({"label": f"more coming ({ds.state})", "value": "__coming", "disabled": True})
    return options


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
    wanted = {"dataset": state.dataset, "space": state.space, "proj": state.proj, "params": state.params}
    if wanted != job:
        return no_update
    return {**view, "layout": view["wanted_layout"], "pending": None, "job": None}


# --------------------------------------------------------------------------
# details of a clicked item, with its nearest neighbours


def _value(col: str, value, kind: str):
    if value is None or (isinstance(value, float) and value != value):
        return html.Span("—", className="muted")
    text = str(value)
    if (col.lower() in ("permalink", "url", "link") or kind == "text") and text.startswith(("http://", "https://")):
        return html.A(text, href=text, target="_blank", rel="noopener noreferrer")
    if kind == "color":
        return html.Span([_swatch(text), text])
    pieces = split_links(text)  # http(s) links kept from HTML in IIIF metadata, as [text](url)
    if any(isinstance(p, tuple) for p in pieces):
        return html.Span([html.A(p[0], href=p[1], target="_blank", rel="noopener noreferrer")
                          if isinstance(p, tuple) else p for p in pieces])
    return text


def _swatch(color) -> html.Span:
    """A colour sample; only a checked colour reaches the style (a stored ``url(…)`` would load it)."""
    checked = css_color(color)
    return html.Span(className="swatch", style={"background": checked} if checked else {})


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
        item_strip(ds, idx),
    ]
    return children


def _space_of(view: dict) -> str:
    return parse_qs(view["layout"])["space"][0]


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
        html.Button(f"Download filtered CSV ({_rows((view or {}).get('shown', 0))})", className="button small",
                    id="download-filtered", **{"data-rows": "filtered"}),
        html.Button("Clear", className="button small", id=ids.CLEAR_SELECTION, disabled=not selection),
    ])
    if not view or not selection:
        return [header, html.P("Lasso or box-select on the map (hold Space for the lasso); Shift-click adds or removes one item.",
                               className="muted"), buttons]
    ds = _dataset(view["dataset"])
    shown = [i for i in selection[:SELECTION_SHOWN] if 0 <= i < ds.n]
    more = len(selection) - len(shown)
    return [
        header, buttons,
        item_strip(ds, shown),
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
    # Filters and legend entries redraw the map in the browser at once (assets/map-filter.js); update_view
    # answers later with the same mask and the counts.
    """function(categories, ranges, hide, categoryIds, rangeIds, mins, maxs) {
        return window.dashMap.applyFilters(categoryIds.map((id, k) => [id.column, categories[k]]),
                                           rangeIds.map((id, k) => [id.column, ranges[k], mins[k], maxs[k]]), hide);
    }""",
    Output("filter-ack", "data"),
    Input({"type": ids.CATEGORY, "column": ALL}, "value"), Input({"type": ids.RANGE, "column": ALL}, "value"),
    Input(ids.HIDE, "data"),
    State({"type": ids.CATEGORY, "column": ALL}, "id"), State({"type": ids.RANGE, "column": ALL}, "id"),
    State({"type": ids.RANGE, "column": ALL}, "min"), State({"type": ids.RANGE, "column": ALL}, "max"),
    prevent_initial_call=True,
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
    # Only the chosen projection's parameters are shown, and for images the cell size (CSS).
    """function(mode, proj) {
        const v = document.querySelector('.viewer');
        if (v) { v.dataset.mode = mode || ''; }
        document.querySelectorAll('.param').forEach((el) => {
            el.style.display = el.classList.contains('param-' + proj) ? 'flex' : '';
        });
        return [mode, proj];
    }""",
    Output("controls-ack", "data"), Input(ids.MODE, "value"), Input(ids.PROJ, "value"),
)
clientside_callback(
    "function(fmt) { return window.dashMap.setNetworkFormat(fmt); }",
    Output("network-ack", "data"), Input(ids.NETWORK_FORMAT, "value"),
)


# --------------------------------------------------------------------------
# the page around the map: panels that fold away, the About panel over the map

for _side, _toggle, _state in (("left", ids.LEFT_TOGGLE, ids.LEFT), ("right", ids.RIGHT_TOGGLE, ids.RIGHT)):
    clientside_callback(
        # "" follows the window's width (the CSS breakpoint); a click makes the choice explicit (and in the URL)
        """function(clicks, state) {
            if (!clicks) { return window.dash_clientside.no_update; }
            const open = state ? state === 'open' : window.matchMedia('(min-width: 1000px)').matches;
            return open ? 'closed' : 'open';
        }""",
        Output(_state, "value", allow_duplicate=True), Input(_toggle, "n_clicks"), State(_state, "value"),
        prevent_initial_call=True,
    )
clientside_callback(
    """function(left, right) {
        const v = document.querySelector('.viewer');
        if (v) { v.dataset.left = left || ''; v.dataset.right = right || ''; }
        const wide = window.matchMedia('(min-width: 1000px)').matches;
        [['left-toggle', left], ['right-toggle', right]].forEach(([id, s]) => {
            const b = document.getElementById(id);
            if (b) { b.setAttribute('aria-expanded', String(s ? s === 'open' : wide)); }
        });
        return [left, right];
    }""",
    Output("panels-ack", "data"), Input(ids.LEFT, "value"), Input(ids.RIGHT, "value"),
)
clientside_callback(
    """function(open, close, dataset) {
        const box = document.getElementById('about');
        const frame = document.getElementById('about-frame');
        const opening = window.dash_clientside.callback_context.triggered.some((t) => t.prop_id.startsWith('summary-link'));
        if (opening && dataset) {
            frame.src = '/summary?embed=1&dataset=' + encodeURIComponent(dataset);
            box.hidden = false;
            document.getElementById('about-close').focus();
        } else {
            box.hidden = true;
        }
        return Date.now();
    }""",
    Output("about-ack", "data"), Input(ids.SUMMARY_LINK, "n_clicks"), Input(ids.ABOUT_CLOSE, "n_clicks"),
    State(ids.DATASET, "value"), prevent_initial_call=True,
)
