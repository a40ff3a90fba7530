"""Importing a PixPlot output folder, written here in PixPlot's format (see shared/reference/pixplot.md §2)."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from dashboard.cli import cli
from dashboard.groups import HotspotStore
from dashboard.store import open_dataset


@pytest.fixture(scope="module")
def pixplot_output(npm_dir, tmp_path_factory):
    """output/ as PixPlot 0.0.113 leaves it: manifest, imagelist, layouts, hotspots, metadata, images, vectors."""
    root = tmp_path_factory.mktemp("pixplot") / "output"
    data = root / "data"
    for sub in ("imagelists", "layouts", "hotspots", "metadata/file", "originals", "thumbs", "image-vectors/inception"):
        (data / sub).mkdir(parents=True)
    names = []
    with tarfile.open(npm_dir / "emoji-datasource-twitter-16.0.0.tgz") as tar:
        for m in tar:
            if m.name.endswith(".png") and "/64/" in m.name and len(names) < 12:
                name = m.name.rsplit("/", 1)[1]
                names.append(name)
                raw = tar.extractfile(m).read()
                (data / "originals" / name).write_bytes(raw)
                (data / "thumbs" / name).write_bytes(raw)
    rng = np.random.default_rng(0)
    for k, name in enumerate(names):
        np.save(data / "image-vectors" / "inception" / f"{name}.npy", rng.normal(size=2048).astype(np.float32))
        (data / "metadata" / "file" / f"{name}.json").write_text(json.dumps(
            {"filename": name, "category": ["odd", "even"][k % 2 == 0], "tags": ["a", "b"], "year": str(2000 + k)}))
    pid = "abc123"
    (data / "imagelists" / f"imagelist-{pid}.json").write_text(json.dumps({"images": names, "cell_sizes": [], "atlas": {}}))
    umap = rng.uniform(-1, 1, size=(12, 2)).round(5).tolist()
    (data / "layouts" / f"umap-{pid}.json").write_text(json.dumps(umap))
    grid = [[(k % 4) / 1.5 - 1, -(k // 4) / 1.5 + 1] for k in range(12)]
    (data / "layouts" / f"rasterfairy-{pid}.json").write_text(json.dumps(grid))
    (data / "layouts" / f"categorical-{pid}.json").write_text(json.dumps(grid))
    (data / "layouts" / f"categorical-labels-{pid}.json").write_text(json.dumps(
        {"positions": [[-0.5, -1.1], [0.5, -1.1]], "labels": ["even", "odd"]}))
    (data / "hotspots" / f"hotspot-{pid}.json").write_text(json.dumps([
        {"label": "Cluster 1", "img": names[5], "images": [1, 3, 5], "layout": "inception_vectors"},
        {"label": "Cluster 2", "img": names[8], "images": [0, 8, 11], "layout": "inception_vectors"}]))
    (data / "hotspots" / "user_hotspots.json").write_text(json.dumps([
        {"label": "Faces I like", "img": names[3], "images": [2, 3, 4, 99]}]))
    prefix = "output/data"
    manifest = {
        "version": "0.0.113", "plot_id": pid, "output_directory": "output", "initial_layout": "umap",
        "imagelist": f"{prefix}/imagelists/imagelist-{pid}.json", "atlas_dir": f"{prefix}/atlases/{pid}",
        "metadata": True, "default_hotspots": f"{prefix}/hotspots/hotspot-{pid}.json",
        "custom_hotspots": f"{prefix}/hotspots/user_hotspots.json", "gzipped": False,
        "layouts": {
            "umap": {"variants": [{"n_neighbors": 15, "min_dist": 0.01, "layout": f"{prefix}/layouts/umap-{pid}.json",
                                   "jittered": None}]},
            "alphabetic": {"layout": f"{prefix}/layouts/grid-{pid}.json"},  # missing file: skipped
            "grid": {"layout": f"{prefix}/layouts/rasterfairy-{pid}.json"},
            "categorical": {"layout": f"{prefix}/layouts/categorical-{pid}.json",
                            "labels": f"{prefix}/layouts/categorical-labels-{pid}.json"},
            "date": False, "geographic": None, "custom": None,
        },
    }
    (data / "manifest.json").write_text(json.dumps(manifest))
    return root, names, umap


def test_pixplot_output_imports_with_layouts_hotspots_and_metadata(pixplot_output, tmp_path):
    root, names, umap = pixplot_output
    r = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "add", str(root), "--name", "collection"])
    assert r.exit_code == 0, r.output
    ds = open_dataset(tmp_path, "collection")
    assert ds.n == 12 and list(ds.meta["name"]) == names
    assert ds.meta["category"].iloc[0] == "even" and ds.meta["tags"].iloc[0] == "a|b" and ds.meta["year"].iloc[3] == 2003
    assert set(ds.spaces) == {"inception", "pca11"} and ds.spaces["inception"].dim == 2048
    assert set(ds.arrangements) == {"pixplot_umap", "grid", "categorical"}
    xy, labels = ds.arrangement("pixplot_umap")
    assert np.allclose(xy, umap, atol=1e-5)  # drawn where PixPlot drew it
    assert ds.arrangement("categorical")[1] == [["even", -0.5, -1.1], ["odd", 0.5, -1.1]]
    # the user's saved hotspots win over the defaults; an index beyond the list is dropped
    assert ds.default_hotspots == [{"label": "Faces I like", "members": [2, 3, 4], "representative": 3}]
    listed = HotspotStore(tmp_path).hotspots(ds.name, ds.build_id, ds.default_hotspots)
    assert [(h.label, h.size, h.representative) for h in listed] == [("Faces I like", 3, 3)]
    assert ds.image_path(0).is_file() and ds.image_path(0, thumb=True).is_file()
    # importing again: refused in one line; --force builds a new version beside the served one
    r = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "add", str(root), "--name", "collection"])
    assert r.exit_code == 1 and "already exists" in r.output.strip().splitlines()[-1]
    served = {p: p.read_bytes() for p in ds.path.rglob("*") if p.is_file()}
    r = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "add", str(root), "--name", "collection", "--force"])
    assert r.exit_code == 0, r.output
    again = open_dataset(tmp_path, "collection")
    assert again.build_id != ds.build_id and again.path != ds.path and list(again.meta["name"]) == names
    assert all(p.read_bytes() == b for p, b in served.items() if p.exists())  # the old version was never rewritten


def test_not_a_pixplot_folder_is_one_line(tmp_path):
    (tmp_path / "x" / "data").mkdir(parents=True)
    (tmp_path / "x" / "data" / "manifest.json").write_text("{\"imagelist\": \"output/data/imagelists/none.json\", \"layouts\": {}}")
    r = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "d"), "add", str(tmp_path / "x")])
    assert r.exit_code == 1 and r.output.count("\n") == 1 and "image list" in r.output


# --------------------------------------------------------------------------
# Older outputs, written here as PixPlot's code of the time wrote them (YaleDHLab/pix-plot
# history: utils/process_images.py until November 2019, then pixplot/pixplot.py).

N_OLD = 12


def _old_images(data, names, sub=("originals", "thumbs")):
    from PIL import Image

    for d in sub:
        (data / d).mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        for d in sub:
            Image.new("RGB", (24, 16), (20 * k, 100, 255 - 20 * k)).save(data / d / name, format="JPEG")


def _umap_two_clusters():
    """PixPlot's layouts are min-max scaled to -1..1: images 0-5 bottom left, 6-11 top right."""
    rng = np.random.default_rng(1)
    xy = np.vstack([rng.uniform(-0.7, -0.3, (6, 2)), rng.uniform(0.3, 0.7, (6, 2))])
    xy[0], xy[-1] = (-1, -1), (1, 1)
    return xy.round(4)


