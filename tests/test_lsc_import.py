"""Importing Latent Space Cartography folders: good ones import, broken ones list every problem."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from dashboard import computed
from dashboard.cli import cli
from dashboard.computed import get_layout
from dashboard.errors import ValidationError
from dashboard.ingest.lsc import LscConfig, import_folder, load_config
from dashboard.store import list_datasets, open_dataset

from .conftest import write_lsc_folder


def test_good_folder_imports(tmp_path, lsc_folder):
    data = tmp_path / "data"
    ds = import_folder(data, lsc_folder, config=LscConfig(type="image", metric="l2", columns={"score": "numeric"}))
    assert ds.name == "lsc_demo" and ds.n == 60 and ds.type == "image"
    assert set(ds.spaces) == {"4", "8"}
    assert ds.schema["category"] == "categorical" and ds.schema["score"] == "numeric"
    with h5py.File(lsc_folder / "latent" / "latent8.h5") as f:
        np.testing.assert_allclose(ds.latent("8"), f["latent"][()])
    assert ds.image_path(5).is_file() and ds.image_path(5, thumb=True).is_file()
    # an image model's raw.h5 holds the pixels it trained on: named, not imported (the images are images/)
    assert any(n.startswith("raw.h5: the pixels the image model was trained on (60 × 10)") for n in ds.report["notes"])
    # LSC's precomputed t-SNE is used as it is, not recomputed
    lay = get_layout(ds, "4", "tsne", perplexity=30)
    assert lay.source == "stored" and lay.xy.shape == (60, 2)


def test_meta_rows_are_aligned_by_i(tmp_path, lsc_folder):
    meta = pd.read_csv(lsc_folder / "meta.csv")
    meta.sample(frac=1, random_state=0).to_csv(lsc_folder / "meta.csv", index=False)
    ds = import_folder(tmp_path / "data", lsc_folder, config=LscConfig(type="image"))
    assert ds.meta["i"].tolist() == list(range(60))
    assert ds.meta["name"].tolist() == [f"item {k}" for k in range(60)]


def _break(folder):
    """Every kind of problem the issue names, in one folder."""
    with h5py.File(folder / "latent" / "latent4.h5", "w") as f:  # wrong key
        f.create_dataset("z", data=np.zeros((60, 4)))
    with h5py.File(folder / "latent" / "latent8.h5", "w") as f:  # 58 rows, one NaN row
        a = np.zeros((58, 8))
        a[3, 1] = np.nan
        f.create_dataset("latent", data=a)
    (folder / "latent" / "latent16.h5").write_bytes(b"not hdf5")
    meta = pd.read_csv(folder / "meta.csv")
    meta["i"] = meta["i"].astype(object)
    meta.loc[7, "i"] = "seven"
    meta.to_csv(folder / "meta.csv", index=False)
    (folder / "images" / "3.png").unlink()


def test_broken_folder_reports_every_problem_and_writes_nothing(tmp_path, lsc_folder):
    _break(lsc_folder)
    data = tmp_path / "data"
    with pytest.raises(ValidationError) as err:
        import_folder(data, lsc_folder, config=LscConfig(type="image", columns={"colour": "categorical"}))
    text = "\n".join(err.value.problems)
    assert "latent/latent4.h5: no dataset 'latent' (found: 'z')" in text
    assert "NaN or infinite values in 1 rows (rows 3)" in text
    assert "latent/latent16.h5: not a readable HDF5 file" in text
    assert "unknown column 'colour'" in text
    assert "i is not an integer on line 9 ('seven')" in text
    assert "meta.csv has 60 rows but latent/latent8.h5 has 58" in text
    assert "images/: 1 of 60 images missing (i = 3)" in text
    assert len(err.value.problems) == 7
    assert not data.exists() or list_datasets(data) == []
    assert not (data / "lsc_demo").exists()


def test_row_counts_and_duplicates(tmp_path, lsc_folder):
    with h5py.File(lsc_folder / "latent" / "latent8.h5", "w") as f:
        f.create_dataset("latent", data=np.zeros((58, 8)))
    meta = pd.read_csv(lsc_folder / "meta.csv")
    meta.to_csv(lsc_folder / "meta.csv", index=False)
    with pytest.raises(ValidationError) as err:
        import_folder(tmp_path / "data", lsc_folder, config=LscConfig(type="image"))
    assert "meta.csv has 60 rows but latent/latent8.h5 has 58" in "\n".join(err.value.problems)

    meta.loc[5, "i"] = 4
    meta.to_csv(lsc_folder / "meta.csv", index=False)
    with pytest.raises(ValidationError) as err:
        import_folder(tmp_path / "data", lsc_folder, config=LscConfig(type="image"))
    assert "duplicate i values: 4 on lines 6, 7" in "\n".join(err.value.problems)


def test_missing_files_are_named(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValidationError) as err:
        import_folder(tmp_path / "data", empty)
    problems = "\n".join(err.value.problems)
    assert "latent/: folder missing" in problems and "meta.csv: file missing" in problems


def test_cli_add_broken_exits_nonzero_with_every_problem(tmp_path, lsc_folder):
    _break(lsc_folder)
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "d"), "add", str(lsc_folder), "--type", "image"])
    assert result.exit_code == 1
    assert "cannot be imported (6 problems)" in result.output
    assert "Traceback" not in result.output
    assert result.output.count("  - ") == 6


def test_cli_add_good_with_flags_and_config(tmp_path):
    folder = write_lsc_folder(tmp_path / "glove", images=False, tsne=False)
    config = tmp_path / "config.json"
    config.write_text('{"type": "text", "metric": "cosine", "columns": {"score": "numeric"}}')
    runner = CliRunner()
    result = runner.invoke(
        cli, ["--data-dir", str(tmp_path / "d"), "add", str(folder), "--name", "glove6b", "--config", str(config), "--column", "category=text"]
    )
    assert result.exit_code == 0, result.output
    assert "glove6b: 60 items (text)" in result.output
    ds = open_dataset(tmp_path / "d", "glove6b")
    assert computed.layout_ready(ds, ds.default_space, "pca")  # the first visit draws at once (mapview.prepare)
    info = runner.invoke(cli, ["--data-dir", str(tmp_path / "d"), "info", "glove6b"])
    assert "metric cosine" in info.output and "category: text" in info.output and "score: numeric" in info.output
    again = runner.invoke(cli, ["--data-dir", str(tmp_path / "d"), "add", str(folder), "--name", "glove6b"])
    assert again.exit_code == 1 and "already exists" in again.output


def test_bad_config_is_one_line(tmp_path):
    bad = tmp_path / "c.json"
    bad.write_text("{not json")
    with pytest.raises(Exception, match="not valid JSON"):
        load_config(bad, type=None, metric=None, columns={})
    bad.write_text('{"type": "video"}')
    with pytest.raises(Exception, match="data type must be one of image, text, other"):
        load_config(bad, type=None, metric=None, columns={})


def test_meta_that_is_not_utf8_is_named(tmp_path, lsc_folder):
    (lsc_folder / "meta.csv").write_bytes("i,name\n0,caf\xe9\n".encode("latin-1"))
    with pytest.raises(ValidationError) as err:
        import_folder(tmp_path / "data", lsc_folder)
    assert any(p.startswith("meta.csv: not UTF-8 text") for p in err.value.problems)


# --------------------------------------------------------------------------
# LSC folders as LSC users have them (uwdata/latent-space-cartography: model/config_<dset>.py,
# configs/config_<dset>.json, model/run_umap.py, util/tybalt/wrangle.py)

SERVER_CONFIG = '''#!/usr/bin/env python
# configurations of GloVe word embedding on Wikipedia data (6B)

dset = 'glove_demo'
data_type = 'text'
dims = [4, 8]
metric = 'cosine'
train_split = 50
colour_scheme = 'viridis'
import os

# MySQL table schema
schema_meta = 'i, name, category, score, note'
schema_header = None
'''

CLIENT_CONFIG = {
    "train_split": 50, "initial_dim": 8, "initial_projection": "t-SNE",
    "schema": {"type": {"score": "numeric", "missing_col": "categorical"}},
    "rendering": {"dot_color": None},
    "search": {"simple": True, "advanced": True, "by": ["name", "note"], "filter": "category"},
    "legend_position": "left",
}


def test_lsc_config_files_kept_with_the_data_are_read(tmp_path):
    folder = write_lsc_folder(tmp_path / "glove_demo", images=False, tsne=False)
    (folder / "config_glove_demo.py").write_text(SERVER_CONFIG)
    (folder / "config_glove_demo.json").write_text(json.dumps(CLIENT_CONFIG))
    runner = CliRunner()
    result = runner.invoke(cli, ["--data-dir", str(tmp_path / "d"), "add", str(folder)])
    assert result.exit_code == 0, result.output
    ds = open_dataset(tmp_path / "d", "glove_demo")
    assert ds.type == "text" and ds.metric == "cosine" and ds.default_space == "8"  # data_type, metric, initial_dim
    assert ds.schema["score"] == "numeric" and ds.schema["category"] == "categorical" and ds.schema["note"] == "text"
    notes = "\n".join(ds.report["notes"])
    assert "config read from config_glove_demo.py, config_glove_demo.json" in notes
    assert "config_glove_demo.py: key 'colour_scheme' not understood; ignored" in notes
    assert "config_glove_demo.py line 10: not a setting (import); ignored" in notes
    assert "config_glove_demo.json: key 'legend_position' not understood" in notes
    assert "column 'missing_col' is not in meta.csv" in notes
    assert "train_split 50" in notes
    # flags win over the files; --config accepts LSC's own files (it refused them before)
    again = runner.invoke(cli, ["--data-dir", str(tmp_path / "d"), "add", str(folder), "--name", "g2", "--metric", "l2",
                                "--config", str(folder / "config_glove_demo.json")])
    assert again.exit_code == 0, again.output
    assert open_dataset(tmp_path / "d", "g2").metric == "euclidean"


def test_lsc_python_config_is_read_never_run(tmp_path):
    marker = tmp_path / "ran"
    cfg = tmp_path / "config_x.py"
    cfg.write_text(f"data_type = 'image'\nopen({str(marker)!r}, 'w').write('x')\nmetric = 'l2'\n"
                   "img_rows, img_cols, img_chns = 64, 64, 4\n")
    config = load_config(cfg, type=None, metric=None, columns={})
    assert (config.type, config.metric, config.image_shape) == ("image", "euclidean", [64, 64, 4])
    assert not marker.exists()
    assert any("line 2: not a setting (expr)" in n for n in config.notes)
    cfg.write_text("data_type = 'video'\n")
    with pytest.raises(Exception, match="data type must be one of image, text, other, got 'video'"):
        load_config(cfg, type=None, metric=None, columns={})


def test_words_such_as_NA_and_null_stay_names(tmp_path):
    folder = write_lsc_folder(tmp_path / "words", n=8, images=False, tsne=False)
    words = ["null", "NA", "None", "nan", "n/a", "NaN", "N/A", "word"]
    pd.DataFrame({"i": range(8), "name": words, "gloss": ["NA"] * 4 + ["None"] * 4,
                  "count": ["12", "NA", "7", "", "3", "1", "n/a", "5"],
                  "weight": ["0.5", "NA", "1.25", "2", "3", "1", "1", "1"]}).to_csv(folder / "meta.csv", index=False)
    (folder / "config_words.json").write_text(json.dumps({"search": {"by": ["name", "gloss"]}}))
    ds = import_folder(tmp_path / "d", folder)
    assert ds.meta["name"].tolist() == words
    assert ds.meta["gloss"].tolist() == ["NA"] * 4 + ["None"] * 4
    # a column of numbers: "NA" there is a missing number, and whole numbers stay integers
    assert str(ds.meta["count"].dtype) == "Int64" and ds.meta["count"].isna().tolist() == [
        False, True, False, True, False, False, True, False]
    assert ds.meta["count"].iloc[0] == 12 and ds.schema["weight"] == "numeric"


def test_umap_h5_layouts_are_imported_as_stored_layouts(tmp_path):
    folder = write_lsc_folder(tmp_path / "lsc_u", images=False, tsne=False)
    (folder / "umap").mkdir()
    rng = np.random.default_rng(3)
    xy = rng.normal(size=(60, 2)).astype(np.float32)
    with h5py.File(folder / "umap" / "umap4.h5", "w") as f:  # as run_umap.py writes them
        f.create_dataset("neighbor15-dist0.1", data=xy)
        f.create_dataset("neighbor5-dist0.001", data=xy[::-1].copy())
        f.create_dataset("neighbor5-dist0.5", data=xy[:10])
    (folder / "umap" / "umap4-nn15-dist0.1.pkl").write_bytes(b"\x80\x02cos\nsystem\nq\x00.")
    ds = import_folder(tmp_path / "d", folder)
    lay = get_layout(ds, "4", "umap", n_neighbors=15, min_dist=0.1)
    assert lay.source == "stored"
    np.testing.assert_allclose(np.argsort(lay.xy[:, 0]), np.argsort(xy[:, 0]))
    assert get_layout(ds, "4", "umap", n_neighbors=5, min_dist=0.001).source == "stored"
    notes = "\n".join(ds.report["notes"])
    assert "umap/: 2 stored UMAP layouts imported" in notes
    assert "umap/umap4.h5: 'neighbor5-dist0.5' has shape (10, 2), not 60 × 2; not imported" in notes
    assert "1 pickled UMAP models (*.pkl) not loaded" in notes and "their embeddings came from umap/umap<dim>.h5" in notes


def test_raw_h5_header_csv_and_fn_raw(tmp_path):
    folder = write_lsc_folder(tmp_path / "tybalt", n=20, images=False, tsne=False)
    (folder / "raw.h5").unlink()
    genes = [f"GENE{k}" for k in range(6)]
    raw = np.random.default_rng(4).uniform(size=(20, 6)).astype(np.float32)
    with h5py.File(folder / "raw.h5", "w") as f:  # what LSC's server reads: dataset "data"
        f.create_dataset("data", data=raw)
        f.create_dataset("other", data=np.zeros((3, 3)))
    pd.DataFrame({"i": range(6), "name": genes}).to_csv(folder / "header.csv", index=False)
    with h5py.File(folder / "pixels.h5", "w") as f:  # an image model's training tensor, named by fn_raw
        f.create_dataset("pix", data=np.zeros((20, 8, 8, 4), np.uint8))
    (folder / "config_tybalt.py").write_text("data_type = 'other'\nfn_raw = 'pixels.h5'\nkey_raw = 'pix'\n"
                                             "schema_header = 'i, gene'\n")
    ds = import_folder(tmp_path / "d", folder)
    np.testing.assert_allclose(ds.latent("raw"), raw)
    assert (ds.path / "extra" / "header.csv").is_file()
    notes = "\n".join(ds.report["notes"])
    assert "raw.h5: the model's inputs imported as latent space 'raw' (6 columns)" in notes
    assert "header.csv: the names of the 6 columns of raw.h5 (first: GENE0, GENE1, GENE2)" in notes
    assert "pixels.h5 (the config's fn_raw): 20 input images of 8 × 8 × 4; not imported" in notes

    # raw.h5 of other rows, and an fn_raw that is not there: each named with why
    with h5py.File(folder / "raw.h5", "w") as f:
        f.create_dataset("data", data=raw[:5])
    (folder / "config_tybalt.py").write_text("fn_raw = 'emoji.h5'\nkey_raw = 'emoji'\n")
    ds = import_folder(tmp_path / "d", folder, name="t2")
    notes = "\n".join(ds.report["notes"])
    assert "raw" not in ds.spaces
    assert "raw.h5: shape (5, 6), but meta.csv has 20 rows; not imported" in notes
    assert "emoji.h5 (the config's fn_raw): not in the folder" in notes
    assert "header.csv: names 6 input columns, but the raw inputs were not imported" in notes


def test_several_config_files_none_named_for_the_folder_are_not_guessed(tmp_path):
    folder = write_lsc_folder(tmp_path / "mixed", images=False, tsne=False)
    (folder / "config_emoji.py").write_text("data_type = 'image'\n")
    (folder / "config_logo.py").write_text("data_type = 'image'\n")
    ds = import_folder(tmp_path / "d", folder)
    assert ds.type == "other"
    assert any("several .py files (config_emoji.py, config_logo.py)" in n for n in ds.report["notes"])


def _import_both_ways(tmp_path, monkeypatch, folder):
    """The folder imported whole (the default for a small folder) and in row blocks (ROWS_BYTES made tiny)."""
    from dashboard import store
    from dashboard.ingest.lsc import check_folder, resolve_config

    whole = import_folder(tmp_path / "whole", folder)
    monkeypatch.setattr(store, "ROWS_BYTES", 1000)  # every folder is "large" now
    plan = check_folder(folder, resolve_config(folder, None))
    assert all(isinstance(a, store.Rows) for a in plan.latents.values())  # the block path is the one taken
    blocks = import_folder(tmp_path / "blocks", folder)
    return whole, blocks


def test_large_folder_imports_in_blocks_as_the_same_dataset(tmp_path, monkeypatch):
    """Latents read as Rows, block by block (more rows than one block), give the dataset the whole arrays give:
    the same fingerprints, latent values and metadata table."""
    from dashboard import fixtures, store

    n = store.BLOCK_ROWS + 4000  # two blocks, the second partial
    folder = fixtures.lsc_folder(tmp_path / "big", n, chunk=30_000)
    whole, blocks = _import_both_ways(tmp_path, monkeypatch, folder)
    assert whole.n == blocks.n == n and set(whole.spaces) == set(blocks.spaces) == {"8", "32"}
    for space in ("8", "32"):
        assert whole.space(space).fingerprint == blocks.space(space).fingerprint
        np.testing.assert_array_equal(whole.latent(space), blocks.latent(space))
    with h5py.File(folder / "latent" / "latent32.h5") as f:
        np.testing.assert_array_equal(blocks.latent("32"), f["latent"][()])
    assert whole.manifest["meta_fingerprint"] == blocks.manifest["meta_fingerprint"]
    assert whole.schema == blocks.schema == {"i": "index", "name": "text", "category": "categorical", "value": "numeric"}
    pd.testing.assert_frame_equal(whole.meta, blocks.meta)
    assert blocks.meta["name"].iloc[-1] == f"item {n - 1}" and blocks.meta["i"].tolist() == list(range(n))


def test_nan_rows_in_blocks_are_named_as_in_the_whole_array(tmp_path, monkeypatch):
    """A NaN beyond the first block is found at its own row, with the same message either way."""
    from dashboard import fixtures, store

    n = store.BLOCK_ROWS + 100
    folder = fixtures.lsc_folder(tmp_path / "bad", n, dims=(8,), chunk=30_000)
    with h5py.File(folder / "latent" / "latent8.h5", "r+") as f:
        for row in (3, store.BLOCK_ROWS + 7):
            f["latent"][row, 2] = np.nan
    messages = []
    for rows_bytes in (store.ROWS_BYTES, 1000):
        monkeypatch.setattr(store, "ROWS_BYTES", rows_bytes)
        with pytest.raises(ValidationError) as e:
            import_folder(tmp_path / "data", folder)
        messages.append(e.value.problems)
    assert messages[0] == messages[1]
    assert f"latent/latent8.h5: NaN or infinite values in 2 rows (rows 3, {store.BLOCK_ROWS + 7})" in messages[0]
