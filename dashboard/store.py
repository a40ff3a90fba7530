"""The dataset store: the only module that knows the on-disk format.

One folder per dataset under the data directory::

    <data_dir>/<name>/
        manifest.json        name, type, n, metric, latent spaces, schema, provenance
        meta.parquet         one row per item; columns ``i`` and ``name`` first
        latent/latent<d>.h5  HDF5 dataset ``latent`` (n × d float32), as LSC
        images/<i>.png       full images (image datasets)
        thumbs/<i>.png       thumbnails, at most THUMB_SIZE px a side
        models/              encoder<space>.keras / decoder<space>.keras
        layouts/<key>.npy    layouts that came with the data (LSC's t-SNE)
        report.json          build report: every skipped input with its reason
        extra/               files kept as imported (LSC's raw.h5)

Every file is written aside and renamed into place, and the manifest is
written last, so a killed build leaves the last good state. A build is
written in ``.<name>.partial/`` (which :func:`list_datasets` never sees)
and published as the version folder ``.<name>.build-<build_id>/``, to which
``<name>`` is a symbolic link: publishing swaps the link in one rename, so
readers see the old version or the new one, never a mix, whenever a build
stops. The previous version stays until the next publish, so that readers
that opened it finish reading it. A re-run of a recipe only adds to the
published version (a latent space, a decoder: ``items_from`` in
:class:`DatasetWriter`); a build of other items is a new version.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import quote

import h5py
import numpy as np
import pandas as pd

from . import locks
from .errors import DashboardError, DatasetNotFound, ValidationError
from .schema import clean_colors, infer_schema, type_problem

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
REPORT = "report.json"
META = "meta.parquet"
THUMB_SIZE = 64
HOTSPOTS = "hotspots.json"
DATA_TYPES = ("image", "text", "other")
METRICS = ("euclidean", "cosine")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


def default_data_dir() -> Path:
    """``$DASHBOARD_DATA_DIR`` if set, else ``./data``."""
    return Path(os.environ.get("DASHBOARD_DATA_DIR") or "data")


def normalize_metric(metric: str) -> str:
    """LSC says ``l2``; scikit-learn and UMAP say ``euclidean``."""
    m = str(metric).lower()
    m = {"l2": "euclidean", "euclidean": "euclidean", "cosine": "cosine"}.get(m, m)
    if m not in METRICS:
        raise DashboardError(f"unknown metric {metric!r}: expected one of l2, euclidean, cosine")
    return m


def check_name(name: str, what: str = "dataset name") -> str:
    if not _NAME_RE.match(name or ""):
        raise DashboardError(
            f"invalid {what} {name!r}: use letters, digits, '_', '-' or '.', starting with a letter or digit"
        )
    return name


def space_file(space: str) -> str:
    """Relative path of a latent space's HDF5 file (LSC names numeric ones)."""
    return f"latent/latent{space}.h5"


def fingerprint_array(a: np.ndarray) -> str:
    """Content hash of an array: equal data gives equal cache keys."""
    a = np.ascontiguousarray(a)
    h = hashlib.sha1()
    h.update(str((a.dtype.str, a.shape)).encode())
    h.update(memoryview(a).cast("B"))
    return h.hexdigest()[:16]


def fingerprint_table(table: pd.DataFrame) -> str:
    """Content hash of a table: :func:`fingerprint_array` of its rows' hashes (pandas' per-row hash), hashed
    :data:`BLOCK_ROWS` rows at a time, which gives the same hashes as the whole table: pandas turns a column
    of strings into Python objects to hash it, gigabytes for ten million names at once."""
    hashes = np.empty(len(table), dtype=np.uint64)
    for a in range(0, len(table), BLOCK_ROWS):
        hashes[a:a + BLOCK_ROWS] = pd.util.hash_pandas_object(table.iloc[a:a + BLOCK_ROWS], index=False).to_numpy()
    return fingerprint_array(hashes)


#: Rows a block of a large space holds when it is read, checked or written piece by piece.
BLOCK_ROWS = 65536
#: A latent space larger than this (bytes) is read in row blocks by the projections that can (PCA), not whole.
ROWS_BYTES = 1 << 30


