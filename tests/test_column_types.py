"""Changing a column's type after the build: checked against its values, kept in the manifest, seen by
every cache, and kept across rebuilds while the values still fit."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from dashboard import fixtures
from dashboard.cli import cli
from dashboard.errors import DashboardError
from dashboard.mapdata import color_legend, filter_categories, passes_filters
from dashboard.schema import type_problem
from dashboard.store import DatasetWriter, open_dataset, set_column_type
from dashboard.viewstate import ViewState

N = 300


def _years(n: int = N) -> list[int]:
    return [1890 + 5 * (k % 12) for k in range(n)]  # twelve distinct whole numbers: read as a category


@pytest.fixture
def ds(make_dataset):
    return make_dataset(n=N, edition=_years(), title=[f"t{k}" for k in range(N)],
                        hue=["#ff0000" if k % 2 else "blue" for k in range(N)])


def test_values_must_read_as_the_type():
    words = pd.Series(["a cat", "a dog", None] * 10)
    assert "only 0% of its values read as numbers" in type_problem("title", words, "numeric")
    assert type_problem("title", words, "categorical") is None and type_problem("title", words, "text") is None
    # a few stray entries become missing; most must read
    years = pd.Series(["1902", "1910", "c. 1900"] + ["1950"] * 27)
    assert type_problem("year", years, "numeric") is None and type_problem("year", years, "date") is None
    assert type_problem("when", pd.Series(["2001-05-03", "3 May 2002"] * 10), "date") is None
    assert "not degrees" in type_problem("x", pd.Series([10.0, 400.0] * 10), "geographic")
    assert "not colours" in type_problem("c", pd.Series(["red", "url(x)"]), "color")
    assert "cannot change" in type_problem("i", pd.Series([0, 1]), "numeric")
    assert "unknown type 'number'" in type_problem("year", years, "number")


def test_a_number_read_as_a_category_becomes_numeric_and_back(ds, tmp_path):
    data = tmp_path / "data"
    assert ds.schema["edition"] == "categorical" and "edition" in filter_categories(ds)
    state = ViewState(dataset=ds.name, space=ds.default_space, color="edition")
    assert color_legend(ds, state)[1]["kind"] == "categorical"

    now = set_column_type(data, ds.name, "edition", "numeric")
    assert now.schema["edition"] == "numeric" and now.column_types == {"edition": "numeric"}
    assert now.revision != ds.revision and now.build_id == ds.build_id  # nothing was rebuilt
    # every cache keyed on the revision sees it at once: the colour bar, the filters, a range
    legend = color_legend(now, state)[1]
    assert legend["kind"] == "numeric" and (legend["min"], legend["max"]) == (1890, 1945)
    assert "edition" not in filter_categories(now)
    kept = passes_filters(now, ViewState(dataset=ds.name, space=ds.default_space, ranges={"edition": (1900.0, 1910.0)}))
    assert kept.sum() == sum(1900 <= y <= 1910 for y in _years())
    assert open_dataset(data, ds.name).schema["edition"] == "numeric"  # what another process reads

    back = set_column_type(data, ds.name, "edition", None)
    assert back.schema == ds.schema and back.column_types == {} and back.revision == ds.revision
    assert "schema_built" not in back.manifest


def test_a_type_the_values_do_not_fit_changes_nothing(ds, tmp_path):
    manifest = (ds.path / "manifest.json").read_bytes()
    with pytest.raises(DashboardError, match="column 'title' cannot be numeric: only 0% of its values"):
        set_column_type(tmp_path / "data", ds.name, "title", "numeric")
    with pytest.raises(DashboardError, match="has no column 'titel'"):
        set_column_type(tmp_path / "data", ds.name, "titel", "text")
    assert (ds.path / "manifest.json").read_bytes() == manifest


def test_a_type_waits_for_no_build(ds, tmp_path):
    with DatasetWriter(tmp_path / "data", ds.name):  # holds the build lock, as a running build does
        with pytest.raises(DashboardError, match="another process is building"):
            set_column_type(tmp_path / "data", ds.name, "edition", "numeric")


def test_a_rebuild_keeps_a_chosen_type_while_the_values_fit_it(ds, tmp_path):
    data = tmp_path / "data"
    set_column_type(data, ds.name, "edition", "numeric")
    set_column_type(data, ds.name, "hue", "categorical")
    X = np.random.default_rng(1).normal(size=(N, 4)).astype(np.float32)
    table = pd.DataFrame({"i": np.arange(N), "name": [f"p{k}" for k in range(N)], "edition": _years(),
                          "hue": [f"word{k % 3}" for k in range(N)]})
    with DatasetWriter(data, ds.name, fresh=True) as w:  # a new version: new items' values
        w.set_info(type="other", metric="euclidean")
        w.write_meta(table)
        w.write_latent("4", X, kind="raw")
        rebuilt = w.finish()
    assert rebuilt.build_id != ds.build_id
    assert rebuilt.schema["edition"] == "numeric" and rebuilt.column_types == {"edition": "numeric"}
    assert rebuilt.manifest["schema_built"]["edition"] == "categorical"
    # 'categorical' still fits 'hue', but it is what the build infers anyway: no choice left to keep
    assert rebuilt.schema["hue"] == "categorical" and "hue" not in rebuilt.column_types

    # values that no longer fit: the choice is dropped, and the build report says so
    set_column_type(data, ds.name, "edition", "numeric")
    with DatasetWriter(data, ds.name, fresh=True) as w:
        w.set_info(type="other", metric="euclidean")
        w.write_meta(table.assign(edition=[f"year {k}" for k in range(N)]))
        w.write_latent("4", X, kind="raw")
        rebuilt = w.finish()
    assert rebuilt.schema["edition"] == "text" and rebuilt.column_types == {}
    assert any("the type 'numeric' chosen for column 'edition' is dropped" in n for n in rebuilt.report["notes"])


def test_set_type_on_the_command_line(ds, tmp_path):
    data = tmp_path / "data"
    run = lambda *a: CliRunner().invoke(cli, ["--data-dir", str(data), *a])  # noqa: E731
    ok = run("set-type", ds.name, "edition", "numeric")
    assert ok.exit_code == 0 and ok.output == f"{ds.name}: column 'edition' is numeric\n"
    assert "edition: numeric  (set-type; built as categorical)" in run("info", ds.name).output
    bad = run("set-type", ds.name, "title", "date")
    assert bad.exit_code == 1 and "Traceback" not in bad.output
    assert bad.output.strip().count("\n") == 0 and "cannot be date" in bad.output
    assert run("set-type", ds.name, "edition", "built").output == f"{ds.name}: column 'edition' is categorical\n"
    assert json.loads((open_dataset(data, ds.name).path / "manifest.json").read_text())["schema"] == ds.schema