def _file_order_grid(n):
    """PixPlot's get_grid_layout: column i % ceil(sqrt n), row i // ceil(sqrt n), scaled to -1..1."""
    side = int(np.ceil(np.sqrt(n)))
    g = np.array([[i % side, i // side] for i in range(n)], float)
    return ((g - g.min(0)) / np.ptp(g, 0) - 0.5) * 2


def _vectors(data, folder, names, gz=()):
    import gzip

    rng = np.random.default_rng(2)
    X = rng.normal(size=(len(names), 2048)).astype(np.float32)
    (data / folder).mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        if name in gz:  # a user gzipped some of them
            with gzip.open(data / folder / f"{name}.npy.gz", "wb") as f:
                np.save(f, X[k])
        else:
            np.save(data / folder / f"{name}.npy", X[k])
    return X


def _add(tmp_path, folder, name):
    r = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "d"), "add", str(folder), "--name", name])
    assert r.exit_code == 0, r.output
    return open_dataset(tmp_path / "d", name), r.output


def test_mid_2020_output_with_per_image_vectors_rasterfairy_and_outlined_hotspots(tmp_path):
    """July 2020 (pixplot.py at ce8d281): imagelist file, vectors in image-vectors/<file>.npy, ``grid`` is the
    file-order grid beside ``rasterfairy``, hotspots given by their convex hull in the UMAP layout."""
    root = tmp_path / "output"
    data = root / "data"
    names = [f"img{k:02d}.jpg" for k in range(N_OLD)]
    _old_images(data, names)
    X = _vectors(data, "image-vectors", names, gz={names[4]})
    pid = "5f1e"
    (data / "layouts").mkdir()
    (data / "imagelists").mkdir()
    (data / "hotspots").mkdir()
    umap, grid = _umap_two_clusters(), _file_order_grid(N_OLD)
    raster = grid[::-1].copy()  # rasterfairy: some other grid cell per image
    for key, xy in (("umap", umap), ("umap-jittered", umap * 0.9), ("grid", grid), ("rasterfairy", raster)):
        (data / "layouts" / f"{key}-{pid}.json").write_text(json.dumps(xy.tolist(), indent=4))
    (data / "layouts" / f"timeline-{pid}.json").write_text(json.dumps(grid.tolist()))
    (data / "layouts" / f"timeline-labels-{pid}.json").write_text(json.dumps(
        {"positions": [[-1, -1.2], [0, -1.2]], "labels": ["1990", "1991"], "cols": 3}))
    (data / "imagelists" / f"imagelist-{pid}.json").write_text(json.dumps(
        {"cell_sizes": [[[32, 21]] * N_OLD], "images": names, "atlas": {"count": 1, "positions": [[[0, 0]] * N_OLD]}}))
    ring = [[-0.8, -0.8], [-0.2, -0.8], [-0.2, -0.2], [-0.8, -0.2], [-0.8, -0.8]]
    (data / "hotspots" / f"hotspot-{pid}.json").write_text(json.dumps([
        {"img": names[2], "convex_hull": ring, "n_images": 5, "label": "Cluster 1"}]))
    p = "output/data"
    (data / "manifest.json").write_text(json.dumps({
        "version": "0.0.93", "plot_id": pid, "initial_layout": "umap", "point_sizes": {"grid": 0.25},
        "imagelist": f"{p}/imagelists/imagelist-{pid}.json", "atlas_dir": f"{p}/atlases/{pid}", "metadata": False,
        "hotspots": f"{p}/hotspots/hotspot-{pid}.json",
        "layouts": {"umap": {"layout": f"{p}/layouts/umap-{pid}.json", "jittered": f"{p}/layouts/umap-jittered-{pid}.json"},
                    "grid": {"layout": f"{p}/layouts/grid-{pid}.json"},
                    "rasterfairy": {"layout": f"{p}/layouts/rasterfairy-{pid}.json"},
                    "categorical": False,
                    "date": {"layout": f"{p}/layouts/timeline-{pid}.json", "labels": f"{p}/layouts/timeline-labels-{pid}.json"}},
    }))
    ds, output = _add(tmp_path, root, "mid2020")
    # the vectors came in, in the image list's order (one of them gzipped): every view of a latent space works
    np.testing.assert_allclose(ds.latent("inception"), X)
    assert "pca11" in ds.spaces
    # both grids kept, each under the name of what it is; the file-order one is not called "grid"
    assert set(ds.arrangements) == {"pixplot_umap", "jittered", "alphabetic", "rasterfairy", "date"}
    np.testing.assert_allclose(ds.arrangement("alphabetic")[0], grid, atol=1e-6)
    np.testing.assert_allclose(ds.arrangement("rasterfairy")[0], raster, atol=1e-6)
    assert "called it 'grid'" in ds.arrangements["alphabetic"]["description"]
    assert ds.arrangement("date")[1] == [["1990", -1.0, -1.2], ["1991", 0.0, -1.2]]
    # the outlined hotspot: the images inside the outline (the first cluster except its corner image 0)
    assert ds.default_hotspots == [{"label": "Cluster 1", "members": [1, 2, 3, 4, 5], "representative": 2}]
    assert "inside each hotspot's outline" in output


