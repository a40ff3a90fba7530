"""The view the map draws, resolved from a :class:`ViewState`: what the browser fetches and how.

One function serves both the page's first frame (inlined in the HTML, so the map
starts downloading before Dash has started) and every later change (the
``update_view`` callback), so the two always name the same buffers.
"""

from __future__ import annotations

import html
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pandas as pd

from . import atlases, registry, tiles
from .compute.colors import category_keys
from .compute.declutter import BASE_SCALE
from .computed import get_cluster_labels, layout_ready
from .deckspec import spec
from .errors import DashboardError
from .mapdata import color_legend, column_codes, column_values, filter_categories, graph_metrics, layout, search_matches, visible
from .store import Dataset, open_dataset
from .viewstate import GRAPH_COLUMNS, MAX_SELECTION_CHARS, ViewState, fields_json, parse


@dataclass
class ResolvedView:
    """The map's view (buffer keys, layer specs, the background job it needs), the legend, and what the page
    should say."""

    view: dict
    state: ViewState  # the state as drawn (columns that could not be served are dropped)
    legend: dict
    search_count: str | None = None
    notices: list[str] = field(default_factory=list)


def resolve_for_page(ds: Dataset, state: ViewState) -> ResolvedView:
    """:func:`resolve` for a page load, which resolves its URL's view twice, in two requests: the boot
    script in the HTML, and Dash's page layout filled in for the same URL a moment later. The second
    reuses the first's answer for a few seconds (per server process), so the two agree and the work is
    done once. Changes after the page has loaded always use :func:`resolve`."""
    key = (str(ds.path), ds.revision, state.to_query())
    now = time.monotonic()
    with _RECENT_LOCK:
        hit = _RECENT.get(key)
        if hit and now - hit[0] < RECENT_SECONDS:
            return hit[1]
    resolved = resolve(ds, state)
    with _RECENT_LOCK:
        _RECENT[key] = (now, resolved)
        while len(_RECENT) > 64:
            _RECENT.popitem(last=False)
    return resolved


#: How long a page load's resolved view is reused (its two requests come within a second or two).
RECENT_SECONDS = 5.0
_RECENT: OrderedDict = OrderedDict()
_RECENT_LOCK = threading.Lock()


