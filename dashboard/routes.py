"""Flask routes beside the Dash page: health, dataset files, binary map data, export.

Bulk data travels as raw little-endian arrays (gzip when the browser takes
it): 8 bytes per point for positions, 4 for colours, 1 for a filter mask.
Every route reads the same query string as the page URL (see viewstate).
The buffers carry an ETag made of the dataset's build, the URL and the
server's code, so a browser revalidating one it has (a page reload, a colour
chosen again) gets a 304 without the server computing anything.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
from flask import Response, abort, request, send_file
from PIL import Image

from . import atlases, computed, deckjs, mapdata, registry, tiles, vectorview
from .compute import atlas as atlas_mod
from .errors import DashboardError, shown
from .export import neutralize_formulas
from .network import network_bytes
from .store import list_datasets, open_dataset
from .viewstate import CELLS, parse, refusal


#: The folders of a dataset that ``/files/<dataset>/...`` serves: what the page shows (its images).
SERVED_FOLDERS = ("images", "thumbs")
#: Sides (pixels) of the sharp images the map swaps in at deep zoom (/api/sharp).
SHARP_SIDES = ("128", "256", "512")


@lru_cache(maxsize=1)
def _code_token() -> str:
    """Changes whenever the package's source does (an upgrade may draw the same data differently):
    part of every ETag. The same in every worker of a server, since they run the same files."""
    files = sorted(Path(__file__).resolve().parent.rglob("*.py"))
    return hashlib.blake2b("\n".join(f"{f}:{f.stat().st_mtime_ns}:{f.stat().st_size}" for f in files).encode(),
                           digest_size=8).hexdigest()


def _etag(ds, state) -> str | None:
    """The validator of a buffer computed only from the dataset's build and the URL; None for one that also
    reads saved vectors and groups, which change without a rebuild."""
    if state.vector is not None or state.proj == mapdata.VECTOR_VIEW:
        return None
    parts = (_code_token(), str(ds.path), ds.revision, request.path, request.query_string.decode("latin-1"),
             "gzip" if _accepts_gzip() else "identity")  # the two encodings are two representations
    return hashlib.blake2b("\0".join(parts).encode(), digest_size=16).hexdigest()


def _accepts_gzip() -> bool:
    return "gzip" in (request.headers.get("Accept-Encoding") or "")


def _bytes(body: bytes, mimetype: str, *, max_age: int = 0, compress: bool = True) -> Response:
    if compress and len(body) > 1024 and _accepts_gzip():
        body = gzip.compress(body, compresslevel=1)
        resp = Response(body, mimetype=mimetype)
        resp.headers["Content-Encoding"] = "gzip"
    else:
        resp = Response(body, mimetype=mimetype)
    resp.headers["Cache-Control"] = f"private, max-age={max_age}" if max_age else "no-cache"
    resp.headers["Vary"] = "Accept-Encoding"
    return resp


def _array(a: np.ndarray, compress: bool = True) -> Response:
    return _bytes(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"), copy=False).tobytes(),
                  "application/octet-stream", compress=compress)


def _error(message: str, status: int = 400) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain")


def add_routes(server, data_dir: Path, default_dataset: str | None) -> None:
    """Register the routes on the Flask server of the app."""

    def view(dataset: str | None = None):
        if dataset is not None and dataset not in {d.name for d in list_datasets(data_dir)}:
            abort(404)
        state, notices = parse(data_dir, request.values.to_dict(flat=False), default_dataset=default_dataset,
                               dataset=dataset)
        if state is None:
            abort(404)
        asked = request.values.get("dataset")
        if dataset is None and asked and asked != state.dataset:  # the page falls back to the default; data never
            abort(_error(f"no dataset {asked!r} in this data directory", 404))
        if notices:  # a value the page would replace (proj=bogus): data for another view than asked, never
            abort(_error(refusal(notices[0]) + (f" (and {len(notices) - 1} more)" if len(notices) > 1 else "")))
        return open_dataset(data_dir, state.dataset), state

    def buffer_route(rule: str):
        """Register ``fn(ds, state) -> Response`` for a GET of data that the build and the URL determine:
        answered 304 without computing when the browser's copy (If-None-Match) is current."""
        def register(fn):
            @functools.wraps(fn)
            def handler():
                ds, state = view()
                tag = _etag(ds, state)
                if tag is not None and request.if_none_match.contains(tag):
                    resp = Response(status=304)
                    resp.set_etag(tag)
                    resp.headers["Cache-Control"] = "no-cache"
                    resp.headers["Vary"] = "Accept-Encoding"
                    return resp
                resp = fn(ds, state)
                if tag is not None and resp.status_code == 200:
                    resp.set_etag(tag)
                return resp
            return server.route(rule)(handler)
        return register

    @server.errorhandler(DashboardError)
    def dashboard_error(e: DashboardError):
        status = 409 if isinstance(e, mapdata.LayoutPending) else 400
        return _error(shown(e, data_dir), status)

    @server.route("/healthz")
    def healthz():
        return {"status": "ok", "datasets": len(list_datasets(data_dir))}

    @server.route("/files/<name>/<path:relative>")
    def dataset_file(name: str, relative: str):
        # Only a dataset's images and thumbnails; anything else (its manifest and report, which name the
        # server's own folders, ../, absolute paths, a NUL byte, unknown datasets) is a 404 that reveals nothing.
        try:
            ds = open_dataset(data_dir, name)
            path = ds.file(relative)
            inside = path.relative_to(ds.path.resolve()).parts
        except (DashboardError, ValueError, OSError):  # ValueError: a NUL byte in the path
            abort(404)
        if len(inside) < 2 or inside[0] not in SERVED_FOLDERS or not path.is_file():
            abort(404)
        return send_file(path, max_age=3600)

    if not deckjs.cache_path().exists():
        deckjs.fetch_in_background()  # deck.gl's own build, once per machine: see deckjs

    @server.route("/deck.js")
    def deck_bundle():
        raw, packed, _ = deckjs.bundle()
        resp = Response(packed if _accepts_gzip() else raw, mimetype="text/javascript")
        if _accepts_gzip():
            resp.headers["Content-Encoding"] = "gzip"
        resp.headers["Cache-Control"] = "public, max-age=86400"
        resp.headers["Vary"] = "Accept-Encoding"
        return resp

    @buffer_route("/api/positions.bin")
    def positions(ds, state):
        xy = mapdata.positions(ds, state)
        # float coordinates barely compress (a few percent) and gzip would cost ~0.1 s per million points
        return _array(xy.astype(np.float32), compress=False)

    @buffer_route("/api/colors.bin")
    def colors(ds, state):
        rgba, _ = mapdata.color_legend(ds, state)
        return _array(rgba)

    @buffer_route("/api/sizes.bin")
    def sizes(ds, state):
        if not state.size_by:
            return _error("sizeby must name a numeric or graph column, e.g. sizeby=graph:degree")
        return _array(mapdata.sizes(ds, state))

    @buffer_route("/api/mask.bin")
    def mask(ds, state):
        return _array(mapdata.mask(ds, state))

    @buffer_route("/api/codes.bin")
    def codes(ds, state):
        """A column for filtering in the browser (mapdata.column_codes): a uint32 length, that many bytes
        of JSON, padding to 8 bytes, then one code (uint16 or uint32) or float64 per item."""
        head, values = mapdata.column_codes(ds, request.args.get("column", ""), legend=request.args.get("legend") == "1")
        text = json.dumps({**head, "dtype": values.dtype.str.lstrip("<|=")}).encode("utf-8")
        text += b" " * (-(4 + len(text)) % 8)
        return _bytes(len(text).to_bytes(4, "little") + text + values.astype(values.dtype.newbyteorder("<")).tobytes(),
                      "application/octet-stream")

    @buffer_route("/api/edges.bin")
    def edges(ds, state):
        """m edges as m × 2 uint32 (source, target), then m uint8 opacities: 9 bytes per edge."""
        if not state.graph:
            return _error("graph must name a number of neighbours, e.g. graph=10")
        pairs, alpha = mapdata.edges(ds, state)
        return _bytes(pairs.astype("<u4").tobytes() + alpha.tobytes(), "application/octet-stream")

    @buffer_route("/api/levels.bin")
    def levels(ds, state):
        return _array(mapdata.label_levels(ds, state))

    @server.route("/api/labels.txt")
    def labels():
        ds, _ = view()
        return _bytes("\n".join(mapdata.labels(ds)).encode("utf-8"), "text/plain; charset=utf-8", max_age=600)

    @server.route("/api/atlas.json")
    def atlas_info():
        ds, state = view()
        return atlases.atlas_info(ds, state.cell)

    @server.route("/api/atlas/<name>/<int:cell>/<int:k>.png")
    def atlas_texture(name: str, cell: int, k: int):
        try:
            ds = open_dataset(data_dir, name)
        except DashboardError:
            abort(404)
        if cell not in CELLS:
            abort(404)
        resp = Response(atlases.atlas_texture(ds, cell, k), mimetype="image/png")
        resp.headers["Cache-Control"] = "private, max-age=3600"
        return resp

    @server.route("/api/sharp/<name>/<int:i>.png")
    def sharp_image(name: str, i: int):
        """Item ``i``'s web image fitted into a transparent square of ``px`` pixels (128, 256 or 512), centred
        as in its atlas cell: the map draws it over the cell when zoomed in past the cell's resolution."""
        try:
            ds = open_dataset(data_dir, name)
        except DashboardError:
            abort(404)
        px = request.args.get("px", "256")
        if px not in SHARP_SIDES or not 0 <= i < ds.n or ds.type != "image":
            abort(404)
        try:
            with Image.open(ds.image_path(i)) as im:
                out = atlas_mod.square(im, int(px))
        except (OSError, ValueError):  # an unreadable image: the atlas cell stays
            abort(404)
        buf = io.BytesIO()
        out.save(buf, format="PNG", compress_level=3)
        resp = Response(buf.getvalue(), mimetype="image/png")
        resp.headers["Cache-Control"] = "private, max-age=3600"
        return resp

    @server.route("/api/layout_labels.json")
    def layout_labels():
        """Text labels drawn on the layout: a stored PixPlot layout's (category boxes, years), [[text, x, y], …];
        else the names of the projection's clusters, [[text, x, y, zoom level], …] (computed.get_cluster_labels),
        each with the share of its cluster that passes the filters and the search when the query has them."""
        ds, state = view()
        if state.proj in ds.arrangements:
            return Response(json.dumps(ds.arrangement(state.proj)[1]), mimetype="application/json")
        if state.proj not in registry.PROJECTIONS:
            return _error(f"proj must name a projection or one of the dataset's stored layouts "
                          f"({', '.join([*registry.PROJECTIONS, *ds.arrangements])})")
        found = mapdata.layout(ds, state)
        labels = [] if found is None else computed.get_cluster_labels(ds, state.space, found.xy)
        if labels and state.filtered:
            # each name with the share of its cluster the filters leave, by which it recedes
            shares = computed.get_cluster_label_shares(ds, state.space, found.xy, mapdata.visible(ds, state))
            labels = [[*label, share] for label, share in zip(labels, shares)]
        return _bytes(json.dumps(labels).encode(), "application/json", max_age=3600)

    @server.route("/api/probe.png")
    def probe():
        """What the latent space holds at map position ``at=x,y``: the point turned back into a latent
        point (compute/probe.py) and decoded by the space's VAE decoder. 404 when it has none. (Not ``x``
        and ``y``: ``y`` is the view's Y axis column, part of the layout the point is on.)"""
        from .compute import probe as probe_mod

        ds, state = view()
        space = ds.space(state.space)
        if not space.decoder:
            return _error(f"latent space {space.id} of {ds.name} has no decoder (only VAE spaces can show "
                          "what lies between items)", 404)
        try:
            x, y = map(float, request.args["at"].split(","))
        except (KeyError, ValueError):
            return _error("at must be x,y: two numbers (a position on the map)")
        found = mapdata.layout(ds, state)
        if found is None:
            return _error(f"{state.proj} of latent space {state.space} is not computed yet", 409)
        z, near = probe_mod.invert(found.xy, ds.latent(space.id), (x, y))
        resp = Response(vectorview.decoded_pngs(ds, space.id, z[None, :])[0], mimetype="image/png")
        resp.headers["X-Probe-Method"] = probe_mod.METHOD.format(k=len(near))
        return resp

    @server.route("/api/layout_outline.json")
    def layout_outline():
        """Shapes drawn under a stored layout (the world's coastlines under the geographic one): [[[x, y], …], …]."""
        ds, state = view()
        if state.proj not in ds.arrangements:
            return _error(f"proj must name one of the dataset's stored layouts ({', '.join(ds.arrangements) or 'none'})")
        return _bytes(json.dumps(ds.arrangement_outline(state.proj)).encode(), "application/json", max_age=3600)

    @server.route("/api/vector.json")
    def vector_overlay():
        """The shown vector's group hulls and path (positions in the view's layout, support, decoded images)."""
        ds, state = view()
        if state.vector is None:
            return _error("vector must name a saved vector, e.g. vector=1")
        return Response(json.dumps(vectorview.vector_overlay(ds, state)), mimetype="application/json")

    @server.route("/api/item")
    def item():
        """One item's fields, for the hover tooltip."""
        ds, _ = view()
        try:
            i = int(request.args.get("i", ""))
        except ValueError:
            return _error("i must be an integer")
        if not 0 <= i < ds.n:
            return _error(f"i must be between 0 and {ds.n - 1}")
        row = ds.meta.iloc[i]
        fields = {c: (None if _missing(row[c]) else str(row[c])) for c in ds.meta.columns}
        return Response(json.dumps(fields), mimetype="application/json")

    @server.route("/export/<name>.csv", methods=["GET", "POST"])
    def export(name: str):
        """The page's view as CSV: ``rows=selection|filtered|all`` (default: selection if any, else filtered)."""
        ds, state = view(name)
        rows = request.values.get("rows") or ("selection" if state.selection else "filtered")
        table = mapdata.export_table(ds, state, rows)
        buf = io.StringIO()
        neutralize_formulas(table).to_csv(buf, index=False)
        filename = f"{ds.name}-{state.space}-{state.proj}-{rows}.csv"
        resp = Response(buf.getvalue().encode("utf-8"), mimetype="text/csv; charset=utf-8")
        resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return resp

    @server.route("/export/<name>/vectors.csv")
    def export_vector_scores(name: str):
        """Every saved vector's scores in every latent space of a dataset (the compare grid) as CSV."""
        ds, _ = view(name)
        buf = io.StringIO()
        neutralize_formulas(vectorview.vector_score_table(ds)).to_csv(buf, index=False)
        resp = Response(buf.getvalue().encode("utf-8"), mimetype="text/csv; charset=utf-8")
        resp.headers["Content-Disposition"] = f'attachment; filename="{ds.name}-vector-scores.csv"'
        return resp

    @server.route("/export/<name>/network", methods=["GET", "POST"])
    def export_network(name: str):
        """The map's neighbour network for Gephi: ``format=gexf|graphml|csv`` (CSV: a zip of edges and nodes),
        ``rows=selection|filtered|all`` (default: selection if any, else filtered)."""
        ds, state = view(name)
        rows = request.values.get("rows") or ("selection" if state.selection else "filtered")
        net = mapdata.network(ds, state, rows)
        stem = f"{ds.name}-{state.space}-{state.graph_k}nn-{rows}"
        body, mimetype, filename = network_bytes(net, request.values.get("format") or "gexf", stem)
        resp = Response(body, mimetype=mimetype)
        resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return resp

    _add_tile_routes(server, view)