def test_december_2019_manifest_with_inline_images_and_kmeans_centroids(tmp_path):
    """December 2019 (pixplot.py at 2745779): no imagelist (``images``, ``atlas`` and ``cell_sizes`` in the
    manifest), layouts given as bare paths, k-means ``centroids`` file with only each centroid's image."""
    data = tmp_path / "output" / "data"
    names = [f"photo {k}.jpg" for k in range(N_OLD)]
    _old_images(data, names)
    X = _vectors(data, "image-vectors", names)
    (data / "layouts").mkdir()
    (data / "centroids").mkdir()
    h = "9c2b6a1e-1a2b-11ea-8d71-362b9e155667"  # PixPlot hashed with uuid1 then
    umap, grid = _umap_two_clusters(), _file_order_grid(N_OLD)
    for key, xy in (("umap", umap), ("grid", grid), ("rasterfairy", grid[::-1])):
        (data / "layouts" / f"{key}-{h}.json").write_text(json.dumps(xy.tolist()))
    (data / "centroids" / f"centroid-{h}.json").write_text(json.dumps([
        {"img": names[3], "label": "Cluster 1", "idx": 3}, {"img": names[9], "label": "Cluster 2", "idx": 9}]))
    (data / "manifest.json").write_text(json.dumps({
        "cell_sizes": [[[32, 21]] * N_OLD], "atlas": {"count": 1, "positions": [[[k * 32, 0] for k in range(N_OLD)]]},
        "layouts": {k: f"output/data/layouts/{k}-{h}.json" for k in ("umap", "grid", "rasterfairy")},
        "config": {"sizes": {"atlas": 2048, "cell": 32, "lod": 128}},
        "centroids": f"output/data/centroids/centroid-{h}.json", "images": names, "metadata": False,
        "creation_date": "19-December-2019-10:00:00", "version": "0.0.6"}))
    ds, output = _add(tmp_path, tmp_path / "output", "dec2019")
    assert list(ds.meta["name"]) == names
    np.testing.assert_allclose(ds.latent("inception"), X)
    assert set(ds.arrangements) == {"pixplot_umap", "alphabetic", "rasterfairy"}
    # each image belongs to the centroid image nearest to it in the UMAP layout (what PixPlot clustered then)
    assert ds.default_hotspots == [{"label": "Cluster 1", "members": list(range(6)), "representative": 3},
                                   {"label": "Cluster 2", "members": list(range(6, 12)), "representative": 9}]
    assert "k-means centroid" in output


