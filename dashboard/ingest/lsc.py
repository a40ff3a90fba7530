"""Import a Latent Space Cartography data folder as it is.

LSC's layout (``deploy/data/<dset>/``)::

    latent/latent<dim>.h5        dataset ``latent``, n × dim   (required)
    meta.csv                     columns ``i``, ``name`` first (required)
    tsne/tsne<dim>_perp<p>.h5    dataset ``tsne``, n × 2       (optional)
    umap/                        pickled Python 2 UMAP models  (not imported)
    images/<i>.png               one image per row             (image data)
    raw.h5, models/              raw inputs, Keras decoders    (kept as files)

Everything is checked before anything is written, and every problem is
reported at once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from PIL import Image

from ..errors import DashboardError, ValidationError
from ..schema import COLUMN_TYPES
from ..store import DATA_TYPES, Dataset, DatasetWriter, check_name, normalize_metric
from .common import write_images

_LATENT_RE = re.compile(r"^latent(\d+)\.h5$")
_TSNE_RE = re.compile(r"^tsne(\d+)_perp(\d+(?:\.\d+)?)(_pca)?\.h5$")
MAX_LISTED = 10


@dataclass
class LscConfig:
    """What LSC kept in ``config_<dset>.py``: data type, metric, column types."""

    type: str = "other"
    metric: str = "euclidean"
    columns: dict[str, str] = field(default_factory=dict)


def load_config(path: Path | None, *, type: str | None, metric: str | None, columns: dict[str, str]) -> LscConfig:
    """A config from a JSON file (``type``, ``metric``, ``columns``), overridden by flags."""
    base: dict = {}
    if path is not None:
        try:
            base = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DashboardError(f"config file {path} does not exist") from None
        except (ValueError, UnicodeDecodeError) as e:
            raise DashboardError(f"config file {path}: not valid JSON ({e})") from None
        if not isinstance(base, dict):
            raise DashboardError(f"config file {path}: expected a JSON object with type, metric, columns")
        unknown = set(base) - {"type", "metric", "columns"}
        if unknown:
            raise DashboardError(f"config file {path}: unknown key {', '.join(sorted(unknown))} (expected type, metric, columns)")
    cfg = LscConfig(
        type=type or base.get("type") or "other",
        metric=metric or base.get("metric") or "euclidean",
        columns={**(base.get("columns") or {}), **columns},
    )
    if cfg.type not in DATA_TYPES:
        raise DashboardError(f"data type must be one of {', '.join(DATA_TYPES)}, got {cfg.type!r}")
    cfg.metric = normalize_metric(cfg.metric)
    return cfg


def _listed(items: list, unit: str = "") -> str:
    shown = ", ".join(map(str, items[:MAX_LISTED]))
    more = f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
    return f"{unit}{shown}{more}"


@dataclass
class _Plan:
    meta: pd.DataFrame | None = None
    n_rows: int | None = None  # rows of meta.csv, even when its i column is bad
    latents: dict[str, np.ndarray] = field(default_factory=dict)
    tsne: list[tuple[str, float, np.ndarray]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _read_h5(path: Path, key: str, rel: str, problems: list[str]) -> np.ndarray | None:
    """The float32 array under ``key``, or ``None`` with the problem recorded."""
    try:
        with h5py.File(path, "r") as h:
            if key not in h:
                problems.append(f"{rel}: no dataset {key!r} (found: {', '.join(map(repr, h.keys())) or 'nothing'})")
                return None
            return np.asarray(h[key][()], dtype=np.float32)
    except OSError as e:
        problems.append(f"{rel}: not a readable HDF5 file ({e})")
        return None


def _check_latents(folder: Path, problems: list[str], plan: _Plan) -> None:
    latent_dir = folder / "latent"
    if not latent_dir.is_dir():
        problems.append("latent/: folder missing (expected latent/latent<dim>.h5 files)")
        return
    files = sorted(latent_dir.glob("*.h5"))
    matched = [(f, _LATENT_RE.match(f.name)) for f in files]
    for f, m in matched:
        if not m:
            problems.append(f"latent/{f.name}: name should be latent<dim>.h5")
    if not files:
        problems.append("latent/: no latent<dim>.h5 files")
    for f, m in matched:
        if not m:
            continue
        dim, rel = int(m.group(1)), f"latent/{f.name}"
        a = _read_h5(f, "latent", rel, problems)
        if a is None:
            continue
        if a.ndim != 2:
            problems.append(f"{rel}: 'latent' must be 2-D (n × {dim}), got shape {a.shape}")
            continue
        if a.shape[1] != dim:
            problems.append(f"{rel}: has {a.shape[1]} columns but its name says {dim}")
        bad_rows = np.flatnonzero(~np.isfinite(a).all(axis=1))
        if len(bad_rows):
            problems.append(f"{rel}: NaN or infinite values in {len(bad_rows)} rows ({_listed(bad_rows.tolist(), 'rows ')})")
        plan.latents[str(dim)] = a


def _check_meta(folder: Path, config: LscConfig, problems: list[str], plan: _Plan) -> None:
    path = folder / "meta.csv"
    if not path.is_file():
        problems.append("meta.csv: file missing (expected columns i, name, …)")
        return
    try:
        meta = pd.read_csv(path, encoding="utf-8", dtype={"i": str, "name": str}, keep_default_na=True)
    except UnicodeDecodeError as e:
        problems.append(f"meta.csv: not UTF-8 text ({e.reason} at byte {e.start})")
        return
    except OSError as e:
        problems.append(f"meta.csv: cannot be read ({e.strerror})")
        return
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        problems.append(f"meta.csv: cannot be parsed as CSV ({str(e).strip()})")
        return
    plan.n_rows = len(meta)
    missing = [c for c in ("i", "name") if c not in meta.columns]
    if missing:
        problems.append(f"meta.csv: required column {', '.join(missing)} missing (has: {', '.join(map(str, meta.columns))})")
    for col, typ in config.columns.items():
        if col not in meta.columns:
            problems.append(f"column types: unknown column {col!r} (meta.csv has: {', '.join(map(str, meta.columns))})")
        if typ not in COLUMN_TYPES:
            problems.append(f"column types: {col!r} has unknown type {typ!r} (expected one of {', '.join(COLUMN_TYPES)})")
    if missing:
        return
    raw_i = meta["i"].fillna("").astype(str).str.strip()
    as_int = pd.to_numeric(raw_i, errors="coerce")
    not_int = [(n + 2, v) for n, (v, x) in enumerate(zip(raw_i, as_int)) if pd.isna(x) or x != int(x)]
    if not_int:
        problems.append("meta.csv: i is not an integer on " + _listed([f"line {ln} ({v!r})" for ln, v in not_int]))
        return
    ints = as_int.astype(np.int64)
    dup = ints[ints.duplicated(keep=False)]
    if len(dup):
        groups = dup.groupby(dup).groups
        problems.append(
            "meta.csv: duplicate i values: "
            + _listed([f"{v} on lines {', '.join(str(x + 2) for x in idx)}" for v, idx in groups.items()])
        )
        return
    out_of_range = ints[(ints < 0) | (ints >= len(ints))]
    if len(out_of_range):
        problems.append(
            f"meta.csv: i must number the rows 0..{len(ints) - 1} (they index the latent arrays); "
            f"out of range: {_listed(out_of_range.tolist())}"
        )
        return
    meta["i"] = ints
    meta = meta.sort_values("i").reset_index(drop=True)
    cols = ["i", "name"] + [c for c in meta.columns if c not in ("i", "name")]
    plan.meta = meta[cols]


def _check_tsne(folder: Path, n: int | None, problems: list[str], plan: _Plan) -> None:
    tsne_dir = folder / "tsne"
    if not tsne_dir.is_dir():
        return
    for f in sorted(tsne_dir.glob("*.h5")):
        m = _TSNE_RE.match(f.name)
        rel = f"tsne/{f.name}"
        if not m:
            problems.append(f"{rel}: name should be tsne<dim>_perp<perplexity>.h5")
            continue
        if m.group(3):
            plan.notes.append(f"{rel}: t-SNE of a PCA-reduced space, not imported")
            continue
        xy = _read_h5(f, "tsne", rel, problems)
        if xy is None:
            continue
        if xy.ndim != 2 or xy.shape[1] != 2:
            problems.append(f"{rel}: 'tsne' must be n × 2, got shape {xy.shape}")
        elif n is not None and xy.shape[0] != n:
            problems.append(f"{rel}: has {xy.shape[0]} rows but meta.csv has {n}")
        elif not np.isfinite(xy).all():
            problems.append(f"{rel}: NaN or infinite coordinates")
        else:
            plan.tsne.append((m.group(1), float(m.group(2)), xy))


def check_folder(folder: Path, config: LscConfig) -> _Plan:
    """Check an LSC folder; raise :class:`ValidationError` listing every problem."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DashboardError(f"{folder}: not a folder")
    problems: list[str] = []
    plan = _Plan()
    _check_latents(folder, problems, plan)
    _check_meta(folder, config, problems, plan)
    n = plan.n_rows
    if n is not None:
        for dim, a in sorted(plan.latents.items(), key=lambda kv: int(kv[0])):
            if a.ndim == 2 and len(a) != n:
                problems.append(f"row counts disagree: meta.csv has {n} rows but latent/latent{dim}.h5 has {len(a)}")
    _check_tsne(folder, n, problems, plan)
    if config.type == "image" and n is not None:
        if not (folder / "images").is_dir():
            problems.append("images/: folder missing (data type is image: expected images/<i>.png)")
        else:
            absent, broken = [], []
            for i in range(n):
                path = folder / "images" / f"{i}.png"
                if not path.is_file():
                    absent.append(i)
                    continue
                try:
                    with Image.open(path) as im:
                        im.verify()
                except Exception:  # noqa: BLE001 - any decoder failure is one listed problem
                    broken.append(i)
            if absent:
                problems.append(f"images/: {len(absent)} of {n} images missing ({_listed(absent, 'i = ')})")
            if broken:
                problems.append(f"images/: {len(broken)} images cannot be read as images ({_listed(broken, 'i = ')})")
    if (folder / "umap").is_dir():
        plan.notes.append("umap/: LSC's pickled UMAP models are not imported (Python 2 pickles); UMAP layouts are recomputed")
    if problems:
        raise ValidationError(f"{folder} cannot be imported ({len(problems)} problem{'s' * (len(problems) > 1)}):", problems)
    return plan


