"""The lightbox: a clicked item large over the map, with every field, its permalink, previous and
next through the selection or what the search and filters keep, and its nearest neighbours."""

from __future__ import annotations

from dash import dcc, html

LIGHTBOX = "lightbox"
BODY = "lightbox-body"
CLOSE = "lightbox-close"
PREV = "lightbox-prev"
NEXT = "lightbox-next"
OPEN = "lightbox-open"      # store: whether it is open (the map's click and Enter open it)
POSITION = "lightbox-position"


def overlay() -> html.Div:
    return html.Div(id=LIGHTBOX, className="modal lightbox", hidden=True, role="dialog",
                    **{"aria-modal": "true", "aria-label": "Item"}, children=[
                        dcc.Store(id=OPEN, data=False), dcc.Store(id="lightbox-ack"),
                        html.Div(className="modal-box lightbox-box", children=[
                            html.Div(className="lightbox-bar", children=[
                                html.Button("← Previous", id=PREV, className="button small",
                                            title="Previous item (←) in the selection, else in what the filters keep"),
                                html.Span(id=POSITION, className="muted", role="status"),
                                html.Button("Next →", id=NEXT, className="button small", title="Next item (→)"),
                                html.Button("Close", id=CLOSE, className="button small modal-close", title="Close (Esc)"),
                            ]),
                            html.Div(id=BODY, className="lightbox-body"),
                        ]),
                    ])