def test_november_2019_manifest_with_positions_and_per_layout_centroids(tmp_path):
    """November 2019 (pixplot.py at e7460de): layouts are {"positions": "/output/data/…", "centroids": …},
    and no vectors were kept: the UMAP positions become the latent space, and the report says why."""
    data = tmp_path / "output" / "data"
    names = [f"n{k}.png" for k in range(N_OLD)]
    _old_images(data, names, sub=("originals",))
    (data / "layouts").mkdir()
    (data / "centroids").mkdir()
    umap = _umap_two_clusters()
    layouts = {}
    for k, (key, xy) in enumerate((("rasterfairy", _file_order_grid(N_OLD)[::-1]), ("umap", umap),
                                   ("grid", _file_order_grid(N_OLD)))):
        (data / "layouts" / f"{key}-{k}.json").write_text(json.dumps(xy.tolist()))
        (data / "centroids" / f"{k}.json").write_text(json.dumps(
            [{"img": names[0], "label": "Cluster 1", "idx": 0, "position": [0.1] * 4},
             {"img": names[11], "label": "Cluster 2", "idx": 11, "position": [0.2] * 4}]))
        layouts[key] = {"positions": f"/output/data/layouts/{key}-{k}.json", "centroids": f"/output/data/centroids/{k}.json"}
    (data / "manifest.json").write_text(json.dumps({
        "cell_sizes": [[[32, 32]] * N_OLD], "atlas": {"count": 1, "positions": [[[0, 0]] * N_OLD]}, "layouts": layouts,
        "config": {"sizes": {"atlas": 2048, "cell": 32, "lod": 128}}, "images": names, "metadata": False}))
    ds, output = _add(tmp_path, tmp_path / "output", "nov2019")
    assert set(ds.spaces) == {"umap2d"} and set(ds.arrangements) == {"pixplot_umap", "alphabetic", "rasterfairy"}
    assert [h["members"] for h in ds.default_hotspots] == [list(range(6)), list(range(6, 12))]
    notes = "\n".join(ds.report["notes"])
    assert "Inception vectors not imported (no image-vectors/ folder)" in notes
    assert "hotspots in centroids/0.json, centroids/2.json not imported: centroids/1.json was used" in notes


