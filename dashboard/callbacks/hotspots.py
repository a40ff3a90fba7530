"""Callbacks of the hotspots panel: list, fly to, rename, delete, create from the selection.
Edits are saved on the server (groups.sqlite), so they survive a restart and reach every viewer.
A rename or delete carries the version of the hotspot the panel showed (in the input's id): one
made on an older version than the stored one is refused, and the panel redraws what is stored."""

from __future__ import annotations

from dash import ALL, Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update

from ..compute.clusters import medoid
from ..errors import DashboardError
from ..groups import HotspotStore
from ..layouts import hotspots as ids
from ..layouts import viewer as viewer_ids
from .common import clicked, data_dir, dataset, done, failed, message, notices, refused


def _store() -> HotspotStore:
    return HotspotStore(data_dir())


@callback(
    Output(ids.LIST, "children"),
    Input(ids.VERSION, "data"), Input(viewer_ids.DATASET, "value"),
)
def show_hotspots(_version, name):
    """Each hotspot: its representative (the medoid), editable label, size; the build's clusters to start with."""
    if not name:
        return no_update
    ds = dataset(name)
    try:
        hotspots = _store().dataset_hotspots(ds)
    except DashboardError as e:
        return notices([message(e)])
    rows = []
    for h in hotspots:
        face = (html.Img(src=ds.image_url(h.representative, thumb=True), alt=h.label) if ds.type == "image"
                else html.Span(str(ds.meta["name"].iloc[h.representative])[:12]))
        rows.append(html.Div(className="hotspot-row", children=[
            html.Button(face, id={"type": ids.GO, "id": h.id}, className="hotspot-face", title="Fly there"),
            dcc.Input(id={"type": ids.RENAME, "id": h.id, "v": h.version}, value=h.label, debounce=True,
                      className="text-input"),
            html.Span(f"{h.size:,}" + (" ⚠" if h.note else ""), className="muted", title=h.note or "items"),
            html.Button("×", id={"type": ids.DELETE, "id": h.id, "v": h.version}, className="button tiny",
                        title="Delete"),
        ]))
    return rows or [html.P("No hotspots: select a cluster on the map and create one.", className="muted")]


@callback(
    Output(ids.FLY, "data"),
    Input({"type": ids.GO, "id": ALL}, "n_clicks"),
    State(viewer_ids.DATASET, "value"),
    prevent_initial_call=True,
)
def fly_to_hotspot(clicks, name):
    if not clicked():
        return no_update
    try:
        return _store().hotspot(name, clicked()["id"]).members.tolist()
    except DashboardError:
        return no_update  # deleted by someone else meanwhile: the list redraws on the next edit


@callback(
    Output(ids.MESSAGE, "children"), Output(ids.VERSION, "data"),
    Input(ids.CREATE, "n_clicks"),
    State(ids.NEW_LABEL, "value"), State(viewer_ids.SELECTION, "data"), State(viewer_ids.DATASET, "value"),
    State(viewer_ids.DIM, "value"), State(ids.VERSION, "data"),
    prevent_initial_call=True,
)
def create_hotspot(_clicks, label, selection, name, dim, version):
    """The selection as a hotspot; its representative is its medoid in the shown latent space."""
    ds = dataset(name)
    try:
        members = [i for i in (selection or []) if 0 <= int(i) < ds.n]
        if not members:
            raise DashboardError("the selection is empty: lasso a cluster first")
        rep = medoid(ds.latent(dim if dim in ds.spaces else ds.default_space), members)
        h = _store().add_dataset_hotspot(ds, label, members, rep)
    except DashboardError as e:
        return failed(e)
    return done(f"Created hotspot {h.label!r} ({h.size:,} items).", version)


@callback(
    Output(ids.MESSAGE, "children", allow_duplicate=True), Output(ids.VERSION, "data", allow_duplicate=True),
    Input({"type": ids.RENAME, "id": ALL, "v": ALL}, "value"),
    State(viewer_ids.DATASET, "value"), State(ids.VERSION, "data"),
    prevent_initial_call=True,
)
def rename_hotspot(_labels, name, version):
    """Relabel, unless someone changed the hotspot since this panel showed it (then say so and redraw)."""
    if not ctx.triggered_id or ctx.triggered[0]["value"] is None:
        return no_update, no_update
    hid = ctx.triggered_id
    try:
        if not _store().rename_hotspot(name, hid["id"], ctx.triggered[0]["value"], version=hid["v"]):
            return no_update, no_update  # the list was redrawn, not edited
    except DashboardError as e:
        return refused(e, version)
    return done(f"Renamed the hotspot to {ctx.triggered[0]['value']!r}.", version)


@callback(
    Output(ids.MESSAGE, "children", allow_duplicate=True), Output(ids.VERSION, "data", allow_duplicate=True),
    Input({"type": ids.DELETE, "id": ALL, "v": ALL}, "n_clicks"),
    State(viewer_ids.DATASET, "value"), State(ids.VERSION, "data"),
    prevent_initial_call=True,
)
def delete_hotspot(clicks, name, version):
    if not clicked():
        return no_update, no_update
    try:
        _store().delete_hotspot(name, clicked()["id"], version=clicked()["v"])
    except DashboardError as e:
        return refused(e, version)
    return done("Deleted the hotspot.", version)


clientside_callback(
    "function(members) { return window.dashMap.flyTo(members || []); }",
    Output("fly-ack", "data"), Input(ids.FLY, "data"),
    prevent_initial_call=True,
)
