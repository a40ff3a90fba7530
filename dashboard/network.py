"""Neighbour networks of a dataset, and their export for Gephi.

Column names follow Gephi's spreadsheet import by default (nodes ``Id``,
``Label``; edges ``Source``, ``Target``, ``Type``, ``Weight``), so the Data
Laboratory recognises them without manual mapping; ``plain_columns`` gives
lower-case names for other tools. GEXF and GraphML carry positions, colours
and sizes as visual attributes, so the graph opens laid out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from plotly.colors import qualitative, unlabel_rgb

from .compute.graph import knn_edges
from .compute.neighbors import knn
from .computed import get_layout, get_neighbors
from .errors import DashboardError
from .export import write_csv
from .store import Dataset, atomic_path

FORMATS = ("csv", "gexf", "graphml")
SPACES = ("latent", "layout")
#: Gephi's default canvas is a few thousand units wide; layouts are in [-1, 1].
POSITION_SCALE = 1000.0
# The colour-blind-safe palette the summary preview uses, so Gephi shows the same colours.
PALETTE = [tuple(int(v) for v in unlabel_rgb(c)) for c in qualitative.Safe]
OTHER_COLOR = (187, 187, 187)


@dataclass
class Network:
    nodes: pd.DataFrame  # id, label, x, y, color, size, [thumbnail], [metadata…]
    edges: pd.DataFrame  # source, target, weight, distance, rank, source_x, …


def build_network(
    ds: Dataset,
    space: str | None = None,
    *,
    on: str = "latent",
    projection: str = "umap",
    n_neighbors: int = 10,
    mutual: bool = False,
    include_metadata: bool = False,
    include_thumbs: bool = False,
) -> Network:
    """The kNN network of a latent space (or of its 2-D layout), positioned by ``projection``."""
    if on not in SPACES:
        raise DashboardError(f"--space must be one of {', '.join(SPACES)}, got {on!r}")
    if not 1 <= int(n_neighbors) <= 200:
        raise DashboardError(f"--n-neighbors must be between 1 and 200, got {n_neighbors}")
    space = str(space or ds.default_space)
    xy = get_layout(ds, space, projection).xy
    if on == "latent":
        idx, dist = get_neighbors(ds, space, k=int(n_neighbors))
    else:  # what PixPlot's Gephi script did: neighbours on the map itself
        idx, dist = knn(xy, k=int(n_neighbors), metric="euclidean")
    e = knn_edges(idx, dist, mutual=mutual)
    meta = ds.meta
    edges = pd.DataFrame(
        {
            "source": e["source"],
            "target": e["target"],
            "weight": e["weight"],
            "distance": e["distance"],
            "rank": e["rank"],
            "source_x": xy[e["source"], 0],
            "source_y": xy[e["source"], 1],
            "target_x": xy[e["target"], 0],
            "target_y": xy[e["target"], 1],
        }
    )
    if include_metadata:
        _add_metadata(edges, meta, rows=e["source"], prefix="source_")
    in_degree = np.bincount(e["target"], minlength=ds.n)
    colour_by = ds.label_column
    colours = np.array([OTHER_COLOR] * ds.n)
    if colour_by:
        codes, _ = meta[colour_by].factorize()
        colours = np.array([PALETTE[c % len(PALETTE)] if c >= 0 else OTHER_COLOR for c in codes])
    nodes = pd.DataFrame(
        {
            "id": meta["i"].to_numpy(),
            "label": meta["name"].astype(str).to_numpy(),
            "x": xy[:, 0],
            "y": xy[:, 1],
            "color": ["#%02x%02x%02x" % tuple(c) for c in colours],
            "size": 4.0 + 2.0 * np.sqrt(in_degree),  # hubs (often-neighbours) drawn larger
            "in_degree": in_degree,
        }
    )
    if include_thumbs:
        nodes["thumbnail"] = [str(ds.image_path(i, thumb=True)) for i in range(ds.n)] if ds.type == "image" else ""
    if include_metadata:
        _add_metadata(nodes, meta, rows=None, prefix="")
    return Network(nodes=nodes, edges=edges)


def _add_metadata(table: pd.DataFrame, meta: pd.DataFrame, rows: np.ndarray | None, prefix: str) -> None:
    """Metadata columns (after i) added to ``table``; a name already taken gets ``meta_``."""
    for col in meta.columns[1:]:
        if prefix == "" and col == "name":
            continue  # already the node label
        target = f"{prefix}{col}"
        if target in table.columns:
            target = f"{prefix}meta_{col}"
        values = meta[col].to_numpy()
        table[target] = values if rows is None else values[rows]


def _gephi_columns(net: Network) -> tuple[pd.DataFrame, pd.DataFrame]:
    nodes = net.nodes.rename(columns={"id": "Id", "label": "Label"})
    edges = net.edges.rename(columns={"source": "Source", "target": "Target", "weight": "Weight"})
    edges.insert(2, "Type", "Directed")
    return nodes, edges


def nodes_path(output: Path) -> Path:
    """``network.csv`` → ``network_nodes.csv``."""
    return output.with_name(f"{output.stem}_nodes{output.suffix}")


def write_network(net: Network, output: Path | str, fmt: str = "csv", *, plain_columns: bool = False) -> list[Path]:
    """Write the network; returns the files written."""
    output = Path(output)
    if fmt not in FORMATS:
        raise DashboardError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "csv":
        nodes, edges = (net.nodes, net.edges) if plain_columns else _gephi_columns(net)
        write_csv(edges, output)
        write_csv(nodes, nodes_path(output))
        return [output, nodes_path(output)]
    graph = to_networkx(net, visual=fmt)
    import networkx as nx

    with atomic_path(output) as tmp:
        if fmt == "gexf":
            nx.write_gexf(graph, tmp)
        else:
            nx.write_graphml(graph, tmp)
    return [output]


def _plain(value):
    # networkx writers take str, int, float, bool; numpy scalars and NaN do not belong.
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def to_networkx(net: Network, visual: str = "gexf"):
    """A networkx DiGraph with Gephi's visual attributes on every node.

    ``visual="gexf"``: a ``viz`` dict (position, colour, size), which the
    GEXF writer turns into viz elements. ``visual="graphml"``: the flat
    ``x``, ``y``, ``size``, ``r``, ``g``, ``b`` attributes that Gephi's
    GraphML importer reads as visual attributes (GraphML has no dicts).
    """
    import networkx as nx

    g = nx.DiGraph()
    extra = [c for c in net.nodes.columns if c not in ("id", "label", "x", "y", "color", "size")]
    for row in net.nodes.itertuples(index=False):
        r, gr, b = (int(row.color[k : k + 2], 16) for k in (1, 3, 5))
        x, y, size = float(row.x) * POSITION_SCALE, float(row.y) * POSITION_SCALE, float(row.size)
        if visual == "gexf":
            attrs = {"label": row.label, "viz": {
                "position": {"x": x, "y": y, "z": 0.0}, "color": {"r": r, "g": gr, "b": b, "a": 1.0}, "size": size}}
        else:
            attrs = {"label": row.label, "x": x, "y": y, "size": size, "r": r, "g": gr, "b": b}
        for col in extra:
            v = _plain(getattr(row, col))
            if v is not None:
                attrs[col] = v
        g.add_node(int(row.id), **attrs)
    for row in net.edges.itertuples(index=False):
        g.add_edge(int(row.source), int(row.target), weight=float(row.weight),
                   distance=float(row.distance), rank=int(row.rank))
    return g
