"""The map page: the map fills the window; a one-row top bar; the projections and PixPlot's layouts
as a row of buttons on the map; panels left (hotspots, search, legend, filters) and right (details,
selection, groups, vectors) that fold away, and become drawers over the map in narrow windows."""

from __future__ import annotations

from dash import dcc, html

from .. import registry
from ..network import FORMATS
from ..viewstate import CELLS
from . import analysis as analysis_layout
from . import hotspots as hotspot_layout
from . import jobs as jobs_layout
from . import lightbox as lightbox_layout
from . import table as table_layout
from . import vectors as vector_layout

# Component ids, imported by the callbacks and named in assets/map.js.
URL = "url"
DATASET = "dataset-select"
DIM = "dim-select"
PROJ = "proj-select"
COLOR = "color-select"
Y = "y-select"
MODE = "mode-select"
SIZE = "size-slider"
CELL = "cell-select"
GRAPH = "graph-select"
VECTOR = "vector-select"
MUTUAL = "graph-mutual"
EDGES = "graph-edges"
NETWORK_FORMAT = "network-format"
SIZE_BY = "size-by-select"
SEARCH = "search-input"
SEARCH_FIELD = "search-field"
REGEX = "search-regex"
DENSITY = "density-overview"
SEARCH_COUNT = "search-count"
SEARCH_ADD = "search-add"
LEGEND = "legend"
FILTERS = "filters"
NOTICE = "url-notice"
MAP = "map"  # made by map.js (drawn before Dash renders), then moved into MAP_SLOT
MAP_SLOT = "map-slot"
MAP_STATUS = "map-status"
MAP_TOOLTIP = "map-tooltip"
DOWNLOAD_NETWORK = "download-network"
CLEAR_SELECTION = "clear-selection"
PROGRESS = "progress"
PROGRESS_BAR = "progress-bar"
PROGRESS_LABEL = "progress-label"
DETAILS = "details"
SELECTION_PANEL = "selection-panel"
SUMMARY_LINK = "summary-link"
LEFT = "left-panel-state"      # hidden inputs: "" (as the window's width says), "open" or "closed"
RIGHT = "right-panel-state"
PLAIN = "plain-images"
TABLE_TOGGLE = "table-toggle"  # the checkbox that opens the table under the map (layouts/table.py)
LABELS = "cluster-labels"
LEFT_TOGGLE = "left-toggle"
RIGHT_TOGGLE = "right-toggle"
ABOUT = "about"                # the About panel over the map
ABOUT_FRAME = "about-frame"
ABOUT_CLOSE = "about-close"
TYPES = "column-types"         # {revision, search} when the About panel changed a column's type (assets/page.js)
# stores
VIEW = "view-store"        # the checked view the map draws (server → browser)
JOB = "job-store"          # a projection to compute in the background
JOB_POLL = "job-poll"      # asks how the job is getting on (through server restarts)
JOB_CANCEL = "job-cancel"
SPACES_POLL = "spaces-poll"  # while a dataset is still training latent spaces: new ones join the menu
READY = "ready-store"      # the projection that finished
HIDE = "hide-store"        # legend entries switched off
SELECTION = "selection-store"
CLICKED = "clicked-store"
CAMERA = "camera-store"    # the camera a URL asked for
RANGE = "range"            # pattern-matching id type of numeric range sliders
CATEGORY = "category"      # … of categorical filter dropdowns
LEGEND_ITEM = "legend-item"
HIST = "histogram"         # … of each filter's histogram (what is in view of all)
HIST_BAR = "histogram-bar"
HIST_BRUSH = "hist-brush-store"  # a range brushed across a numeric histogram's bars (histogram-brush.js)


#: The view-state field each control edits, and the property that holds it (read and written
#: by the view callbacks through this table; filters, the legend and the selection have their own).
CONTROLS = {
    "space": DIM, "proj": PROJ, "color": COLOR, "y": Y, "mode": MODE, "size": SIZE, "cell": CELL,
    "graph": GRAPH, "mutual": MUTUAL, "edges": EDGES, "size_by": SIZE_BY, "vector": VECTOR,
    "search_field": SEARCH_FIELD, "search": SEARCH, "regex": REGEX, "radius": vector_layout.RADIUS,
    "left": LEFT, "right": RIGHT, "table": TABLE_TOGGLE, "plain": PLAIN, "labels": LABELS, "density": DENSITY,
}
#: Fields whose control is a one-item checklist whose option is the field's name: on = [name].
CHECKBOXES = {"mutual", "regex", "plain", "density", "table"}


