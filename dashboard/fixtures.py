"""Synthetic datasets of any size, for tests, benchmarks and trying the map without real data.

One builder shared by the test suite (``tests/conftest.py``'s ``make_dataset``
factory) and the benchmarks, so both exercise the same on-disk format the
recipes write.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .store import Dataset, DatasetWriter


def write(data_dir: Path | str, name: str, X: np.ndarray, *, metric: str = "euclidean",
          schema: dict[str, str] | None = None, **columns) -> Dataset:
    """Dataset ``name`` with one latent space (``X``; its id is its width), items named p0…, and ``columns``."""
    n, dim = X.shape
    with DatasetWriter(Path(data_dir), name) as w:
        w.set_info(type="other", metric=metric)
        w.write_meta(pd.DataFrame({"i": np.arange(n), "name": [f"p{k}" for k in range(n)], **columns}),
                     schema_overrides=schema or {})
        w.write_latent(str(dim), np.asarray(X, np.float32), kind="raw")
        return w.finish()


def blobs(data_dir: Path | str, name: str = "blobs", n: int = 500, dim: int = 8, categories: int = 10,
          seed: int = 0, **columns) -> Dataset:
    """``n`` points in ``categories`` Gaussian blobs of ``dim`` dimensions, with a ``category`` (c0…) and a
    numeric ``value`` column, plus any extra ``columns``."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, categories, n)
    centres = rng.normal(scale=4, size=(categories, dim))
    X = centres[labels] + rng.normal(size=(n, dim))
    return write(data_dir, name, X, category=[f"c{k}" for k in labels], value=rng.gamma(2.0, 1.0, n).round(3),
                 schema={"category": "categorical", "value": "numeric"}, **columns)
