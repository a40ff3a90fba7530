"""The view a page URL describes, parsed and checked against the dataset.

One parser serves the page, the binary data routes and ``/export``, so a
copied URL, a fetched buffer and a downloaded CSV always agree. Nothing in a
URL can crash the page: every unknown or malformed value becomes a notice and
a sensible default.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import parse_qs, urlencode

from .computed import PROJECTION_PARAMS, projection_params
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
#: Columns computed from the kNN graph of the shown latent space (Louvain
#: communities, centralities), offered beside the metadata columns.
#: The layout that puts a saved attribute vector on x (LSC's vector view).
VECTOR_VIEW = "vector"
LAYOUTS = (*PROJECTION_PARAMS, VECTOR_VIEW)
GRAPH_COLUMNS = {"graph:community": "categorical", "graph:degree": "numeric", "graph:eigenvector": "numeric"}
#: Selections longer than this (encoded) are left out of the URL; the page says so.
MAX_SELECTION_CHARS = 6000


@dataclass
class ViewState:
    """Everything a view shows; ``to_query`` and ``parse`` round-trip it."""

    dataset: str
    space: str
    proj: str = "umap"
    params: dict = field(default_factory=dict)  # only non-default projection parameters
    color: str = ""
    hide: list[str] = field(default_factory=list)  # legend entries switched off
    y: str = ""
    size: float = 1.0
    mode: str = "points"
    cell: int = 32
    search: str = ""
    search_field: str = "name"
    regex: bool = False
    filters: dict[str, list[str]] = field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    selection: list[int] = field(default_factory=list)
    camera: tuple[float, float, float] | None = None
    graph: int = 0  # neighbours per item drawn as edges (0: no graph)
    mutual: bool = False  # only edges whose reverse is also a kNN edge
    edges: str = "all"  # which edges are drawn: EDGE_SCOPES
    size_by: str = ""  # a numeric or graph column scaling each item
    vector: int | None = None  # the saved attribute vector shown (its groups, path and scores)
    radius: float | None = None  # "items within" radius along the vector's path (None: the dataset's default)

    @property
    def graph_k(self) -> int:
        """Neighbours of the graph the overlay and the graph columns use."""
        return self.graph or DEFAULT_GRAPH_K

    def graph_query(self) -> dict:
        """The parameters that decide the kNN graph (edges and graph columns)."""
        q = {"dataset": self.dataset, "dim": self.space, "graph": self.graph_k}
        if self.mutual:
            q["mutual"] = 1
        return q

    def column_query(self, key: str, column: str) -> dict:
        """The parameters that decide one column's values: a graph column also depends on the graph."""
        q = {"dataset": self.dataset, key: column}
        return {**self.graph_query(), **q} if column in GRAPH_COLUMNS else q

    def layout_query(self) -> dict:
        """The parameters that decide positions (and nothing else)."""
        q = {"dataset": self.dataset, "dim": self.space, "proj": self.proj, **self.params}
        if self.proj == VECTOR_VIEW:
            q["vector"] = self.vector
        if self.y:
            q["y"] = self.y
        return q

    def to_query(self, *, selection: bool = True, camera: bool = True) -> str:
        pairs: list[tuple[str, str]] = [("dataset", self.dataset), ("dim", self.space), ("proj", self.proj)]
        pairs += [(k, _num(v) if isinstance(v, float) else str(v)) for k, v in self.params.items()]
        for key, value, default in (("color", self.color, ""), ("y", self.y, ""), ("mode", self.mode, None),
                                    ("q", self.search, ""), ("field", self.search_field, "name")):
            if value != default:
                pairs.append((key, value))
        pairs += [("hide", h) for h in self.hide]
        if self.size != 1.0:
            pairs.append(("size", _num(self.size)))
        if self.cell != 32:
            pairs.append(("cell", str(self.cell)))
        if self.graph:
            pairs.append(("graph", str(self.graph)))
        if self.mutual:
            pairs.append(("mutual", "1"))
        if self.edges != "all":
            pairs.append(("edges", self.edges))
        if self.size_by:
            pairs.append(("sizeby", self.size_by))
        if self.vector is not None:
            pairs.append(("vector", str(self.vector)))
        if self.radius is not None:
            pairs.append(("radius", _num(self.radius)))
        if self.regex:
            pairs.append(("regex", "1"))
        for col, values in self.filters.items():
            pairs += [(f"f.{col}", v) for v in values]
        for col, (lo, hi) in self.ranges.items():
            pairs.append((f"r.{col}", f"{_num(lo)},{_num(hi)}"))
        if selection and self.selection:
            encoded = encode_selection(self.selection)
            if len(encoded) <= MAX_SELECTION_CHARS:
                pairs.append(("sel", encoded))
        if camera and self.camera:
            pairs.append(("cam", ",".join(_num(c) for c in self.camera)))
        return urlencode(pairs)


def _num(v: float) -> str:
    return f"{float(v):.6g}"


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


def default_mode(ds: Dataset) -> str:
    return {"image": "images", "text": "words"}.get(ds.type, "points")


