"""A message that names the data directory (a broken manifest) reaches users without the server's paths:
routes (their error handler) and callbacks show it through the one helper errors.shown."""

from __future__ import annotations

from dash import html

from dashboard.app import create_app
from dashboard.callbacks.summary import show_summary
from dashboard.errors import DashboardError, shown


def test_shown_writes_the_data_directory_as_data(tmp_path):
    message = shown(DashboardError(f"{tmp_path.resolve()}/x/manifest.json: not valid JSON"), tmp_path)
    assert message == "<data>/x/manifest.json: not valid JSON"


def _text(component) -> str:
    if isinstance(component, str):
        return component
    children = getattr(component, "children", None)
    children = children if isinstance(children, list) else [children] if children is not None else []
    return " ".join(_text(c) for c in children)


def test_a_broken_manifest_is_named_without_the_data_directory(make_dataset, tmp_path):
    ds = make_dataset(n=50)
    (ds.path / "manifest.json").write_text("{broken")
    data_dir = str((tmp_path / "data").resolve())
    app = create_app(tmp_path / "data")
    with app.server.test_request_context():  # the About panel's callback, as Dash calls it
        out = show_summary(ds.name)  # @callback returns the function itself
    assert isinstance(out, html.P) and "not valid JSON" in _text(out) and data_dir not in _text(out), _text(out)
    assert "<data>" in _text(out)