def import_folder(
    data_dir: Path, folder: Path, *, name: str | None = None, config: LscConfig | None = None, force: bool = False
) -> Dataset:
    """Check, then import an LSC folder as dataset ``name`` (default: the folder's name)."""
    folder = Path(folder)
    config = config or LscConfig()
    name = check_name(name or folder.resolve().name)
    if (Path(data_dir) / name / "manifest.json").exists() and not force:
        raise DashboardError(f"dataset {name!r} already exists in {data_dir}; choose --name or pass --force to replace it")
    plan = check_folder(folder, config)
    with DatasetWriter(data_dir, name, fresh=True) as w:
        return _write(w, folder, plan, config)


def _write(w: DatasetWriter, folder: Path, plan: _Plan, config: LscConfig) -> Dataset:
    dims = sorted(plan.latents, key=int)
    w.set_info(
        type=config.type,
        metric=config.metric,
        provenance={"source": "Latent Space Cartography folder", "path": str(folder.resolve())},
        default_space=dims[len(dims) // 2],
    )
    w.write_meta(plan.meta, config.columns)
    for dim in dims:
        w.write_latent(dim, plan.latents[dim], kind="imported", description=f"latent/latent{dim}.h5 from {folder.name}")
    for dim, perp, xy in plan.tsne:
        if dim in plan.latents:
            w.write_layout(dim, "tsne", {"perplexity": perp}, xy)
        else:
            w.report.skip(f"tsne/tsne{dim}_perp{perp:g}.h5", f"no latent/latent{dim}.h5 to go with it")
    if config.type == "image":
        n = len(plan.meta)

        def images():
            for i in range(n):
                with Image.open(folder / "images" / f"{i}.png") as im:
                    im.load()
                    yield i, im.copy()

        write_images(w, images(), n)
    for extra in ("raw.h5", "models"):
        if (folder / extra).exists():
            w.copy_in(folder / extra, f"extra/{extra}")
            w.report.notes.append(f"{extra} kept as extra/{extra} (LSC's Keras 2 files are not loaded)")
    w.report.notes.extend(plan.notes)
    w.report.counts = {"items": len(plan.meta), "skipped": len(w.report.skipped)}
    return w.finish()
