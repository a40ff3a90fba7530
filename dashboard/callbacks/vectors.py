"""Callbacks of the groups and vectors panel: save, upload, rename, delete, create vectors,
show a vector (its scores, path and analogies). Thin: the store and vectorview do the work."""

from __future__ import annotations

import base64
import binascii
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update

from ..errors import DashboardError
from ..groups import GroupStore
from ..layouts import vectors as ids
from ..layouts import viewer as viewer_ids
from ..vectorview import analogy, vector_overlay, vector_scores
from ..viewstate import parse
from .common import clicked, data_dir, dataset, done, failed, item_button, item_strip, message, notices, refused

MAX_UPLOAD_BYTES = 5_000_000


def vector_options(data_dir_, name: str, vectors: list | None = None) -> list[dict]:
    """The saved vectors of a dataset (read unless given) as dropdown options."""
    return [{"label": f"{v.name} ({v.start_name} → {v.end_name})", "value": v.id}
            for v in (GroupStore(data_dir_).vectors(name) if vectors is None else vectors)]


def _store() -> GroupStore:
    return GroupStore(data_dir())


# --------------------------------------------------------------------------
# lists


@callback(
    Output(ids.GROUP_LIST, "children"), Output(ids.VECTOR_LIST, "children"),
    Output(ids.VECTOR_START, "options"), Output(ids.VECTOR_END, "options"),
    Output(viewer_ids.VECTOR, "options", allow_duplicate=True),
    Input(ids.VERSION, "data"), Input(viewer_ids.DATASET, "value"), Input(viewer_ids.DIM, "value"),
    prevent_initial_call="initial_duplicate",
)
def show_lists(_version, name, dim):
    """Groups with their size and tightness in the shown latent space (stored with each group: one query);
    vectors with their groups. Edit controls carry the version they show (``v``)."""
    if not name:
        return no_update, no_update, no_update, no_update, no_update
    ds = dataset(name)
    store = _store()
    try:
        groups = store.group_list(ds, dim)
        vectors = store.vectors(ds.name)
    except DashboardError as e:
        return notices([message(e)]), no_update, no_update, no_update, no_update
    rows = []
    for g in groups:
        rows.append(html.Div(className="group-row", children=[
            dcc.Input(id={"type": ids.GROUP_RENAME, "id": g.id, "v": g.version}, value=g.name, debounce=True,
                      className="text-input group-name", placeholder="name (edit and press Enter to rename)"),
            html.Span(f"{g.size:,}" + (" ⚠" if g.note else ""), className="muted", title=g.note or "items"),
            html.Span("—" if g.tightness is None else f"{g.tightness:.2f}", className="muted",
                      title="tightness (b − a) / max(a, b): a = mean distance inside, b = to the other items"),
            html.Button("Select", id={"type": ids.GROUP_SELECT, "id": g.id}, className="button tiny"),
            html.Button("×", id={"type": ids.GROUP_DELETE, "id": g.id, "v": g.version}, className="button tiny",
                        title="Delete"),
        ]))
    group_list = rows or [html.P("No groups yet: select items on the map, name them and save.", className="muted")]
    vector_list = [
        html.Div(className="group-row", children=[
            html.Span(v.name, className="vector-name", title=v.description or v.name),
            html.Span(f"{v.start_name} → {v.end_name}", className="muted"),
            html.Button("Show", id={"type": ids.VECTOR_SHOW, "id": v.id}, className="button tiny"),
            html.Button("×", id={"type": ids.VECTOR_DELETE, "id": v.id, "v": v.version}, className="button tiny",
                        title="Delete"),
        ])
        for v in vectors
    ] or [html.P("No vectors yet: pick a start and an end group.", className="muted")]
    options = [{"label": f"{g.name} ({g.size:,})", "value": g.id} for g in groups]
    return group_list, vector_list, options, options, vector_options(data_dir(), ds.name, vectors)


# --------------------------------------------------------------------------
# groups