class Rows:
    """An n × d float32 array on disk, read by row ranges (``rows[a:b]``, ``blocks()``): what a step that works
    in blocks takes in place of the whole array, so a million images' 1,728-d pixels (7 GB) are never held
    at once. ``read(a, b)`` gives rows a to b as float32."""

    dtype = np.dtype(np.float32)
    ndim = 2

    def __init__(self, shape: tuple[int, int], read: Callable[[int, int], np.ndarray]):
        self.shape, self._read = (int(shape[0]), int(shape[1])), read

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: slice) -> np.ndarray:
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("Rows are read by row ranges only (rows[a:b])")
        a, b, _ = key.indices(self.shape[0])
        return np.asarray(self._read(a, max(a, b)), dtype=np.float32).reshape(-1, self.shape[1])

    def blocks(self, size: int = BLOCK_ROWS) -> Iterator[tuple[int, np.ndarray]]:
        """``(first row, rows)`` in order, ``size`` rows at a time."""
        for a in range(0, self.shape[0], size):
            yield a, self[a:a + size]

    @classmethod
    def of(cls, array: "np.ndarray | Rows") -> "Rows":
        """``array`` itself when it is Rows, else Rows over an array in memory (no copy)."""
        return array if isinstance(array, Rows) else cls(array.shape, lambda a, b: array[a:b])


def h5_rows(path: str | Path, key: str = "latent") -> Rows:
    """:class:`Rows` over the 2-D HDF5 dataset ``key`` of a file (any number type; read as float32)."""
    path = str(path)
    with h5py.File(path, "r") as f:
        shape = f[key].shape

    def read(a: int, b: int) -> np.ndarray:
        with h5py.File(path, "r") as f:  # opened per block: an h5py handle is not shared across forks
            return f[key][a:b]

    return Rows(shape, read)


# --------------------------------------------------------------------------
# atomic writes


@contextlib.contextmanager
def atomic_path(path: Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix or path.suffix)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (a power cut after publishing keeps the new version)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")


def write_h5(path: Path, array: "np.ndarray | Rows", key: str = "latent") -> None:
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            if isinstance(array, Rows):  # block by block (a contiguous dataset, as data= would make)
                out = f.create_dataset(key, shape=array.shape, dtype=array.dtype)
                for a, block in array.blocks():
                    out[a:a + len(block)] = block
            else:
                f.create_dataset(key, data=array)


# --------------------------------------------------------------------------
# reading


@dataclass(frozen=True)
class LatentSpace:
    """One latent space of a dataset, as the manifest describes it."""

    id: str
    dim: int
    kind: str  # raw | pca | vae | embedding | imported
    file: str
    fingerprint: str
    description: str = ""
    val_loss: float | None = None
    encoder: str | None = None
    decoder: str | None = None

    @property
    def label(self) -> str:
        extra = f" · val loss {self.val_loss:.1f}" if self.val_loss is not None else ""
        return f"{self.id} ({self.kind}, {self.dim}-d){extra}"


@functools.lru_cache(maxsize=8)
def _read_meta(path: str, fingerprint: str) -> pd.DataFrame:
    # Keyed on the file's fingerprint so a rebuilt table is read again; the
    # cache is read-only data, so sharing it across requests is safe.
    return pd.read_parquet(path)


@functools.lru_cache(maxsize=16)
def _read_latent(path: str, fingerprint: str) -> np.ndarray:
    with h5py.File(path, "r") as f:
        a = f["latent"][()]
    a = np.asarray(a, dtype=np.float32)
    a.setflags(write=False)
    return a


