"""Neighbour networks of a dataset, and their export for Gephi.

Column names follow Gephi's spreadsheet import by default (nodes ``Id``,
``Label``; edges ``Source``, ``Target``, ``Type``, ``Weight``), so the Data
Laboratory recognises them without manual mapping; ``plain_columns`` gives
lower-case names for other tools. GEXF and GraphML carry positions, colours
and sizes as visual attributes, so the graph opens laid out.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .compute import colors
from .compute.graph import knn_edges
from .compute.graph import metrics as graph_metrics
from .compute.neighbors import knn
from .computed import get_graph_metrics, get_layout, get_neighbors
from .errors import DashboardError
from .export import write_csv
from .store import Dataset, atomic_path

FORMATS = ("csv", "gexf", "graphml")
SPACES = ("latent", "layout")
#: Gephi's default canvas is a few thousand units wide; layouts are in [-1, 1].
POSITION_SCALE = 1000.0
OTHER_COLOR = colors.OTHER_COLOR


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
    communities: bool = False,
) -> Network:
    """The kNN network of a latent space (or of its 2-D layout), positioned by ``projection``.

    With ``communities`` nodes get Louvain ``community``, ``degree`` and
    ``eigenvector`` columns and are coloured by community.
    """
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
    metrics = None
    if communities:
        # On the latent graph this is the cached result the map's colour-by uses.
        metrics = (get_graph_metrics(ds, space, k=int(n_neighbors), mutual=mutual, cached_only=False) if on == "latent"
                   else graph_metrics(ds.n, e))
    colours = _palette_colours(ds.meta[ds.label_column]) if ds.label_column else None
    if metrics is not None:
        colours = _palette_colours(pd.Series(metrics["community"]))
    return assemble(ds, xy, e, colours=colours, metrics=metrics,
                    include_metadata=include_metadata, include_thumbs=include_thumbs)


def _palette_colours(values: pd.Series) -> np.ndarray:
    """The colours the map's legend gives these categories (largest first, the rest grey)."""
    rgba, _ = colors.categorical(values)
    return rgba


def assemble(
    ds: Dataset,
    xy: np.ndarray,
    e: dict[str, np.ndarray],
    *,
    rows: np.ndarray | None = None,
    colours: np.ndarray | None = None,
    sizes: np.ndarray | None = None,
    metrics: dict[str, np.ndarray] | None = None,
    include_metadata: bool = False,
    include_thumbs: bool = False,
) -> Network:
    """Nodes and edges tables from a layout and kNN edges (see :func:`knn_edges`).

    ``rows`` keeps those items and the edges between them (what the map's
    download sends for a selection); ``colours`` (n × 3+ uint8) and ``sizes``
    default to grey and to the in-degree (hubs, often someone's neighbour, larger).
    """
    if rows is not None:
        keep = np.zeros(ds.n, bool)
        keep[rows] = True
        inside = keep[e["source"]] & keep[e["target"]]
        e = {k: v[inside] for k, v in e.items()}
    nodes_idx = np.arange(ds.n) if rows is None else np.asarray(rows, np.int64)
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
    if colours is None:
        colours = np.tile(np.array(OTHER_COLOR, np.uint8), (ds.n, 1))
    if sizes is None:
        sizes = 4.0 + 2.0 * np.sqrt(in_degree)
    nodes = pd.DataFrame(
        {
            "id": meta["i"].to_numpy()[nodes_idx],
            "label": meta["name"].astype(str).to_numpy()[nodes_idx],
            "x": xy[nodes_idx, 0],
            "y": xy[nodes_idx, 1],
            "color": ["#%02x%02x%02x" % tuple(int(v) for v in c[:3]) for c in colours[nodes_idx]],
            "size": np.asarray(sizes, np.float64)[nodes_idx],
            "in_degree": in_degree[nodes_idx],
        }
    )
    if metrics is not None:
        nodes["community"] = metrics["community"][nodes_idx] + 1  # 1 = the largest, as the map's legend
        nodes["degree"] = metrics["degree"][nodes_idx]
        nodes["eigenvector"] = metrics["eigenvector"][nodes_idx]
    if include_thumbs:
        nodes["thumbnail"] = [str(ds.image_path(i, thumb=True)) for i in nodes_idx] if ds.type == "image" else ""
    if include_metadata:
        _add_metadata(nodes, meta, rows=nodes_idx, prefix="")
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


def network_bytes(net: Network, fmt: str, stem: str) -> tuple[bytes, str, str]:
    """The network as one downloadable file: (body, mimetype, file name).

    CSV is two files (edges and nodes), so it comes as a zip of both.
    """
    import tempfile
    import zipfile

    if fmt not in FORMATS:
        raise DashboardError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    with tempfile.TemporaryDirectory() as tmp:
        written = write_network(net, Path(tmp) / f"{stem}.{fmt}", fmt)
        if fmt != "csv":
            return written[0].read_bytes(), "application/xml", written[0].name
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for path in written:
                z.write(path, path.name)
        return buf.getvalue(), "application/zip", f"{stem}.zip"
