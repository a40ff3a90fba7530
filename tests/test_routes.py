"""The routes beside the page: binary map data, export, files, health (Flask's test client)."""

from __future__ import annotations

import csv
import gzip
import io

import numpy as np
import pandas as pd
import pytest

from dashboard.app import create_app
from dashboard.store import DatasetWriter, open_dataset
from dashboard.viewstate import ViewState

from .conftest import copy_dataset


@pytest.fixture(scope="module")
def routes_data(data_dir, tmp_path_factory):
    """digits plus a small dataset whose names are spreadsheet formulas."""
    d = tmp_path_factory.mktemp("routes")
    copy_dataset(data_dir, d, "digits")
    n = 8
    names = ["=HYPERLINK(\"x\")", "+1+1", "-2", "@SUM(A1)", "plain", "tab", "ok", "fine"]
    with DatasetWriter(d, "formulas") as w:
        w.set_info(type="other", metric="euclidean", provenance={"source": f"metadata {d / 'private' / 'names.csv'}"})
        w.write_meta(pd.DataFrame({"i": np.arange(n), "name": names, "group": ["a", "b"] * 4}))
        w.write_latent(3, np.random.default_rng(0).normal(size=(n, 3)).astype(np.float32), kind="raw")
        w.finish()
    return d


@pytest.fixture(scope="module")
def client(routes_data):
    return create_app(routes_data, dataset="digits").server.test_client()


def _array(resp, dtype):
    body = resp.data
    if resp.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return np.frombuffer(body, dtype=dtype)


def test_binary_buffers_have_one_value_per_item(client):
    n = 1797
    pos = client.get("/api/positions.bin?dataset=digits&dim=64&proj=pca")
    assert pos.status_code == 200 and len(pos.data) == 8 * n
    xy = _array(pos, "<f4").reshape(n, 2)
    assert np.isfinite(xy).all() and np.abs(np.percentile(xy, [1, 99])).max() <= 1.01
    col = client.get("/api/colors.bin?dataset=digits&color=label")
    assert len(col.data) == 4 * n
    mask = client.get("/api/mask.bin?dataset=digits&f.label=3")
    assert len(mask.data) == n and (_array(mask, "u1") & 1).sum() == 183


def test_gzip_when_the_browser_accepts_it(client):
    plain = client.get("/api/colors.bin?dataset=digits&color=label")
    packed = client.get("/api/colors.bin?dataset=digits&color=label", headers={"Accept-Encoding": "gzip, deflate"})
    assert packed.headers["Content-Encoding"] == "gzip" and len(packed.data) < len(plain.data) / 4
    assert np.array_equal(_array(packed, "u1"), _array(plain, "u1"))


def test_uncached_projection_is_not_computed_in_a_request(client):
    resp = client.get("/api/positions.bin?dataset=digits&dim=8&proj=tsne&perplexity=7")
    assert resp.status_code == 409 and b"not computed yet: open the map" in resp.data


def test_deck_bundle_is_the_build_deckjs_chooses(client):
    from dashboard import deckjs

    resp = client.get("/deck.js", headers={"Accept-Encoding": "gzip"})
    assert resp.status_code == 200 and resp.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(resp.data) == deckjs.bundle()[0]  # npm's build once fetched, else the wheel's
    assert client.get("/deck.js").data == deckjs.bundle()[0]  # plain for a client without gzip


def test_atlas_and_item(client):
    info = client.get("/api/atlas.json?dataset=digits&cell=32").get_json()
    assert info["cell"] == 32 and sum(t["count"] for t in info["textures"]) == 1797
    png = client.get("/api/atlas/digits/32/0.png")
    assert png.status_code == 200 and png.data[:4] == b"\x89PNG"
    assert client.get("/api/atlas/digits/32/5.png").status_code == 400
    assert client.get("/api/atlas/digits/33/0.png").status_code == 404
    item = client.get("/api/item?dataset=digits&i=3").get_json()
    assert item["name"] == "digit 3 #3" and item["label"] == "3"
    bad = client.get("/api/item?dataset=digits&i=99999")
    assert bad.status_code == 400 and bad.data.decode().count("\n") == 1