class Dataset:
    """A dataset folder opened for reading. Cheap: nothing big is read here."""

    def __init__(self, path: Path):
        # The version folder behind <name>'s link: every read of this object comes from one
        # build even if a rebuild is published meanwhile.
        self.path = Path(path).resolve()
        manifest_path = self.path / MANIFEST
        try:
            self.manifest: dict = json.loads(manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DatasetNotFound(f"{self.path} is not a dataset (no {MANIFEST})") from None
        except json.JSONDecodeError as e:
            raise DashboardError(f"{manifest_path}: not valid JSON ({e})") from None
        version = self.manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise DashboardError(
                f"{manifest_path}: format version {version}, this program reads {FORMAT_VERSION}; rebuild the dataset"
            )

    def __repr__(self) -> str:
        return f"<Dataset {self.name} n={self.n} spaces={list(self.spaces)}>"

    @property
    def location(self) -> Path:
        """Where users find it, ``<data_dir>/<name>`` (``path`` is the version folder behind it)."""
        return self.path.parent / self.name

    # manifest fields
    name = property(lambda self: self.manifest["name"])
    type = property(lambda self: self.manifest["type"])
    n = property(lambda self: int(self.manifest["n"]))
    metric = property(lambda self: self.manifest["metric"])
    schema = property(lambda self: dict(self.manifest["schema"]))
    state = property(lambda self: self.manifest.get("state", "complete"))
    provenance = property(lambda self: dict(self.manifest.get("provenance", {})))
    build_id = property(lambda self: self.manifest["build_id"])
    #: column → type where a user changed the type the build gave (:func:`set_column_type`)
    column_types = property(lambda self: dict(self.manifest.get("column_types") or {}))
    image_shape = property(lambda self: self.manifest.get("image_shape"))

    @property
    def revision(self) -> str:
        """What the served data depends on: the build, and the column types a user changed since (a type
        decides a column's colours, filter and counts). Caches and validators of such data are keyed on it."""
        chosen = self.manifest.get("column_types")
        if not chosen:
            return self.build_id
        return f"{self.build_id}.{hashlib.blake2b(json.dumps(chosen, sort_keys=True).encode(), digest_size=4).hexdigest()}"

    @property
    def label_column(self) -> str | None:
        """The categorical column that colours the items: the recipe's label, else the first category."""
        label = self.manifest.get("label_column")
        if label == "":
            return None  # the build found no column worth colouring by (every item has the same value)
        cats = [c for c, t in self.schema.items() if t == "categorical"]
        return label if label in cats else (cats[0] if cats else None)

    @property
    def spaces(self) -> dict[str, LatentSpace]:
        return {k: LatentSpace(id=k, **v) for k, v in self.manifest.get("latent", {}).items()}

    @property
    def default_space(self) -> str:
        spaces = self.spaces
        default = self.manifest.get("default_space")
        if default in spaces:
            return default
        if not spaces:
            raise DashboardError(f"dataset {self.name!r} has no latent space yet")
        return next(iter(spaces))

    def space(self, space: str | int) -> LatentSpace:
        """The latent space with this id (``--dim 32`` and ``--dim pca50`` both work)."""
        spaces = self.spaces
        key = str(space)
        if key not in spaces:
            raise DashboardError(
                f"dataset {self.name!r} has no latent space {key!r}; it has: {', '.join(spaces) or 'none'}"
            )
        return spaces[key]

    def latent(self, space: str | int) -> np.ndarray:
        """The n × dim float32 array of a latent space (read once per process)."""
        s = self.space(space)
        return _read_latent(str(self.path / s.file), s.fingerprint)

    def rows(self, space: str | int) -> "np.ndarray | Rows":
        """A latent space for a step that works in row blocks: the array when it is small (or already read),
        else :class:`Rows` read from its file as they are asked for."""
        s = self.space(space)
        if self.n * s.dim * 4 <= ROWS_BYTES:
            return self.latent(space)
        return h5_rows(self.path / s.file)

    @property
    def meta(self) -> pd.DataFrame:
        """The metadata table (read once per process; do not modify it)."""
        return _read_meta(str(self.path / META), self.manifest["meta_fingerprint"])

    @property
    def report(self) -> dict:
        try:
            return json.loads((self.path / REPORT).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"skipped": [], "notes": []}

    def file(self, relative: str) -> Path:
        """A file inside the dataset folder; refuses anything that leaves it."""
        root = self.path.resolve()
        target = (root / relative).resolve()
        if root != target and root not in target.parents:
            raise DashboardError(f"{relative!r} is outside dataset {self.name!r}")
        return target

    def image_path(self, i: int, thumb: bool = False) -> Path:
        ext = self.manifest.get("image_format", "png")  # image folders are stored as webp
        return self.path / ("thumbs" if thumb else "images") / f"{int(i)}.{ext}"

    def image_url(self, i: int, thumb: bool = False) -> str:
        """Where the page fetches an item's image (the /files route)."""
        rel = self.image_path(i, thumb).relative_to(self.path).as_posix()
        return f"/files/{quote(self.name)}/{rel}"

    @property
    def stored_layouts(self) -> dict[str, dict]:
        """Layouts shipped with the data: key → {space, method, params, file}."""
        return dict(self.manifest.get("layouts", {}))

    @property
    def default_hotspots(self) -> list[dict]:
        """The clusters a build found ({label, members, representative}); users edit copies of them."""
        try:
            return json.loads((self.path / HOTSPOTS).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []

    @property
    def arrangements(self) -> dict[str, dict]:
        """Layouts that do not depend on a latent space (PixPlot's grid, categorical, date, …): name → entry."""
        return dict(self.manifest.get("arrangements", {}))

    def arrangement(self, method: str) -> tuple[np.ndarray, list]:
        """The positions and text labels of an arrangement."""
        entry = self.arrangements.get(method)
        if entry is None:
            raise DashboardError(f"dataset {self.name!r} has no {method!r} layout")
        return np.load(self.path / entry["file"], allow_pickle=False), entry.get("labels", [])

    def arrangement_outline(self, method: str) -> list:
        """The shapes drawn under an arrangement (rings of [x, y]); empty when it has none."""
        rel = self.arrangements.get(method, {}).get("outline")
        return json.loads((self.path / rel).read_text(encoding="utf-8")) if rel else []

    def stored_layout(self, space: str, method: str, params: dict) -> np.ndarray | None:
        for entry in self.stored_layouts.values():
            if entry["space"] == str(space) and entry["method"] == method and all(
                params.get(k) == v for k, v in entry["params"].items()
            ):
                return np.load(self.path / entry["file"], allow_pickle=False)
        return None


def _typical_spacing(xy: np.ndarray) -> float | None:
    """The median distance to the nearest other point: how large an image may be drawn in a grid layout."""
    if len(xy) < 2:
        return None
    from scipy.spatial import cKDTree

    d, _ = cKDTree(np.asarray(xy, np.float64)).query(xy, k=2)
    positive = d[:, 1][d[:, 1] > 0]
    return float(np.median(positive)) if len(positive) else None


def open_dataset(data_dir: Path | str, name: str) -> Dataset:
    """Open ``<data_dir>/<name>``; the error lists the datasets that do exist."""
    data_dir = Path(data_dir)
    path = data_dir / name
    if not _NAME_RE.match(name or "") or not (path / MANIFEST).exists():
        known = [d.name for d in list_datasets(data_dir)]
        hint = f"available: {', '.join(known)}" if known else "the data directory has none yet"
        raise DatasetNotFound(f"no dataset {name!r} in {data_dir} ({hint})")
    return Dataset(path)


def set_column_type(data_dir: Path | str, name: str, column: str, typ: str | None) -> Dataset:
    """Give a column of a published dataset another type (None: the type its build gave it) and return the
    dataset as it is now. The values stay as imported: a type they do not fit is refused with one line
    (:func:`dashboard.schema.type_problem`). Only the manifest changes, in place and atomically, under the
    build lock; a rebuild keeps the choice while the values still fit it (:meth:`DatasetWriter.write_meta`)."""
    data_dir = Path(data_dir)
    ds = open_dataset(data_dir, name)
    try:  # a disk that refuses the lock file or the manifest
        lock = _lock_build(data_dir, ds.name)
        try:
            ds = Dataset(ds.path)  # as published now, with the lock held
            schema = ds.schema
            if column not in schema:
                raise DashboardError(f"dataset {name!r} has no column {column!r} (columns: {', '.join(schema)})")
            built = dict(ds.manifest.get("schema_built") or schema)
            wanted = built[column] if typ is None else typ
            problem = None if wanted == built[column] else type_problem(column, ds.meta[column], wanted)
            if problem:
                raise DashboardError(problem)
            schema[column] = wanted
            chosen = {c: t for c, t in schema.items() if t != built.get(c)}
            manifest = {k: v for k, v in ds.manifest.items() if k not in ("column_types", "schema_built")}
            manifest["schema"] = schema
            if chosen:
                manifest.update(column_types=chosen, schema_built=built)
            write_json(ds.path / MANIFEST, manifest)
            return Dataset(ds.path)
        finally:
            lock.close()
    except OSError as e:
        raise DashboardError(f"cannot change a type of {name!r}: {_disk_problem(e) or e.strerror}") from None


def list_datasets(data_dir: Path | str) -> list[Dataset]:
    """Every published dataset in the data directory, by name."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        return []
    found = []
    for p in sorted(data_dir.iterdir()):
        if p.name.startswith(".") or not (p / MANIFEST).is_file():
            continue
        with contextlib.suppress(DashboardError):
            found.append(Dataset(p))
    return found


# --------------------------------------------------------------------------
# writing


@dataclass
class BuildReport:
    """What a build did: every skipped input with its reason, counts, notes."""

    skipped: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def skip(self, item: str, reason: str) -> None:
        self.skipped.append({"item": str(item), "reason": reason})

    def to_dict(self) -> dict:
        return {
            "skipped": self.skipped,
            "notes": self.notes,
            "counts": self.counts,
            "timings": self.timings,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "BuildReport":
        return cls(
            skipped=list(d.get("skipped", [])),
            notes=list(d.get("notes", [])),
            counts=dict(d.get("counts", {})),
            timings=dict(d.get("timings", {})),
        )


def _lock_build(data_dir: Path, name: str):
    """Hold an exclusive lock on ``.<name>.lock`` while this process builds.

    The OS drops the lock when the process dies, so a killed build never
    leaves a stale lock; a second concurrent build gets a clear error.
    """
    f = open(data_dir / f".{name}.lock", "a+")
    if not locks.try_lock(f):
        f.close()
        raise DashboardError(f"another process is building dataset {name!r} in {data_dir}; wait for it to finish") from None
    return f


def build_in_progress(data_dir: Path | str, name: str) -> bool:
    """Whether some process holds the build lock of dataset ``name`` now."""
    return locks.held(Path(data_dir) / f".{name}.lock")


def _version_folder(data_dir: Path, name: str, build_id: str) -> Path:
    return data_dir / f".{name}.build-{build_id}"


def _current_version(final: Path) -> Path | None:
    """The version folder ``<name>`` links to (None for a plain folder or none at all)."""
    return final.parent / os.readlink(final) if final.is_symlink() else None


def _tidy(data_dir: Path, name: str, keep: set[Path]) -> None:
    """Remove what earlier runs of a build of ``name`` left behind: versions nobody links to
    (except those in ``keep``), half-made links, and the folder of the older publishing scheme."""
    final = data_dir / name
    for p in data_dir.glob(f".{name}.link-*"):
        p.unlink(missing_ok=True)
    old = data_dir / f".{name}.old"
    if old.is_dir() and not final.exists() and (old / MANIFEST).is_file():
        os.replace(old, final)  # killed between the two renames of the older scheme: put it back
    shutil.rmtree(old, ignore_errors=True)
    current = _current_version(final)
    for p in data_dir.glob(f".{name}.build-*"):
        if p != current and p not in keep:
            shutil.rmtree(p, ignore_errors=True)


def _manifest_of(folder: Path) -> dict:
    """The manifest in ``folder`` ({} when there is none, or none that reads as one)."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _built_from(folder: Path, items_from: dict) -> bool:
    """Whether ``folder`` holds a build in this format whose provenance records every value of ``items_from``."""
    manifest = _manifest_of(folder)
    if manifest.get("format_version") != FORMAT_VERSION:
        return False
    provenance = manifest.get("provenance") or {}
    # Through JSON, as the manifest stores them: a tuple of platforms equals the list written.
    return all(provenance.get(k) == json.loads(json.dumps(v)) for k, v in items_from.items())


def _disk_problem(exc: BaseException | None) -> str | None:
    """A one-line description when ``exc`` says the disk is full or refuses writes."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full"
    if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc):
        return "the disk is full"
    if isinstance(exc, OSError) and exc.errno == errno.EROFS:
        return "the file system is read-only"
    return None


class DatasetWriter:
    """Builds or extends one dataset, atomically and resumably.

    A build is written in ``.<name>.partial/`` and appears under its name only
    when :meth:`publish` swaps the link (see the module docstring); a
    ``fresh`` writer starts a new version with a new ``build_id`` even when
    the dataset exists, and the old version stays served until then. Once
    published, further writes (a new latent space, a decoder) land file by
    file, each followed by a fresh manifest, so readers always see a
    consistent dataset (``keep``: what a fresh writer keeps of a killed run's
    partial folder, e.g. a scratch folder). Re-running a killed build finds the partial folder
    or the published one and carries on from what is there. A full or
    read-only disk ends the build with one line, and the partial folder is
    removed to give the space back.

    ``items_from`` names what decides a build's items (a recipe's source and
    options, as its ``set_info`` records them in the provenance): a published
    version or a partial folder built from other values is never extended,
    the writer starts a new version aside as ``fresh`` does (resuming a
    partial folder built from these values). :attr:`published` says which
    case a run is in: True means it extends the served version in place,
    where only additions (a new space, a missing file) belong.
    """

    def __init__(self, data_dir: Path | str, name: str, *, fresh: bool = False, keep: tuple[str, ...] = (),
                 items_from: dict | None = None):
        self.data_dir = Path(data_dir)
        self.name = check_name(name)
        self.final = self.data_dir / name
        self.partial = self.data_dir / f".{name}.partial"
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._lock = _lock_build(self.data_dir, name)
        except OSError as e:
            if e.errno not in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC):
                raise
            raise DashboardError(f"cannot build in {self.data_dir}: {e.strerror.lower()}") from None
        try:
            _tidy(self.data_dir, name, keep=set())
            items_from = items_from or {}
            extend = not fresh and _built_from(self.final, items_from)
            if extend:  # a killed rebuild's partial folder: nothing would resume it
                shutil.rmtree(self.partial, ignore_errors=True)
            elif fresh or ((self.partial / MANIFEST).is_file() and not _built_from(self.partial, items_from)):
                # A new version (``keep``: the entries of a killed run it reuses); a partial folder of
                # other items is never resumed, or its images would show other items' pictures.
                for entry in (self.partial.iterdir() if self.partial.is_dir() else ()):
                    if entry.name not in keep:
                        shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
            self.path = self.final if extend else self.partial
            self.path.mkdir(parents=True, exist_ok=True)
        except BaseException as e:
            self.__exit__(type(e), e, None)
            raise
        self._on_disk: str | None = None  # what the last flush wrote (or this run found): see flush()
        found = False
        try:
            self.manifest = json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))
            if self.manifest.get("format_version") != FORMAT_VERSION:
                raise ValueError("old format")
            found = True
        except (FileNotFoundError, ValueError):
            self.manifest = {
                "format_version": FORMAT_VERSION,
                "name": name,
                "build_id": uuid.uuid4().hex[:12],
                "state": "building",
                "latent": {},
                "layouts": {},
            }
        try:
            self.report = BuildReport.from_dict(json.loads((self.path / REPORT).read_text(encoding="utf-8")))
        except (FileNotFoundError, ValueError):
            self.report = BuildReport()
        else:
            if found:
                self._on_disk = self._state()

    @property
    def published(self) -> bool:
        return getattr(self, "path", None) == self.final

    def has_space(self, space: str) -> bool:
        return str(space) in self.manifest["latent"] and (self.path / space_file(str(space))).exists()

    @property
    def has_meta(self) -> bool:
        return "meta_fingerprint" in self.manifest and (self.path / META).exists()

    def set_info(
        self,
        *,
        type: str,
        metric: str,
        provenance: dict | None = None,
        image_shape: list[int] | None = None,
        default_space: str | None = None,
        label_column: str | None = None,
        image_format: str = "png",
    ) -> None:
        if type not in DATA_TYPES:
            raise DashboardError(f"unknown data type {type!r}: expected one of {', '.join(DATA_TYPES)}")
        self.manifest.update(
            type=type,
            metric=normalize_metric(metric),
            provenance=provenance or {},
            image_shape=image_shape,
            label_column=label_column,
            image_format=image_format,
        )
        if default_space is not None:
            self.manifest["default_space"] = str(default_space)

    def write_meta(self, table: pd.DataFrame, schema_overrides: dict[str, str] | None = None) -> dict:
        """Write the metadata table; ``i`` must be 0..n-1 in order, ``name`` second."""
        problems = []
        if list(table.columns[:2]) != ["i", "name"]:
            problems.append(f"the first two columns must be 'i' and 'name', got {list(table.columns[:2])}")
        elif not np.array_equal(table["i"].to_numpy(), np.arange(len(table))):
            problems.append("column 'i' must number the rows 0..n-1 in order")
        if problems:
            raise ValidationError("The metadata table is malformed:", problems)
        built = infer_schema(table, schema_overrides)
        # the types a user gave columns of the version served now (set_column_type) outlive a rebuild while
        # the new values still fit them
        chosen = self.manifest.get("column_types") or _manifest_of(self.final).get("column_types") or {}
        kept, dropped = {}, []
        for col, typ in chosen.items():
            problem = type_problem(col, table[col], typ) if col in table.columns else f"column {col!r} is gone"
            if problem:
                dropped.append(f"the type {typ!r} chosen for column {col!r} is dropped: {problem}")
            elif typ != built[col]:
                kept[col] = typ
        schema = {**built, **kept}
        table, notes = clean_colors(table.reset_index(drop=True), schema)  # a colour reaches the page's CSS
        self.report.notes.extend(n for n in dropped + notes if n not in self.report.notes)
        if self.manifest.get("n") not in (None, len(table)):
            # Different items: the old latent spaces and layouts no longer fit.
            for entry in [*self.manifest["latent"].values(), *self.manifest["layouts"].values()]:
                (self.path / entry["file"]).unlink(missing_ok=True)
            self.manifest["latent"], self.manifest["layouts"] = {}, {}
            self.manifest.pop("default_space", None)
        with atomic_path(self.path / META) as tmp:
            table.to_parquet(tmp, index=False)
        self.manifest["n"] = int(len(table))
        self.manifest["schema"] = schema
        for k in ("column_types", "schema_built"):
            self.manifest.pop(k, None)
        if kept:
            self.manifest.update(column_types=kept, schema_built=built)
        self.manifest["meta_fingerprint"] = fingerprint_table(table)
        self.flush()
        return schema

    def write_latent(
        self,
        space: str | int,
        array: np.ndarray,
        *,
        kind: str,
        description: str = "",
        val_loss: float | None = None,
        encoder: str | None = None,
        decoder: str | None = None,
    ) -> LatentSpace:
        """Write one latent space and record it in the manifest."""
        space = str(space)
        if not _SPACE_RE.match(space):
            raise DashboardError(f"invalid latent space id {space!r}")
        if not isinstance(array, Rows):
            array = np.ascontiguousarray(array, dtype=np.float32)
        n = self.manifest.get("n")
        if array.ndim != 2 or (n is not None and array.shape[0] != n):
            raise DashboardError(
                f"latent space {space}: expected {n} rows × d columns, got shape {array.shape}"
            )
        # in blocks: a million images' features are gigabytes (on disk, as Rows), a mask of them a quarter more
        rows = Rows.of(array)
        h = hashlib.sha1(str((rows.dtype.str, rows.shape)).encode())  # = fingerprint_array of the whole
        for _, block in rows.blocks():
            if not np.isfinite(block).all():
                raise DashboardError(f"latent space {space}: contains NaN or infinite values")
            h.update(memoryview(np.ascontiguousarray(block)).cast("B"))
        rel = space_file(space)
        write_h5(self.path / rel, array)
        entry = {
            "dim": int(array.shape[1]),
            "kind": kind,
            "file": rel,
            "fingerprint": h.hexdigest()[:16],
            "description": description,
            "val_loss": None if val_loss is None else float(val_loss),
            "encoder": encoder,
            "decoder": decoder,
        }
        self.manifest["latent"][space] = entry
        self.manifest.setdefault("default_space", space)
        self.flush()
        return LatentSpace(id=space, **entry)

    def model_path(self, role: str, space: str) -> str:
        return f"models/{role}{space}.keras"

    def save_keras(self, model, role: str, space: str) -> str:
        """Save a Keras model atomically; returns its path inside the dataset."""
        rel = self.model_path(role, space)
        with atomic_path(self.path / rel, suffix=".keras") as tmp:
            model.save(tmp)
        return rel

    def write_layout(self, space: str, method: str, params: dict, xy: np.ndarray) -> None:
        """Keep a layout that came with the data (not a cache entry: it is data)."""
        key = f"{method}_{space}_" + "_".join(f"{k}{v}" for k, v in sorted(params.items()))
        rel = f"layouts/{key}.npy"
        with atomic_path(self.path / rel) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, np.asarray(xy, dtype=np.float32), allow_pickle=False)
        self.manifest["layouts"][key] = {"space": str(space), "method": method, "params": params, "file": rel}
        self.flush()

    def write_hotspots(self, hotspots: list[dict]) -> None:
        write_json(self.path / HOTSPOTS, hotspots)

    def write_arrangement(self, method: str, xy: np.ndarray, labels: list, description: str = "",
                          outline: list | None = None) -> None:
        """Keep a layout that does not depend on a latent space, with its text labels and the
        shapes drawn under it (``outline``: rings of [x, y], e.g. coastlines under the geographic layout)."""
        rel = f"layouts/arrangement_{method}.npy"
        with atomic_path(self.path / rel) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, np.asarray(xy, dtype=np.float32), allow_pickle=False)
        entry = {"file": rel, "labels": [[str(t), float(x), float(y)] for t, x, y in labels],
                 "description": description, "cell": _typical_spacing(xy)}
        if outline:
            entry["outline"] = f"layouts/arrangement_{method}_outline.json"
            write_json(self.path / entry["outline"], outline)
        self.manifest.setdefault("arrangements", {})[method] = entry
        self.flush()

    def copy_in(self, source: Path, relative: str) -> None:
        """Copy a file or folder into the dataset, atomically."""
        target = self.path / relative
        if source.is_dir():
            tmp = target.with_name(f".{target.name}.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(source, tmp)
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        else:
            with atomic_path(target) as tmp:
                shutil.copyfile(source, tmp)

    def _state(self) -> str:
        """The manifest (less its time stamp) and the report, as a flush writes them."""
        manifest = {k: v for k, v in self.manifest.items() if k != "updated"}
        return json.dumps([manifest, self.report.to_dict()], sort_keys=True, default=str)

    def flush(self) -> None:
        """Write the report, then the manifest (last: it is what readers trust).

        Nothing is written when neither changed since the last flush (or since this run found
        them), so re-running an up-to-date build leaves the published version untouched.
        """
        state = self._state()
        if state == self._on_disk:
            return
        write_json(self.path / REPORT, self.report.to_dict())
        self.manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        write_json(self.path / MANIFEST, self.manifest)
        self._on_disk = state

    def publish(self) -> Path:
        """Make a partial dataset visible under its name (atomic rename)."""
        missing = [k for k in ("type", "metric", "n", "schema") if k not in self.manifest]
        if missing or not self.manifest["latent"]:
            raise DashboardError(
                f"dataset {self.name!r} cannot be published yet: missing {', '.join(missing) or 'a latent space'}"
            )
        self.flush()
        if self.published:
            return self.final
        version = _version_folder(self.data_dir, self.name, self.manifest["build_id"])
        os.replace(self.partial, version)
        previous = _current_version(self.final)
        if self.final.exists() and previous is None:
            # A plain folder (an older data directory, or an import that was copied in): move it
            # aside once; from now on the name is a link and every later publish is one rename.
            previous = _version_folder(self.data_dir, self.name, f"{uuid.uuid4().hex[:12]}-old")
            os.replace(self.final, previous)
        link = self.data_dir / f".{self.name}.link-{uuid.uuid4().hex[:8]}"
        os.symlink(version.name, link)
        os.replace(link, self.final)
        _fsync_dir(self.data_dir)
        # Keep the version just replaced for readers still reading it; older ones go.
        _tidy(self.data_dir, self.name, keep={version} | ({previous} if previous else set()))
        self.path = self.final
        return self.final

    def finish(self) -> Dataset:
        """Mark the build complete, release the build lock, return the dataset."""
        self.manifest["state"] = "complete"
        self.publish()
        self.close()
        return Dataset(self.final)

    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()
        problem = _disk_problem(exc)
        if problem:
            if not self.published:
                shutil.rmtree(self.partial, ignore_errors=True)  # give the space back
            raise DashboardError(
                f"cannot build {self.name!r} in {self.data_dir}: {problem}"
                + (" (the unfinished build was removed; the published version is unchanged)"
                   if not self.published else "")
            ) from None

    def close(self) -> None:
        """Release the build lock (also released when the process ends)."""
        if hasattr(self, "_lock") and not self._lock.closed:
            self._lock.close()

    def set_state(self, state: str) -> None:
        self.manifest["state"] = state
        self.flush()
