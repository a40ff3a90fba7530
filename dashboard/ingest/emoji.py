"""The ``emoji`` recipe: LSC's emoji case study from the emoji-datasource npm packages.

One item per (emoji, platform) image, 64×64 RGBA. Latent spaces: PCA of the
pixels (ready within a minute, so the map can be shown at once), then one
convolutional VAE per latent dimension, trained dim by dim; each finished
dim is saved with its encoder and decoder before the next starts, so an
interrupted build resumes where it stopped. :func:`train` adds the VAEs to a
dataset built with ``quick``: what ``serve`` runs as a background job (the
``train`` kind of :mod:`dashboard.jobs`) while the map shows the PCA space.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from ..compute import vae
from ..compute.projections import pca
from ..errors import DashboardError
from ..store import Dataset, DatasetWriter, open_dataset
from .common import DEFAULT_LAYOUTS, compute_layouts, train_vae_space, write_hotspots, write_images

NAME = "emoji"
VERSION = "16.0.0"
OPEN_PLATFORMS = ("google", "twitter")  # Apache-2.0 and CC-BY 4.0 images
PROPRIETARY_PLATFORMS = ("apple", "facebook")  # only when asked for by name
PLATFORMS = OPEN_PLATFORMS + PROPRIETARY_PLATFORMS
DEFAULT_DIMS = (4, 8, 16, 32, 64, 128)
DEFAULT_EPOCHS = 25
PREFERRED_DEFAULT_DIM = 32
CHEAP_SPACE = "pca50"
SIZE = 64
SOURCE = f"npm emoji-datasource@{VERSION} and emoji-datasource-<platform>@{VERSION}"

NPM_HELP = (
    "building emoji needs npm (Node.js) to fetch the emoji-datasource packages: "
    "install Node.js with npm (e.g. `apt-get install nodejs npm`), or try "
    "`python -m dashboard --dataset digits`, which needs nothing else"
)


def fetch_package(package: str, dest: Path, version: str = VERSION, help: str = NPM_HELP) -> Path:
    """``npm pack`` one package into ``dest`` (kept: a rebuild fetches nothing); ``help`` ends the one-line
    error without npm or the registry."""
    tarball = dest / f"{package.lstrip('@').replace('/', '-')}-{version}.tgz"  # npm's name: @a/b -> a-b
    if tarball.exists():
        return tarball
    npm = shutil.which("npm")
    if npm is None:
        raise DashboardError(f"npm is not installed; {help}" if help is not NPM_HELP else NPM_HELP)
    dest.mkdir(parents=True, exist_ok=True)
    # Pack into a scratch folder and move the finished tarball in, so an
    # interrupted download never leaves a truncated tarball behind.
    with tempfile.TemporaryDirectory(dir=dest, prefix=".npm-") as scratch:
        proc = subprocess.run(
            [npm, "pack", f"{package}@{version}", "--pack-destination", scratch, "--silent"],
            capture_output=True,
            text=True,
        )
        packed = Path(scratch) / tarball.name
        if proc.returncode != 0 or not packed.exists():
            detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise DashboardError(f"`npm pack {package}@{version}` failed ({detail}); {help}")
        os.replace(packed, tarball)
    return tarball


def _open_tarball(tarball: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(tarball, "r:gz")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DashboardError(f"{tarball} is damaged ({e}); delete it and run the build again") from None


def read_catalogue(tarball: Path) -> list[dict]:
    """``emoji.json`` from the base package, in the packages' sort order."""
    with _open_tarball(tarball) as tar:
        try:
            entries = json.load(tar.extractfile("package/emoji.json"))
        except (KeyError, ValueError, tarfile.TarError, EOFError) as e:
            raise DashboardError(f"{tarball}: cannot read package/emoji.json ({e}); delete it and run again") from None
    return sorted(entries, key=lambda e: e.get("sort_order", 0))


def read_images(tarball: Path, platform: str, wanted: set[str]) -> dict[str, bytes]:
    """The 64-px PNGs named in ``wanted`` from a platform package (one pass)."""
    prefix = f"package/img/{platform}/64/"
    found = {}
    with _open_tarball(tarball) as tar:
        try:
            for member in tar:
                if member.isfile() and member.name.startswith(prefix):
                    fname = member.name[len(prefix):]
                    if fname in wanted:
                        found[fname] = tar.extractfile(member).read()
        except (tarfile.TarError, EOFError, OSError) as e:
            raise DashboardError(f"{tarball} is damaged ({e}); delete it and run the build again") from None
    return found


