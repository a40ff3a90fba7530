"""The dataset summary page: what a dataset holds, before the map viewer."""

from __future__ import annotations


from dash import dcc, html

from ..store import Dataset

# Component ids, imported by the callbacks (never retyped there).
URL = "summary-url"
DATASET = "summary-dataset"
SUMMARY = "dataset-summary"
NOTICE = "summary-notice"
PREVIEW_COUNT = 48


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
        html.Section(
            className="card",
            children=[html.H2("Columns"), _table(["column", "type"], [[c, t] for c, t in ds.schema.items()])],
        ),
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