def default_cell(ds: Dataset) -> int:
    # A build's --cell-size; else 64 px cells for a few thousand images keeps emoji
    # crisp when zoomed; 32 px (16k per 4096² texture) for larger collections, as PixPlot.
    chosen = ds.manifest.get("cell_size")
    if chosen in CELLS:
        return chosen
    return 64 if ds.n <= 20_000 else 32


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

    def one(key: str) -> str | None:
        values = q.get(key)
        return values[-1] if values else None

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
    state = ViewState(dataset=ds.name, space=ds.default_space, mode=default_mode(ds), cell=default_cell(ds),
                      color=ds.label_column or "")

    dim = one("dim")
    if dim is not None:
        if dim in ds.spaces:
            state.space = dim
        else:
            notices.append(f"Dataset {ds.name!r} has no latent space {dim!r} (it has {', '.join(ds.spaces)}); showing {state.space}.")

    vector = one("vector")
    if vector not in (None, ""):
        saved = {v.id: v for v in GroupStore(data_dir).vectors(ds.name)}
        if vector.isdigit() and int(vector) in saved:
            state.vector = int(vector)
        else:
            names = ", ".join(f"{v.id} ({v.name})" for v in saved.values()) or "none yet"
            notices.append(f"Dataset {ds.name!r} has no vector {vector!r} (saved vectors: {names}).")
    radius = one("radius")
    if radius not in (None, ""):
        r = _number(radius, "Radius", (1e-12, 1e12), 0.0, notices)
        state.radius = r or None

    proj = one("proj")
    if proj is not None and proj not in LAYOUTS and proj not in ds.arrangements:
        notices.append(f"Unknown projection {proj!r} (expected {', '.join([*LAYOUTS, *ds.arrangements])}); "
                       f"showing {state.proj}.")
        proj = None
    if proj == VECTOR_VIEW and state.vector is None:
        notices.append(f"The vector view needs a saved vector (vector=<id>); showing {state.proj}.")
        proj = None
    state.proj = proj or state.proj
    if state.proj in PROJECTION_PARAMS:
        state.params = _projection_params(ds, state.proj, one, notices)

    def column(key: str, allowed: tuple[str, ...], what: str, graph: bool = False) -> str | None:
        value = one(key)
        if value is None:
            return None
        kinds = {**schema, **GRAPH_COLUMNS} if graph else schema
        if value == "" or kinds.get(value) in allowed:
            return value
        options = [c for c, t in kinds.items() if t in allowed]
        notices.append(f"{what}: no column {value!r} (choose from {', '.join(options) or 'none'}); ignored.")
        return None

    color = column("color", ("categorical", "numeric", "color", "date"), "Colour by", graph=True)
    if color is not None:
        state.color = color
    state.hide = [h for h in q.get("hide", []) if h]
    y = column("y", ("categorical", "numeric", "date"), "Y axis")
    state.y = y or ""
    state.size_by = column("sizeby", ("numeric", "date"), "Size by", graph=True) or ""
    field_ = column("field", ("index", "categorical", "text", "numeric", "date", "color"), "Search field")
    state.search_field = field_ or "name"
    state.search = (one("q") or "")[:500]
    state.regex = one("regex") in ("1", "true", "on")
    if state.regex and state.search:
        try:
            re.compile(state.search)
        except re.error as e:
            notices.append(f"Search: {state.search!r} is not a valid regular expression ({e}); searching for it as text.")
            state.regex = False

    mode = one("mode")
    if mode is not None:
        allowed_modes = [m for m in MODES if m == "points" or m == default_mode(ds)]
        if mode in allowed_modes:
            state.mode = mode
        else:
            notices.append(f"Mode {mode!r} is not available for this dataset (choose from {', '.join(allowed_modes)}); showing {state.mode}.")
    state.size = _number(one("size"), "Size", SIZE_RANGE, 1.0, notices)
    graph = one("graph")
    if graph not in (None, "", "0"):
        if graph.isdigit() and 1 <= int(graph) <= MAX_GRAPH_K:
            state.graph = int(graph)
        else:
            notices.append(f"Graph {graph!r} must be a number of neighbours from 1 to {MAX_GRAPH_K}; no graph shown.")
    state.mutual = one("mutual") in ("1", "true", "on")
    edges = one("edges")
    if edges not in (None, ""):
        if edges in EDGE_SCOPES:
            state.edges = edges
        else:
            notices.append(f"Edges {edges!r} must be one of {', '.join(EDGE_SCOPES)}; showing all.")
    cell = one("cell")
    if cell is not None:
        if cell.isdigit() and int(cell) in CELLS:
            state.cell = int(cell)
        else:
            notices.append(f"Cell size {cell!r} must be one of {', '.join(map(str, CELLS))}; using {state.cell}.")

    for key, values in q.items():
        if key.startswith("f."):
            col = key[2:]
            if schema.get(col) == "categorical":
                state.filters[col] = [v for v in values if v != ""]
            else:
                notices.append(f"Filter: {col!r} is not a categorical column; ignored.")
        elif key.startswith("r."):
            col = key[2:]
            try:
                lo, hi = (float(v) for v in values[-1].split(","))
                if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
                    raise ValueError
            except ValueError:
                notices.append(f"Range filter on {col!r}: {values[-1]!r} is not 'low,high'; ignored.")
                continue
            if schema.get(col) in ("numeric", "date"):
                state.ranges[col] = (lo, hi)
            else:
                notices.append(f"Range filter: {col!r} is not a numeric column; ignored.")

    sel = one("sel")
    if sel:
        try:
            state.selection = decode_selection(sel, ds.n)
        except ValueError as e:
            notices.append(f"Selection in the link ignored: {e}.")
    cam = one("cam")
    if cam:
        try:
            x, y_, z = (float(v) for v in cam.split(","))
            if not all(map(math.isfinite, (x, y_, z))) or not -10 <= z <= 30:
                raise ValueError
            state.camera = (x, y_, z)
        except ValueError:
            notices.append(f"Camera {cam!r} is not 'x,y,zoom'; showing the whole map.")
    return state, notices


def _projection_params(ds: Dataset, proj: str, one, notices: list[str]) -> dict:
    """The non-default parameters of a projection the query gives (bad ones: a notice and the defaults)."""
    given = {k: one(k) for k in PROJECTION_PARAMS[proj] if one(k) not in (None, "")}
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

