"""A dataset made of given vectors, for the benchmarks that time what the server does with one."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dashboard import fixtures
from dashboard.store import Dataset


def write_synthetic(data_dir: Path, X: np.ndarray, **columns) -> Dataset:
    """Dataset ``synthetic`` in ``data_dir``: one latent space (``X``, id = its width), items named p0…,
    and any extra metadata ``columns``."""
    return fixtures.write(data_dir, "synthetic", X, **columns)

