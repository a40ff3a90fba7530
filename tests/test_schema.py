"""Column type inference and the CSV export's formula guard."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard.errors import ValidationError
from dashboard.export import neutralize_formulas
from dashboard.schema import infer_schema


def test_inference():
    n = 200
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {
            "i": np.arange(n),
            "name": [f"item number {k}" for k in range(n)],
            "category": rng.choice(list("abc"), n),
            "label": rng.integers(0, 10, n),
            "score": rng.normal(size=n),
            "lat": rng.uniform(-80, 80, n),
            "lng": rng.uniform(-170, 170, n),
            "year": rng.integers(1900, 2000, n),
            "mean_color": ["#a0b1c2"] * n,
            "flag": rng.choice([True, False], n),
        }
    )
    assert infer_schema(table) == {
        "i": "index", "name": "text", "category": "categorical", "label": "categorical",
        "score": "numeric", "lat": "geographic", "lng": "geographic", "year": "date",
        "mean_color": "color", "flag": "categorical",
    }


def test_overrides_are_checked():
    table = pd.DataFrame({"i": [0], "name": ["a"], "x": [1.0]})
    assert infer_schema(table, {"x": "categorical"})["x"] == "categorical"
    with pytest.raises(ValidationError) as err:
        infer_schema(table, {"y": "numeric", "x": "colour"})
    assert len(err.value.problems) == 2


def test_formulas_are_neutralised_but_numbers_are_not():
    t = pd.DataFrame({"a": ["=1+1", "+SUM(A1)", "-x", "@cmd", "safe", None], "n": [-1.5, 2, 3, 4, 5, 6]})
    out = neutralize_formulas(t)
    assert out["a"].tolist()[:5] == ["'=1+1", "'+SUM(A1)", "'-x", "'@cmd", "safe"]
    assert out["n"].tolist()[0] == -1.5


HOSTILE_COLORS = ["url(http://127.0.0.1:9/x)", "red;background:url(http://127.0.0.1:9/y)", "expression(alert(1))",
                  "#12345", "#ggg", "rgb(1,2,3)", "var(--x)", "red ", " #ABC", "transparent", "", "#a0b1c2\n"]


def test_css_color_accepts_only_hex_and_css_names():
    from dashboard.schema import css_color

    assert css_color("#ABC") == "#aabbcc" and css_color("#A0b1C2") == "#a0b1c2"
    assert css_color("Red") == "#ff0000" and css_color("rebeccapurple") == "#663399"
    assert [css_color(v) for v in HOSTILE_COLORS] == [None, None, None, None, None, None, None,
                                                      "#ff0000", "#aabbcc", None, None, "#a0b1c2"]
    assert css_color(None) is None and css_color(3) is None and css_color(float("nan")) is None


def test_colour_column_values_that_are_not_colours_become_missing_and_are_reported(tmp_path):
    from dashboard.store import DatasetWriter, open_dataset

    n = len(HOSTILE_COLORS) + 3
    tint = HOSTILE_COLORS + ["#fff", "navy", None]
    # inferred: only a column of hex colours is a colour column; anything else stays text
    assert infer_schema(pd.DataFrame({"tint": tint}))["tint"] != "color"
    assert infer_schema(pd.DataFrame({"tint": ["#fff", "#a0b1c2", None]}))["tint"] == "color"
    with DatasetWriter(tmp_path, "hostile") as w:
        w.set_info(type="other", metric="euclidean")
        w.write_meta(pd.DataFrame({"i": np.arange(n), "name": [f"p{k}" for k in range(n)], "tint": tint}),
                     {"tint": "color"})
        w.write_latent(2, np.zeros((n, 2), np.float32), kind="raw")
        w.finish()
    ds = open_dataset(tmp_path, "hostile")
    assert ds.meta["tint"].dropna().tolist() == ["red ", " #ABC", "#a0b1c2\n", "#fff", "navy"]
    notes = [n for n in ds.report["notes"] if "'tint'" in n]
    assert notes == ["column 'tint': 9 value(s) are not colours (#rgb, #rrggbb or a CSS colour name) and are left "
                     "missing, e.g. 'url(http://127.0.0.1:9/x)'"]


def test_stored_colours_of_an_old_dataset_never_pass_unchecked():
    from dashboard.compute import colors

    rgba = colors.stored(pd.Series(HOSTILE_COLORS[:3] + ["navy", "#0f0"]))
    assert rgba[:, :3].tolist() == [list(colors.MISSING_COLOR)] * 3 + [[0, 0, 128], [0, 255, 0]]