def resolve(ds: Dataset, state: ViewState) -> ResolvedView:
    """Check what the state asks against what is computed, and name every buffer the map needs."""
    notices: list[str] = []
    try:
        _, legend = color_legend(ds, state)
    except DashboardError as e:  # graph columns of a large dataset not computed yet
        notices.append(f"Colour by {state.color}: {e}")
        state = replace(state, color="")
        _, legend = color_legend(ds, state)
    if state.size_by in GRAPH_COLUMNS:  # the one way a size column can be missing: graph columns not computed yet
        try:
            graph_metrics(ds, state)
        except DashboardError as e:
            notices.append(f"Size by {state.size_by}: {e}")
            state = replace(state, size_by="")
    if legend["kind"] == "categorical":
        shown = {e["value"] for e in legend["entries"]}
        state = replace(state, hide=[h for h in state.hide if h in shown])

    job = None
    layout_state = drawn_layout(ds, state)
    pending = None
    if layout_state is not state:
        job = {"dataset": ds.name, "space": state.space, "proj": state.proj, "params": state.params}
        pending = f"Computing {registry.get(state.proj).label} of latent space {state.space}; showing PCA meanwhile."

    filtered = state.filtered
    shown, count = ds.n, None
    try:
        if filtered:
            shown = int(visible(ds, state).sum())
        if state.search:
            matches = int(search_matches(ds, state).sum())
            count = f"{matches:,} of {ds.n:,} match" + (
                f"; {shown:,} shown with the filters" if shown != matches else "")
        if legend["kind"] == "categorical":
            legend = _legend_in_view(ds, state, legend)
    except DashboardError as e:  # a bad regular expression
        notices.append(str(e))
    query = state.to_query(selection=False, camera=False)
    stored = ds.arrangements.get(state.proj) if state.proj in ds.arrangements and not state.y else None
    # the clusters of a projection named on the map (words have their own labels; a toggle hides them)
    cluster_labels = (state.labels != "off" and state.mode != "words" and state.proj in registry.PROJECTIONS
                      and not state.y)
    # above the threshold, points and images come as tiles of the pyramid in view (words stay whole)
    tiled = state.mode in ("points", "images") and tiles.use_tiles(ds.n)
    view = {
        "dataset": ds.name, "n": ds.n, "type": ds.type, "mode": state.mode, "cell": state.cell,
        "size": state.size, "color": state.color,
        # images mode: each thumbnail tinted by its colour, so colour by means something there too; not
        # where every item has one value (one category: a tint over every image says nothing)
        "frames": bool(state.color) and state.mode == "images" and not state.plain
        and not (legend["kind"] == "categorical" and len(legend["entries"]) < 2),
        "query": query,
        "state": state.to_json(),
        "layout": urlencode(layout_state.layout_query()),
        "wanted_layout": urlencode(state.layout_query()),
        "colors": _typed(ds, urlencode(state.column_query("color", state.color))),
        "sizes": _typed(ds, urlencode(state.column_query("sizeby", state.size_by))) if state.size_by else None,
        "mask": _typed(ds, query) if filtered else None,  # the server's mask (the lightbox steps through what passes)
        "filter": _browser_filter(ds, state),
        "shown": shown,  # items passing the search and the filters (what "filtered" downloads)
        "searching": bool(state.search),
        "labels": urlencode({"dataset": ds.name}) if state.mode == "words" else None,
        "edges": urlencode(state.graph_query()) if state.graph else None,
        "edgeScope": state.edges,
        "layoutOutline": urlencode({"dataset": ds.name, "proj": state.proj, "build": ds.build_id})
        if stored and stored.get("outline") else None,
        "layoutLabels": urlencode({"dataset": ds.name, "proj": state.proj}) if stored and stored.get("labels")
        else urlencode({**layout_state.layout_query(), "build": ds.revision})
        + (f"&{state.filter_query()}" if filtered else "") if cluster_labels else None,  # names recede with filters
        "clusterLabels": cluster_labels,
        # a VAE space can show what lies anywhere on its map (the probe: Alt-click, or the Probe tool)
        "probe": bool(ds.space(state.space).decoder) and state.proj in registry.PROJECTIONS,
        # the vector overlay depends on the layout, the vector and the radius
        "vector": query if state.vector is not None else None,
        "pending": pending,
        "tiled": tiled,
        # the pyramid's query: an image map's has fewer items a level (tiles.image_base) and an atlas a tile
        "tiles": urlencode({**layout_state.layout_query(), **({"images": "1"} if state.mode == "images" else {})})
        if tiled else None,
        "density": state.density,
        "job": job,
        # grid-like stored layouts: images fill their cells (geographic points are not on a grid)
        # a tiled map draws about a threshold's worth of points at a time: they are sized for that many
        "spec": spec(state.mode, state.size, stored.get("cell") if stored and state.proj != "geographic" else None,
                     min(ds.n, tiles.threshold()) if tiled else ds.n),
    }
    return ResolvedView(view=view, state=state, legend=legend, search_count=count, notices=notices)


def drawn_layout(ds: Dataset, state: ViewState) -> ViewState:
    """The state whose layout the map draws: ``state`` itself, or PCA while its slow projection is computed
    in a background job."""
    background = state.proj in registry.PROJECTIONS and registry.get(state.proj).background
    if background and not layout_ready(ds, state.space, state.proj, **state.params):
        return replace(state, proj="pca", params={})
    return state


def prepare(ds: Dataset, progress: bool = False) -> None:
    """Compute what the first frame of the dataset's default view reads (its colours and legend, its layout
    unless that is a background job, the tile pyramid of a large map and, for images, its levels' atlases,
    its cluster labels), so that the first visit finds them in the cache instead of computing them while the
    user waits. ``progress``: a progress bar for the atlases (minutes at a million images).

    ``add`` and ``build`` call it when they finish, and a server at start (in the background). A problem is
    left for that first visit to compute again and report on the page."""
    try:
        state, _ = parse(ds.path.parent, "", dataset=ds.name)
        resolved = resolve(ds, state)
        shown = drawn_layout(ds, resolved.state)
        found = layout(ds, shown)
        if resolved.view["tiled"] and state.mode == "images":  # its pyramid and the atlases of its levels
            atlases.pack_tiles(ds, shown, progress=progress)
        elif resolved.view["tiled"]:
            tiles.pyramid(ds, shown)
        if resolved.view["clusterLabels"] and found is not None:
            get_cluster_labels(ds, shown.space, found.xy)
    except (DashboardError, OSError):  # a full disk, say: the import itself succeeded, and says so
        pass


#: Above this many items the mask comes whole from the server (one byte per item) instead of being computed
#: in the browser from each filtered column's codes (two or eight bytes per item per column).
BROWSER_FILTER_MAX = 2_000_000


