"""A dataset made of given vectors, for the benchmarks that time what the server does with one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dashboard.store import Dataset, DatasetWriter


def write_synthetic(data_dir: Path, X: np.ndarray, **columns) -> Dataset:
    """Dataset ``synthetic`` in ``data_dir``: one latent space (``X``, id = its width), items named p0…,
    and any extra metadata ``columns``."""
    n, dim = X.shape
    with DatasetWriter(Path(data_dir), "synthetic") as w:
        w.set_info(type="other", metric="euclidean")
        w.write_meta(pd.DataFrame({"i": np.arange(n), "name": [f"p{k}" for k in range(n)], **columns}))
        w.write_latent(str(dim), X, kind="raw")
        return w.finish()
