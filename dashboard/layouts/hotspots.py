"""The hotspots panel (left sidebar): PixPlot's named clusters, to fly to, rename, delete or create."""

from __future__ import annotations

from dash import dcc, html

VERSION = "hotspots-version"   # store: bumped on every change
FLY = "fly-store"              # store: the items the camera should frame
LIST = "hotspot-list"
MESSAGE = "hotspot-message"
NEW_LABEL = "hotspot-label"
CREATE = "hotspot-create"
# pattern-matching id types
GO = "hotspot-go"
RENAME = "hotspot-rename"
DELETE = "hotspot-delete"


def panel() -> list:
    return [
        dcc.Store(id=VERSION, data=0), dcc.Store(id=FLY), dcc.Store(id="fly-ack"),
        html.Section(className="panel hotspots-panel", children=[
            html.H2("Hotspots"),
            html.Div(id=LIST),
            html.Div(className="search-row", children=[
                dcc.Input(id=NEW_LABEL, placeholder="Label", className="text-input", maxLength=120),
                html.Button("Create from selection", id=CREATE, className="button small"),
            ]),
            html.Div(id=MESSAGE, className="notices"),
        ]),
    ]
