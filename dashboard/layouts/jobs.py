"""The list of background jobs (projections, neighbour graphs, VAE training) at the top of the right panel."""

from __future__ import annotations

from dash import dcc, html

PANEL = "jobs-panel"
LIST = "jobs-list"
POLL = "jobs-poll"      # asks the engine what runs: often while something does, rarely otherwise
ACTION = "job-action"   # pattern-matching id type of each job's Cancel / Try again button

#: Poll intervals (ms): while a job runs, and while none does (a job started elsewhere shows up).
BUSY_MS, IDLE_MS = 1500, 10_000


def panel() -> list:
    """The panel (hidden while no job runs or failed) and its poll."""
    return [
        html.Section(id=PANEL, className="panel jobs-panel", hidden=True, children=[
            html.H2("Background jobs"),
            html.Ul(id=LIST, className="jobs-list", **{"aria-live": "polite"}),
        ]),
        dcc.Interval(id=POLL, interval=IDLE_MS),
    ]


def row(entry: dict, eta: str) -> html.Li:
    """One job: what it computes, how far it is and how long is left, and a button to stop it (or to
    try a failed one again)."""
    running = entry["state"] in ("running", "starting")
    if entry["state"] == "running":
        said = f"{entry['progress']:.0%}" + (f", about {eta} left" if eta else "")
    elif entry["state"] == "starting":
        said = "starting…"
    else:
        said = f"failed: {entry.get('error', 'unknown error')}"
    return html.Li(className="job " + entry["state"], children=[
        html.Div(className="job-head", children=[
            html.Span(entry["label"], className="job-label"),
            html.Button("Cancel" if running else "Try again", id={"type": ACTION, "id": entry["id"]},
                        className="button tiny", title="Stop this job" if running else "Start this job again"),
        ]),
        html.Progress(max="100", value=str(int(entry["progress"] * 100)), **{"aria-label": entry["label"]})
        if running else None,
        html.Span(said, className="job-state muted" if running else "job-state error"),
    ])