@callback(
    Output(ids.MESSAGE, "children"), Output(ids.VERSION, "data"),
    Output(viewer_ids.SELECTION, "data", allow_duplicate=True), Output(ids.GROUP_NAME, "value"),
    Input(ids.GROUP_SAVE, "n_clicks"),
    State(ids.GROUP_NAME, "value"), State(viewer_ids.SELECTION, "data"), State(viewer_ids.DATASET, "value"),
    State(ids.VERSION, "data"),
    prevent_initial_call=True,
)
def save_group(_clicks, name, selection, ds_name, version):
    """The current selection as a named group; saved, the selection is cleared (the group is listed now,
    and the next selection starts afresh)."""
    ds = dataset(ds_name)
    try:
        g = _store().save_dataset_group(ds, name, selection or [])
    except DashboardError as e:
        return *failed(e), no_update, no_update
    return *done(f"Saved group {g.name!r} ({g.size:,} items).", version), [], ""


@callback(
    Output(ids.MESSAGE, "children", allow_duplicate=True), Output(ids.VERSION, "data", allow_duplicate=True),
    Input(ids.GROUP_UPLOAD, "contents"),
    State(ids.GROUP_UPLOAD, "filename"), State(viewer_ids.DATASET, "value"), State(ids.VERSION, "data"),
    prevent_initial_call=True,
)
def upload_group(contents, filename, ds_name, version):
    """A CSV of indices or names as a group named after the file."""
    if not contents:
        return no_update, no_update
    ds = dataset(ds_name)
    try:
        _, data = contents.split(",", 1)
        raw = base64.b64decode(data)
        if len(raw) > MAX_UPLOAD_BYTES:
            raise DashboardError(f"{filename}: larger than {MAX_UPLOAD_BYTES // 1_000_000} MB")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise DashboardError(f"{filename}: not UTF-8 text; save the CSV as UTF-8") from None
        from ..groups import members_from_csv

        members = members_from_csv(text, ds.meta)
        g = _store().save_dataset_group(ds, Path(filename or "upload").stem, members)
    except (ValueError, binascii.Error):
        return notices([f"{filename}: could not read the upload"]), no_update
    except DashboardError as e:
        return failed(e)
    return done(f"Saved group {g.name!r} from {filename} ({g.size:,} items).", version)


@callback(
    Output(ids.MESSAGE, "children", allow_duplicate=True), Output(ids.VERSION, "data", allow_duplicate=True),
    Input({"type": ids.GROUP_RENAME, "id": ALL, "v": ALL}, "value"),
    State(viewer_ids.DATASET, "value"), State(ids.VERSION, "data"),
    prevent_initial_call=True,
)
def rename_group(_names, ds_name, version):
    """Rename, unless someone changed the group since this panel showed it (then say so and redraw)."""
    if not ctx.triggered_id or ctx.triggered[0]["value"] is None:
        return no_update, no_update
    gid = ctx.triggered_id
    try:
        if not _store().rename_group(ds_name, gid["id"], ctx.triggered[0]["value"], version=gid["v"]):
            return no_update, no_update  # the list was redrawn, not edited
    except DashboardError as e:
        return refused(e, version)
    return done(f"Renamed the group to {ctx.triggered[0]['value']!r}.", version)


@callback(
    Output(ids.MESSAGE, "children", allow_duplicate=True), Output(ids.VERSION, "data", allow_duplicate=True),
    Input({"type": ids.GROUP_DELETE, "id": ALL, "v": ALL}, "n_clicks"),
    State(viewer_ids.DATASET, "value"), State(ids.VERSION, "data"),
    prevent_initial_call=True,
)
def delete_group(clicks, ds_name, version):
    if not clicked():
        return no_update, no_update
    try:
        _store().delete_group(ds_name, clicked()["id"], version=clicked()["v"])
    except DashboardError as e:
        return refused(e, version)
    return done("Deleted the group.", version)


@callback(
    Output(viewer_ids.SELECTION, "data", allow_duplicate=True),
    Input({"type": ids.GROUP_SELECT, "id": ALL}, "n_clicks"),
    State(viewer_ids.DATASET, "value"),
    prevent_initial_call=True,
)
def select_group(clicks, ds_name):
    """A group's members become the selection (to look at, extend, or export)."""
    if not clicked():
        return no_update
    try:
        return _store().group(ds_name, clicked()["id"]).members.tolist()
    except DashboardError:
        return no_update  # deleted by someone else meanwhile