def _add_tile_routes(server, view) -> None:
    """Levels of detail (dashboard.tiles): a large map's pyramid, its tiles, their colour slices,
    lasso membership over all items, and the density overview. Every route reads the view's query."""
    # a lasso's selection of a million items is POSTed to /export as ranges: megabytes of form
    server.config["MAX_FORM_MEMORY_SIZE"] = max(server.config.get("MAX_FORM_MEMORY_SIZE") or 0, 64 * 2**20)
    tile_path = "/api/tile/<int:z>/<int(signed=True):x>/<int(signed=True):y>"

    def pyramid():
        """The view and its pyramid: an image map's (``images=1``: fewer items a level) or a point map's."""
        ds, state = view()
        return ds, state, tiles.pyramid(ds, state, images=request.args.get("images") == "1")

    @server.route("/api/tiles.json")
    def tiles_json():
        """The pyramid: levels, the items' bounds, items per tile of each level."""
        ds, state = view()
        return Response(json.dumps(tiles.metadata_of(ds, state, images=request.args.get("images") == "1")),
                        mimetype="application/json")

    @server.route(tile_path + ".bin")
    def tile_bin(z: int, x: int, y: int):
        """m uint32 global indices, then m × 2 uint16 positions within the tile (see tiles.tile_bytes)."""
        _, _, p = pyramid()
        # not gzipped: indices and positions within the tile shrink by ~8 % for the CPU time of both ends,
        # which a 1 % zoom at 10M points waits on (~1 s of tiles on two cores); colour slices shrink 10-30×
        return _bytes(tiles.tile_bytes(p, z, x, y), "application/octet-stream", compress=False)

    @server.route(tile_path + "/colors.bin")
    def tile_colors(z: int, x: int, y: int):
        """RGBA of the tile's items, in the tile's order (the colour buffer's slice)."""
        ds, state, p = pyramid()
        rgba, _ = mapdata.color_legend(ds, state)
        return _array(rgba[tiles.tile_indices(p, z, x, y)])

    @server.route(tile_path + "/atlas.png")
    def tile_atlas(z: int, x: int, y: int):
        """The thumbnails of an image map's tile, cell k for its k-th item; the cell (px) in X-Cell, how many
        items have one in X-Count (see atlases.tile_atlas)."""
        ds, state = view()
        if ds.type != "image":
            return _error(f"dataset {ds.name!r} has no images", 404)
        png, cell, count = atlases.tile_atlas(ds, state, z, x, y)
        resp = Response(png, mimetype="image/png")
        resp.headers["X-Cell"], resp.headers["X-Count"] = str(cell), str(count)
        resp.headers["Cache-Control"] = "no-cache"  # a rebuilt dataset's tile has the same URL
        return resp

    @server.route("/api/lasso.bin", methods=["GET", "POST"])
    def lasso():
        """uint32 indices of every item inside ``polygon`` (JSON [[x, y], …], world units) passing the filters."""
        ds, state = view()
        return _array(tiles.select_polygon(ds, state, tiles.parse_polygon(request.values.get("polygon"))))

    @server.route("/api/points.bin", methods=["GET", "POST"])
    def points():
        """float32 x, y of the selected items (``sel``), in the selection's order: where to fly to on a tiled map."""
        ds, state = view()
        return _array(mapdata.positions(ds, state)[np.asarray(state.selection, np.int64)], compress=False)

    @server.route("/api/density.png")
    def density():
        """The layout's density as a PNG; its world bounds (x0,y0,x1,y1) in the X-Bounds header."""
        from PIL import Image

        ds, state = view()
        rgba, bounds = tiles.density_raster(mapdata.positions(ds, state))
        buf = io.BytesIO()
        Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
        resp = Response(buf.getvalue(), mimetype="image/png")
        resp.headers["X-Bounds"] = ",".join(f"{v:.6g}" for v in bounds)
        resp.headers["Cache-Control"] = "no-cache"
        return resp


def _missing(v) -> bool:
    try:
        return bool(v != v) or v is None
    except (TypeError, ValueError):
        return False