def test_sharp_images_are_the_web_image_fitted_into_the_atlas_cells_square(client, routes_data):
    """What the map swaps in at deep zoom: a transparent square of the asked side, the image centred in it
    with its aspect kept (as in its atlas cell), named by the build (atlas.json says which)."""
    import io

    from PIL import Image

    from dashboard.compute.atlas import square

    info = client.get("/api/atlas.json?dataset=digits&cell=32").get_json()
    ds = open_dataset(routes_data, "digits")
    assert info["build"] == ds.build_id
    got = client.get(f"/api/sharp/digits/5.png?px=256&build={info['build']}")
    assert got.status_code == 200 and got.headers["Content-Type"] == "image/png"
    im = Image.open(io.BytesIO(got.data))
    assert im.size == (256, 256) and im.mode == "RGBA"
    with Image.open(ds.image_path(5)) as web:
        assert np.array_equal(np.asarray(im), np.asarray(square(web, 256)))
    wide = square(Image.new("RGB", (40, 10), "red"), 128)  # a landscape image: letterboxed, not stretched
    alpha = np.asarray(wide)[:, :, 3]
    assert alpha[64, 64] == 255 and alpha[0, 64] == 0 and alpha[127, 64] == 0 and (alpha[:, 0] > 0).sum() == 32
    for bad in ("/api/sharp/digits/5.png?px=300", "/api/sharp/digits/99999.png", "/api/sharp/formulas/0.png",
                "/api/sharp/nope/0.png"):
        assert client.get(bad).status_code == 404, bad


def test_export_matches_the_page_query(client):
    resp = client.get("/export/digits.csv?dim=16&proj=pca&sel=0-2.10&color=label")
    assert resp.status_code == 200 and "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.data.decode())))
    assert [r["i"] for r in rows] == ["0", "1", "2", "10"]
    assert {"i", "name", "label", "ink", "x", "y", "latent_dim", "projection"} <= set(rows[0])
    assert rows[0]["latent_dim"] == "16" and rows[0]["projection"] == "pca"
    # POST with the same fields (what the page sends: a selection can be longer than a URL)
    posted = client.post("/export/digits.csv", data={"dim": "16", "proj": "pca", "sel": "0-2.10"})
    assert posted.data == resp.data
    filtered = client.get("/export/digits.csv?proj=pca&f.label=7&rows=filtered")
    assert len(list(csv.DictReader(io.StringIO(filtered.data.decode())))) == 179


def test_export_neutralises_formulas(client):
    text = client.get("/export/formulas.csv?rows=all&proj=pca").data.decode()
    names = [r["name"] for r in csv.DictReader(io.StringIO(text))]
    assert names[:5] == ["'=HYPERLINK(\"x\")", "'+1+1", "'-2", "'@SUM(A1)", "plain"]


def test_bad_requests_get_one_line(client):
    for url in ("/export/nope.csv", "/files/digits/..%2F..%2Fetc%2Fpasswd", "/files/nope/images/0.png"):
        assert client.get(url).status_code == 404, url
    resp = client.get("/export/digits.csv?rows=some")
    assert resp.status_code == 400 and resp.data.decode() == "rows must be selection, filtered or all, got 'some'\n"
    assert client.get("/healthz").get_json() == {"status": "ok", "datasets": 2}
    # data for a dataset that is not there is a one-line 404, never the default dataset's data
    for url in ("/api/positions.bin?dataset=nope&proj=pca", "/api/tiles.json?dataset=nope&proj=pca"):
        resp = client.get(url)
        assert resp.status_code == 404 and resp.data.decode() == "no dataset 'nope' in this data directory\n", url
    # nor another view's data for a value the page would replace (a bogus projection, a column not there)
    for url in ("/api/positions.bin?dataset=digits&proj=bogus", "/api/tile/0/0/0.bin?dataset=digits&proj=bogus",
                "/api/colors.bin?dataset=digits&proj=pca&color=nope"):
        resp = client.get(url)
        text = resp.data.decode()
        assert resp.status_code == 400 and text.count("\n") == 1 and ("bogus" in text or "nope" in text), (url, text)
        assert "showing" not in text and "ignored" not in text, text  # the route does neither: it refuses


def test_files_serves_only_images_and_a_nul_byte_is_404(client, routes_data):
    assert client.get("/files/digits/images/0.png").status_code == 200
    assert client.get("/files/digits/thumbs/0.png").status_code == 200
    for url in ("/files/digits/images/0%00.png", "/files/digits/%00", "/files/dig%00its/images/0.png",
                "/files/digits/images/%00/../0.png",
                # what is in the folder but is not an image: the manifest and report name the server's paths
                "/files/formulas/manifest.json", "/files/digits/report.json", "/files/digits/meta.parquet",
                "/files/digits/latent/latent64.h5", "/files/digits/images/../manifest.json",
                "/files/digits/images/%2e%2e/manifest.json", "/files/digits/images", "/files/digits/images/"):
        assert client.get(url).status_code == 404, url


