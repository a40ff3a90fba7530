"""The groups and vectors panel (right sidebar) and the compare page."""

from __future__ import annotations

from dash import dcc, html

# Component ids, imported by dashboard/callbacks/vectors.py.
VERSION = "groups-version"       # store: bumped on every change of groups or vectors
MESSAGE = "groups-message"
GROUP_NAME = "group-name"
GROUP_SAVE = "group-save"
GROUP_UPLOAD = "group-upload"
GROUP_LIST = "group-list"
VECTOR_START = "vector-start"
VECTOR_END = "vector-end"
VECTOR_NAME = "vector-name"
VECTOR_DESCRIPTION = "vector-description"
VECTOR_CREATE = "vector-create"
VECTOR_LIST = "vector-list"
VECTOR_PANEL = "vector-panel"
RADIUS = "vector-radius"
ANALOGY = "analogy"
# pattern-matching id types
GROUP_RENAME = "group-rename"
GROUP_DELETE = "group-delete"
GROUP_SELECT = "group-select"
VECTOR_SHOW = "vector-show"
VECTOR_DELETE = "vector-delete"
ANALOGY_APPLY = "analogy-apply"


def panel() -> list:
    """Groups (save the selection, upload a CSV, rename, delete) and vectors (create, show, delete)."""
    return [
        dcc.Store(id=VERSION, data=0),
        html.Section(className="panel groups-panel", children=[
            html.H2("Groups"),
            html.Div(className="search-row", children=[
                dcc.Input(id=GROUP_NAME, placeholder="Group name", className="text-input", maxLength=120),
                html.Button("Save selection", id=GROUP_SAVE, className="button small"),
            ]),
            dcc.Upload(id=GROUP_UPLOAD, className="upload", children=html.Span(
                ["Upload a CSV of indices or names (", html.Code("i"), " or ", html.Code("name"), " column)"])),
            html.Div(id=MESSAGE, className="notices"),
            html.Div(id=GROUP_LIST),
        ]),
        html.Section(className="panel vectors-panel", children=[
            html.H2("Vectors"),
            html.Div(className="vector-form", children=[
                dcc.Dropdown(id=VECTOR_START, placeholder="start group", className="dd"),
                dcc.Dropdown(id=VECTOR_END, placeholder="end group", className="dd"),
                dcc.Input(id=VECTOR_NAME, placeholder="Vector name, e.g. man → woman", className="text-input", maxLength=120),
                dcc.Input(id=VECTOR_DESCRIPTION, placeholder="Description (optional)", className="text-input", maxLength=1000),
                html.Button("Create vector", id=VECTOR_CREATE, className="button small"),
            ]),
            html.Div(id=VECTOR_LIST),
            html.Label(className="control radius-control", children=[
                html.Span("Path radius (items within)"),
                dcc.Input(id=RADIUS, type="number", min=0, debounce=True, placeholder="auto", className="text-input"),
            ]),
        ]),
        html.Section(className="panel", id=VECTOR_PANEL),
    ]


def analogy_section() -> html.Section:
    """Where "Apply vector" on the clicked item shows its result (under the details)."""
    return html.Section(className="panel analogy-panel", id=ANALOGY)


def compare_page(ds_name: str | None, table, notice: str | None = None) -> html.Div:
    """Vectors × latent spaces, each cell the vector's consistency (Cohen's d) there, coloured
    from white to blue by its share of the largest; a click opens that vector in that space."""
    from urllib.parse import urlencode

    header = html.Header(className="topbar", children=[
        html.H1("Compare vectors across latent spaces"),
        html.A("← Back to the map", href=f"/?{urlencode({'dataset': ds_name})}" if ds_name else "/", className="summary-link"),
        html.A("Download CSV", href=f"/export/{ds_name}/vectors.csv", className="summary-link") if ds_name else None,
    ])
    if notice or table is None or table.empty:
        text = notice or "No vectors yet: create one in the map's Vectors panel."
        return html.Div(className="page", children=[header, html.Main(className="summary", children=html.P(text))])
    spaces = list(dict.fromkeys(table["latent_dim"]))
    top = max(float(table["cohens_d"].max(skipna=True) or 0), 1e-9)
    loss = dict(zip(table["latent_dim"], table["val_loss"]))
    rows = []
    for (vid, name), group in table.groupby(["vector_id", "vector"], sort=False):
        cells = []
        for s in spaces:
            d = group.loc[group["latent_dim"] == s, "cohens_d"].iloc[0]
            share = 0.0 if d != d or d is None else max(0.0, float(d)) / top
            cells.append(html.Td(className="score-cell", style={"background": f"rgba(47, 111, 176, {0.08 + 0.8 * share:.2f})",
                                                                  "color": "white" if share > 0.6 else "inherit"},
                                 children=html.A("—" if d != d or d is None else f"{d:.2f}",
                                                 href="/?" + urlencode({"dataset": ds_name, "dim": s, "proj": "vector",
                                                                         "vector": int(vid)}))))
        start, end = group["start"].iloc[0], group["end"].iloc[0]
        rows.append(html.Tr([html.Th([name, html.Div(f"{start} → {end}", className="muted")])] + cells))
    return html.Div(className="page", children=[header, html.Main(className="summary", children=[
        html.P("Each cell: how consistently the pairs of the vector's two groups differ in that latent space "
               "(Cohen's d of the cosines among their difference vectors against random pairs; higher is a cleaner "
               "direction). Click a cell to open the vector there.", className="muted"),
        html.Table(className="table compare-grid", id="compare-grid", children=[
            html.Thead([
                html.Tr([html.Th("vector")] + [html.Th(f"latent space {s}") for s in spaces]),
                html.Tr([html.Th("VAE validation loss", className="muted")]
                        + [html.Th("—" if loss[s] is None or loss[s] != loss[s] else f"{loss[s]:,.0f}", className="muted")
                           for s in spaces]),
            ]),
            html.Tbody(rows),
        ]),
    ])])
