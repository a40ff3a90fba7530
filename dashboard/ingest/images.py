"""The ``images`` recipe: your own image folder as a dataset, as PixPlot builds one.

Images come from a folder or a (recursive) glob; what is an image is decided
by content, not by suffix: every file Pillow can open and load becomes an
item, every other file is named in the build report with its reason, hidden
files included. Each file is decoded once, in worker processes that run
ahead of the feature model under a per-file time limit, and becomes a web
image (600 px a side at most) and a thumbnail. Whatever a decoder raises,
or if it hangs or crashes, costs that file only: only an interrupt or a full
disk stops a build.

Decoded images are kept by content hash in the build's scratch folder, and
features in the cache by content hash, so a killed build resumes where it
stopped and a rebuild of a grown folder decodes and embeds only the new
files. Every build is written aside and published in one rename (see
:mod:`dashboard.store`): the old version is served until the new one is
complete.
"""

from __future__ import annotations

import concurrent.futures
import glob
import hashlib
import io
import json
import multiprocessing
import os
import shutil
import warnings
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pebble
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm import tqdm

from .. import cache as cache_mod
from ..compute import arrangements
from ..compute import features as features_mod
from ..compute.projections import pca
from ..errors import DashboardError
from ..store import THUMB_SIZE, Dataset, DatasetWriter, Rows, _disk_problem, atomic_path, write_json
from .common import DEFAULT_LAYOUTS, compute_layouts, thumbnail, train_vae_space, write_hotspots
from . import geography, iiif
from .metadata import match_metadata, read_metadata

#: Names that operating systems and archivers leave in folders: named in the report, never items.
SYSTEM_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini", "ehthumbs.db", "Icon\r"}
#: Seconds one file may take to decode before it is skipped (a decoder that hangs).
DECODE_TIMEOUT = 60.0
#: The decoded-image scratch folder of a build (by content hash; kept until publish).
SCRATCH = ".decoded"
#: Content hash of each item's file, by ``i`` (what the next build reuses decoded images by).
CONTENT_KEYS = "content_keys.json"
#: The web image's longest side (PixPlot's lightbox used 600 px high images).
WEB_SIZE = 600
#: Wider or taller than this ratio does not fit an atlas row (PixPlot: atlas 2048 / cell 32).
MAX_ASPECT = 64
#: PCA dims of the space the layouts use (PixPlot: PCA to 100 before UMAP).
PCA_DIMS = 100
BATCH = 32
#: Batches decoded ahead of the model.
LOOKAHEAD = 2


class SkipImage(Exception):
    """This file cannot be used; the message is the reason the build report gives."""


def _hidden(part: str) -> bool:
    return part.startswith(".") or part in SYSTEM_NAMES


def find_images(pattern: str) -> tuple[Path, list[Path], list[Path]]:
    """The files an ``--images`` folder or glob names, sorted; the folder names are relative to;
    and the hidden files and system clutter left out (``.DS_Store``, ``__MACOSX/``, ``Thumbs.db``).

    A folder is taken as every file below it, whatever its suffix: the decoder
    decides what is an image. A glob (``**`` recurses) takes what it matches.
    """
    pattern = os.path.expanduser(pattern)
    if os.path.isdir(pattern):
        root = Path(pattern)
        every = [Path(d) / f for d, _, files in os.walk(root, followlinks=True) for f in files]
    else:
        wild = next((k for k, part in enumerate(Path(pattern).parts) if glob.has_magic(part)), None)
        root = Path(*Path(pattern).parts[:wild]) if wild else Path(pattern).parent
        every = [Path(p) for p in glob.glob(pattern, recursive=True) if not os.path.isdir(p)]
    found, hidden = [], []
    for path in sorted(every):
        rel = path.relative_to(root) if path.is_relative_to(root) else Path(path.name)
        (hidden if any(_hidden(part) for part in rel.parts) else found).append(path)
    if not found:
        raise DashboardError(f"--images {pattern!r} matches no files"
                             + (f" (only {len(hidden)} hidden ones)" if hidden else ""))
    return root, found, hidden


def display_name(path: Path, root: Path) -> str:
    """The path below the root, as text even when the file name is not valid UTF-8."""
    rel = os.fsencode(path.relative_to(root).as_posix()) if path.is_relative_to(root) else os.fsencode(path.name)
    return rel.decode("utf-8", errors="replace")


