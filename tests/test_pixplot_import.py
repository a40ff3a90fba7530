"""Importing a PixPlot output folder, written here in PixPlot's format (see shared/reference/pixplot.md §2)."""

from __future__ import annotations

import json
import tarfile

import numpy as np
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


def test_not_a_pixplot_folder_is_one_line(tmp_path):
    (tmp_path / "x" / "data").mkdir(parents=True)
    (tmp_path / "x" / "data" / "manifest.json").write_text("{\"imagelist\": \"output/data/imagelists/none.json\", \"layouts\": {}}")
    r = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "d"), "add", str(tmp_path / "x")])
    assert r.exit_code == 1 and r.output.count("\n") == 1 and "image list" in r.output
