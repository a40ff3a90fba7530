"""The ``digits`` recipe: scikit-learn's 1,797 handwritten 8×8 digits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ..compute.projections import pca
from ..store import Dataset, DatasetWriter
from .common import DEFAULT_LAYOUTS, complete, write_images

NAME = "digits"
PCA_DIMS = (32, 16, 8)
SOURCE = "sklearn.datasets.load_digits"


def build(
    data_dir: Path,
    *,
    name: str = NAME,
    fresh: bool = False,
    layouts: tuple[str, ...] = DEFAULT_LAYOUTS,
) -> Dataset:
    """Build ``digits``: the 64 raw pixels as one latent space, PCA reductions as others.

    A re-run adds only what the published version lacks (a space, a layout); ``fresh`` builds a
    new version aside, served once complete.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X = bunch.data.astype(np.float32)
    labels = bunch.target.astype(np.int64)
    with DatasetWriter(data_dir, name, fresh=fresh, items_from={"source": SOURCE}) as w:
        return _write(w, X, labels, layouts)


def _write(w: DatasetWriter, X: np.ndarray, labels: np.ndarray, layouts: tuple[str, ...]) -> Dataset:
    if not w.has_meta:
        w.set_info(
            type="image",
            metric="euclidean",
            provenance={"source": SOURCE, "licence": "CC BY 4.0 (UCI ML hand-written digits)"},
            image_shape=[8, 8, 1],
            default_space="64",
            label_column="label",
        )
        meta = pd.DataFrame(
            {
                "i": np.arange(len(X)),
                "name": [f"digit {d} #{i}" for i, d in enumerate(labels)],
                "label": labels,
                "ink": (X > 0).sum(axis=1).astype(np.int64),
            }
        )
        w.write_meta(meta, {"label": "categorical", "ink": "numeric"})
        w.report.counts = {"items": len(X), "skipped": 0}
    if not w.published:  # a published version has every image
        gray = np.round(X.reshape(-1, 8, 8) * (255 / 16)).astype(np.uint8)
        write_images(w, ((i, Image.fromarray(g)) for i, g in enumerate(gray)), len(gray))
    if not w.has_space("64"):
        w.write_latent("64", X, kind="raw", description="the 64 pixel intensities (0–16)")
    for d in PCA_DIMS:
        if not w.has_space(str(d)):
            w.write_latent(str(d), pca(X, n_components=d), kind="pca", description=f"PCA of the pixels to {d} dims")
    return complete(w, layouts)