def param_id(method: str, name: str) -> str:
    """The id of a projection parameter's input, e.g. ``param-umap-n-neighbors``."""
    return f"param-{method}-{name.replace('_', '-')}"


def param_inputs() -> dict[tuple[str, str], str]:
    """(projection, parameter) → input id, for every registered parameter the map offers an input for."""
    return {(p.name, name): param_id(p.name, name) for p in registry.PROJECTIONS.values()
            for name, param in p.params.items() if param.step is not None}


def _control(label: str, component, cls: str = "") -> html.Label:
    # The control takes its widget's width (w-<class>) before the widget's code has loaded, so the
    # top bar wraps the same way before and after, and the map below it never moves.
    widths = [f"w-{c}" for c in (getattr(component, "className", "") or "").split() if c.startswith(("dd", "size-slider"))]
    return html.Label(className=" ".join(["control", *widths[-1:], cls]).strip(), children=[html.Span(label), component])


def _params() -> list[html.Label]:
    """A number input per parameter of every registered projection; CSS shows the chosen projection's."""
    out = []
    for (method, name), id_ in param_inputs().items():
        p = registry.get(method).params[name]
        label = p.label or name.replace("_", " ").capitalize()
        out.append(_control(label, dcc.Input(id=id_, type="number", min=p.low, max=p.high, step=p.step,
                                             placeholder=str(p.default), debounce=True), cls=f"param param-{method}"))
    return out


def _graph_panel() -> html.Section:
    """The kNN graph overlay and the network download (communities and centralities are
    offered in "Colour by" and "Size by")."""
    return html.Section(className="panel graph-panel", children=[
        html.H2("Neighbour graph"),
        dcc.Dropdown(id=GRAPH, clearable=False, className="dd", options=[{"label": "no edges", "value": 0}] + [
            {"label": f"{k} nearest neighbours", "value": k} for k in (3, 5, 10, 20, 30)]),
        dcc.Checklist(id=MUTUAL, options=[{"label": "mutual neighbours only", "value": "mutual"}], value=[],
                      className="checkbox"),
        html.Div(className="search-row", children=[
            html.Span("Edges of", className="muted"),
            dcc.RadioItems(id=EDGES, inline=True, className="radio", value="all",
                           options=[{"label": "all", "value": "all"}, {"label": "selection", "value": "selection"},
                                    {"label": "clicked item", "value": "item"}]),
        ]),
        html.Div(className="search-row", children=[
            dcc.Dropdown(id=NETWORK_FORMAT, clearable=False, value="gexf", className="dd dd-small",
                         options=[{"label": "CSV (zip)" if f == "csv" else f.upper() if f == "gexf" else "GraphML", "value": f}
                                  for f in FORMATS]),
            html.Button("Download network", id=DOWNLOAD_NETWORK, className="button small",
                        title="The graph of the selection (or, with none, of what passes the filters) for Gephi"),
        ]),
    ])


def page(dataset_names: list[str], initial: dict[tuple[str, str], object] | None = None) -> html.Div:
    """The whole viewer page, its controls filled with ``initial``: (component id, property) → value."""
    initial = initial or {}
    by_id: dict[str, dict[str, object]] = {}
    for (id_, prop), value in initial.items():
        by_id.setdefault(id_, {})[prop] = value
    # What CSS and the controls callback show (the chosen projection's parameters, the image cell size)
    # is set here too, so the top bar has its final height before any callback runs.
    proj, mode = initial.get((PROJ, "value")), initial.get((MODE, "value"))
    tree = _page(dataset_names)
    setattr(tree, "data-mode", mode or "")
    for component in tree._traverse():
        id_ = getattr(component, "id", None)
        for prop, value in (by_id.get(id_, {}) if isinstance(id_, str) else {}).items():
            setattr(component, prop, value)
        if f"param-{proj}" in (getattr(component, "className", "") or "").split():
            component.style = {"display": "flex"}
    return tree


def _panel_toggle(id_: str, side: str, label: str) -> html.Button:
    return html.Button(className=f"panel-toggle {side}", id=id_, title=f"Show or hide the {label} panel",
                       **{"aria-controls": f"{side}-panel", "aria-label": f"Show or hide the {label} panel"},
                       children=[html.Span(className="toggle-icon", **{"aria-hidden": "true"}), html.Span(label)])


