"""The dataset summary page: what a dataset holds, before the map viewer."""

from __future__ import annotations


from dash import dcc, html

from ..schema import CHOOSABLE_TYPES, type_problem
from ..store import Dataset

# Component ids, imported by the callbacks (never retyped there).
URL = "summary-url"
DATASET = "summary-dataset"
SUMMARY = "dataset-summary"
NOTICE = "summary-notice"
COLUMN_TYPE = "column-type"       # pattern id: {"type": COLUMN_TYPE, "column": name}, one menu per column
COLUMN_NOTE = "column-type-note"  # beside it: the type the build gave, once changed
TYPES_NOTICE = "column-types-notice"
TYPES_CHANGED = "column-types-changed"  # the dataset's revision after a change, told to the map page
TYPES_ACK = "column-types-ack"
PREVIEW_COUNT = 48
#: Rows of a column whose values decide which types its menu offers (the change itself checks them all).
TYPE_SAMPLE = 2_000


def page(dataset_names: list[str], selected: str | None, embedded: bool = False) -> html.Div:
    """The whole page: header with the dataset picker, then the summary (``embedded``: shown in the
    map page's About panel, whose own close button goes back to the map, so without the header)."""
    return html.Div(
        className="page embedded" if embedded else "page",
        children=[
            dcc.Location(id=URL, refresh=False),
            html.Header(
                className="topbar",
                children=[
                    html.H1("Latent space dashboard"),
                    html.A("← Back to the map", href="/", id="back-to-map", className="summary-link"),
                    dcc.Dropdown(
                        id=DATASET,
                        options=[{"label": n, "value": n} for n in dataset_names],
                        value=selected,
                        clearable=False,
                        placeholder="No datasets yet",
                        className="dataset-select",
                    ),
                ],
            ),
            html.Div(id=NOTICE, className="summary-notice"),
            html.Main(id=SUMMARY, className="summary"),
        ],
    )


def _stat(label: str, value: str) -> html.Div:
    return html.Div(className="stat", children=[html.Div(value, className="stat-value"), html.Div(label, className="stat-label")])


def _table(header: list[str], rows: list[list]) -> html.Table:
    return html.Table(
        className="table",
        children=[
            html.Thead(html.Tr([html.Th(h) for h in header])),
            html.Tbody([html.Tr([html.Td(str(c) if c is not None else "") for c in row]) for row in rows]),
        ],
    )


def type_note(ds: Dataset, column: str) -> str:
    """"built as …" beside a column whose type a user changed."""
    return f"built as {ds.manifest['schema_built'][column]}" if column in ds.column_types else ""


def columns_card(ds: Dataset) -> html.Section:
    """Each column with its type; a menu changes it (the types a sample of its values cannot be are
    offered disabled, saying why)."""
    meta = ds.meta
    sample = meta.sample(TYPE_SAMPLE, random_state=0) if len(meta) > TYPE_SAMPLE else meta
    rows = []
    for col, typ in ds.schema.items():
        if col == "i":
            rows.append(html.Tr([html.Td(col), html.Td(typ), html.Td("numbers the items", className="muted")]))
            continue
        options = []
        for t in CHOOSABLE_TYPES:
            why = None if t == typ else type_problem(col, sample[col], t)
            options.append({"label": t, "value": t, "disabled": why is not None, "title": why or f"read {col!r} as {t}"})
        rows.append(html.Tr([
            html.Td(col),
            html.Td(dcc.Dropdown(id={"type": COLUMN_TYPE, "column": col}, options=options, value=typ, clearable=False,
                                 searchable=False, className="type-select", style={"minWidth": "9.5rem"})),
            html.Td(type_note(ds, col), id={"type": COLUMN_NOTE, "column": col}, className="muted"),
        ]))
    return html.Section(className="card", children=[
        html.H2("Columns"),
        html.P("A column's type decides its colours, filter and histogram on the map: a year read as a category "
               "can be numeric. The values stay as imported.", className="muted"),
        html.Table(className="table", children=[html.Thead(html.Tr([html.Th("column"), html.Th("type"), html.Th("")])),
                                                html.Tbody(rows)]),
        html.P(id=TYPES_NOTICE, role="status", className="types-notice"),
        dcc.Store(id=TYPES_CHANGED), dcc.Store(id=TYPES_ACK),
    ])


def summary(ds: Dataset, preview_figure=None, preview_title: str = "") -> list:
    """Cards describing one dataset. Metadata is rendered as text, never markup."""
    spaces = ds.spaces
    report = ds.report
    skipped = report.get("skipped", [])
    children = [
        html.Section(
            className="stats",
            children=[
                _stat("items", f"{ds.n:,}"),
                _stat("type", ds.type),
                _stat("latent spaces", str(len(spaces))),
                _stat("metric", ds.metric),
                _stat("state", ds.state),
            ],
        ),
    ]
    if ds.state != "complete":
        children.append(html.P(f"Still building: {ds.state}. Reload to see new latent spaces.", className="notice"))
    if preview_figure is not None:
        children.append(
            html.Section(
                className="card",
                children=[
                    html.H2(preview_title),
                    dcc.Graph(id="preview-graph", figure=preview_figure, config={"displaylogo": False}),
                ],
            )
        )
    if ds.type == "image":
        shown = min(PREVIEW_COUNT, ds.n)
        names = ds.meta["name"].astype(str).tolist()[:shown]
        children.append(
            html.Section(
                className="card",
                children=[
                    html.H2(f"First {shown} images"),
                    html.Div(
                        className="thumbs",
                        children=[
                            html.Img(src=ds.image_url(i, thumb=True), title=names[i], alt=names[i])
                            for i in range(shown)
                        ],
                    ),
                ],
            )
        )
    elif ds.type == "text":
        words = ds.meta["name"].astype(str).tolist()[:120]
        children.append(html.Section(className="card", children=[html.H2("First words"), html.P(" · ".join(words), className="words")]))
    children += [
        html.Section(
            className="card",
            children=[
                html.H2("Latent spaces"),
                _table(
                    ["space", "dim", "kind", "validation loss", "decoder", "description"],
                    [
                        [s.id + (" (default)" if s.id == ds.default_space else ""), s.dim, s.kind,
                         f"{s.val_loss:.1f}" if s.val_loss is not None else "", "yes" if s.decoder else "", s.description]
                        for s in spaces.values()
                    ],
                ),
            ],
        ),
        columns_card(ds),
        html.Section(
            className="card",
            children=[
                html.H2(f"Build report: {len(skipped)} skipped"),
                _table(["input", "reason"], [[s["item"], s["reason"]] for s in skipped[:50]]) if skipped else html.P("Nothing was skipped."),
                *[html.P(n, className="note") for n in report.get("notes", [])],
            ],
        ),
    ]
    return children