def mean_color(rgba: np.ndarray) -> str:
    """Alpha-weighted mean colour as ``#rrggbb`` (LSC's ``mean_color``)."""
    a = rgba[..., 3:4].astype(np.float64) / 255
    total = a.sum()
    rgb = (rgba[..., :3] * a).sum(axis=(0, 1)) / total if total > 0 else np.zeros(3)
    return "#%02x%02x%02x" % tuple(int(round(v)) for v in rgb)


def _decode(png: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(png))
    img.load()
    img = img.convert("RGBA")
    if img.size != (SIZE, SIZE):
        img = img.resize((SIZE, SIZE), Image.LANCZOS)
    return img


def parse_platforms(value: str | None) -> tuple[str, ...]:
    if not value:
        return OPEN_PLATFORMS
    chosen = tuple(dict.fromkeys(p.strip().lower() for p in value.split(",") if p.strip()))
    bad = [p for p in chosen if p not in PLATFORMS]
    if bad or not chosen:
        raise DashboardError(f"--platforms: unknown platform {', '.join(bad) or '(none)'}; choose from {', '.join(PLATFORMS)}")
    return chosen


def collect_items(
    catalogue: list[dict], platforms: tuple[str, ...], tarballs: dict[str, Path], limit: int | None, report
) -> tuple[pd.DataFrame, list[Image.Image]]:
    """Metadata rows and images for every (emoji, platform) that decodes."""
    entries = catalogue[:limit] if limit else catalogue
    rows, images = [], []
    pngs = {}
    for p in platforms:
        wanted = {e["image"] for e in entries if e.get(f"has_img_{p}")}
        pngs[p] = read_images(tarballs[p], p, wanted)
    for e in entries:
        for p in platforms:
            label = f"{e['image']} ({p})"
            if not e.get(f"has_img_{p}"):
                report.skip(label, f"emoji.json says {p} has no image for this emoji")
                continue
            data = pngs[p].get(e["image"])
            if data is None:
                report.skip(label, f"not in emoji-datasource-{p}@{VERSION}")
                continue
            try:
                img = _decode(data)
            except Exception as exc:  # noqa: BLE001 - any decoder failure skips one image
                report.skip(label, f"cannot decode PNG: {exc}")
                continue
            arr = np.asarray(img)
            version = pd.to_numeric(e.get("added_in"), errors="coerce")
            rows.append(
                {
                    "name": (e.get("name") or e.get("short_name") or e["unified"]).lower(),
                    "category": e.get("category"),
                    "subcategory": e.get("subcategory"),
                    "platform": p,
                    "version": float(version) if pd.notna(version) else np.nan,
                    "codepoints": e["unified"],
                    "shortcode": e.get("short_name"),
                    "mean_color": mean_color(arr),
                }
            )
            images.append(img)
    meta = pd.DataFrame(rows)
    meta.insert(0, "i", np.arange(len(meta), dtype=np.int64))
    return meta, images


def build(
    data_dir: Path,
    *,
    name: str = NAME,
    fresh: bool = False,
    platforms: tuple[str, ...] = OPEN_PLATFORMS,
    dims: tuple[int, ...] = DEFAULT_DIMS,
    epochs: int = DEFAULT_EPOCHS,
    limit: int | None = None,
    download_dir: Path | None = None,
    layouts: tuple[str, ...] = DEFAULT_LAYOUTS,
    quick: bool = False,
    progress: Callable[[float], None] | None = None,
) -> Dataset:
    """Build (or resume building) the emoji dataset.

    ``quick`` stops after the images and the PCA space: the dataset opens
    at once and a later run without ``quick`` adds the VAEs. A run with the
    platforms and limit of the published version adds what it lacks (VAEs,
    layouts) in place; other ones (or ``fresh``) build a new version aside,
    served from the moment its images and PCA space are complete.
    ``progress(fraction)`` hears of each epoch trained (epochs done / epochs to
    train); it may raise to stop.
    """
    download_dir = Path(download_dir or Path(data_dir) / ".downloads")
    items_from = {"source": SOURCE, "platforms": list(platforms), "limit": limit}
    with DatasetWriter(data_dir, name, fresh=fresh, items_from=items_from) as w:
        return _write(w, platforms, dims, epochs, limit, download_dir, layouts, quick, progress)


def is_emoji(ds: Dataset) -> bool:
    """Whether ``ds`` was built by this recipe (so :func:`train` can add its VAEs)."""
    return str(ds.provenance.get("source", "")).startswith("npm emoji-datasource@") and "platforms" in ds.provenance


def trained(ds: Dataset, dims: tuple[int, ...] = DEFAULT_DIMS) -> bool:
    """Whether every VAE space in ``dims`` is there and the build finished (layouts, hotspots)."""
    return ds.state == "complete" and all(str(d) in ds.spaces for d in dims)


