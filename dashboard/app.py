"""The one place a Dash app is made: ``create_app`` wires store, routes, pages and callbacks."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlencode

import dash
import flask

from .errors import DashboardError, shown
from .groupsdb import check_groups_database
from .routes import add_routes
from .store import default_data_dir, list_datasets


def assets_folder() -> str:
    """Top-level ``assets/`` in a checkout; ``dashboard/assets`` inside a wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "assets", here / "assets"):
        if candidate.is_dir():
            return str(candidate)
    return str(here.parent / "assets")


class _MapApp(dash.Dash):
    """Dash, with the map's first view inlined in the page (see :func:`mapview.boot_script`)."""

    def interpolate_index(self, **kwargs) -> str:
        page = super().interpolate_index(**kwargs).replace("<html>", '<html lang="en">', 1)
        if flask.request.path != "/":
            return page
        from .mapview import boot_script

        config = self.server.config
        boot = boot_script(config["DATA_DIR"], flask.request.query_string.decode("utf-8", "replace"),
                           config["DEFAULT_DATASET"])
        page = page.replace("</head>", boot + "</head>", 1)
        # deck.gl and the map's modules run first, at the top of the body, so that the map draws while
        # Dash's own scripts still load and run (map.js draws into a stage until Dash renders the page).
        first = "".join(_MAP_SCRIPTS.findall(page))
        return _BODY.sub(lambda m: m.group(0) + first, _MAP_SCRIPTS.sub("", page), count=1)


_MAP_SCRIPTS = re.compile(r'<script src="/(?:deck\.js|assets/map[\w.-]*\.js(?:\?[^"]*)?)"></script>\n?')
_BODY = re.compile(r"<body[^>]*>")


def create_app(data_dir: Path | str | None = None, dataset: str | None = None) -> dash.Dash:
    """Build the app for a data directory; ``dataset`` is the one shown when a URL names none."""
    data_dir = Path(data_dir or default_data_dir())
    # Slow projections run as supervised job processes (dashboard.jobs), which have
    # no Flask app: they find the data directory here.
    os.environ["DASHBOARD_DATA_DIR"] = str(data_dir)
    check_groups_database(data_dir)
    app = _MapApp(
        __name__,
        title="Latent space dashboard",
        assets_folder=assets_folder(),
        use_pages=True,
        pages_folder="",
        suppress_callback_exceptions=True,
        # deck.gl from the pydeck wheel, served by our own route (no CDN).
        external_scripts=[{"src": "/deck.js"}],
    )
    app.server.config["DATA_DIR"] = data_dir
    app.server.config["DEFAULT_DATASET"] = dataset

    # Importing registers the callbacks (dash.callback is global).
    from .callbacks import summary as _summary_callbacks  # noqa: F401
    from .callbacks import viewer as _viewer_callbacks  # noqa: F401
    from .callbacks import vectors as _vector_callbacks  # noqa: F401
    from .callbacks import hotspots as _hotspot_callbacks  # noqa: F401
    from .callbacks import lightbox as _lightbox_callbacks  # noqa: F401
    from .callbacks import table as _table_callbacks  # noqa: F401
    from .callbacks import analysis as _analysis_callbacks  # noqa: F401
    from .callbacks import jobs as _jobs_callbacks  # noqa: F401
    from .layouts import summary as summary_layout
    from .layouts import vectors as vectors_layout
    from .layouts import viewer as viewer_layout

    default = dataset

    def names() -> list[str]:
        # Read per request, so datasets built while the server runs appear on reload.
        return [d.name for d in list_datasets(data_dir)]

    def viewer_page(**query):
        # Dash passes the page URL's query (repeated keys as lists): the page comes filled in for it.
        return viewer_layout.page(names(), _viewer_callbacks.initial_props(urlencode(query, doseq=True)))

    def summary_page(dataset: str | None = None, embed: str | None = None, **_query):
        known = names()
        fallback = default if default in known else (known[0] if known else None)
        return summary_layout.page(known, dataset if dataset in known else fallback, embedded=embed == "1")

    def compare_page(dataset: str | None = None, **_query):
        from .vectorview import vector_score_table
        from .store import open_dataset

        known = names()
        name = dataset if dataset in known else (default if default in known else (known[0] if known else None))
        if name is None:
            return vectors_layout.compare_page(None, None, "There are no datasets yet.")
        try:
            return vectors_layout.compare_page(name, vector_score_table(open_dataset(data_dir, name)))
        except DashboardError as e:
            return vectors_layout.compare_page(name, None, shown(e, data_dir))

    dash.register_page("viewer", path="/", layout=viewer_page, title="Latent space dashboard")
    dash.register_page("summary", path="/summary", layout=summary_page, title="Dataset summary")
    dash.register_page("compare", path="/compare", layout=compare_page, title="Compare vectors")
    app.layout = dash.html.Div([dash.page_container])
    add_routes(app.server, data_dir, dataset)
    return app
