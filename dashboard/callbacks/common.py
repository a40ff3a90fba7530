"""Helpers the callback modules share: the data directory, datasets, notices, item buttons."""

from __future__ import annotations


from dash import ctx, html, no_update
from flask import current_app

from ..errors import shown
from ..store import Dataset, open_dataset


def data_dir():
    return current_app.config["DATA_DIR"]


def dataset(name: str) -> Dataset:
    return open_dataset(data_dir(), name)


def notices(messages: list[str], cls: str = "error"):
    """Notices the user can dismiss (assets/page.js removes one when its button is clicked)."""
    return [html.P(className=f"notice {cls}", children=[
        html.Span(m), html.Button("×", className="notice-close", title="Dismiss", **{"aria-label": "Dismiss"})])
        for m in messages] or None


def item_button(ds: Dataset, i: int, cls: str = "", named: bool = True) -> html.Button:
    """A thumbnail or word that moves the map to item ``i`` when clicked (``named``: a thumbnail's name
    written beside it too, not only in its tooltip).

    The click is handled in the page (assets/page.js reads ``data-item``): one handler for every panel's
    list, where each panel had its own pattern-matching callback and each item a Dash id."""
    name = str(ds.meta["name"].iloc[i])
    children = [html.Img(src=ds.image_url(i, thumb=True), alt=name)] if ds.type == "image" else []
    if named or ds.type != "image":
        children.append(html.Span(name, className="item-name"))
    return html.Button(className=f"item-button {cls}".strip(), title=name, children=children,
                       **{"data-item": int(i)})


def item_strip(ds: Dataset, indices, marked=frozenset(), mark: str = "shared") -> html.Div:
    """A row of items: thumbnails (their names in tooltips: every element costs Dash's renderer time as the
    page loads) or words; those in ``marked`` get the class ``mark``."""
    return html.Div(className="neighbors " + ("thumbs" if ds.type == "image" else "words"),
                    children=[item_button(ds, j, cls=mark if j in marked else "", named=False)
                              for j in map(int, indices)])


def duration(seconds: float) -> str:
    """A time left, as the page says it: "40 s", "3 min"."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def clicked():
    """The id of the pattern-matched button that fired the callback, or None (a redraw, not a click)."""
    return ctx.triggered_id if ctx.triggered_id and ctx.triggered and ctx.triggered[0]["value"] else None


def done(message: str, version: int | None):
    """A success message and the panel's next version (so its lists redraw)."""
    return notices([message], "ok"), (version or 0) + 1


def message(e: Exception) -> str:
    """The error's message for the page, the data directory not named (errors.shown)."""
    return shown(e, data_dir())


def failed(e: Exception):
    """The error as the panel's message; the lists stay as they are."""
    return notices([message(e)]), no_update


def refused(e: Exception, version: int | None):
    """An edit that was not made: the reason as the panel's message, and the panel's next version,
    so that its lists redraw what is stored now (another client's rename, a deleted row)."""
    return notices([message(e)]), (version or 0) + 1