def test_manifest_without_layouts_reads_the_layout_files_and_says_so(tmp_path):
    data = tmp_path / "out" / "data"
    names = [f"a{k}.jpg" for k in range(N_OLD)]
    _old_images(data, names)
    _vectors(data, "image-vectors/inception", names)
    (data / "layouts").mkdir()
    pid = "p1"
    (data / "layouts" / f"umap-{pid}.json").write_text(json.dumps(_umap_two_clusters().tolist()))
    (data / "layouts" / f"alphabetic-{pid}.json").write_text(json.dumps(_file_order_grid(N_OLD).tolist()))
    (data / "layouts" / f"grid-{pid}.json").write_text(json.dumps(_file_order_grid(N_OLD)[::-1].tolist()))
    (data / "layouts" / "notes.json").write_text("[]")
    (data / "manifest.json").write_text(json.dumps({"plot_id": pid, "images": names,
                                                     "atlas": {"count": 1, "positions": [[[0, 0]] * N_OLD]}}))
    ds, output = _add(tmp_path, tmp_path / "out", "nolayouts")
    assert set(ds.arrangements) == {"pixplot_umap", "alphabetic", "grid"}
    notes = "\n".join(ds.report["notes"])
    assert "manifest.json has no 'layouts': read 3 layout file(s) from data/layouts/" in notes
    assert "layouts/notes.json: not a layout PixPlot writes; not imported" in notes


