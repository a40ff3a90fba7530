"""Importing Latent Space Cartography folders: good ones import, broken ones list every problem."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from dashboard.cli import cli
from dashboard.computed import get_layout
from dashboard.errors import ValidationError
from dashboard.ingest.lsc import LscConfig, import_folder, load_config
from dashboard.store import list_datasets

from .conftest import write_lsc_folder


def test_good_folder_imports(tmp_path, lsc_folder):
    data = tmp_path / "data"
    ds = import_folder(data, lsc_folder, config=LscConfig(type="image", metric="l2", columns={"score": "numeric"}))
    assert ds.name == "lsc_demo" and ds.n == 60 and ds.type == "image"
    assert set(ds.spaces) == {"4", "8", "raw"}  # raw.h5, the model's inputs, is a space of its own
    assert ds.schema["category"] == "categorical" and ds.schema["score"] == "numeric"
    with h5py.File(lsc_folder / "latent" / "latent8.h5") as f:
        np.testing.assert_allclose(ds.latent("8"), f["latent"][()])
    assert ds.image_path(5).is_file() and ds.image_path(5, thumb=True).is_file()
    with h5py.File(lsc_folder / "raw.h5") as f:
        np.testing.assert_allclose(ds.latent("raw"), f["raw"][()], rtol=1e-6)
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
