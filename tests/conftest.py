"""Shared fixtures: the real digits dataset built once, LSC folders made to order."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "tests" / "screenshots"


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """A data directory holding the real digits dataset (PCA and UMAP layouts cached)."""
    from dashboard.ingest import digits

    d = tmp_path_factory.mktemp("data")
    digits.build(d, layouts=("pca", "umap"))
    return d


@pytest.fixture(scope="session")
def digits_ds(data_dir):
    from dashboard.store import open_dataset

    return open_dataset(data_dir, "digits")


@pytest.fixture(scope="session")
def npm_dir(tmp_path_factory) -> Path:
    """The real emoji-datasource tarballs (npm pack), fetched once per session.

    ``DASHBOARD_TEST_NPM_DIR`` points at a folder that already holds them,
    to save the download when running the suite repeatedly.
    """
    from dashboard.ingest.emoji import fetch_package

    pre = os.environ.get("DASHBOARD_TEST_NPM_DIR")
    d = Path(pre) if pre else tmp_path_factory.mktemp("npm")
    fetch_package("emoji-datasource", d)
    fetch_package("emoji-datasource-google", d)
    fetch_package("emoji-datasource-twitter", d)
    return d


def write_lsc_folder(
    root: Path,
    *,
    n: int = 60,
    dims: tuple[int, ...] = (4, 8),
    images: bool = True,
    tsne: bool = True,
    seed: int = 0,
) -> Path:
    """A valid folder in LSC's layout: latent/, meta.csv, tsne/, images/, raw.h5."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "latent").mkdir(exist_ok=True)
    for d in dims:
        with h5py.File(root / "latent" / f"latent{d}.h5", "w") as f:
            f.create_dataset("latent", data=rng.normal(size=(n, d)).astype(np.float32))
    meta = pd.DataFrame(
        {
            "i": np.arange(n),
            "name": [f"item {k}" for k in range(n)],
            "category": rng.choice(["red", "green", "blue"], size=n),
            "score": rng.normal(size=n).round(3),
            "note": ["=HYPERLINK(\"x\")" if k == 0 else f"free text number {k}" for k in range(n)],
        }
    )
    meta.to_csv(root / "meta.csv", index=False)
    if tsne:
        (root / "tsne").mkdir(exist_ok=True)
        with h5py.File(root / "tsne" / f"tsne{dims[0]}_perp30.h5", "w") as f:
            f.create_dataset("tsne", data=rng.normal(size=(n, 2)).astype(np.float32))
    if images:
        (root / "images").mkdir(exist_ok=True)
        for k in range(n):
            Image.new("RGBA", (16, 16), (k * 4 % 256, 80, 160, 255)).save(root / "images" / f"{k}.png")
    with h5py.File(root / "raw.h5", "w") as f:
        f.create_dataset("raw", data=rng.normal(size=(n, 10)))
    return root


@pytest.fixture
def lsc_folder(tmp_path) -> Path:
    return write_lsc_folder(tmp_path / "lsc_demo")


@pytest.fixture(scope="session", autouse=True)
def _screenshots_dir():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield


def copy_dataset(src_data_dir: Path, dst_data_dir: Path, name: str) -> None:
    shutil.copytree(src_data_dir / name, dst_data_dir / name)
