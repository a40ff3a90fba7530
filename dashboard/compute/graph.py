"""k-nearest-neighbour graphs as edge lists (memory grows with n·k, never n²)."""

from __future__ import annotations

import numpy as np


def knn_edges(idx: np.ndarray, dist: np.ndarray, *, mutual: bool = False) -> dict[str, np.ndarray]:
    """Directed edges source → each of its k neighbours.

    ``rank`` is 1 for the closest neighbour; ``weight`` = 1 / (1 + distance),
    so it decreases with distance and stays finite for duplicates (a plain
    1 / distance would be infinite and wreck force-directed layouts).
    With ``mutual`` only edges whose reverse is also a kNN edge are kept.
    """
    n, k = idx.shape
    source = np.repeat(np.arange(n, dtype=np.int64), k)
    target = idx.reshape(-1).astype(np.int64)
    distance = dist.reshape(-1).astype(np.float64)
    rank = np.tile(np.arange(1, k + 1, dtype=np.int64), n)
    if mutual:
        forward = source * n + target
        keep = np.isin(target * n + source, forward)
        source, target, distance, rank = source[keep], target[keep], distance[keep], rank[keep]
    return {
        "source": source,
        "target": target,
        "distance": distance,
        "rank": rank,
        "weight": 1.0 / (1.0 + distance),
    }


def undirected(n: int, edges: dict[str, np.ndarray]):
    """The kNN edges as an undirected weighted networkx graph on all ``n`` items.

    A pair that are each other's neighbours becomes one edge (networkx keeps
    the last weight; both directions carry the same distance anyway).
    """
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_weighted_edges_from(zip(edges["source"].tolist(), edges["target"].tolist(), edges["weight"].tolist()))
    return g


def communities(g, *, seed: int = 42) -> np.ndarray:
    """Louvain communities (networkx) as int codes, 0 for the largest community."""
    import networkx as nx

    found = sorted(nx.community.louvain_communities(g, weight="weight", seed=seed), key=len, reverse=True)
    codes = np.empty(g.number_of_nodes(), np.int64)
    for c, members in enumerate(found):
        codes[list(members)] = c
    return codes


def degree(g) -> np.ndarray:
    """Number of distinct neighbours of each node (k plus how often it is someone else's neighbour)."""
    out = np.zeros(g.number_of_nodes(), np.float64)
    for node, d in g.degree():
        out[node] = d
    return out


def eigenvector(g) -> np.ndarray:
    """Eigenvector centrality that stays comparable across the components of a split graph.

    kNN graphs often fall apart (emoji's flags are an island), and then the
    whole graph's leading eigenvector is zero outside one component. So each
    component gets its own leading eigenvector (what networkx's
    eigenvector_centrality_numpy computes), scaled so its hub scores
    λ_component / λ_largest: 1 at the hub of the most central component, less in
    small or loose ones. Unweighted, as Gephi's: the kNN weights mostly
    measure how dense a region is, and near-duplicate pairs would outrank hubs.
    scipy is called directly because networkx hides λ.
    """
    import networkx as nx
    from scipy.sparse.linalg import eigsh

    out = np.zeros(g.number_of_nodes(), np.float64)
    found = []
    for members in nx.connected_components(g):
        nodes = sorted(members)
        if len(nodes) == 1:
            continue
        A = nx.to_scipy_sparse_array(g, nodelist=nodes, weight=None, format="csr").astype(np.float64)
        if len(nodes) < 50:
            values, vectors = np.linalg.eigh(A.toarray())
            lam, v = values[-1], vectors[:, -1]
        else:
            values, vectors = eigsh(A, k=1, which="LA")
            lam, v = values[0], vectors[:, 0]
        v = np.abs(v)
        found.append((nodes, lam, v / (v.max() or 1.0)))
    top = max((lam for _, lam, _ in found), default=1.0) or 1.0
    for nodes, lam, v in found:
        out[nodes] = v * max(lam, 0.0) / top
    return out


def metrics(n: int, edges: dict[str, np.ndarray], *, seed: int = 42) -> dict[str, np.ndarray]:
    """community, degree and eigenvector of every item of a kNN graph."""
    g = undirected(n, edges)
    return {"community": communities(g, seed=seed), "degree": degree(g), "eigenvector": eigenvector(g)}