def to_rgb_or_rgba(im: Image.Image) -> Image.Image:
    """8-bit RGB, or RGBA when the image has transparency (palette transparency included)."""
    if im.mode in ("RGB", "RGBA"):
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16-bit and float greys: stretch what is there to 8 bits (many scanners use 12 of 16 bits)
        a = np.asarray(im, dtype=np.float64)
        top = float(np.nanmax(a)) if a.size else 0.0
        a = np.clip(a * (255.0 / top if top > 0 else 0.0), 0, 255).astype(np.uint8)
        return Image.fromarray(a, "L").convert("RGB")
    if im.mode in ("LA", "PA", "La") or (im.mode == "P" and "transparency" in im.info):
        return im.convert("RGBA")
    return im.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV


def open_image(path: Path) -> tuple[Image.Image, str | None]:
    """The first frame, EXIF orientation applied, as RGB(A); ``SkipImage`` says why a file cannot be used.

    Whatever the decoder raises becomes the reason; a full or read-only disk is not a file's fault and
    is raised as it is.
    """
    fmt = None
    try:
        if path.stat().st_size == 0:
            raise SkipImage("empty file (0 bytes)")
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice it; both are bombs here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                fmt = im.format
                w, h = im.size
                if min(w, h) < 1:
                    raise SkipImage(f"zero-sized image ({w}×{h})")
                if max(w / h, h / w) > MAX_ASPECT:
                    raise SkipImage(f"extreme aspect ratio ({w}×{h}; at most {MAX_ASPECT}:1)")
                frames = getattr(im, "n_frames", 1)
                im.seek(0)
                im.load()
                out = to_rgb_or_rgba(ImageOps.exif_transpose(im))
    except SkipImage:
        raise
    except PermissionError:
        raise SkipImage("permission denied") from None
    except (FileNotFoundError, IsADirectoryError) as e:
        raise SkipImage(f"cannot read ({e.strerror})") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise SkipImage(f"decompression bomb: {e}") from None
    except UnidentifiedImageError:
        raise SkipImage("not an image") from None
    except MemoryError:
        raise SkipImage("too large to decode (out of memory)") from None
    except Exception as e:  # noqa: BLE001 - a decoder may raise anything; it costs this file only
        if _disk_problem(e):
            raise
        detail = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        if isinstance(e, NotImplementedError) or "not supported" in str(e) or "unsupported" in str(e).lower() \
                or "stub" in str(e) or "decoder" in str(e) and "not available" in str(e):
            raise SkipImage(f"unsupported format {fmt or '?'} ({detail})") from None
        raise SkipImage(f"truncated or corrupt{f' {fmt}' if fmt else ''} ({detail})") from None
    return out, (f"animated ({frames} frames): first frame used" if frames > 1 else None)


def _save(im: Image.Image, path: Path) -> None:
    buf = io.BytesIO()
    im.save(buf, format="WEBP", quality=85, method=4)  # keeps alpha; a fraction of PNG's size for photos
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue())


def write_web_images(im: Image.Image, web: Path, thumb: Path) -> None:
    """An item's web image (WEB_SIZE px a side at most, for the details panel) and its thumbnail."""
    _save(_web(im), web)
    _save(thumbnail(im, THUMB_SIZE), thumb)


