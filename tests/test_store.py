"""The on-disk format: round trips, atomic publishing, resume, safety."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from dashboard.errors import DashboardError, DatasetNotFound, ValidationError
from dashboard.store import Dataset, DatasetWriter, build_in_progress, list_datasets, open_dataset


def _meta(n: int) -> pd.DataFrame:
    return pd.DataFrame({"i": np.arange(n), "name": [f"n{k}" for k in range(n)], "colour": ["a", "b"] * (n // 2)})


def test_round_trip(tmp_path):
    X = np.random.default_rng(1).normal(size=(40, 5)).astype(np.float32)
    with DatasetWriter(tmp_path, "toy") as w:
        w.set_info(type="other", metric="l2", provenance={"source": "test"})
        w.write_meta(_meta(40))
        w.write_latent(5, X, kind="raw", description="five")
        ds = w.finish()
    again = open_dataset(tmp_path, "toy")
    assert again.n == 40 and again.metric == "euclidean" and again.type == "other"
    assert list(again.spaces) == ["5"] and again.default_space == "5"
    np.testing.assert_array_equal(again.latent("5"), X)
    assert again.latent(5).dtype == np.float32
    assert list(again.meta.columns[:2]) == ["i", "name"]
    assert again.schema == {"i": "index", "name": "text", "colour": "categorical"}
    assert again.state == "complete"
    # the HDF5 file is LSC-compatible: dataset "latent", n × d
    import h5py

    with h5py.File(ds.path / "latent" / "latent5.h5") as f:
        assert f["latent"].shape == (40, 5)


def test_unpublished_dataset_is_invisible_and_resumes(tmp_path):
    w = DatasetWriter(tmp_path, "toy")
    w.set_info(type="other", metric="cosine")
    w.write_meta(_meta(10))
    w.close()  # as if the process had been killed before publishing
    assert list_datasets(tmp_path) == []
    with pytest.raises(DatasetNotFound):
        open_dataset(tmp_path, "toy")
    # a second run finds the partial work and carries on
    with DatasetWriter(tmp_path, "toy") as w2:
        assert w2.has_meta and w2.manifest["n"] == 10
        w2.write_latent("2", np.zeros((10, 2)), kind="raw")
        w2.finish()
    assert [d.name for d in list_datasets(tmp_path)] == ["toy"]


def test_published_dataset_grows_space_by_space(tmp_path):
    with DatasetWriter(tmp_path, "toy") as w:
        w.set_info(type="other", metric="l2")
        w.write_meta(_meta(10))
        w.write_latent("pca2", np.ones((10, 2)), kind="pca")
        w.publish()
        w.set_state("training")
        assert open_dataset(tmp_path, "toy").state == "training"
        assert list(open_dataset(tmp_path, "toy").spaces) == ["pca2"]
        w.write_latent("3", np.ones((10, 3)), kind="vae")
        assert list(open_dataset(tmp_path, "toy").spaces) == ["pca2", "3"]


def test_failed_write_leaves_previous_state(tmp_path):
    with DatasetWriter(tmp_path, "toy") as w:
        w.set_info(type="other", metric="l2")
        w.write_meta(_meta(10))
        w.write_latent("2", np.ones((10, 2)), kind="raw")
        w.finish()
    before = (tmp_path / "toy" / "manifest.json").read_text()
    with DatasetWriter(tmp_path, "toy") as w:
        with pytest.raises(DashboardError, match="NaN"):
            w.write_latent("3", np.full((10, 3), np.nan), kind="raw")
        with pytest.raises(DashboardError, match="expected 10 rows"):
            w.write_latent("3", np.ones((9, 3)), kind="raw")
    assert (tmp_path / "toy" / "manifest.json").read_text() == before
    assert not (tmp_path / "toy" / "latent" / "latent3.h5").exists()
    assert not [p for p in (tmp_path / "toy" / "latent").iterdir() if p.name.startswith(".")]


def test_fresh_rebuild_replaces_atomically(tmp_path):
    for value in (1.0, 2.0):
        with DatasetWriter(tmp_path, "toy", fresh=True) as w:
            w.set_info(type="other", metric="l2")
            w.write_meta(_meta(4))
            w.write_latent("1", np.full((4, 1), value), kind="raw")
            w.finish()
    ds = open_dataset(tmp_path, "toy")
    assert ds.latent("1")[0, 0] == 2.0
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["toy"]


def test_concurrent_build_is_refused(tmp_path):
    assert not build_in_progress(tmp_path, "toy")
    w = DatasetWriter(tmp_path, "toy")
    assert build_in_progress(tmp_path, "toy")
    with pytest.raises(DashboardError, match="another process is building"):
        DatasetWriter(tmp_path, "toy")
    w.close()
    assert not build_in_progress(tmp_path, "toy")
    DatasetWriter(tmp_path, "toy").close()


def test_meta_must_start_with_i_and_name(tmp_path):
    with DatasetWriter(tmp_path, "toy") as w:
        with pytest.raises(ValidationError, match="'i' and 'name'"):
            w.write_meta(pd.DataFrame({"name": ["a"], "i": [0]}))
        with pytest.raises(ValidationError, match="0..n-1"):
            w.write_meta(pd.DataFrame({"i": [0, 2], "name": ["a", "b"]}))


def test_files_stay_inside_the_dataset(digits_ds):
    assert digits_ds.file("images/0.png").is_file()
    for bad in ("../digits/../../etc/passwd", "/etc/passwd", "images/../../x"):
        with pytest.raises(DashboardError, match="outside"):
            digits_ds.file(bad)


def test_unknown_dataset_lists_what_exists(data_dir):
    with pytest.raises(DatasetNotFound, match="available: digits"):
        open_dataset(data_dir, "nope")
    with pytest.raises(DatasetNotFound):
        open_dataset(data_dir, "../digits")


def test_format_version_is_checked(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "manifest.json").write_text(json.dumps({"format_version": 0}))
    with pytest.raises(DashboardError, match="format version 0"):
        Dataset(tmp_path / "old")
    assert list_datasets(tmp_path) == []


def test_latent_is_read_once_and_read_only(digits_ds):
    a = digits_ds.latent("64")
    assert a is digits_ds.latent("64")
    assert not a.flags.writeable


def test_new_items_drop_spaces_that_no_longer_fit(tmp_path):
    with DatasetWriter(tmp_path, "toy") as w:
        w.set_info(type="other", metric="l2")
        w.write_meta(_meta(10))
        w.write_latent("2", np.ones((10, 2)), kind="raw")
        w.finish()
    with DatasetWriter(tmp_path, "toy") as w:
        w.write_meta(_meta(12))
        assert w.manifest["latent"] == {}
        assert not (tmp_path / "toy" / "latent" / "latent2.h5").exists()
        w.write_latent("3", np.ones((12, 3)), kind="raw")
        w.finish()
    assert list(open_dataset(tmp_path, "toy").spaces) == ["3"]


def test_a_large_space_is_written_and_laid_out_block_by_block(tmp_path, monkeypatch):
    """A space given as Rows (a build's features on disk) is written in blocks, with the fingerprint of the
    whole array; above ROWS_BYTES its PCA layout reads it by row ranges and never as a whole array."""
    from dashboard import computed, store
    from dashboard.ingest.images import FeatureRows
    from dashboard.store import Rows

    X = np.random.default_rng(2).normal(size=(1000, 6)).astype(np.float32)
    features = FeatureRows(tmp_path, capacity=1200)  # more room than rows: a build skips some files
    for i, row in enumerate(X):
        features[i] = row
    rows = features.rows(len(X))
    assert isinstance(rows, Rows) and rows.shape == X.shape
    np.testing.assert_array_equal(rows[990:2000], X[990:])
    with pytest.raises(TypeError):
        rows[[1, 2]]
    monkeypatch.setattr(store, "BLOCK_ROWS", 300)
    with DatasetWriter(tmp_path, "blocks") as w:
        w.set_info(type="other", metric="l2")
        w.write_meta(_meta(1000))
        from_rows = w.write_latent("6", rows, kind="raw")
        from_array = w.write_latent("x6", X, kind="raw")
        ds = w.finish()
    assert from_rows.fingerprint == from_array.fingerprint
    np.testing.assert_array_equal(ds.latent("6"), X)

    whole = computed.get_layout(ds, "x6", "pca").xy
    monkeypatch.setattr(store, "ROWS_BYTES", 1000)  # every space is "large" now
    monkeypatch.setattr(store, "_read_latent", lambda *a: pytest.fail("read whole"))
    ds = open_dataset(tmp_path, "blocks")
    assert isinstance(ds.rows("6"), Rows)
    np.testing.assert_allclose(np.abs(computed.get_layout(ds, "6", "pca").xy), np.abs(whole), atol=1e-5)


def test_table_fingerprint_in_blocks_is_the_whole_tables(monkeypatch):
    """fingerprint_table hashes a table BLOCK_ROWS rows at a time and gets what hashing it whole gets, for
    every kind of column the metadata holds (strings with gaps, categories, nullable integers, floats)."""
    from dashboard import store

    n = 50
    table = pd.DataFrame({"i": np.arange(n), "name": [f"item {k}" for k in range(n)],
                          "category": pd.Categorical(["a", "b", None, "a", "c"] * 10),
                          "year": pd.array([1990, None] * 25, dtype="Int64"), "value": np.linspace(0, 1, n)})
    table["note"] = table["name"].where(table["i"] % 3 > 0, None)
    whole = store.fingerprint_array(pd.util.hash_pandas_object(table, index=False).to_numpy())
    monkeypatch.setattr(store, "BLOCK_ROWS", 7)  # several blocks, the last partial
    assert store.fingerprint_table(table) == whole
    assert store.fingerprint_table(table.iloc[:1]) != whole
