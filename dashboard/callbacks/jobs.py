"""The list of background jobs: every job of the dataset on the engine, with progress, time left and a
button to cancel it (or to try a failed one again)."""

from __future__ import annotations

from dash import ALL, Input, Output, State, callback, ctx, no_update

from .. import jobs
from ..layouts import jobs as ids
from ..layouts import viewer as viewer_ids
from .common import data_dir as _data_dir
from .common import duration


@callback(
    Output(ids.LIST, "children"), Output(ids.PANEL, "hidden"), Output(ids.POLL, "interval"),
    Input(ids.POLL, "n_intervals"), Input(viewer_ids.JOB, "data"), Input(viewer_ids.DATASET, "value"),
)
def list_jobs(_ticks, _job, name):
    """What runs for this dataset, asked often while something runs and rarely otherwise."""
    if not name:
        return [], True, ids.IDLE_MS
    try:
        found = jobs.listing(_data_dir(), name)
    except Exception:  # noqa: BLE001 - an engine out of reach: the list waits, the page goes on
        return no_update, no_update, ids.IDLE_MS
    busy = any(j["state"] in ("running", "starting") for j in found)
    rows = [ids.row(j, duration(j["eta"]) if j.get("eta") else "") for j in found]
    return rows, not found, ids.BUSY_MS if busy else ids.IDLE_MS


@callback(
    Output(ids.POLL, "n_intervals"),
    Output(viewer_ids.JOB, "data", allow_duplicate=True), Output(viewer_ids.JOB_POLL, "disabled", allow_duplicate=True),
    Input({"type": ids.ACTION, "id": ALL}, "n_clicks"), State(viewer_ids.DATASET, "value"), State(viewer_ids.JOB, "data"),
    prevent_initial_call=True,
)
def act_on_job(clicks, name, current):
    """Cancel a running job, or start a failed one again; the list is refreshed at once."""
    target = ctx.triggered_id
    if not target or not any(clicks or []):
        return no_update, no_update, no_update
    for entry in jobs.listing(_data_dir(), name):
        if entry["id"] != target["id"]:
            continue
        if entry["state"] == "failed":
            jobs.ensure(_data_dir(), entry["job"], retry_failed=True)
        elif jobs.cancel(_data_dir(), entry["job"]) and entry["job"] == current:
            # the map's progress box stops following it (it would start it again) and hides
            return 0, None, True
        break
    return 0, no_update, no_update