def content_key(path: Path) -> str:
    """The file's content hash: the feature cache key (renaming or moving a file keeps its features)."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def build(
    data_dir: Path,
    *,
    name: str,
    images: str,
    metadata: str | None = None,
    model: str = "pixels",
    weights: str | None = None,
    vectors: str | None = None,
    runtime: str = "auto",
    max_images: int | None = None,
    shuffle: bool = False,
    seed: int = 24,
    metric: str = "cosine",
    min_cluster_size: int = 20,
    max_clusters: int = 10,
    cell_size: int | None = None,
    n_neighbors: int = 15,
    min_dist: float = 0.01,
    dims: tuple[int, ...] = (32,),
    epochs: int = 25,
    geojson: str | None = None,
    download_dir: Path | None = None,
    fresh: bool = False,
    layouts: tuple[str, ...] = DEFAULT_LAYOUTS,
    decode_timeout: float = DECODE_TIMEOUT,
    dask: str | None = None,
) -> Dataset:
    """Build dataset ``name`` from the images an ``--images`` glob, folder or IIIF manifest list names.

    ``model`` defaults to the pixel baseline here; the CLI defaults to InceptionV3, as PixPlot.
    Every build is a new version (a new ``build_id``), published when complete; ``fresh`` also
    forgets what a killed run left (decoded images; cached features are kept either way). ``dask``
    (``local:N`` or a scheduler's ``tcp://HOST:PORT``) decodes and embeds on a Dask cluster instead of
    this machine's processes (see :mod:`dashboard.ingest.dask_images`), with the same result.
    """
    if dask:
        from . import dask_images

        dask_images.parse(dask)  # a bad value fails before any work
    extractor = features_mod.extractor(model, weights=weights, vectors=vectors, runtime=runtime,  # fails before any work
                                       models_dir=cache_mod.cache_dir(data_dir) / "models")
    if geojson:
        geography.geojson_outline(geojson)  # a bad file fails now, not after the images
    failures: list[tuple[str, str]] = []
    table, messages = (read_metadata(metadata) if metadata else (None, []))
    from_iiif = iiif.is_manifest_list(images)
    if from_iiif:
        if metadata:
            raise DashboardError("--metadata does not combine with IIIF manifests: their labels and metadata are used")
        table, failures = iiif.download(images, Path(data_dir) / ".iiif" / name)
        images = str(Path(data_dir) / ".iiif" / name)
    root, paths, hidden = find_images(images)
    order = np.arange(len(paths))
    if extractor.positional and len(extractor.rows) != len(paths):
        raise DashboardError(f"--vectors has {len(extractor.rows):,} rows but --images finds {len(paths):,} files: "
                             "one row per file, in sorted path order")
    if shuffle:
        order = np.random.default_rng(seed).permutation(len(paths))
    if max_images:
        order = order[:max_images]
    paths = [paths[k] for k in order]
    if extractor.positional:
        extractor.rows = extractor.rows[order]
    names = [display_name(p, root) for p in paths]

    with DatasetWriter(data_dir, name, fresh=True, keep=(SCRATCH,)) as w:
        if fresh:
            shutil.rmtree(w.path / SCRATCH, ignore_errors=True)
        for p in hidden:
            w.report.skip(display_name(p, root), "hidden file or system clutter (ignored)")
        for message in messages:
            w.report.notes.append(message)
        for url, reason in failures:
            w.report.skip(url, reason)
        w.set_info(type="image", metric=metric, image_format="webp",
                   provenance={"source": f"images {images}" + (f", metadata {metadata}" if metadata else ""),
                               "features": extractor.description})
        if dask:
            keep, features, notes, keys = dask_images.decode_and_extract(
                w, paths, names, extractor, data_dir, dask=dask, model=model, weights=weights, vectors=vectors,
                runtime=runtime, timeout=decode_timeout)
        else:
            keep, features, notes, keys = _decode_and_extract(w, paths, names, extractor, data_dir,
                                                              timeout=decode_timeout)
        if not keep:
            reasons = "; ".join(f"{s['item']}: {s['reason']}" for s in w.report.skipped[:3])
            raise DashboardError(f"none of the {len(paths):,} files could be used ({reasons}"
                                 + (" …" if len(w.report.skipped) > 3 else "") + ")")
        kept_names = [names[k] for k in keep]
        meta = pd.DataFrame({"i": np.arange(len(keep)), "name": kept_names,
                             "filename": [Path(n).name for n in kept_names],
                             "folder": [_folder_label(n, root) for n in kept_names]})
        overrides = {"filename": "text", "folder": "categorical"}
        if table is not None:
            extra, report = match_metadata(table, kept_names)
            extra = extra.rename(columns={c: f"meta_{c}" for c in extra.columns if c in meta.columns})
            for line in report:
                w.report.notes.append(line)
            meta = pd.concat([meta, extra.reset_index(drop=True)], axis=1)
            overrides.update({c: t for c, t in (("category", "categorical"), ("label", "categorical"),
                                                ("tags", "text"), ("description", "text"), ("permalink", "text"),
                                                ("year", "numeric"), ("lat", "numeric"), ("lng", "numeric"))
                              if c in meta.columns})
            if from_iiif:  # not for a user's CSV, whose "canvas" may be anything
                overrides.update({c: t for c, t in iiif.SCHEMA.items() if c in meta.columns})
        for k, note in notes:
            w.report.notes.append(f"{names[k]}: {note}")
        schema = w.write_meta(meta, overrides)
        # the colour a map opens with: PixPlot's category, a label, the sub-folder, else any category, of
        # at least two values (one colour over every image only tints them all alike); "": plain images
        choices = [c for c in ("category", "label", "folder") if c in schema] + list(schema)
        w.manifest["label_column"] = next((c for c in choices if schema[c] == "categorical"
                                           and meta[c].nunique(dropna=True) > 1), "")
        # PixPlot's UMAP: its min_dist default, supervised by a label column when there is one
        umap_defaults = {"n_neighbors": int(n_neighbors), "min_dist": float(min_dist)}
        if "label" in meta.columns and meta["label"].notna().any():
            umap_defaults["label"] = "label"
        w.manifest["projection_defaults"] = {"umap": umap_defaults}
        if cell_size:
            w.manifest["cell_size"] = int(cell_size)
        if extractor.name == "vae":
            from ..compute import vae

            x = vae.premultiply(np.asarray(features))
            del features
            for d in dims:
                train_vae_space(w, x, d, epochs)
            w.manifest["default_space"] = str(dims[len(dims) // 2])
            X = None
        else:
            X = features if features.dtype == np.float32 else features.astype(np.float32)  # on disk, not copied
            w.write_latent(extractor.space_id, X, kind="features", description=extractor.description)
        if X is not None and X.shape[1] > PCA_DIMS and len(X) > 2:
            d = min(PCA_DIMS, len(X) - 1)
            w.write_latent(f"pca{d}", pca(X, n_components=d), kind="pca",
                           description=f"PCA of the {extractor.name} features to {d} dims (PixPlot's step before UMAP)")
            w.manifest["default_space"] = f"pca{d}"
        w.report.notes.extend(extractor.notes)  # the runtime used, and the speeds measured on the first images
        w.report.timings.update({f"features_img_s_{r}": v for r, v in extractor.speeds.items()})
        w.report.counts.update(files=len(paths) + len(hidden), items=len(keep),
                               skipped=len(paths) - len(keep) + len(hidden) + len(failures))
        write_json(w.path / CONTENT_KEYS, {"keys": keys, "notes": [dict(notes).get(k) for k in keep]})
        w.flush()
        ds = Dataset(w.path)  # the unpublished version: the old one is served until finish()
        w.report.timings.update(compute_layouts(ds, layouts))
        write_arrangements(w, ds, "umap" if "umap" in layouts else "pca", geojson=geojson,
                           download_dir=Path(download_dir or Path(data_dir) / ".downloads"))
        write_hotspots(w, ds, min_cluster_size=min_cluster_size, max_clusters=max_clusters)
        shutil.rmtree(w.path / SCRATCH, ignore_errors=True)  # its files live on as images/ and thumbs/
        return w.finish()


def _folder_label(name: str, root: Path) -> str:
    """An item's folder for the legend; the top folder by its own name, not "."."""
    parent = str(Path(name).parent)
    return parent if parent != "." else (root.resolve().name or "(top folder)")


def write_arrangements(w: DatasetWriter, ds: Dataset, projection: str, *, geojson: str | None = None,
                       download_dir: Path | None = None) -> None:
    """PixPlot's layouts beside the projections: grid (of the default space's ``projection``), alphabetical,
    and, when the metadata has them, categorical (category), date (year) and geographic (lat, lng; over
    the world's coastlines and the ``geojson`` shapes)."""
    from ..computed import get_layout

    meta = ds.meta
    w.write_arrangement("grid", *arrangements.grid(get_layout(ds, ds.default_space, projection).xy),
                        description=f"the {projection.upper()} map snapped to a square grid")
    w.write_arrangement("alphabetical", *arrangements.alphabetical(list(meta["name"].astype(str))),
                        description="a grid in path order")
    if "category" in meta.columns and meta["category"].nunique() >= 2:
        w.write_arrangement("categorical", *arrangements.categorical(list(meta["category"])),
                            description="a box per category")
    if "year" in meta.columns and meta["year"].notna().any():
        w.write_arrangement("date", *arrangements.date(meta["year"].to_numpy(dtype=float)),
                            description="a bar per year")
    if {"lat", "lng"} <= set(meta.columns) and (meta["lat"].notna() & meta["lng"].notna()).any():
        outline = geography.geojson_outline(geojson) if geojson else []
        try:
            outline = geography.world_outline(download_dir) + outline
        except DashboardError as e:  # offline without npm: the points still show, on a blank map
            w.report.notes.append(f"geographic layout without the world outline: {e}")
        w.write_arrangement("geographic", *arrangements.geographic(meta["lat"].to_numpy(dtype=float),
                                                                   meta["lng"].to_numpy(dtype=float)),
                            description="longitude and latitude", outline=outline)


def _decode_file(path: str, web: str, thumb: str, marker: str, prepare) -> tuple[str | None, np.ndarray | None]:
    """In a worker process: decode one file, write its web image, thumbnail and marker, prepare its model input.

    The marker (``<key>.json``, written last) says the images beside it are complete.
    """
    im, note = open_image(Path(path))
    write_web_images(im, Path(web), Path(thumb))
    _write_marker(Path(marker), note)
    return note, (prepare(im) if prepare is not None else None)


def _write_marker(marker: Path, note: str | None) -> None:
    """Say the decoded images beside ``marker`` are complete, at which sizes (read by :func:`_decoded_note`)."""
    write_json(marker, {"note": note, "web": WEB_SIZE, "thumb": THUMB_SIZE})


def _scratch_entry(scratch: Path, key: str) -> tuple[Path, Path, Path]:
    return scratch / f"{key}.webp", scratch / f"{key}.thumb.webp", scratch / f"{key}.json"


def _decoded_note(scratch: Path, key: str) -> tuple[bool, str | None]:
    """Whether ``key`` was decoded by an earlier (killed) run or the previous version, and its note."""
    web, thumb, marker = _scratch_entry(scratch, key)
    try:
        m = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False, None
    ok = m.get("web") == WEB_SIZE and m.get("thumb") == THUMB_SIZE and web.exists() and thumb.exists()
    return ok, m.get("note")


def _place(source: Path, target: Path) -> None:
    """``target`` becomes ``source``'s content: a hard link (no copy, no space), else a copy."""
    tmp = target.with_name(f".{target.name}.new")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def _seed_scratch(w: DatasetWriter, scratch: Path) -> None:
    """Offer the published version's decoded images to this build (a rebuild decodes only new files)."""
    final = w.final
    try:
        keys = json.loads((final / CONTENT_KEYS).read_text(encoding="utf-8"))
        fmt = json.loads((final / "manifest.json").read_text(encoding="utf-8")).get("image_format")
    except (OSError, ValueError):
        return
    if fmt != "webp":
        return
    for i, (key, note) in enumerate(zip(keys["keys"], keys["notes"])):
        web, thumb, marker = _scratch_entry(scratch, key)
        if marker.exists():
            continue
        try:
            _place(final / "images" / f"{i}.webp", web)
            _place(final / "thumbs" / f"{i}.webp", thumb)
        except OSError as e:
            if _disk_problem(e):
                raise
            continue
        _write_marker(marker, note)


def prepare_scratch(w: DatasetWriter) -> Path:
    """The build's scratch folder of decoded images, a killed run's half-written files removed and the
    published version's decoded images offered; ``images/`` and ``thumbs/`` made."""
    scratch = w.path / SCRATCH
    scratch.mkdir(exist_ok=True)
    for leftover in scratch.glob(".*"):  # a killed run's half-written files
        leftover.unlink(missing_ok=True)
    if not w.published:
        _seed_scratch(w, scratch)
    for folder in ("images", "thumbs"):
        (w.path / folder).mkdir(exist_ok=True)
    return scratch


def look_up(k: int, path: Path, extractor, cache, scratch: Path):
    """What earlier runs left for file ``k``: ``(ok, note or reason, cached features, key, decoded)``.

    ``ok`` is False when the file cannot be read (the reason says why); ``decoded`` says its images
    are complete in the scratch folder.
    """
    try:
        key = content_key(path)
    except PermissionError:
        return False, "permission denied", None, None, False
    except OSError as e:
        if _disk_problem(e):
            raise
        return False, f"cannot read ({e.strerror or e})", None, None, False
    if extractor.positional:
        cached = extractor.row(k)
    elif extractor.cache_id:
        cached = cache.get(f"features/{extractor.cache_id}/{key}", retry=True)
    else:
        cached = None
    decoded, note = _decoded_note(scratch, key)
    return True, note, cached, key, decoded


def decoder_pool(workers: int, initializer=None) -> pebble.ProcessPool:
    """``workers`` decoding processes (``initializer``: run in each as it starts, e.g. to register a Pillow
    plugin).

    forkserver (where there is one), never fork: a process forked from this one (which runs hashing
    threads and may have loaded TensorFlow) can inherit a lock held at that instant and hang on its
    first file, which the CI saw as "decoding took longer than 60 s" for one file per worker.
    """
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver") if "forkserver" in methods else None
    if context is not None:
        context.set_forkserver_preload([__name__])  # each decoder starts with this module imported
    return pebble.ProcessPool(max_workers=workers, context=context, initializer=initializer)


def decode_outcome(future, timeout: float):
    """``(ok, note or reason, model input)`` of a ``_decode_file`` run in a pebble pool: what it raised
    becomes the file's skip reason (a full disk is raised as it is)."""
    try:
        note, model_input = future.result()
    except SkipImage as e:
        return False, str(e), None
    except concurrent.futures.TimeoutError:
        return False, f"decoding took longer than {timeout:g} s (the time limit)", None
    except pebble.ProcessExpired as e:
        return False, f"the decoder crashed (exit code {e.exitcode})", None
    except OSError as e:
        if _disk_problem(e):
            raise
        return False, f"cannot read ({e.strerror or e})", None
    except Exception as e:  # noqa: BLE001 - e.g. an image that decodes but cannot be resized
        return False, f"cannot use ({type(e).__name__}: {e})", None
    return True, note, model_input


class FeatureRows:
    """The kept files' features, row i for item i, in a ``.npy`` file of the build's scratch folder: a million
    images' 1,728-d pixel features are 7 GB, which a list of arrays (stacked after: twice) held in memory.
    Rows are written with ``pwrite`` and read back as :class:`~dashboard.store.Rows`, not memory-mapped: a
    map's touched pages count as the build's own memory until the kernel drops them. Created with the first
    row (its shape and type); ``capacity`` rows at most."""

    def __init__(self, folder: Path, capacity: int):
        self.path, self.capacity = folder / "features.npy", max(1, capacity)
        self.fd: int | None = None

    def __setitem__(self, i: int, vec) -> None:
        vec = np.ascontiguousarray(vec)
        if self.fd is None:
            # the header and a sparse file of the full size (nothing written but the header)
            self.shape, self.dtype = (self.capacity, *vec.shape), vec.dtype
            made = np.lib.format.open_memmap(self.path, mode="w+", dtype=vec.dtype, shape=self.shape)
            self.offset, self.row_bytes = made.offset, vec.nbytes
            del made
            self.fd = os.open(self.path, os.O_RDWR)
        os.pwrite(self.fd, vec.tobytes(), self.offset + i * self.row_bytes)

    def rows(self, n: int) -> np.ndarray | Rows:
        """The first ``n`` rows (every kept file's, once all are set): feature vectors as :class:`Rows` read
        from the file by row ranges, the VAE's images (rows of more than one axis) as one array."""
        if self.fd is None:
            return np.zeros((0, 0), np.float32)
        self.close()  # written whole
        width = int(np.prod(self.shape[1:]))

        def read(a: int, b: int) -> np.ndarray:
            with open(self.path, "rb") as f:
                f.seek(self.offset + a * self.row_bytes)
                return np.fromfile(f, self.dtype, count=(b - a) * width).reshape(b - a, *self.shape[1:])

        if len(self.shape) > 2:  # the VAE's pixels (n × h × w × c): it trains on every row at once
            return read(0, n)
        return Rows((n, width), read)

    def close(self) -> None:
        """Stop writing (what was written stays readable)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class Kept:
    """The files a build keeps, in order: each numbered as it is added (its images placed from the scratch)."""

    def __init__(self, w: DatasetWriter, scratch: Path, extractor, capacity: int):
        self.w, self.scratch, self.extractor = w, scratch, extractor
        self.keep: list[int] = []
        self.features = FeatureRows(scratch, capacity)
        self.notes: list[tuple[int, str]] = []
        self.keys: list[str] = []
        self.from_cache = 0

    def add(self, k: int, key: str, note: str | None, vec: np.ndarray | None) -> int:
        """Keep file ``k`` (``vec``: its cached features, or None until the model runs); its item number."""
        i = len(self.keep)
        self.keep.append(k)
        self.keys.append(key)
        if vec is not None:
            self.features[i] = vec
        self.from_cache += vec is not None and not self.extractor.positional
        if note:
            self.notes.append((k, note))
        # kept by content in the scratch; numbered now that the skips before it are known
        web, thumb, _ = _scratch_entry(self.scratch, key)
        _place(web, self.w.path / "images" / f"{i}.webp")
        _place(thumb, self.w.path / "thumbs" / f"{i}.webp")
        return i

    def result(self):
        """``(keep, features, notes, keys)``, the count of features from the cache in the report."""
        self.w.report.counts["features_from_cache"] = int(self.from_cache)
        return self.keep, self.features.rows(len(self.keep)), self.notes, self.keys


def as_features(extractor, vec) -> np.ndarray:
    """A model output row as the build keeps it (float32 when it goes into the feature cache)."""
    return np.asarray(vec) if not extractor.cache_id else np.asarray(vec, np.float32)


def _decode_and_extract(w: DatasetWriter, paths: list[Path], names: list[str], extractor, data_dir: Path,
                        timeout: float = DECODE_TIMEOUT):
    """Decode each file once and extract the features missing from the cache.

    Threads hash each file and look up what earlier runs left (decoded images in the scratch folder,
    features in the cache); what is missing is decoded in worker processes, at most LOOKAHEAD batches
    ahead of the model (so memory does not grow with the folder), each file under a time limit. Returns
    the positions of the files kept, their features, per-file notes and content keys.
    """
    scratch = prepare_scratch(w)
    kept = Kept(w, scratch, extractor, len(paths))
    workers = max(2, os.cpu_count() or 2)
    decoders = decoder_pool(workers)

    with cache_mod.open_cache(data_dir) as cache:  # diskcache is safe to share between threads

        def one(k: int):
            """(k, ok, note or reason, cached features, key, model input) for file k; its images in the scratch."""
            ok, note, cached, key, decoded = look_up(k, paths[k], extractor, cache, scratch)
            if not ok or (decoded and cached is not None):
                return k, ok, note, cached, key, None
            web, thumb, marker = _scratch_entry(scratch, key)
            future = decoders.schedule(_decode_file, args=(str(paths[k]), str(web), str(thumb), str(marker),
                                                           extractor.prepare if cached is None else None),
                                       timeout=timeout)
            ok, note, model_input = decode_outcome(future, timeout)
            return k, ok, note, cached, key, model_input

        bar = tqdm(total=len(paths), desc="images", unit="img", leave=False)
        batches = [range(a, min(a + BATCH, len(paths))) for a in range(0, len(paths), BATCH)]
        pending: deque = deque()
        try:
            with ThreadPoolExecutor(max_workers=2 * workers) as threads:
                submitted = 0
                for batch in batches:
                    while submitted < min(len(paths), batch.stop + LOOKAHEAD * BATCH):
                        pending.append(threads.submit(one, submitted))
                        submitted += 1
                    todo = []
                    for _ in batch:
                        k, ok, note, vec, key, model_input = pending.popleft().result()
                        bar.update(1)
                        if not ok:
                            w.report.skip(names[k], note)
                            continue
                        i = kept.add(k, key, note, vec)
                        if model_input is not None:
                            todo.append((i, key, model_input))
                    if todo:
                        out = extractor.run(np.stack([t[2] for t in todo]))
                        for (i, key, _), vec in zip(todo, out):
                            vec = kept.features[i] = as_features(extractor, vec)
                            if extractor.cache_id:
                                cache.set(f"features/{extractor.cache_id}/{key}", vec, retry=True)
        except BaseException:
            for f in pending:
                f.cancel()
            raise
        finally:
            decoders.stop()
            decoders.join()
            bar.close()
    return kept.result()


def _web(im: Image.Image) -> Image.Image:
    if max(im.size) <= WEB_SIZE:
        return im
    im = im.copy()
    im.thumbnail((WEB_SIZE, WEB_SIZE), Image.LANCZOS)
    return im