def test_nothing_served_names_the_servers_folders(client, routes_data):
    """The formulas dataset's provenance names a file under the data directory: no response shows it."""
    assert str(routes_data) in (routes_data / "formulas" / "manifest.json").read_text()
    urls = ["/healthz", "/", "/summary", "/_dash-layout", "/api/item?dataset=formulas&i=0",
            "/api/atlas.json?dataset=digits", "/export/formulas.csv?rows=all&proj=pca", "/api/labels.txt?dataset=formulas",
            "/files/formulas/manifest.json", "/files/formulas/report.json", "/export/formulas/vectors.csv",
            "/api/positions.bin?dataset=formulas&proj=tsne"]
    for url in urls:
        body = client.get(url).get_data(as_text=False)
        assert str(routes_data).encode() not in body and b"/private/" not in body, url


def _edges(client, query):
    body = _array(client.get("/api/edges.bin?" + query), "u1")
    m = len(body) // 9
    return body[: 8 * m].view("<u4").reshape(m, 2), body[8 * m:]


def test_neighbour_graph_edges(client):
    pairs, alpha = _edges(client, "dataset=digits&dim=16&graph=5")
    assert pairs.shape == (1797 * 5, 2) and pairs.max() < 1797 and len(alpha) == len(pairs)
    assert (pairs[:, 0] != pairs[:, 1]).all() and np.array_equal(np.bincount(pairs[:, 0]), np.full(1797, 5))
    # opacity follows the weight: each item's closest neighbour draws at least as strong as its 5th
    assert (alpha.reshape(1797, 5)[:, 0] >= alpha.reshape(1797, 5)[:, 4]).all() and alpha.max() > alpha.min()
    mutual, _ = _edges(client, "dataset=digits&dim=16&graph=5&mutual=1")
    both = {(a, b) for a, b in pairs.tolist()}
    assert 0 < len(mutual) < len(pairs) and all((b, a) in both for a, b in mutual.tolist())
    assert client.get("/api/edges.bin?dataset=digits").status_code == 400


def test_graph_columns_colour_and_size_the_map(client):
    resp = client.get("/api/colors.bin?dataset=digits&dim=16&graph=5&color=graph:community")
    assert resp.status_code == 200
    # the map names graph colours by the graph they come from, so a new graph fetches new colours
    state = ViewState(dataset="digits", space="16", graph=5, color="graph:community")
    assert state.column_query("color", state.color)["graph"] == 5
    rgba = _array(resp, "u1").reshape(1797, 4)
    assert len({tuple(c) for c in rgba.tolist()}) >= 5  # several communities, several colours
    sizes = _array(client.get("/api/sizes.bin?dataset=digits&dim=16&graph=5&sizeby=graph:degree"), "u1")
    assert len(sizes) == 1797 and sizes.min() >= 1 and sizes.max() == 255
    eig = _array(client.get("/api/sizes.bin?dataset=digits&dim=16&sizeby=graph:eigenvector"), "u1")
    assert len(eig) == 1797 and not np.array_equal(eig, sizes)
    assert client.get("/api/sizes.bin?dataset=digits").status_code == 400


@pytest.mark.parametrize("fmt", ["gexf", "graphml", "csv"])
def test_network_download_holds_the_rows_and_the_edges_among_them(client, fmt, tmp_path):
    import networkx as nx
    import zipfile

    sel = "0-99.500-549"
    resp = client.post("/export/digits/network", data={"dim": "16", "proj": "pca", "graph": "5", "sel": sel,
                                                       "color": "graph:community", "format": fmt})
    assert resp.status_code == 200, resp.data[:200]
    chosen = set(range(100)) | set(range(500, 550))
    pairs, _ = _edges(client, "dataset=digits&dim=16&graph=5")
    inside = {(a, b) for a, b in pairs.tolist() if a in chosen and b in chosen}
    if fmt == "csv":
        assert resp.headers["Content-Disposition"].endswith('.zip"')
        with zipfile.ZipFile(io.BytesIO(resp.data)) as z:
            names = sorted(z.namelist())
            nodes = pd.read_csv(z.open(next(n for n in names if n.endswith("_nodes.csv"))))
            edges = pd.read_csv(z.open(next(n for n in names if not n.endswith("_nodes.csv"))))
        assert set(nodes["Id"]) == chosen and {"community", "degree", "eigenvector", "Label", "meta_label"} <= set(nodes.columns)
        assert set(zip(edges["Source"], edges["Target"])) == inside
        return
    path = tmp_path / f"net.{fmt}"
    path.write_bytes(resp.data)
    g = nx.read_gexf(path) if fmt == "gexf" else nx.read_graphml(path)
    assert {int(n) for n in g.nodes} == chosen
    assert {(int(a), int(b)) for a, b in g.edges} == inside  # the edges among the rows, no others
    node = g.nodes[next(iter(g.nodes))]
    assert "community" in node and ("viz" in node or "r" in node)