def train(
    data_dir: Path | str,
    *,
    name: str = NAME,
    dims: tuple[int, ...] = DEFAULT_DIMS,
    epochs: int = DEFAULT_EPOCHS,
    layouts: tuple[str, ...] = DEFAULT_LAYOUTS,
    progress: Callable[[float], None] | None = None,
) -> Dataset:
    """Train the VAE spaces in ``dims`` that emoji dataset ``name`` lacks, dim by dim, each written into
    the published dataset as it finishes (so the map's space menu adds it), then finish the build.

    The same items as it was built with (its platforms and limit); nothing is downloaded.
    """
    ds = open_dataset(data_dir, name)
    if not is_emoji(ds):
        raise DashboardError(f"dataset {name!r} was not built by the emoji recipe: there is no VAE to train for it")
    built = ds.provenance
    return build(Path(data_dir), name=name, platforms=tuple(built["platforms"]), limit=built.get("limit"),
                 dims=tuple(dims), epochs=epochs, layouts=tuple(layouts), progress=progress)


def _write(
    w: DatasetWriter,
    platforms: tuple[str, ...],
    dims: tuple[int, ...],
    epochs: int,
    limit: int | None,
    download_dir: Path,
    layouts: tuple[str, ...],
    quick: bool,
    progress: Callable[[float], None] | None = None,
) -> Dataset:
    started = time.perf_counter()
    if not w.has_meta or not w.has_space(CHEAP_SPACE):  # never in a published version: it has both
        tarballs = {"base": fetch_package("emoji-datasource", download_dir)}
        for p in tqdm(platforms, desc="npm pack", unit="pkg", leave=False):
            tarballs[p] = fetch_package(f"emoji-datasource-{p}", download_dir)
        w.report.skipped.clear()
        meta, images = collect_items(read_catalogue(tarballs["base"]), platforms, tarballs, limit, w.report)
        if meta.empty:
            raise DashboardError("no emoji image could be read from the npm packages")
        w.set_info(
            type="image",
            metric="euclidean",
            provenance={
                "source": SOURCE,
                "platforms": list(platforms),
                "licences": {"google": "Apache-2.0", "twitter": "CC-BY 4.0", "apple": "proprietary", "facebook": "proprietary"},
                "limit": limit,
            },
            image_shape=[SIZE, SIZE, 4],
            label_column="category",
        )
        if set(platforms) & set(PROPRIETARY_PLATFORMS):
            w.report.notes.append("includes proprietary emoji images (apple/facebook): do not redistribute this dataset")
        w.write_meta(meta, {"version": "numeric", "codepoints": "text", "shortcode": "text", "name": "text"})
        write_images(w, enumerate(images), len(images))
        x = vae.premultiply(np.stack([np.asarray(im) for im in images]))
        w.write_latent(
            CHEAP_SPACE,
            pca(x.reshape(len(x), -1), n_components=50),
            kind="pca",
            description="PCA of the premultiplied RGBA pixels to 50 dims (available before the VAEs)",
        )
        w.report.counts = {"items": len(meta), "skipped": len(w.report.skipped)}
        # The hotspots go with the version that is published now: the groups store seeds them once per
        # build_id, so a file written after the swap would never be seen by a store that synced first.
        ds = Dataset(w.path)
        compute_layouts(ds, ("pca",))
        write_hotspots(w, ds)
        w.publish()
    if quick:
        return Dataset(w.path)

    todo = [d for d in dims if not w.has_space(str(d))]
    if todo:
        x = vae.premultiply(
            np.stack([np.asarray(Image.open(w.path / "images" / f"{i}.png").convert("RGBA")) for i in range(w.manifest["n"])])
        )
        w.set_state(f"training VAEs: {len(dims) - len(todo)}/{len(dims)} done")
    for k, d in enumerate(todo):
        done_before = k * epochs
        step = None if progress is None else (lambda e, before=done_before: progress((before + e) / (len(todo) * epochs)))
        train_vae_space(w, x, d, epochs, epochs_done=step)
        done = [k for k in map(str, dims) if w.has_space(k)]
        w.set_state(f"training VAEs: {len(done)}/{len(dims)} done")
    vae_dims = [d for d in dims if w.has_space(str(d))]
    if vae_dims:
        best = PREFERRED_DEFAULT_DIM if PREFERRED_DEFAULT_DIM in vae_dims else vae_dims[len(vae_dims) // 2]
        w.manifest["default_space"] = str(best)
    w.publish()
    ds = Dataset(w.path)
    timings = compute_layouts(ds, layouts)  # those not computed yet; the cache is outside the version folder
    if todo:  # the report changes only with what this run added
        w.report.timings.update(timings)
        w.report.timings["total_seconds"] = round(time.perf_counter() - started, 1)
    return w.finish()
