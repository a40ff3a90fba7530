"""The one place a Dash app is made: ``create_app`` wires store, routes and callbacks."""

from __future__ import annotations

from pathlib import Path

import dash
from flask import abort, send_file

from .errors import DashboardError
from .store import default_data_dir, list_datasets, open_dataset


def assets_folder() -> str:
    """Top-level ``assets/`` in a checkout; ``dashboard/assets`` inside a wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "assets", here / "assets"):
        if candidate.is_dir():
            return str(candidate)
    return str(here.parent / "assets")


def create_app(data_dir: Path | str | None = None, dataset: str | None = None) -> dash.Dash:
    """Build the app for a data directory; ``dataset`` is the one shown first."""
    data_dir = Path(data_dir or default_data_dir())
    app = dash.Dash(
        __name__,
        title="Latent space dashboard",
        assets_folder=assets_folder(),
        suppress_callback_exceptions=True,
    )
    app.server.config["DATA_DIR"] = data_dir

    # Importing registers the callbacks (dash.callback is global).
    from .callbacks import summary as _summary_callbacks  # noqa: F401
    from .layouts.summary import page

    def layout():
        # A function, so datasets built while the server runs appear on reload.
        names = [d.name for d in list_datasets(data_dir)]
        selected = dataset if dataset in names else (names[0] if names else None)
        return page(names, selected)

    app.layout = layout
    _add_routes(app.server, data_dir)
    return app


def _add_routes(server, data_dir: Path) -> None:
    @server.route("/healthz")
    def healthz():
        return {"status": "ok", "datasets": len(list_datasets(data_dir))}

    @server.route("/files/<name>/<path:relative>")
    def dataset_file(name: str, relative: str):
        # Only files inside a dataset's folder; anything else (../, absolute
        # paths, unknown datasets) is a 404 that reveals nothing.
        try:
            path = open_dataset(data_dir, name).file(relative)
        except DashboardError:
            abort(404)
        if not path.is_file():
            abort(404)
        return send_file(path, max_age=3600)
