"""The table view: what the map shows as rows (the selection, else what the search and filters keep),
sorted and paged on the server, docked under the map; a row opens its item in the lightbox."""

from __future__ import annotations

from dash import dash_table, dcc, html

PANEL = "table-panel"
TABLE = "items-table"
CAPTION = "table-caption"
#: Rows a page shows.
PAGE_SIZE = 15


def panel() -> html.Section:
    return html.Section(id=PANEL, className="table-panel", hidden=True, **{"aria-label": "Table of the items shown"},
                        children=[
                            dcc.Store(id="table-ack"),
                            html.P(id=CAPTION, className="table-caption muted", role="status"),
                            dash_table.DataTable(
                                id=TABLE, page_action="custom", sort_action="custom", sort_mode="single",
                                page_current=0, page_size=PAGE_SIZE, sort_by=[], data=[], columns=[],
                                markdown_options={"html": False},
                                cell_selectable=True, style_table={"overflowX": "auto"},
                                style_cell={"textAlign": "left", "maxWidth": "260px", "overflow": "hidden",
                                            "textOverflow": "ellipsis", "fontFamily": "inherit", "fontSize": "13px",
                                            "padding": "3px 8px"},
                                style_header={"fontWeight": "600"},
                                css=[{"selector": ".dash-cell", "rule": "cursor: pointer;"}],
                            ),
                        ])