def test_early_2019_plot_data_with_centroids_json(tmp_path):
    """utils/process_images.py (2018 to November 2019): plot_data.json holds every layout inline,
    centroids.json the k-means centroid images, image_vectors/ the vectors, thumbs/128px/ the thumbnails."""
    out = tmp_path / "output"
    names = [f"e{k}.jpg" for k in range(N_OLD)]
    _old_images(out, names, sub=("originals", "thumbs/128px", "thumbs/32px"))
    X = _vectors(out, "image_vectors", names)
    umap = _umap_two_clusters()
    tsne3 = np.c_[umap, np.linspace(-1, 1, N_OLD)]
    (out / "plot_data.json").write_text(json.dumps({
        "cells": {"layouts": ["tsne_2d", "tsne_3d", "umap_2d"],
                  "data": [[n, 24, 16, [umap[k].tolist(), tsne3[k].tolist(), umap[k].tolist()]] for k, n in enumerate(names)]},
        "atlas_counts": {"32px": 1}}))
    (out / "centroids.json").write_text(json.dumps([{"img": names[k], "idx": k, "label": f"Cluster {j + 1}"}
                                                     for j, k in enumerate((2, 7, 11))]))
    ds, output = _add(tmp_path, out, "early2019")
    np.testing.assert_allclose(ds.latent("inception"), X)
    assert set(ds.arrangements) == {"pixplot_tsne", "tsne_3d", "pixplot_umap"}
    assert "3-d layout" in ds.arrangements["tsne_3d"]["description"]
    assert [h["label"] for h in ds.default_hotspots] == ["Cluster 1", "Cluster 2", "Cluster 3"]
    assert sorted(i for h in ds.default_hotspots for i in h["members"]) == list(range(N_OLD))
    assert "plot_data.json, early 2019" in output


def test_what_cannot_be_imported_is_named_with_why(tmp_path):
    data = tmp_path / "o" / "data"
    names = [f"b{k}.jpg" for k in range(N_OLD)]
    _old_images(data, names)
    _vectors(data, "image-vectors", names[:-1])  # the last image's vector is missing
    (data / "layouts").mkdir()
    (data / "layouts" / "umap-x.json").write_text(json.dumps(_umap_two_clusters().tolist()))
    (data / "layouts" / "grid-x.json").write_text(json.dumps(_file_order_grid(N_OLD)[:5].tolist()))
    (data / "manifest.json").write_text(json.dumps({
        "images": names, "layouts": {"umap": {"layout": "output/data/layouts/umap-x.json"},
                                     "grid": {"layout": "output/data/layouts/grid-x.json"},
                                     "rasterfairy": {"layout": "output/data/layouts/rasterfairy-x.json"}}}))
    ds, output = _add(tmp_path, tmp_path / "o", "partial")
    notes = "\n".join(ds.report["notes"])
    assert f"1 of {N_OLD} images have no vector in image-vectors/ (first: b11.jpg)" in notes
    assert f"layout 'alphabetic' (layouts/grid-x.json): 5 positions for {N_OLD} images; not imported" in notes
    assert "layout 'rasterfairy': its file 'output/data/layouts/rasterfairy-x.json' is missing; not imported" in notes
    assert set(ds.arrangements) == {"pixplot_umap"}


def test_manifest_that_names_no_images_says_which_keys_it_has(tmp_path):
    (tmp_path / "x" / "data").mkdir(parents=True)
    (tmp_path / "x" / "data" / "manifest.json").write_text(json.dumps({"atlas": {"count": 1}, "layouts": {}}))
    r = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "d"), "add", str(tmp_path / "x")])
    assert r.exit_code == 1 and r.output.count("\n") == 1
    assert "neither an 'imagelist' file nor an 'images' list" in r.output and "keys found: atlas, layouts" in r.output


def test_csv_years_stay_integers_with_missing_values(tmp_path):
    """metadata.py: a year column with empty cells is nullable Int64 (shown 1990, never 1990.0), through matching."""
    from dashboard.ingest.metadata import match_metadata, read_metadata

    csv = tmp_path / "m.csv"
    csv.write_text("filename,year,count,code,word\na.jpg,1990,3,007,NA\nb.jpg,,,012,null\nc.jpg,2001-05-03,10,100,x\n")
    table, messages = read_metadata(str(csv))
    assert str(table["year"].dtype) == "Int64" and table["year"].tolist()[0] == 1990 and pd.isna(table["year"][1])
    assert str(table["count"].dtype) == "Int64"
    assert table["code"].tolist() == ["007", "012", "100"] and table["word"].tolist() == ["NA", "null", "x"]
    aligned, _ = match_metadata(table, ["c.jpg", "a.jpg", "b.jpg", "d.jpg"])
    assert str(aligned["year"].dtype) == "Int64"
    assert [None if pd.isna(v) else str(v) for v in aligned["year"]] == ["2001", "1990", None, None]