# --------------------------------------------------------------------------
# vectors


@callback(
    Output(ids.MESSAGE, "children", allow_duplicate=True), Output(ids.VERSION, "data", allow_duplicate=True),
    Input(ids.VECTOR_CREATE, "n_clicks"),
    State(ids.VECTOR_START, "value"), State(ids.VECTOR_END, "value"), State(ids.VECTOR_NAME, "value"),
    State(ids.VECTOR_DESCRIPTION, "value"), State(viewer_ids.DATASET, "value"), State(ids.VERSION, "data"),
    prevent_initial_call=True,
)
def create_vector(_clicks, start, end, name, description, ds_name, version):
    try:
        v = _store().save_vector(ds_name, name, start, end, description or "")
    except DashboardError as e:
        return failed(e)
    return done(f"Saved vector {v.name!r} ({v.start_name} → {v.end_name}); press Show to see it.", version)


@callback(
    Output(ids.MESSAGE, "children", allow_duplicate=True), Output(ids.VERSION, "data", allow_duplicate=True),
    Output(viewer_ids.VECTOR, "value", allow_duplicate=True),
    Input({"type": ids.VECTOR_DELETE, "id": ALL, "v": ALL}, "n_clicks"),
    State(viewer_ids.DATASET, "value"), State(viewer_ids.VECTOR, "value"), State(ids.VERSION, "data"),
    prevent_initial_call=True,
)
def delete_vector(clicks, ds_name, shown, version):
    if not clicked():
        return no_update, no_update, no_update
    vid = clicked()["id"]
    try:
        _store().delete_vector(ds_name, vid, version=clicked()["v"])
    except DashboardError as e:
        message, version = refused(e, version)
        return message, version, no_update
    message, version = done("Deleted the vector.", version)
    return message, version, (None if shown == vid else no_update)


