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
