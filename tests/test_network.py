"""Neighbour networks and their export (CSV for Gephi's spreadsheet import, GEXF, GraphML)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from dashboard.cli import cli
from dashboard.compute.graph import knn_edges
from dashboard.compute.neighbors import knn
from dashboard.network import build_network, nodes_path, write_network


def test_edges_ranks_weights_and_exact_neighbours(digits_ds):
    net = build_network(digits_ds, "64", n_neighbors=7)
    e = net.edges
    assert len(e) == 1797 * 7
    assert (e.groupby("source")["rank"].apply(list) == [list(range(1, 8))] * 1797).all()
    for _, group in e.groupby("source"):
        assert np.all(np.diff(group["weight"].to_numpy()) <= 0)  # closer → heavier
        break
    X = digits_ds.latent("64")
    for src in (0, 100, 1500):
        d = np.linalg.norm(X - X[src], axis=1)
        d[src] = np.inf
        expected = set(np.argsort(d, kind="stable")[:7])
        got = set(e.loc[e["source"] == src, "target"])
        assert len(got & expected) >= 6  # ties at equal distance may swap the 7th


def test_mutual_keeps_only_reciprocal_edges():
    idx = np.array([[1, 2], [0, 2], [0, 1], [0, 1]])
    dist = np.ones((4, 2))
    e = knn_edges(idx, dist, mutual=True)
    pairs = set(zip(e["source"].tolist(), e["target"].tolist()))
    assert pairs == {(0, 1), (1, 0), (0, 2), (2, 0), (1, 2), (2, 1)}  # 3→0 and 3→1 are not returned


def test_csv_has_gephi_columns_by_default(digits_ds, tmp_path):
    net = build_network(digits_ds, "64", n_neighbors=3, include_metadata=True, include_thumbs=True)
    out = tmp_path / "network.csv"
    written = write_network(net, out)
    assert written == [out, nodes_path(out)] and nodes_path(out).name == "network_nodes.csv"
    edges, nodes = pd.read_csv(out), pd.read_csv(nodes_path(out))
    assert list(edges.columns[:10]) == ["Source", "Target", "Type", "Weight", "distance", "rank",
                                        "source_x", "source_y", "target_x", "target_y"]
    assert {"source_name", "source_label", "source_ink"} <= set(edges.columns)
    assert list(nodes.columns[:4]) == ["Id", "Label", "x", "y"]
    assert {"thumbnail", "meta_label", "ink"} <= set(nodes.columns)
    assert (nodes["Label"] == digits_ds.meta["name"]).all()
    plain = write_network(net, tmp_path / "plain.csv", plain_columns=True)
    assert list(pd.read_csv(plain[0]).columns[:3]) == ["source", "target", "weight"]


@pytest.mark.parametrize("fmt", ["gexf", "graphml"])
def test_gexf_and_graphml_read_back(digits_ds, tmp_path, fmt):
    net = build_network(digits_ds, "16", n_neighbors=4, on="layout", projection="pca", include_metadata=True)
    out = tmp_path / f"net.{fmt}"
    write_network(net, out, fmt)
    g = (nx.read_gexf if fmt == "gexf" else nx.read_graphml)(out)
    assert g.number_of_nodes() == 1797 and g.number_of_edges() == 1797 * 4
    node = g.nodes["0"]
    assert node["label"] == "digit 0 #0" and node["ink"] == 35
    if fmt == "gexf":
        assert set(node["viz"]) == {"position", "color", "size"}
    else:
        assert {"x", "y", "size", "r", "g", "b"} <= set(node)
    edge = g.edges["0", str(int(net.edges.loc[0, "target"]))]
    assert edge["rank"] == 1 and edge["weight"] == pytest.approx(net.edges.loc[0, "weight"])


def test_cli_export_network(data_dir, tmp_path):
    out = tmp_path / "g.gexf"
    r = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "export-network", "--dataset", "digits",
                                 "--n-neighbors", "5", "--mutual", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "1,797 nodes" in r.output and out.is_file()
    bad = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "export-network", "--dataset", "digits",
                                   "--dim", "3", "-o", str(out)])
    assert bad.exit_code == 1 and "has no latent space '3'" in bad.output


def test_graph_metrics_find_the_digits(digits_ds):
    from sklearn.metrics import adjusted_rand_score

    from dashboard.compute.graph import metrics

    idx, dist = knn(digits_ds.latent("64"), k=10)
    m = metrics(1797, knn_edges(idx, dist))
    labels = digits_ds.meta["label"].to_numpy()
    assert adjusted_rand_score(labels, m["community"]) > 0.5  # Louvain communities follow the digits
    assert np.bincount(m["community"]).argmax() == 0  # community 0 is the largest
    assert (m["degree"] >= 10).all()  # k out-edges, plus in-edges from others
    assert m["eigenvector"].min() >= 0 and m["eigenvector"].max() == pytest.approx(1.0)
    # the hub of the graph is someone's neighbour far more often than the least central item
    assert m["degree"][m["eigenvector"].argmax()] > m["degree"][m["eigenvector"].argmin()]


def test_eigenvector_centrality_on_a_split_graph():
    import networkx as nx

    from dashboard.compute.graph import eigenvector, undirected

    # two triangles (λ = 2), a pair (λ = 1) and an isolated item: comparable across components
    e = {"source": np.array([0, 1, 2, 3, 4, 5, 6]), "target": np.array([1, 2, 0, 4, 5, 3, 7]), "weight": np.ones(7)}
    assert eigenvector(undirected(9, e)) == pytest.approx([1, 1, 1, 1, 1, 1, 0.5, 0.5, 0])
    # on a connected graph: networkx's eigenvector centrality, scaled to 1 at the hub
    g = nx.karate_club_graph()
    ours = eigenvector(g)
    theirs = nx.eigenvector_centrality_numpy(g, weight=None)
    expected = np.array([theirs[i] for i in range(g.number_of_nodes())])
    assert ours == pytest.approx(expected / expected.max(), abs=1e-6)


def test_cli_export_network_with_communities(data_dir, tmp_path):
    out = tmp_path / "c.csv"
    r = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "export-network", "--dataset", "digits", "--dim", "16",
                                 "--projection", "pca", "--communities", "-o", str(out)])
    assert r.exit_code == 0, r.output
    nodes = pd.read_csv(nodes_path(out))
    assert {"community", "degree", "eigenvector"} <= set(nodes.columns) and nodes["community"].min() == 1
    # nodes are coloured by community: the largest community shares one colour
    assert nodes.loc[nodes["community"] == 1, "color"].nunique() == 1
    assert nodes["color"].nunique() >= 5