@callback(
    Output(viewer_ids.VECTOR, "value", allow_duplicate=True), Output(viewer_ids.PROJ, "value", allow_duplicate=True),
    Input({"type": ids.VECTOR_SHOW, "id": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def show_vector(clicks):
    """Open a vector in the vector view."""
    if not clicked():
        return no_update, no_update
    return clicked()["id"], "vector"


@callback(
    Output(viewer_ids.PROJ, "value", allow_duplicate=True),
    Input(viewer_ids.VECTOR, "value"), State(viewer_ids.PROJ, "value"),
    prevent_initial_call=True,
)
def leave_vector_view(vector, proj):
    """Clearing the vector while the vector view is shown goes back to UMAP."""
    return "umap" if vector is None and proj == "vector" else no_update


def _histogram(scores: dict) -> dcc.Graph:
    import plotly.graph_objects as go

    centres = [(a + b) / 2 for a, b in zip(scores["edges"][:-1], scores["edges"][1:])]
    fig = go.Figure([
        go.Bar(x=centres, y=scores["baseline_hist"], name="random pairs", marker_color="#bbbbbb"),
        go.Bar(x=centres, y=scores["hist"], name="the groups' pairs", marker_color="#2f6fb0", opacity=0.8),
    ])
    fig.update_layout(barmode="overlay", height=170, margin=dict(l=30, r=5, t=5, b=30), bargap=0,
                      legend=dict(orientation="h", y=1.15, font=dict(size=10)), xaxis_title="cosine of difference vectors",
                      xaxis=dict(title_font=dict(size=10), tickfont=dict(size=9)), yaxis=dict(tickfont=dict(size=9)))
    return dcc.Graph(figure=fig, config={"displayModeBar": False}, className="score-histogram")


@callback(Output(ids.VECTOR_PANEL, "children"), Input(viewer_ids.VIEW, "data"))
def show_vector_panel(view):
    """The shown vector: its consistency against random pairs, the classifier check, cosines with the
    other vectors, and the path with its support in the data."""
    if not view or not view.get("vector"):
        return None
    state, _ = parse(data_dir(), view["vector"])
    if state is None or state.vector is None:
        return None
    ds = dataset(state.dataset)
    try:
        scores = vector_scores(ds, state)
        overlay = vector_overlay(ds, state)
    except DashboardError as e:
        return [html.H2("Vector"), *notices([message(e)])]
    d = scores["d"]
    children = [
        html.H2(f"Vector: {overlay['name']}"),
        html.P(f"{overlay['start']['name']} ({overlay['start']['size']:,}) → {overlay['end']['name']} "
               f"({overlay['end']['size']:,}) in latent space {state.space}", className="muted"),
        html.P(overlay["description"]) if overlay["description"] else None,
        html.Table(className="table fields", children=html.Tbody([
            html.Tr([html.Th("consistency (Cohen's d)"), html.Td("—" if d is None else f"{d:.2f}",
                                                                   id="vector-score")]),
            html.Tr([html.Th("pairs compared"), html.Td(f"{scores['pairs']:,}")]),
            html.Tr([html.Th("cosine with a classifier's normal"), html.Td(f"{scores['classifier_cosine']:.2f}")]),
            *[html.Tr([html.Th(f"cosine with {o['name']}"), html.Td(f"{o['cosine']:.2f}")]) for o in scores["others"]],
        ])),
    ]
    if scores["hist"]:
        children.append(_histogram(scores))
    children.append(html.H3(f"Path (items within {overlay['radius']:.3g})", className="details-sub"))
    rows = []
    for s in overlay["steps"]:
        rows.append(html.Tr([
            html.Td(f"{s['k']:g}"),
            html.Td(html.Img(src=s["image"], className="path-image") if s["image"] else None),
            html.Td(f"{s['count']:,}"),
            html.Td(item_button(ds, s["nearest"])),
        ]))
    children.append(html.Table(className="table path-table", children=[
        html.Thead(html.Tr([html.Th("step"), html.Th("decoded" if overlay["steps"][0]["image"] else ""),
                            html.Th("within"), html.Th("nearest item")])),
        html.Tbody(rows),
    ]))
    children.append(html.Div(className="button-row", children=[
        html.A("Compare across dims", href=f"/compare?dataset={quote(ds.name)}", className="button small"),
        html.A("Vector view CSV", className="button small", download="",
               href=f"/export/{quote(ds.name)}.csv?rows=all&" + replace(state, proj="vector", params={}).to_query(
                   selection=False, camera=False)),
    ]))
    return children


# --------------------------------------------------------------------------
# analogies: in the details panel of the clicked item


@callback(
    Output(ids.ANALOGY, "children"),
    Input({"type": ids.ANALOGY_APPLY, "reverse": ALL}, "n_clicks"), Input(viewer_ids.CLICKED, "data"),
    State(viewer_ids.VIEW, "data"),
    prevent_initial_call=True,
)
def apply_analogy(clicks, i, view):
    """The clicked item moved along the shown vector (or against it): the nearest items to the result."""
    if ctx.triggered_id == viewer_ids.CLICKED:
        return None  # another item: its analogy is asked for anew
    if not clicked() or i is None or not view or not view.get("vector"):
        return no_update
    state, _ = parse(data_dir(), view["vector"])
    ds = dataset(state.dataset)
    try:
        result = analogy(ds, state, int(i), reverse=bool(clicked()["reverse"]))
    except DashboardError as e:
        return notices([message(e)])
    own = set(result["own_neighbours"])
    sign = "−" if result["reverse"] else "+"
    return [
        html.H3(f"{result['name']} {sign} {result['vector']}", className="details-sub"),
        html.Div(className="analogy-images", children=[html.Img(src=s, className="path-image") for s in result["images"]])
        if result["images"] else None,
        html.P("Nearest to the result (greyed: already among the item's own neighbours):", className="muted"),
        item_strip(ds, [r["i"] for r in result["results"]], marked=own, mark="muted-item"),
    ]


def analogy_buttons(view: dict | None) -> list:
    """The "apply vector" buttons the details panel shows while a vector is shown."""
    if not view or not view.get("vector"):
        return []
    return [html.Div(className="button-row", children=[
        html.Button("Apply vector", id={"type": ids.ANALOGY_APPLY, "reverse": 0}, className="button small",
                    title="This item plus the shown vector: the items nearest the result"),
        html.Button("Reverse", id={"type": ids.ANALOGY_APPLY, "reverse": 1}, className="button small",
                    title="This item minus the shown vector"),
    ])]

