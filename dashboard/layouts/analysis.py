"""The analyses on the map page: how far to trust the layout (a note beside the projection menu),
how neighbourhoods change between latent spaces, and what sets a selection apart (panels)."""

from __future__ import annotations

from dash import dcc, html

QUALITY = "layout-quality"           # the trustworthiness/continuity note beside the projection menu
CHANGE_SPACE = "change-space"        # the other latent space of the neighbour-change panel
CHANGE_COLOR = "change-color"        # colours the map by the neighbours kept from it
CHANGE_LIST = "change-list"
REPORT_SUBJECT = "report-subject"    # "selection" or a group id
REPORT = "selection-report"
REPORT_SAVE = "report-save-vector"
REPORT_MESSAGE = "report-message"


def quality_note() -> html.Span:
    """Filled with the shown layout's trustworthiness and continuity."""
    return html.Span(id=QUALITY, className="quality-note muted")


def panels() -> list:
    """The neighbour-change panel and the selection report."""
    return [
        html.Section(className="panel change-panel", children=[
            html.H2("Neighbour change"),
            html.Div(className="search-row", children=[
                html.Span("Compared with latent space", className="muted"),
                dcc.Dropdown(id=CHANGE_SPACE, clearable=False, className="dd dd-small"),
            ]),
            html.Button("Colour the map by neighbours kept", id=CHANGE_COLOR, className="button small"),
            html.Div(id=CHANGE_LIST),
        ]),
        html.Section(className="panel report-panel", children=[
            html.H2("What sets it apart"),
            html.Div(className="search-row", children=[
                html.Span("Report on", className="muted"),
                dcc.Dropdown(id=REPORT_SUBJECT, clearable=False, value="selection", className="dd",
                             options=[{"label": "the selection", "value": "selection"}]),
            ]),
            html.Div(id=REPORT),
            html.Button("Save the direction to it as a vector", id=REPORT_SAVE, className="button small"),
            html.Div(id=REPORT_MESSAGE, className="notices"),
        ]),
    ]
