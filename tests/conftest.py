"""Shared fixtures: the real digits dataset built once, LSC folders made to order."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
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


@pytest.fixture(scope="session")
def quick_emoji(tmp_path_factory, npm_dir) -> Path:
    """A data directory holding ``emoji`` as ``serve`` first builds it (``quick``: images and PCA, no VAE
    yet), 12 emoji × google, twitter; copy it (``copy_dataset``) before a job trains its VAEs into it."""
    from dashboard.ingest import emoji

    d = tmp_path_factory.mktemp("emoji-quick")
    emoji.build(d, limit=12, quick=True, download_dir=npm_dir, layouts=("pca",))
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


# --------------------------------------------------------------------------
# real headless Chromium against `python -m dashboard`

CHROMIUM = os.environ.get("DASHBOARD_CHROMIUM", "/usr/bin/chromium")
# Playwright adds --headless and a fresh temporary profile itself.
CHROMIUM_ARGS = [
    "--no-sandbox", "--enable-unsafe-swiftshader", "--disable-gpu", "--disable-quic",
    "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def wait_until(predicate, timeout: float, what: str):
    """``predicate()``'s first truthy value, polled every 0.1 s for ``timeout`` seconds; else the test fails."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(data_dir: Path, dataset: str, log: Path, timeout: float = 240):
    """`python -m dashboard --dataset NAME` on a free port; its log is shown if it dies."""
    port = _free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dashboard", "--data-dir", str(data_dir), "--dataset", dataset, "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the server exited with {proc.returncode}:\n{log.read_text()}")
            try:
                urllib.request.urlopen(url + "/healthz", timeout=2)
                break
            except OSError:
                if time.time() > deadline:
                    pytest.fail(f"the server did not answer within {timeout:.0f} s:\n{log.read_text()}")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install it (apt-get install chromium) or set DASHBOARD_CHROMIUM")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(autouse=True)
def _tabs_closed(request):
    """A browser test's tabs are closed when it ends: an open map keeps deck.gl's frame loop running
    (about 6 % of a core each in software GL), and a module's tabs left open slowed every test after them."""
    yield
    if "browser" in request.fixturenames:
        for context in request.getfixturevalue("browser").contexts:
            context.close()


def open_page(browser, url):
    """A new page that records console errors and uncaught exceptions."""
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    return page, errors




@pytest.fixture
def make_dataset(tmp_path):
    """A factory: ``make_dataset(n=300, dim=8, categories=5, name="blobs", **columns)`` writes a synthetic
    dataset of Gaussian blobs (``category`` and ``value`` columns, plus ``columns``) into a fresh data
    directory of this test and returns it opened."""
    from dashboard import fixtures

    def make(name: str = "blobs", **kwargs):
        return fixtures.blobs(tmp_path / "data", name, **kwargs)

    (tmp_path / "data").mkdir()
    return make


# --------------------------------------------------------------------------
# the groups store's database: SQLite in the data directory, or a private PostgreSQL server


@pytest.fixture(scope="session")
def postgres():
    """A private PostgreSQL server for the session (tests/postgres_server.py); skipped without PostgreSQL, except in CI."""
    from .postgres_server import postgres_server

    with postgres_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def store_db(request, monkeypatch):
    """Runs a test on both databases of the groups store: the SQLite file in the data directory, and a new
    database on the private PostgreSQL server, named in $DASHBOARD_DB (spawned processes inherit it)."""
    from dashboard.groupsdb import DB_ENV, dispose_engines

    if request.param == "sqlite":
        monkeypatch.delenv(DB_ENV, raising=False)
        yield None
        return
    url = request.getfixturevalue("postgres").new_database()
    monkeypatch.setenv(DB_ENV, url)
    yield url
    dispose_engines(url)