def _typed(ds: Dataset, query: str) -> str:
    """A buffer's query, naming the column types too once a user changed one: the browser keeps buffers by
    their query, and a column's colours, sizes and ranges follow its type (the server ignores the key)."""
    return f"{query}&{urlencode({'types': ds.revision})}" if ds.column_types else query


def _browser_filter(ds: Dataset, state: ViewState) -> dict:
    """What the browser needs to compute the view's mask itself (assets/map-filter.js): where its columns'
    codes come from, which column the legend's hidden entries are of, and the search's matches (the one
    part matched on the server) — or, for a very large dataset, the server's whole mask."""
    if ds.n > BROWSER_FILTER_MAX:
        return {"server": state.to_query(selection=False, camera=False) if state.filtered else None}
    search = urlencode({"dataset": ds.name, "build": ds.revision, "q": state.search, "field": state.search_field,
                        **({"regex": "1"} if state.regex else {})}) if state.search else None
    hideable = state.color in ds.schema and ds.schema[state.color] == "categorical"
    return {"codes": urlencode({"dataset": ds.name, "build": ds.revision}), "search": search,
            "hideColumn": state.color if hideable else None,
            # fetched once the map is drawn, so that a first click on a filter has its column at hand
            "warm": list(filter_categories(ds))}


def _legend_in_view(ds: Dataset, state: ViewState, legend: dict) -> dict:
    """Each legend entry's count among the items the search and filters keep (hidden entries count as
    shown: the count says what showing them again brings back)."""
    if not (state.filters or state.ranges or state.search):
        return legend
    keep = visible(ds, replace(state, hide=[]))
    if ds.schema.get(state.color) == "categorical":  # counted by the legend's codes, kept per process
        head, codes = column_codes(ds, state.color, legend=True)
        kept = dict(zip(head["values"], np.bincount(codes[keep], minlength=len(head["values"]))))
    else:
        values, _ = column_values(ds, state, state.color)
        kept = pd.Series(category_keys(values, legend["entries"])[keep]).value_counts()
    entries = [{**e, "in_view": int(kept.get(e["value"], 0))} for e in legend["entries"]]
    return {**legend, "entries": entries}


def browser_config() -> dict:
    """Numbers and tables the browser must agree on with the server, sent in the page instead of retyped."""
    from .layouts import viewer as ids

    return {"baseScale": BASE_SCALE, "maxSelectionChars": MAX_SELECTION_CHARS, "fields": fields_json(),
            "projections": {p.name: list(p.params) for p in registry.PROJECTIONS.values()},
            # the page's elements and stores the map reads or sets
            "ids": {"map": ids.MAP, "mapSlot": ids.MAP_SLOT, "status": ids.MAP_STATUS, "tooltip": ids.MAP_TOOLTIP, "clicked": ids.CLICKED,
                    "selection": ids.SELECTION, "downloadNetwork": ids.DOWNLOAD_NETWORK,
                    "clearSelection": ids.CLEAR_SELECTION, "histBrush": ids.HIST_BRUSH}}


def boot_script(data_dir: Path, query: str, default_dataset: str | None) -> str:
    """The ``<script id="map-boot">`` of the map page for a URL query: the view it draws first.

    Without a view when there is nothing to draw yet (no dataset; the page says why through Dash).
    """
    boot: dict = {"config": browser_config()}
    try:
        state, _ = parse(data_dir, query, default_dataset=default_dataset)
        if state is not None:
            resolved = resolve_for_page(open_dataset(data_dir, state.dataset), state)
            boot.update(view=resolved.view, selection=state.selection, camera=list(state.camera) if state.camera else None)
    except DashboardError:  # the Dash callbacks show the notice; the map then waits for them
        pass
    # "</" could close the script element early: JSON allows it escaped.
    text = json.dumps(boot, separators=(",", ":")).replace("</", "<\\/")
    # The browser starts downloading the first frame's buffers with the page itself, before any
    # script has run; map-transport.js's fetches of the same URLs take these responses.
    view = boot.get("view")
    urls = [f"/api/positions.bin?{view['layout']}", f"/api/colors.bin?{view['colors']}"] if view else []
    if view and view["tiled"]:  # a tiled map fetches its pyramid, never the whole buffers
        urls = [f"/api/tiles.json?{view['tiles']}"]
    elif view and view["filter"].get("search"):
        urls.append(f"/api/mask.bin?{view['filter']['search']}")
    links = "".join(f'<link rel="preload" as="fetch" crossorigin href="{html.escape(u)}">' for u in urls)
    return f'{links}<script id="map-boot" type="application/json">{text}</script>'