def test_network_download_with_nothing_to_export_is_one_line(client):
    resp = client.post("/export/digits/network", data={"dim": "16", "proj": "pca", "f.label": "nope", "rows": "filtered"})
    assert resp.status_code == 400 and resp.data.decode().count("\n") == 1 and "empty" in resp.data.decode()


def test_vector_overlay_and_scores_csv(client, routes_data):
    from dashboard.groups import GroupStore

    store = GroupStore(routes_data)
    a = store.save_group("digits", "zeros", list(range(0, 1797, 10)), 1797)
    b = store.save_group("digits", "others", list(range(5, 1797, 10)), 1797)
    v = store.save_vector("digits", "zeros → others", a.id, b.id)
    resp = client.get(f"/api/vector.json?dataset=digits&dim=16&proj=vector&vector={v.id}&radius=2.5")
    assert resp.status_code == 200
    overlay = resp.get_json()
    assert overlay["name"] == "zeros → others" and overlay["radius"] == 2.5 and len(overlay["steps"]) == 10
    assert client.get("/api/vector.json?dataset=digits").status_code == 400
    csv_text = client.get("/export/digits/vectors.csv").data.decode()
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert {r["latent_dim"] for r in rows} == {"64", "32", "16", "8"} and rows[0]["vector"] == "zeros → others"
    assert all(float(r["cohens_d"]) == float(r["cohens_d"]) for r in rows)
    # the vector view's coordinates come with the ordinary CSV export
    table = pd.read_csv(io.StringIO(client.get(
        f"/export/digits.csv?rows=all&dataset=digits&dim=16&proj=vector&vector={v.id}").data.decode()))
    assert len(table) == 1797 and table["projection"].iloc[0] == f"vector {v.id}: zeros → others"


def test_buffers_revalidate_without_computing(tmp_path):
    """A browser asking again for a buffer it has gets a 304; a new build, another URL or encoding a 200."""
    from dashboard import fixtures

    d = tmp_path / "data"
    fixtures.blobs(d, "blobs", n=300)
    client = create_app(d, dataset="blobs").server.test_client()
    url = "/api/colors.bin?dataset=blobs&color=category"
    first = client.get(url)
    tag = first.headers["ETag"]
    assert first.status_code == 200 and tag and first.headers["Cache-Control"] == "no-cache"
    again = client.get(url, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == tag
    for other in (url + "&proj=pca", "/api/positions.bin?dataset=blobs&proj=pca"):
        assert client.get(other, headers={"If-None-Match": tag}).status_code == 200
    gz = client.get(url, headers={"If-None-Match": tag, "Accept-Encoding": "gzip"})
    assert gz.status_code == 200 and gz.headers["ETag"] != tag  # a different representation

    with DatasetWriter(d, "blobs", fresh=True) as w:  # rebuilt: same URL, new data
        w.set_info(type="other", metric="euclidean")
        w.write_meta(pd.DataFrame({"i": np.arange(50), "name": [f"q{k}" for k in range(50)],
                                   "category": ["a", "b"] * 25}), schema_overrides={"category": "categorical"})
        w.write_latent("4", np.random.default_rng(1).normal(size=(50, 4)).astype(np.float32), kind="raw")
        w.finish()
    rebuilt = client.get(url, headers={"If-None-Match": tag})
    assert rebuilt.status_code == 200 and len(rebuilt.data) == 4 * 50 and rebuilt.headers["ETag"] != tag


def test_cluster_names_carry_the_share_their_filters_keep(client):
    base = "/api/layout_labels.json?dataset=digits&space=64&proj=pca"
    plain = client.get(base).get_json()
    assert plain and all(len(label) == 4 for label in plain)
    threes = client.get(base + "&f.label=3").get_json()
    assert [label[:4] for label in threes] == plain and all(0 <= label[4] <= 1 for label in threes)
    assert max(label[4] for label in threes if label[0] == "3") > 0.8
    # a search (the page sends a bad regular expression as text: parse says so under the search box)
    searched = client.get(base + "&q=%28").get_json()
    assert [label[:4] for label in searched] == plain and all(label[4] == 0 for label in searched)
    assert client.get(base + "&q=%28&regex=1").status_code == 400  # never another search than asked