def _page(dataset_names: list[str]) -> html.Div:
    dropdown = dict(clearable=False, searchable=True)
    return html.Div(
        className="viewer",
        children=[
            html.A("Skip to the map", href="#" + MAP, className="skip-link"),
            dcc.Location(id=URL, refresh=False),
            dcc.Store(id=VIEW), dcc.Store(id=JOB), dcc.Store(id=READY), dcc.Store(id=HIDE, data=[]),
            dcc.Interval(id=JOB_POLL, interval=1000, disabled=True),
            dcc.Interval(id=SPACES_POLL, interval=15_000, disabled=True),
            dcc.Store(id=SELECTION, data=[]), dcc.Store(id=CLICKED), dcc.Store(id=CAMERA), dcc.Store(id=HIST_BRUSH),
            dcc.Store(id=TYPES),
            *[dcc.Store(id=ack) for ack in ("map-ack", "selection-ack", "focus-ack", "camera-ack", "controls-ack",
                                            "network-ack", "panels-ack", "about-ack", "filter-ack")],
            html.Header(
                className="topbar controls",
                children=[
                    _panel_toggle(LEFT_TOGGLE, "left", "Explore"),
                    html.H1("Latent space dashboard"),
                    _control("Dataset", dcc.Dropdown(id=DATASET, options=dataset_names, **dropdown, className="dd dataset-select")),
                    _control("Latent space", dcc.Dropdown(id=DIM, **dropdown, className="dd dd-small")),
                    _control("Colour by", dcc.Dropdown(id=COLOR, **dropdown, className="dd")),
                    _control("Show", dcc.RadioItems(id=MODE, inline=True, className="radio segmented")),
                    html.Details(className="more", children=[
                        html.Summary(["View", html.Span(" options", className="long")]),
                        html.Div(className="more-panel", children=[
                            _control("Vector", dcc.Dropdown(id=VECTOR, clearable=True, placeholder="none", className="dd")),
                            _control("Y axis", dcc.Dropdown(id=Y, clearable=True, placeholder="layout", className="dd")),
                            _control("Image cell", dcc.Dropdown(id=CELL, options=[{"label": f"{c} px", "value": c} for c in CELLS],
                                                                **dropdown, className="dd dd-tiny"), cls="cell-control"),
                            _control("Size", dcc.Slider(id=SIZE, min=0.2, max=8, step=0.1, value=1, marks=None,
                                                        updatemode="mouseup", className="size-slider")),
                            _control("Size by", dcc.Dropdown(id=SIZE_BY, clearable=True, placeholder="none", className="dd")),
                            # the density overview under the points (dashboard.tiles.density_raster)
                            dcc.Checklist(id=DENSITY, options=[{"label": "density overview", "value": "density"}],
                                          value=[], className="checkbox"),
                            dcc.Checklist(id=LABELS, options=[{"label": "name the clusters on the map", "value": "on"}],
                                          value=["on"], className="checkbox"),
                            html.Div(className="cell-control", children=[dcc.Checklist(
                                id=PLAIN, options=[{"label": "plain images (no colour tint)", "value": "plain"}],
                                value=[], className="checkbox")]),
                        ]),
                    ]),
                    html.Button(["About", html.Span(" this dataset", className="long")], id=SUMMARY_LINK,
                                className="button about-button"),
                    _panel_toggle(RIGHT_TOGGLE, "right", "Details"),
                    dcc.Input(id=LEFT, type="hidden", value=""), dcc.Input(id=RIGHT, type="hidden", value=""),
                ],
            ),
            html.Div(id=NOTICE, className="notices", role="status"),
            html.Div(id="view-notice", className="notices", role="status"),
            html.Div(
                className="workspace",
                children=[
                    html.Aside(
                        className="sidebar left", id="left-panel", **{"aria-label": "Hotspots, search, legend and filters"},
                        children=[
                            *hotspot_layout.panel(),
                            html.Section(className="panel", children=[
                                html.H2("Search"),
                                html.Div(className="search-row", children=[
                                    dcc.Dropdown(id=SEARCH_FIELD, clearable=False, className="dd search-field"),
                                    dcc.Checklist(id=REGEX, options=[{"label": "regex", "value": "regex"}], value=[], className="regex"),
                                ]),
                                html.Label(children=[html.Span("Search for", className="visually-hidden"),
                                                     dcc.Input(id=SEARCH, type="search", placeholder="Search…", debounce=0.3,
                                                               className="search-input")]),
                                html.Div(className="search-row", children=[
                                    html.Span(id=SEARCH_COUNT, className="muted", role="status"),
                                    html.Button("Add matches to selection", id=SEARCH_ADD, className="button small"),
                                ]),
                            ]),
                            html.Section(className="panel", children=[html.H2("Legend"), html.Div(id=LEGEND)]),
                            html.Section(className="panel", children=[html.H2("Filters"), html.Div(id=FILTERS)]),
                            _graph_panel(),
                        ],
                    ),
                    html.Main(
                        className="map-area",
                        children=[
                            # the map's element comes from map.js, which draws it before Dash has rendered
                            # this page and then moves it here (assets/map.js, "boot")
                            html.Div(id=MAP_SLOT, className="map"),
                            html.Div(className="map-tools", children=[
                                html.Div(className="tool-group", role="toolbar", **{"aria-label": "Map tools"}, children=[
                                    html.Button("Pan", id="tool-pan", className="tool active", title="Drag to pan, wheel to zoom"),
                                    html.Button("Lasso", id="tool-lasso", className="tool", title="Draw around points (or hold Space)"),
                                    html.Button("Box", id="tool-box", className="tool", title="Drag a rectangle"),
                                    html.Button("Fit", id="tool-fit", className="tool", title="Show the whole map"),
                                    dcc.Checklist(id=TABLE_TOGGLE, options=[{"label": "Table", "value": "table"}], value=[],
                                                  className="tool tool-check",
                                                  inputStyle={"marginRight": "4px"}),
                                    html.Button("Probe", id="tool-probe", className="tool probe-tool", hidden=True,
                                                title="Show what the latent space holds under the pointer "
                                                      "(or Alt-click anywhere); drag to move it"),
                                ]),
                                # the projections and PixPlot's layouts as one row of buttons, as PixPlot's left bar
                                html.Div(role="group", **{"aria-label": "Layout"}, children=[
                                    dcc.RadioItems(id=PROJ, inline=True, className="radio segmented proj-buttons")]),
                                html.Div(className="proj-params", children=_params()),
                                analysis_layout.quality_note(),
                            ]),
                            html.Div(id=MAP_TOOLTIP, className="map-tooltip", hidden=True),
                            html.Figure(id="probe", className="probe", hidden=True, children=[
                                html.Img(id="probe-image", alt="What the latent space holds here"),
                                html.Figcaption(id="probe-caption")]),
                            html.Div(id=MAP_STATUS, className="map-status", role="status"),
                            html.Div(id="map-loading", className="map-loading", role="status",
                                     children=[html.Span(className="spinner", **{"aria-hidden": "true"}), "Drawing the map…"]),
                            html.Div(id=PROGRESS, className="progress", hidden=True, role="status", children=[
                                html.Span(id=PROGRESS_LABEL),
                                html.Div(className="progress-row", children=[
                                    html.Progress(id=PROGRESS_BAR, max="100", value="0", **{"aria-label": "Background job"}),
                                    html.Button("Cancel", id=JOB_CANCEL, className="button tiny",
                                                title="Stop this job (PCA stays on the map)"),
                                ]),
                            ]),
                            table_layout.panel(),
                        ],
                    ),
                    html.Aside(
                        className="sidebar right", id="right-panel", **{"aria-label": "Details, selection, groups and vectors"},
                        children=[
                            *jobs_layout.panel(),
                            html.Section(className="panel", id=DETAILS, children=[
                                html.H2("Details"), html.P("Click a point to see it here.", className="muted")]),
                            vector_layout.analogy_section(),
                            html.Section(className="panel", id=SELECTION_PANEL),
                            *analysis_layout.panels(),
                            *vector_layout.panel(),
                        ],
                    ),
                    lightbox_layout.overlay(),
                    html.Div(id=ABOUT, className="modal", hidden=True, role="dialog",
                             **{"aria-modal": "true", "aria-label": "About this dataset"}, children=[
                                 html.Div(className="modal-box", children=[
                                     html.Button("Close", id=ABOUT_CLOSE, className="button modal-close"),
                                     html.Iframe(id=ABOUT_FRAME, title="About this dataset", className="about-frame"),
                                 ]),
                             ]),
                ],
            ),
        ],
    )
