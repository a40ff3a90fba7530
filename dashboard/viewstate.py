"""The view a page URL describes: one table of fields, one codec, one check against the dataset.

``FIELDS`` lists every part of a view: its URL key, type, default, bounds or
choices, and which of the map's buffers a change of it redraws. The codec
(:func:`decode`, :meth:`ViewState.to_query`) reads and writes URLs only through
that table, and the same table, served to the browser as JSON (:func:`fields_json`),
drives ``assets/map-codec.js``: no name or default is typed twice. :func:`parse`
then checks the decoded values against a dataset (its latent spaces, columns,
saved vectors). One parser serves the page, the binary data routes and
``/export``, so a copied URL, a fetched buffer and a downloaded CSV always agree.
Nothing in a URL can crash the page: every unknown or malformed value becomes a
notice and a sensible default.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import parse_qs, urlencode

from . import registry
from .computed import projection_params
from .errors import DashboardError
from .groups import GroupStore
from .store import Dataset, list_datasets, open_dataset

MODES = ("points", "images", "words")
CELLS = (16, 32, 64, 128)
SIZE_RANGE = (0.2, 8.0)
MAX_GRAPH_K = 30
#: Neighbours of the graph behind the graph columns while no graph is drawn.
DEFAULT_GRAPH_K = 10
#: Which edges the overlay draws: all, those of the selection, those of the clicked item.
EDGE_SCOPES = ("all", "selection", "item")
#: The layout that puts a saved attribute vector on x (LSC's vector view).
VECTOR_VIEW = "vector"
#: Columns computed from the kNN graph of the shown latent space (Louvain
#: communities, centralities), offered beside the metadata columns.
GRAPH_COLUMNS = {"graph:community": "categorical", "graph:degree": "numeric", "graph:eigenvector": "numeric"}
#: Columns of the analyses (dashboard.compute.quality), offered beside the metadata columns: each
#: item's layout trust, and the share of its neighbours kept from another latent space ("kept:<space>").
TRUST_COLUMN = "layout:trust"
KEPT_PREFIX = "kept:"
#: Selections longer than this (encoded) are left out of the URL; the page says so.
MAX_SELECTION_CHARS = 6000
#: What a change of a field redraws in the browser.
REDRAWS = ("dataset", "layout", "colors", "mask", "sizes", "edges", "overlay", "style", "selection", "camera", "page")
#: A side panel: as the window's width says (open when wide, closed when narrow), or as the user chose.
PANEL_STATES = ("", "open", "closed")


@dataclass(frozen=True)
class Field:
    """One part of a view: how the URL spells it and what changing it redraws.

    ``kind`` is the value's type in the URL codec: ``str``, ``int``, ``float``,
    ``bool`` (``1`` when on), ``list`` (the key repeated), ``params`` (the
    projection's parameters, each under its own name), ``filters``
    (``f.<column>`` repeated), ``ranges`` (``r.<column>=low,high``),
    ``selection`` (``0-4.9``), ``camera`` (``x,y,zoom``). ``always``: written
    even at its default, because the default depends on the dataset.
    """

    name: str
    key: str
    kind: str
    default: Any
    redraws: str
    choices: tuple | None = None
    bounds: tuple[float, float] | None = None
    optional: bool = False  # None means "not set"
    always: bool = False
    aliases: tuple[str, ...] = ()  # older URL keys still read

    def to_json(self) -> dict:
        return {"name": self.name, "key": self.key, "kind": self.kind, "default": self.default,
                "redraws": self.redraws, "optional": self.optional, "always": self.always,
                "aliases": list(self.aliases), "choices": list(self.choices) if self.choices else None,
                "bounds": list(self.bounds) if self.bounds else None}


FIELDS: tuple[Field, ...] = (
    Field("dataset", "dataset", "str", "", "dataset", always=True),
    Field("space", "space", "str", "", "layout", always=True, aliases=("dim",)),
    Field("proj", "proj", "str", "umap", "layout", always=True),
    Field("params", "", "params", {}, "layout"),  # only non-default projection parameters
    Field("color", "color", "str", "", "colors", always=True),
    Field("y", "y", "str", "", "layout"),
    Field("mode", "mode", "str", "points", "style", choices=MODES, always=True),
    Field("search", "q", "str", "", "mask"),
    Field("search_field", "field", "str", "name", "mask"),
    Field("hide", "hide", "list", [], "mask"),  # legend entries switched off
    Field("size", "size", "float", 1.0, "style", bounds=SIZE_RANGE),
    Field("cell", "cell", "int", 32, "style", choices=CELLS, always=True),
    Field("graph", "graph", "int", 0, "edges", bounds=(0, MAX_GRAPH_K)),  # neighbours drawn as edges (0: none)
    Field("mutual", "mutual", "bool", False, "edges"),  # only edges whose reverse is also a kNN edge
    Field("edges", "edges", "str", "all", "edges", choices=EDGE_SCOPES),
    Field("size_by", "sizeby", "str", "", "sizes"),  # a numeric or graph column scaling each item
    Field("vector", "vector", "int", None, "overlay", optional=True),  # the saved attribute vector shown
    Field("radius", "radius", "float", None, "overlay", bounds=(1e-12, 1e12), optional=True),  # path radius
    Field("regex", "regex", "bool", False, "mask"),
    Field("density", "density", "bool", False, "style"),  # the density overview under the points
    Field("filters", "f.", "filters", {}, "mask"),
    Field("ranges", "r.", "ranges", {}, "mask"),
    Field("selection", "sel", "selection", [], "selection"),
    Field("camera", "cam", "camera", None, "camera", optional=True),
    Field("plain", "plain", "bool", False, "style"),  # images without their colour tint
    Field("labels", "labels", "str", "", "overlay", choices=("", "off")),  # the clusters' names on the map
    Field("left", "left", "str", "", "page", choices=PANEL_STATES),  # the left panel folded away or not
    Field("right", "right", "str", "", "page", choices=PANEL_STATES),
    Field("table", "table", "bool", False, "page"),  # the table of what is shown, under the map
)
FIELD = {f.name: f for f in FIELDS}


def fields_json() -> list[dict]:
    """The table as the browser reads it (``assets/map-codec.js``)."""
    return [f.to_json() for f in FIELDS]


def _num(v: float) -> str:
    return f"{float(v):.6g}"


def _default(f: Field) -> Any:
    return type(f.default)(f.default) if isinstance(f.default, (list, dict)) else f.default


@dataclass(frozen=True)
class ViewState:
    """Everything a view shows (the fields of ``FIELDS``, in order); ``to_query`` and ``parse`` round-trip it."""

    dataset: str
    space: str
    proj: str = FIELD["proj"].default
    params: dict = field(default_factory=dict)
    color: str = FIELD["color"].default
    y: str = FIELD["y"].default
    mode: str = FIELD["mode"].default
    search: str = FIELD["search"].default
    search_field: str = FIELD["search_field"].default
    hide: list[str] = field(default_factory=list)
    size: float = FIELD["size"].default
    cell: int = FIELD["cell"].default
    graph: int = FIELD["graph"].default
    mutual: bool = FIELD["mutual"].default
    edges: str = FIELD["edges"].default
    size_by: str = FIELD["size_by"].default
    vector: int | None = None
    radius: float | None = None
    regex: bool = FIELD["regex"].default
    density: bool = FIELD["density"].default
    filters: dict[str, list[str]] = field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    selection: list[int] = field(default_factory=list)
    camera: tuple[float, float, float] | None = None
    plain: bool = FIELD["plain"].default
    labels: str = FIELD["labels"].default
    left: str = FIELD["left"].default
    right: str = FIELD["right"].default
    table: bool = FIELD["table"].default

    @property
    def graph_k(self) -> int:
        """Neighbours of the graph the overlay and the graph columns use."""
        return self.graph or DEFAULT_GRAPH_K

    def graph_query(self) -> dict:
        """The parameters that decide the kNN graph (edges and graph columns)."""
        q = {"dataset": self.dataset, "space": self.space, "graph": self.graph_k}
        if self.mutual:
            q["mutual"] = 1
        return q

    def column_query(self, key: str, column: str) -> dict:
        """The parameters that decide one column's values: a graph column also depends on the graph."""
        q = {"dataset": self.dataset, key: column}
        if column == TRUST_COLUMN:  # trust depends on the layout and on the graph's k
            return {**self.graph_query(), **self.layout_query(), **q}
        return {**self.graph_query(), **q} if column in GRAPH_COLUMNS or column.startswith(KEPT_PREFIX) else q

    def layout_query(self) -> dict:
        """The parameters that decide positions (and nothing else)."""
        q = {"dataset": self.dataset, "space": self.space, "proj": self.proj, **self.params}
        if self.proj == VECTOR_VIEW:
            q["vector"] = self.vector
        if self.y:
            q["y"] = self.y
        return q

    @property
    def filtered(self) -> bool:
        """Whether filters, ranges, hidden legend entries or a search leave items out (fade them)."""
        return bool(self.filters or self.ranges or self.hide or self.search)

    def filter_query(self) -> str:
        """The parameters that decide which items pass: filters, ranges, the search, and the colour
        legend's hidden entries (with the colour column they are entries of)."""
        names = ["filters", "ranges", "search", "search_field", "regex"] + (["hide", "color"] if self.hide else [])
        return urlencode(encode({name: getattr(self, name) for name in names}))

    def to_query(self, *, selection: bool = True, camera: bool = True) -> str:
        """The URL query of this view (through ``FIELDS``; defaults left out where they do not depend on the dataset)."""
        skip = {"selection"} if not selection else set()
        if not camera:
            skip.add("camera")
        return urlencode(encode({f.name: getattr(self, f.name) for f in FIELDS if f.name not in skip}))

    def to_json(self) -> dict:
        """The state as JSON values (what the browser's codec reads)."""
        out = {f.name: getattr(self, f.name) for f in FIELDS}
        out["ranges"] = {k: list(v) for k, v in self.ranges.items()}
        out["camera"] = list(self.camera) if self.camera else None
        return out


def encode(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """URL pairs for field values (by ``FIELDS``, in its order); fields left out of ``values`` are not written."""
    pairs: list[tuple[str, str]] = []
    for f in FIELDS:
        if f.name not in values:
            continue
        v = values[f.name]
        if v is None or (v == f.default and not f.always):
            continue
        if f.kind in ("str", "int"):
            pairs.append((f.key, str(v)))
        elif f.kind == "float":
            pairs.append((f.key, _num(v)))
        elif f.kind == "bool":
            pairs.append((f.key, "1"))
        elif f.kind == "list":
            pairs += [(f.key, str(x)) for x in v]
        elif f.kind == "params":
            pairs += [(k, _num(x) if isinstance(x, float) else str(x)) for k, x in v.items()]
        elif f.kind == "filters":
            pairs += [(f.key + col, str(x)) for col, xs in v.items() for x in xs]
        elif f.kind == "ranges":
            pairs += [(f.key + col, f"{_num(lo)},{_num(hi)}") for col, (lo, hi) in v.items()]
        elif f.kind == "selection":
            text = encode_selection(v)
            if len(text) <= MAX_SELECTION_CHARS:
                pairs.append((f.key, text))
        elif f.kind == "camera":
            pairs.append((f.key, ",".join(_num(c) for c in v)))
    return pairs


def encode_selection(indices) -> str:
    """Sorted indices as ranges: ``0-4.7.9-12`` (dots, so the URL needs no escaping)."""
    out = []
    idx = sorted(set(int(i) for i in indices))
    k = 0
    while k < len(idx):
        j = k
        while j + 1 < len(idx) and idx[j + 1] == idx[j] + 1:
            j += 1
        out.append(str(idx[k]) if j == k else f"{idx[k]}-{idx[j]}")
        k = j + 1
    return ".".join(out)


def decode_selection(text: str, n: int) -> list[int]:
    """The inverse of :func:`encode_selection`; ValueError names the bad part."""
    out: set[int] = set()
    for part in filter(None, text.split(".")):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise ValueError(f"{part!r} is not an index or a range")
        lo = int(m.group(1))
        hi = int(m.group(2) or lo)
        if hi < lo or hi >= n:
            raise ValueError(f"{part!r} is outside 0-{n - 1}")
        out.update(range(lo, hi + 1))
    return sorted(out)


def analysis_columns(ds: Dataset) -> dict[str, str]:
    """The analysis columns a dataset offers (all numeric, 0–1): layout trust, neighbours kept from each space."""
    return {TRUST_COLUMN: "numeric", **{KEPT_PREFIX + s: "numeric" for s in ds.spaces}}


def default_mode(ds: Dataset) -> str:
    return {"image": "images", "text": "words"}.get(ds.type, "points")


def default_cell(ds: Dataset) -> int:
    # A build's --cell-size; else 64 px cells for a few thousand images keeps emoji
    # crisp when zoomed; 32 px (16k per 4096² texture) for larger collections, as PixPlot.
    chosen = ds.manifest.get("cell_size")
    if chosen in CELLS:
        return chosen
    return 64 if ds.n <= 20_000 else 32


def layouts(ds: Dataset) -> list[str]:
    """Every layout ``proj=`` may name for a dataset: registered projections, the vector view, stored layouts."""
    return [*registry.PROJECTIONS, VECTOR_VIEW, *ds.arrangements]


#: How a notice about the search box begins: the page shows it under the box, not at the top.
SEARCH_NOTICE = "Search: "


def search_notices(notices: list[str]) -> tuple[list[str], list[str]]:
    """``notices`` split into those about the search box (a bad regular expression) and the rest."""
    about = [n for n in notices if n.startswith(SEARCH_NOTICE)]
    return about, [n for n in notices if not n.startswith(SEARCH_NOTICE)]


#: How a notice's last clause says what the page does instead of the value ("…; showing umap.", "…; ignored.").
_FALLBACK = re.compile(r"; (?:showing|ignored|using|no graph shown|searching for it as text)[^;]*\.$")


def refusal(notice: str) -> str:
    """``notice`` without what the page does instead: a data route does none of it, it refuses the request."""
    return _FALLBACK.sub(".", notice)


def parse(
    data_dir: Path | str,
    query: str | Mapping[str, list[str]],
    *,
    default_dataset: str | None = None,
    dataset: str | None = None,
) -> tuple[ViewState | None, list[str]]:
    """The view a URL query asks for, and a notice for everything that was replaced.

    ``dataset`` (from a route's path) overrides the query's. Returns (None,
    notices) only when the data directory holds no dataset at all.
    """
    q = parse_qs(query.lstrip("?"), keep_blank_values=True) if isinstance(query, str) else dict(query)
    notices: list[str] = []

    def one(name: str) -> str | None:
        """The last value of a field's key (or of an older alias) in the query."""
        f = FIELD[name]
        for key in (f.key, *f.aliases):
            if q.get(key):
                return q[key][-1]
        return None

    names = [d.name for d in list_datasets(data_dir)]
    if not names:
        return None, ["There are no datasets yet: build one with `python -m dashboard build digits`."]
    fallback = default_dataset if default_dataset in names else names[0]
    wanted = dataset or one("dataset")
    if wanted and wanted not in names:
        notices.append(f"The link asks for dataset {wanted!r}, which is not here (available: {', '.join(names)}); showing {fallback}.")
        wanted = None
    ds = open_dataset(data_dir, wanted or fallback)
    schema = ds.schema
    v: dict[str, Any] = {f.name: _default(f) for f in FIELDS}
    v.update(dataset=ds.name, space=ds.default_space, mode=default_mode(ds), cell=default_cell(ds),
             color=ds.label_column or "")

    space = one("space")
    if space is not None:
        if space in ds.spaces:
            v["space"] = space
        else:
            notices.append(f"Dataset {ds.name!r} has no latent space {space!r} (it has {', '.join(ds.spaces)}); showing {v['space']}.")

    vector = one("vector")
    if vector not in (None, ""):
        saved = {s.id: s for s in GroupStore(data_dir).vectors(ds.name)}
        if vector.isdigit() and int(vector) in saved:
            v["vector"] = int(vector)
        else:
            listed = ", ".join(f"{s.id} ({s.name})" for s in saved.values()) or "none yet"
            notices.append(f"Dataset {ds.name!r} has no vector {vector!r} (saved vectors: {listed}).")
    radius = one("radius")
    if radius not in (None, ""):
        v["radius"] = _number(radius, "Radius", FIELD["radius"].bounds, 0.0, notices) or None

    proj = one("proj")
    allowed = layouts(ds)
    if proj is not None and proj not in allowed:
        notices.append(f"Unknown projection {proj!r} (expected {', '.join(allowed)}); showing {v['proj']}.")
        proj = None
    if proj == VECTOR_VIEW and v["vector"] is None:
        # the Vector view button names no vector: the one saved last
        saved = GroupStore(data_dir).vectors(ds.name) if vector in (None, "") else []
        if saved:
            v["vector"] = max(s.id for s in saved)
        else:
            notices.append(f"The vector view needs a saved vector (vector=<id>); showing {v['proj']}.")
            proj = None
    v["proj"] = proj or v["proj"]
    if v["proj"] in registry.PROJECTIONS:
        v["params"] = _projection_params(ds, v["proj"], q, notices)

    def column(name: str, allowed: tuple[str, ...], what: str, graph: bool = False) -> str | None:
        value = one(name)
        if value is None:
            return None
        extra = analysis_columns(ds) if name == "color" else {}  # the analyses colour; they do not size
        kinds = {**schema, **GRAPH_COLUMNS, **extra} if graph else schema
        if value == "" or kinds.get(value) in allowed:
            return value
        options = [c for c, t in kinds.items() if t in allowed]
        notices.append(f"{what}: no column {value!r} (choose from {', '.join(options) or 'none'}); ignored.")
        return None

    color = column("color", ("categorical", "numeric", "color", "date"), "Colour by", graph=True)
    if color is not None:
        v["color"] = color
    v["hide"] = [h for h in q.get(FIELD["hide"].key, []) if h]
    v["y"] = column("y", ("categorical", "numeric", "date"), "Y axis") or ""
    v["size_by"] = column("size_by", ("numeric", "date"), "Size by", graph=True) or ""
    v["search_field"] = column("search_field", ("index", "categorical", "text", "numeric", "date", "color"),
                               "Search field") or FIELD["search_field"].default
    v["search"] = (one("search") or "")[:500]
    v["regex"] = one("regex") in ("1", "true", "on")
    if v["regex"] and v["search"]:
        try:
            re.compile(v["search"])
        except re.error as e:
            notices.append(f"{SEARCH_NOTICE}{v['search']!r} is not a valid regular expression ({e}); searching for it as text.")
            v["regex"] = False

    mode = one("mode")
    if mode is not None:
        allowed_modes = [m for m in MODES if m == "points" or m == default_mode(ds)]
        if mode in allowed_modes:
            v["mode"] = mode
        else:
            notices.append(f"Mode {mode!r} is not available for this dataset (choose from {', '.join(allowed_modes)}); showing {v['mode']}.")
    v["size"] = _number(one("size"), "Size", SIZE_RANGE, FIELD["size"].default, notices)
    graph = one("graph")
    if graph not in (None, "", "0"):
        if graph.isdigit() and 1 <= int(graph) <= MAX_GRAPH_K:
            v["graph"] = int(graph)
        else:
            notices.append(f"Graph {graph!r} must be a number of neighbours from 1 to {MAX_GRAPH_K}; no graph shown.")
    v["mutual"] = one("mutual") in ("1", "true", "on")
    v["plain"] = one("plain") in ("1", "true", "on")
    v["table"] = one("table") in ("1", "true", "on")
    v["labels"] = "off" if one("labels") in ("off", "0", "false") else ""
    v["density"] = one("density") in ("1", "true", "on")
    edges = one("edges")
    if edges not in (None, ""):
        if edges in EDGE_SCOPES:
            v["edges"] = edges
        else:
            notices.append(f"Edges {edges!r} must be one of {', '.join(EDGE_SCOPES)}; showing all.")
    for side in ("left", "right"):
        panel = one(side)
        if panel not in (None, ""):
            if panel in PANEL_STATES:
                v[side] = panel
            else:
                notices.append(f"The {side} panel is 'open' or 'closed', not {panel!r}; ignored.")
    cell = one("cell")
    if cell is not None:
        if cell.isdigit() and int(cell) in CELLS:
            v["cell"] = int(cell)
        else:
            notices.append(f"Cell size {cell!r} must be one of {', '.join(map(str, CELLS))}; using {v['cell']}.")

    for key, values in q.items():
        if key.startswith(FIELD["filters"].key):
            col = key[len(FIELD["filters"].key):]
            if schema.get(col) == "categorical":
                v["filters"][col] = [x for x in values if x != ""]
            else:
                notices.append(f"Filter: {col!r} is not a categorical column; ignored.")
        elif key.startswith(FIELD["ranges"].key):
            col = key[len(FIELD["ranges"].key):]
            try:
                lo, hi = (float(x) for x in values[-1].split(","))
                if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
                    raise ValueError
            except ValueError:
                notices.append(f"Range filter on {col!r}: {values[-1]!r} is not 'low,high'; ignored.")
                continue
            if schema.get(col) in ("numeric", "date"):
                v["ranges"][col] = (lo, hi)
            else:
                notices.append(f"Range filter: {col!r} is not a numeric column; ignored.")

    sel = one("selection")
    if sel:
        try:
            v["selection"] = decode_selection(sel, ds.n)
        except ValueError as e:
            notices.append(f"Selection in the link ignored: {e}.")
    cam = one("camera")
    if cam:
        try:
            x, y_, z = (float(c) for c in cam.split(","))
            if not all(map(math.isfinite, (x, y_, z))) or not -10 <= z <= 30:
                raise ValueError
            v["camera"] = (x, y_, z)
        except ValueError:
            notices.append(f"Camera {cam!r} is not 'x,y,zoom'; showing the whole map.")
    return ViewState(**v), notices


def _projection_params(ds: Dataset, proj: str, q: Mapping[str, list[str]], notices: list[str]) -> dict:
    """The non-default parameters of a projection the query gives (bad ones: a notice and the defaults)."""
    given = {k: q[k][-1] for k in registry.get(proj).params if q.get(k) and q[k][-1] != ""}
    try:
        full = projection_params(ds, proj, given)
    except DashboardError as e:
        notices.append(f"{e}; using the defaults.")
        full = projection_params(ds, proj, {})
        given = {}
    defaults = projection_params(ds, proj, {})
    return {k: full[k] for k in given if full[k] != defaults[k]}


def _number(text: str | None, what: str, bounds: tuple[float, float], default: float, notices: list[str]) -> float:
    if text is None:
        return default
    try:
        v = float(text)
        if not (bounds[0] <= v <= bounds[1]):
            raise ValueError
        return v
    except ValueError:
        notices.append(f"{what} {text!r} must be a number from {bounds[0]:g} to {bounds[1]:g}; using {default:g}.")
        return default

