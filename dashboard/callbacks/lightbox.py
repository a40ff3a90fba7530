"""The lightbox: the clicked item large, previous/next, closing. (Opening: the map's click and Enter,
assets/map-select.js and assets/map-keys.js.)"""

from __future__ import annotations

from urllib.parse import urlencode

import numpy as np
from dash import Input, Output, State, callback, clientside_callback, ctx, html, no_update

from ..compute.neighbors import query as nearest
from ..layouts import lightbox as ids
from ..layouts import viewer as viewer_ids
from ..mapdata import visible
from ..viewstate import parse
from .common import data_dir as _data_dir
from .common import dataset as _dataset
from .common import item_strip
from .viewer import _space_of, _value

NEIGHBORS = 12


def sequence(view: dict, selection: list[int] | None) -> tuple[np.ndarray, str]:
    """What previous and next go through: the selection, else what the search and filters keep, else all."""
    if selection and len(selection) > 1:
        return np.asarray(sorted(selection)), " in the selection"
    ds = _dataset(view["dataset"])
    if view.get("mask"):
        state, _ = parse(_data_dir(), view["query"])
        if state is not None:
            return np.flatnonzero(visible(ds, state)), " shown"
    return np.arange(ds.n), ""


@callback(
    Output(ids.BODY, "children"), Output(ids.POSITION, "children"),
    Input(viewer_ids.CLICKED, "data"), Input(ids.OPEN, "data"),
    State(viewer_ids.VIEW, "data"), State(viewer_ids.SELECTION, "data"),
)
def show_item(i, is_open, view, selection):
    """The item large (its web image, not the atlas cell), every field, a link to it, its neighbours."""
    if not is_open or i is None or not view:
        return no_update, no_update
    ds = _dataset(view["dataset"])
    i = int(i)
    if not 0 <= i < ds.n:
        return html.P(f"No item {i}.", className="muted"), ""
    row = ds.meta.iloc[i]
    space = _space_of(view)
    body = []
    if ds.type == "image":
        tiny = bool(ds.image_shape) and max(ds.image_shape[:2]) < 64  # digits' 8 × 8: enlarged with hard edges
        body.append(html.Img(src=ds.image_url(i), className="lightbox-image" + (" tiny" if tiny else ""),
                             alt=str(row["name"])))
    link = "/?" + view["query"] + "&" + urlencode({"sel": i})
    fields = [html.H2(str(row["name"]), className="details-name"),
              html.A("Link to this item", href=link, className="summary-link", target="_blank", rel="noopener"),
              html.Table(className="table fields", children=[html.Tbody([
                  html.Tr([html.Th(c), html.Td(_value(c, row[c], ds.schema.get(c, "text")))]) for c in ds.meta.columns])])]
    idx, _ = nearest(ds.latent(space), i, k=NEIGHBORS, metric=ds.metric)
    fields += [html.H3(f"Nearest in latent space {space}"),
               item_strip(ds, idx)]
    body.append(html.Div(className="lightbox-fields", children=fields))
    order, where = sequence(view, selection)
    at = np.flatnonzero(order == i)
    position = f"{int(at[0]) + 1:,} of {len(order):,}{where}" if len(at) else f"not one of the {len(order):,}{where}"
    return body, position


@callback(
    Output(viewer_ids.CLICKED, "data", allow_duplicate=True),
    Input(ids.PREV, "n_clicks"), Input(ids.NEXT, "n_clicks"),
    State(viewer_ids.CLICKED, "data"), State(viewer_ids.VIEW, "data"), State(viewer_ids.SELECTION, "data"),
    prevent_initial_call=True,
)
def step(_prev, _next, i, view, selection):
    """The previous or next item; the map flies to it."""
    if i is None or not view:
        return no_update
    order, _ = sequence(view, selection)
    if not len(order):
        return no_update
    forward = ctx.triggered_id == ids.NEXT
    at = int(np.searchsorted(order, int(i)))  # the sequence is in index order
    if at < len(order) and order[at] == int(i):
        at = at + 1 if forward else at - 1
    elif not forward:  # an item outside the sequence: the nearest before it
        at -= 1
    return int(order[at % len(order)])


clientside_callback(
    """function(open) {
        const box = document.getElementById('lightbox');
        if (box) { box.hidden = !open; }
        const tip = document.getElementById('map-tooltip');
        if (open && tip) { tip.hidden = true; }
        if (open) { const c = document.getElementById('lightbox-close'); if (c) { c.focus(); } }
        else if (window.dashLightboxWasOpen) { const m = document.getElementById('map'); if (m) { m.focus(); } }
        window.dashLightboxWasOpen = !!open;
        return open;
    }""",
    Output("lightbox-ack", "data"), Input(ids.OPEN, "data"),
)
clientside_callback(
    "function(n) { return n ? false : window.dash_clientside.no_update; }",
    Output(ids.OPEN, "data", allow_duplicate=True), Input(ids.CLOSE, "n_clicks"), prevent_initial_call=True,
)
