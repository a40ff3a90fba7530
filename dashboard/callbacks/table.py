"""The table view under the map: one page of rows, sorted on the server; a row opens its item."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd
from dash import Input, Output, State, callback, clientside_callback, ctx, no_update

from ..errors import DashboardError
from ..layouts import lightbox as lightbox_ids
from ..layouts import table as ids
from ..layouts import viewer as viewer_ids
from ..mapdata import table_page
from ..viewstate import parse
from .common import data_dir as _data_dir
from .common import dataset as _dataset
from .common import message

#: Characters a text cell shows (the lightbox shows all of it).
CELL_CHARS = 200


def _cell(value):
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, (int, float, bool)):
        return value
    text = str(value)
    return text if len(text) <= CELL_CHARS else text[:CELL_CHARS - 1] + "…"


@callback(
    Output(ids.TABLE, "data"), Output(ids.TABLE, "columns"), Output(ids.TABLE, "page_count"),
    Output(ids.TABLE, "page_current"), Output(ids.CAPTION, "children"), Output(ids.PANEL, "hidden"),
    Input(viewer_ids.TABLE_TOGGLE, "value"), Input(viewer_ids.VIEW, "data"), Input(viewer_ids.SELECTION, "data"),
    Input(ids.TABLE, "page_current"), Input(ids.TABLE, "sort_by"),
)
def show_table(toggle, view, selection, page, sort_by):
    """The rows of what the map shows, one page at a time; a new view or selection goes back to page 1."""
    if not toggle or not view:
        return no_update, no_update, no_update, no_update, no_update, True
    state, _ = parse(_data_dir(), view["query"])
    if state is None:
        return [], [], 0, 0, "Nothing to show.", False
    state = replace(state, selection=[int(i) for i in selection or []])
    ds = _dataset(state.dataset)
    paging = ctx.triggered_id == ids.TABLE
    page = int(page or 0) if paging else 0
    sort = sort_by[0] if sort_by else None
    try:
        rows, total, what = table_page(ds, state, sort=sort and sort["column_id"],
                                       descending=bool(sort and sort["direction"] == "desc"),
                                       page=page, size=ids.PAGE_SIZE)
    except DashboardError as e:
        return [], [], 0, 0, message(e), False
    records = [{c: _cell(v) for c, v in zip(rows.columns, values)} | {"id": int(values[0])}
               for values in rows.itertuples(index=False, name=None)]
    columns = [{"name": c, "id": c} for c in rows.columns]
    if ds.type == "image":  # a thumbnail first, as the selection list shows them
        for r in records:
            r["image"] = f"![{r['name']}]({ds.image_url(r['id'], thumb=True)})"
        columns.insert(0, {"name": "", "id": "image", "presentation": "markdown"})
    caption = (f"{total:,} {what} of {ds.n:,}" + (f", sorted by {sort['column_id']}" +
               (" (descending)" if sort["direction"] == "desc" else "") if sort else "")
               + ". Click a row to open it.")
    return records, columns, max(1, math.ceil(total / ids.PAGE_SIZE)), page, caption, False


@callback(
    Output(viewer_ids.CLICKED, "data", allow_duplicate=True), Output(lightbox_ids.OPEN, "data", allow_duplicate=True),
    Input(ids.TABLE, "active_cell"), State(ids.TABLE, "data"), prevent_initial_call=True,
)
def open_row(cell, data):
    """A click on a row opens its item in the lightbox (and the map flies to it)."""
    if not cell or cell.get("row_id") is None:
        return no_update, no_update
    return int(cell["row_id"]), True


clientside_callback(  # a new page starts at its first row, not where the pager left the sheet scrolled
    """function(data) {
        const sheet = document.querySelector('#table-panel > div');
        if (sheet) { sheet.scrollTop = 0; }
        return Date.now();
    }""",
    Output("table-ack", "data"), Input(ids.TABLE, "data"), prevent_initial_call=True,
)
