"""Import a Latent Space Cartography data folder as it is.

LSC's layout (``deploy/data/<dset>/``)::

    latent/latent<dim>.h5        dataset ``latent``, n × dim   (required)
    meta.csv                     columns ``i``, ``name`` first (required)
    tsne/tsne<dim>_perp<p>.h5    dataset ``tsne``, n × 2       (optional)
    umap/umap<dim>.h5            datasets ``neighbor<nn>-dist<d>``, n × 2 (LSC's run_umap.py)
    umap/*.pkl                   pickled Python 2 UMAP models  (not loaded)
    images/<i>.png               one image per row             (image data; ``rendering.ext`` may say jpg)
    raw.h5                       dataset ``data``: the model's inputs, n × m ("other" data)
    header.csv                   ``i``, name of each of raw.h5's m columns (Tybalt's genes)
    models/                      Keras 2 decoders              (kept as files)

and LSC's two config files, found in the folder (or beside it, named for
it) or given with ``--config``: the server's ``config_<dset>.py``
(``data_type``, ``metric``, ``dims``, ``schema_meta``, ``fn_raw``/``key_raw``,
…) and the client's ``config_<dset>.json`` (``schema.type`` column types,
``rendering.dot_color``, ``search.by``, ``initial_dim``, …). Python configs
are read as text (never run); a key not understood is named in the report.

Everything is checked before anything is written, and every problem is
reported at once.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from PIL import Image

from ..errors import DashboardError, ValidationError
from ..schema import COLUMN_TYPES
from .. import store
from ..store import DATA_TYPES, Dataset, DatasetWriter, Rows, check_name, normalize_metric
from .common import write_images
from .metadata import numbers_or_text, to_numbers

_LATENT_RE = re.compile(r"^latent(\d+)\.h5$")
_TSNE_RE = re.compile(r"^tsne(\d+)_perp(\d+(?:\.\d+)?)(_pca)?\.h5$")
_UMAP_RE = re.compile(r"^umap(\d+)\.h5$")
_UMAP_KEY_RE = re.compile(r"^neighbou?r(\d+)-dist(\d*\.?\d+(?:[eE]-?\d+)?)$")
MAX_LISTED = 10
#: raw inputs larger than this (float32: 800 MB) are named, not imported
MAX_RAW_VALUES = 200_000_000


@dataclass
class LscConfig:
    """What LSC's config files (or our flags) say about the data; ``None`` where nothing does."""

    type: str | None = None
    metric: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    #: column types LSC's own config files imply (schema.type, dot_color, filters): applied where the
    #: column exists and no flag says otherwise; one that does not fit is a note, not an error
    suggested: dict[str, str] = field(default_factory=dict)
    #: columns that hold words: read as text, "NA" or "null" kept as the word
    text_columns: list[str] = field(default_factory=list)
    image_ext: str | None = None  # client rendering.ext
    default_dim: str | None = None  # client initial_dim
    dims: list[int] | None = None  # server dims
    raw_file: str | None = None  # server fn_raw
    raw_key: str | None = None  # server key_raw
    image_shape: list[int] | None = None  # server img_rows, img_cols, img_chns
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def under(self, other: "LscConfig") -> "LscConfig":
        """This config, with what it leaves unset taken from ``other`` (flags over files)."""
        merged = LscConfig()
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if f.name in ("columns", "suggested"):
                value = {**theirs, **mine}
            elif f.name in ("text_columns", "sources", "notes"):
                value = list(dict.fromkeys([*mine, *theirs]))
            else:
                value = mine if mine is not None else theirs
            setattr(merged, f.name, value)
        return merged


# LSC's server config (model/config_<dset>.py): key → what we do with it
_SERVER_KEYS = {"dset", "data_type", "metric", "dims", "fn_raw", "key_raw", "schema_meta", "schema_header",
                "img_rows", "img_cols", "img_chns", "img_mode", "train_split"}
# LSC's client config (configs/config_<dset>.json)
_CLIENT_KEYS = {"train_split", "initial_dim", "initial_projection", "schema", "rendering", "search", "filter",
                "color_by", "y_axis"}
_OUR_KEYS = {"type", "metric", "columns"}


def _names(value) -> list[str]:
    """LSC lists columns as a list or as one comma-separated string ("i, name, mean_color")."""
    if isinstance(value, str):
        return [c.strip() for c in value.split(",") if c.strip()]
    if isinstance(value, (list, tuple)):
        return [str(c) for c in value]
    return []


def _server_config(path: Path, text: str) -> LscConfig:
    """LSC's ``config_<dset>.py``: top-level assignments of literals, read with :mod:`ast` (never executed)."""
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as e:
        raise DashboardError(f"config file {path}: not Python LSC can read (line {e.lineno}: {e.msg})") from None
    values, cfg = {}, LscConfig(sources=[path.name])
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a docstring
        if not isinstance(node, ast.Assign):
            cfg.notes.append(f"{path.name} line {node.lineno}: not a setting ({type(node).__name__.lower()}); ignored")
            continue
        try:
            value = ast.literal_eval(node.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            cfg.notes.append(f"{path.name} line {node.lineno}: value is not a plain constant; ignored")
            continue
        for target in node.targets:
            names = [target] if isinstance(target, ast.Name) else list(getattr(target, "elts", []))
            vals = [value] if isinstance(target, ast.Name) else list(value) if isinstance(value, (tuple, list)) else []
            for t, v in zip(names, vals):
                if isinstance(t, ast.Name):
                    values[t.id] = v
    for key in values:
        if key not in _SERVER_KEYS:
            cfg.notes.append(f"{path.name}: key {key!r} not understood; ignored")
    if "data_type" in values:
        cfg.type = str(values["data_type"])
    if "metric" in values:
        cfg.metric = str(values["metric"])
    if isinstance(values.get("dims"), (list, tuple)):
        cfg.dims = [int(d) for d in values["dims"] if isinstance(d, int)]
    if values.get("fn_raw"):
        cfg.raw_file, cfg.raw_key = str(values["fn_raw"]), (str(values["key_raw"]) if values.get("key_raw") else None)
    if all(isinstance(values.get(k), int) for k in ("img_rows", "img_cols", "img_chns")):
        cfg.image_shape = [values["img_rows"], values["img_cols"], values["img_chns"]]
    if values.get("train_split"):
        cfg.notes.append(f"{path.name}: train_split {values['train_split']} (the rows LSC trained on): "
                         "every row is imported")
    return cfg


def _client_config(path: Path, obj: dict) -> LscConfig:
    """LSC's ``config_<dset>.json`` (the client's), or our own ``{"type", "metric", "columns"}``."""
    cfg = LscConfig(sources=[path.name])
    for key in obj:
        if key not in _CLIENT_KEYS | _OUR_KEYS:
            cfg.notes.append(f"{path.name}: key {key!r} not understood (expected {', '.join(sorted(_OUR_KEYS))} "
                             f"or LSC's {', '.join(sorted(_CLIENT_KEYS))}); ignored")
    cfg.type, cfg.metric = obj.get("type"), obj.get("metric")
    if obj.get("columns") is not None and not isinstance(obj["columns"], dict):
        raise DashboardError(f"config file {path}: 'columns' must be an object of column name → type")
    cfg.columns = dict(obj.get("columns") or {})
    columns: dict[str, str] = {}
    schema = obj.get("schema") if isinstance(obj.get("schema"), dict) else {}
    types = schema.get("type")
    for col, typ in (types.items() if isinstance(types, dict) else ()):
        columns.setdefault(str(col), str(typ))
    rendering = obj.get("rendering") if isinstance(obj.get("rendering"), dict) else {}
    if rendering.get("dot_color"):  # LSC colours dots by this column's own colours (emoji's mean_color)
        columns.setdefault(str(rendering["dot_color"]), "color")
    if rendering.get("ext"):
        cfg.image_ext = str(rendering["ext"]).lstrip(".")
    search = obj.get("search") if isinstance(obj.get("search"), dict) else {}
    cfg.text_columns = _names(search.get("by"))
    filters = obj.get("filter") if isinstance(obj.get("filter"), dict) else {}
    for col in [*_names(search.get("filter")), *_names(filters.get("fields"))]:  # LSC filters by category
        if col not in cfg.text_columns:
            columns.setdefault(col, "categorical")
    cfg.suggested = columns
    if obj.get("initial_dim") is not None:
        cfg.default_dim = str(obj["initial_dim"])
    if obj.get("train_split"):
        cfg.notes.append(f"{path.name}: train_split {obj['train_split']} (LSC drew only the first rows): "
                         "every row is imported")
    return cfg


def read_config_file(path: Path) -> LscConfig:
    """One config file: LSC's ``config_<dset>.py`` or ``.json``, or our JSON ``{"type", "metric", "columns"}``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DashboardError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DashboardError(f"config file {path}: cannot be read ({e})") from None
    if path.suffix == ".py":
        return _server_config(path, text)
    try:
        obj = json.loads(text)
    except ValueError as e:
        raise DashboardError(f"config file {path}: not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise DashboardError(f"config file {path}: expected a JSON object with type, metric, columns")
    return _client_config(path, obj)


def find_config_files(folder: Path) -> tuple[list[Path], list[str]]:
    """LSC's config files kept with the data: in the folder (``config_<name>.py``/``.json``, ``config_data.py``,
    ``config.py``/``.json``) or beside it named for it (``../config_<name>.py``). With several candidates, the
    one named for the folder; ``config_default.json`` (LSC's template) only when nothing else is there.
    Returns the files and a note for each choice that could not be made."""
    folder = Path(folder)
    name = folder.resolve().name
    found, notes = [], []
    for ext in (".py", ".json"):
        own = [folder / f"config_{name}{ext}", folder.parent / f"config_{name}{ext}"]
        hit = next((p for p in own if p.is_file()), None)
        if hit is None:
            others = sorted(p for p in folder.glob(f"config*{ext}") if p.is_file() and p.name != f"config_default{ext}")
            hit = others[0] if len(others) == 1 else None
            if len(others) > 1:
                notes.append(f"config: several {ext} files ({', '.join(p.name for p in others)}) and none named "
                             f"config_{name}{ext}; none read (choose one with --config)")
            if hit is None and not others and (folder / f"config_default{ext}").is_file():
                hit = folder / f"config_default{ext}"
        if hit is not None:
            found.append(hit)
    return found, notes


def load_config(path: Path | None, *, type: str | None, metric: str | None, columns: dict[str, str]) -> LscConfig:
    """A config from a file (LSC's ``config_<dset>.py`` / ``.json`` or ours), overridden by flags."""
    cfg = LscConfig(type=type, metric=metric, columns=dict(columns))
    if path is not None:
        cfg = cfg.under(read_config_file(path))
    return _checked(cfg)


def _checked(cfg: LscConfig) -> LscConfig:
    if cfg.type is not None and cfg.type not in DATA_TYPES:
        raise DashboardError(f"data type must be one of {', '.join(DATA_TYPES)}, got {cfg.type!r}")
    if cfg.metric is not None:
        cfg.metric = normalize_metric(cfg.metric)
    return cfg


def resolve_config(folder: Path, given: LscConfig | None) -> LscConfig:
    """The config of an import: flags and ``--config`` first, then LSC's files kept with the data, then defaults."""
    cfg = given or LscConfig()
    paths, notes = find_config_files(folder)
    for path in paths:
        if path.name not in cfg.sources:
            cfg = cfg.under(read_config_file(path))
    cfg.notes = [*cfg.notes, *notes]
    cfg = _checked(cfg)
    cfg.type = cfg.type or "other"
    cfg.metric = cfg.metric or "euclidean"
    return cfg


def _listed(items: list, unit: str = "", total: int | None = None) -> str:
    """The first :data:`MAX_LISTED` items, and how many more there are of ``total`` (default: of ``items``)."""
    total = len(items) if total is None else total
    shown = ", ".join(map(str, items[:MAX_LISTED]))
    more = f" and {total - MAX_LISTED} more" if total > MAX_LISTED else ""
    return f"{unit}{shown}{more}"


@dataclass
class _Plan:
    meta: pd.DataFrame | None = None
    n_rows: int | None = None  # rows of meta.csv, even when its i column is bad
    latents: dict[str, np.ndarray | Rows] = field(default_factory=dict)  # Rows: read from the file in blocks
    tsne: list[tuple[str, float, np.ndarray]] = field(default_factory=list)
    umap: list[tuple[str, int, float, np.ndarray]] = field(default_factory=list)  # dim, n_neighbors, min_dist, xy
    raw: tuple[str, np.ndarray] | None = None  # file, n × m inputs
    schema: dict[str, str] = field(default_factory=dict)
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


def _h5_shape(path: Path, key: str, rel: str, problems: list[str]) -> tuple[int, ...] | None:
    """The shape of the dataset under ``key`` (nothing is read), or ``None`` with the problem recorded."""
    try:
        with h5py.File(path, "r") as h:
            if key not in h or not isinstance(h[key], h5py.Dataset):
                problems.append(f"{rel}: no dataset {key!r} (found: {', '.join(map(repr, h.keys())) or 'nothing'})")
                return None
            return tuple(h[key].shape)
    except OSError as e:
        problems.append(f"{rel}: not a readable HDF5 file ({e})")
        return None


def _bad_rows(a: "np.ndarray | Rows") -> tuple[list[int], int]:
    """The first :data:`MAX_LISTED` rows holding a NaN or an infinity, and how many there are, read in blocks."""
    first, count = [], 0
    for start, block in Rows.of(a).blocks():
        bad = np.flatnonzero(~np.isfinite(block).all(axis=1))
        count += len(bad)
        first.extend((bad[:MAX_LISTED - len(first)] + start).tolist())
    return first, count


def _check_latents(folder: Path, problems: list[str], plan: _Plan) -> None:
    """Each ``latent/latent<dim>.h5``: its shape from the file, its values checked in row blocks. When the
    folder's latent spaces together are larger than :data:`store.ROWS_BYTES`, the plan keeps each as
    :class:`Rows` over its file (written block by block) instead of whole: ten million rows of a 32-d and
    an 8-d space are 1.6 GB, which the import never needs at once."""
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
    found = []
    for f, m in matched:
        if not m:
            continue
        dim, rel = int(m.group(1)), f"latent/{f.name}"
        shape = _h5_shape(f, "latent", rel, problems)
        if shape is None:
            continue
        if len(shape) != 2:
            problems.append(f"{rel}: 'latent' must be 2-D (n × {dim}), got shape {shape}")
            continue
        if shape[1] != dim:
            problems.append(f"{rel}: has {shape[1]} columns but its name says {dim}")
        found.append((dim, f, rel, shape))
    # read when the check runs: a test can make every folder "large"
    in_blocks = sum(4 * shape[0] * shape[1] for *_, shape in found) > store.ROWS_BYTES
    for dim, f, rel, shape in found:
        a = store.h5_rows(f) if in_blocks else _read_h5(f, "latent", rel, problems)
        if a is None:
            continue
        bad_rows, count = _bad_rows(a)
        if count:
            problems.append(f"{rel}: NaN or infinite values in {count} rows ({_listed(bad_rows, 'rows ', count)})")
        plan.latents[str(dim)] = a


def _read_meta_csv(path: Path) -> pd.DataFrame:
    """meta.csv with every cell as the text it is: "NA", "null", "None" are words in a words dataset, not
    missing values. pyarrow's reader is five times faster and keeps the strings in its own compact
    buffers; a file it refuses is read again by pandas' own parser, whose messages name the line."""
    try:
        return pd.read_csv(path, encoding="utf-8", dtype=str, keep_default_na=False, engine="pyarrow")
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError):
        return pd.read_csv(path, encoding="utf-8", dtype=str, keep_default_na=False)


def _check_meta(folder: Path, config: LscConfig, problems: list[str], plan: _Plan) -> None:
    path = folder / "meta.csv"
    if not path.is_file():
        problems.append("meta.csv: file missing (expected columns i, name, …)")
        return
    try:
        meta = _read_meta_csv(path)
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
    schema = {}
    for col, typ in config.suggested.items():
        if col in config.columns:
            continue
        if col not in meta.columns:
            plan.notes.append(f"config: column {col!r} is not in meta.csv; its type {typ!r} not used")
        elif typ not in COLUMN_TYPES:
            plan.notes.append(f"config: column {col!r} has type {typ!r}, not one of {', '.join(COLUMN_TYPES)}; inferred")
        else:
            schema[col] = typ
    schema.update({c: t for c, t in config.columns.items() if c in meta.columns and t in COLUMN_TYPES})
    if missing:
        return
    raw_i = meta["i"].str.strip()
    as_int = to_numbers(raw_i)  # float64 (exact for any row number), missing where not a number
    f = as_int.to_numpy()
    not_int = np.flatnonzero(~np.isfinite(f) | (f != np.floor(f)))
    if len(not_int):
        problems.append("meta.csv: i is not an integer on " + _listed(
            [f"line {k + 2} ({v!r})" for k, v in zip(not_int[:MAX_LISTED], raw_i.iloc[not_int[:MAX_LISTED]])],
            total=len(not_int)))
        return
    ints = as_int.astype(np.int64)
    # LSC writes i in order: then it numbers the rows already, and no check or sort needs a copy of the table
    in_order = bool(len(f) == 0 or (f[0] == 0 and (np.diff(f) == 1).all()))
    if not in_order:
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
    # names and text columns stay text (an empty cell is missing); other columns become numbers when
    # every cell is one ("NA" there is a missing number)
    words = {"name", *config.text_columns, *(c for c, t in schema.items() if t in ("text", "categorical", "color"))}
    for col in meta.columns:
        if col == "i":
            continue
        if col not in words:
            meta[col] = numbers_or_text(meta[col])
        if not pd.api.types.is_numeric_dtype(meta[col]):
            empty = meta[col] == ""
            if empty.any():  # a new column only where there is something to change
                meta[col] = meta[col].where(~empty, None)
    if not in_order:
        meta = meta.sort_values("i").reset_index(drop=True)
    cols = ["i", "name"] + [c for c in meta.columns if c not in ("i", "name")]
    plan.meta = meta[cols]
    plan.schema = schema


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


def _check_umap(folder: Path, n: int | None, plan: _Plan) -> None:
    """LSC's run_umap.py: ``umap/umap<dim>.h5`` with one n × 2 dataset per ``neighbor<nn>-dist<d>``, beside
    pickled models. The embeddings are imported as stored layouts; the pickles are never loaded."""
    umap_dir = folder / "umap"
    if not umap_dir.is_dir():
        return
    pickles = sorted(umap_dir.glob("*.pkl"))
    for f in sorted(umap_dir.iterdir()):
        rel = f"umap/{f.name}"
        if f.suffix == ".pkl":
            continue
        m = _UMAP_RE.match(f.name)
        if not m:
            plan.notes.append(f"{rel}: not a file LSC writes (umap<dim>.h5); not imported")
            continue
        try:
            with h5py.File(f, "r") as h:
                for key in h.keys():
                    km = _UMAP_KEY_RE.match(key)
                    shape = getattr(h[key], "shape", None)
                    if not km:
                        plan.notes.append(f"{rel}: dataset {key!r} is not named neighbor<nn>-dist<d>; not imported")
                    elif shape is None or len(shape) != 2 or shape[1] != 2 or (n is not None and shape[0] != n):
                        plan.notes.append(f"{rel}: {key!r} has shape {shape}, not {n} × 2; not imported")
                    else:
                        xy = np.asarray(h[key][()], dtype=np.float32)
                        if not np.isfinite(xy).all():
                            plan.notes.append(f"{rel}: {key!r} holds NaN or infinite positions; not imported")
                        else:
                            plan.umap.append((m.group(1), int(km.group(1)), float(km.group(2)), xy))
        except OSError as e:
            plan.notes.append(f"{rel}: not a readable HDF5 file ({e}); not imported")
    if pickles:
        plan.notes.append(
            f"umap/: {len(pickles)} pickled UMAP models (*.pkl) not loaded: loading a pickle runs code, and these are "
            "Python 2 pickles of an old umap-learn; " + ("their embeddings came from umap/umap<dim>.h5"
                                                        if plan.umap else "UMAP is computed here instead"))


def _raw_dataset(h: h5py.File, key: str | None):
    """The inputs' dataset in an HDF5 file: ``key`` if given, LSC's ``data``, pandas' ``block0_values``, or the only one."""
    if key:
        return h.get(key)
    if "data" in h:
        d = h["data"]
        return d["block0_values"] if isinstance(d, h5py.Group) and "block0_values" in d else d
    found = []
    h.visititems(lambda name, obj: found.append(obj) if isinstance(obj, h5py.Dataset) and obj.ndim >= 2 else None)
    return found[0] if len(found) == 1 else None


def _check_raw(folder: Path, config: LscConfig, n: int | None, plan: _Plan) -> None:
    """``raw.h5`` (LSC's server reads dataset ``data``) and the config's ``fn_raw``/``key_raw``: the inputs the
    model was trained on. A table (n × m) becomes the latent space ``raw``; image tensors are not needed
    (the images come from images/); anything else is named with why."""
    candidates = [("raw.h5", None)]
    if config.raw_file and config.raw_file != "raw.h5":
        candidates.append((config.raw_file, config.raw_key))
    for name, key in candidates:
        path = folder / name
        what = f"{name} (the config's fn_raw)" if name == config.raw_file else name
        if not path.is_file():
            if name == config.raw_file:
                plan.notes.append(f"{what}: not in the folder; the model's inputs are not imported "
                                  "(only LSC's training scripts read them)")
            continue
        try:
            with h5py.File(path, "r") as h:
                d = _raw_dataset(h, key)
                keys = ", ".join(map(repr, h.keys())) or "nothing"
                if d is None:
                    plan.notes.append(f"{what}: no dataset {key or 'data'!r} (found: {keys}); not imported")
                    continue
                shape = d.shape
                if config.type == "image":
                    plan.notes.append(f"{what}: the pixels the image model was trained on ({' × '.join(map(str, shape))}); "
                                      "not imported (each item's image comes from images/)")
                    continue
                if len(shape) > 2:
                    plan.notes.append(f"{what}: {shape[0]} input images of {' × '.join(map(str, shape[1:]))}; not "
                                      "imported (each item's image comes from images/)")
                    continue
                if len(shape) != 2 or (n is not None and shape[0] != n):
                    plan.notes.append(f"{what}: shape {shape}, but meta.csv has {n} rows; not imported")
                    continue
                if shape[0] * shape[1] > MAX_RAW_VALUES:
                    plan.notes.append(f"{what}: {shape[0]:,} × {shape[1]:,} values, more than {MAX_RAW_VALUES:,}; not "
                                      "imported (reduce it, e.g. with PCA, and add it as a latent file)")
                    continue
                if plan.raw is not None:
                    plan.notes.append(f"{what}: the inputs were already read from {plan.raw[0]}; not imported")
                    continue
                try:
                    a = np.asarray(d[()], dtype=np.float32)
                except (TypeError, ValueError):
                    plan.notes.append(f"{what}: not numbers (dtype {d.dtype}); not imported")
                    continue
        except OSError as e:
            plan.notes.append(f"{what}: not a readable HDF5 file ({e}); not imported")
            continue
        if not np.isfinite(a).all():
            plan.notes.append(f"{what}: NaN or infinite values; not imported")
            continue
        plan.raw = (name, a)


def _check_header(folder: Path, plan: _Plan) -> str | None:
    """``header.csv`` (``i``, name): the name of each column of the raw inputs (Tybalt's genes). Returns a note."""
    path = folder / "header.csv"
    if not path.is_file():
        return None
    try:
        header = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        return f"header.csv: not readable CSV ({e}); not imported"
    names = header.iloc[:, -1].tolist() if len(header.columns) else []
    if plan.raw is None:
        return (f"header.csv: names {len(names)} input columns, but the raw inputs were not imported; "
                "kept as extra/header.csv")
    m = plan.raw[1].shape[1]
    if len(names) != m:
        return f"header.csv: {len(names)} names for the {m} columns of {plan.raw[0]}; kept as extra/header.csv"
    return (f"header.csv: the names of the {m} columns of {plan.raw[0]} (first: {', '.join(names[:3])}); kept as "
            "extra/header.csv (the map does not show per-column names)")


def _image_ext(folder: Path, config: LscConfig) -> str:
    """LSC's client says ``rendering.ext`` (logos are jpg); without it, what images/0.* is."""
    if config.image_ext:
        return config.image_ext
    return next((e for e in ("png", "jpg", "jpeg", "webp", "gif") if (folder / "images" / f"0.{e}").is_file()), "png")


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
        ext = _image_ext(folder, config)
        if not (folder / "images").is_dir():
            problems.append(f"images/: folder missing (data type is image: expected images/<i>.{ext})")
        else:
            absent, broken = [], []
            for i in range(n):
                path = folder / "images" / f"{i}.{ext}"
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
    _check_umap(folder, n, plan)
    _check_raw(folder, config, n, plan)
    header = _check_header(folder, plan)
    if header:
        plan.notes.append(header)
    if config.dims is not None and plan.latents:
        have = {int(d) for d in plan.latents}
        if have - set(config.dims):
            plan.notes.append(f"config: dims {config.dims} leave out latent{sorted(have - set(config.dims))}; "
                              "every latent file is imported")
        if set(config.dims) - have:
            plan.notes.append(f"config: dims {sorted(set(config.dims) - have)} have no latent/latent<dim>.h5")
    if problems:
        raise ValidationError(f"{folder} cannot be imported ({len(problems)} problem{'s' * (len(problems) > 1)}):", problems)
    return plan


def import_folder(
    data_dir: Path, folder: Path, *, name: str | None = None, config: LscConfig | None = None, force: bool = False
) -> Dataset:
    """Check, then import an LSC folder as dataset ``name`` (default: the folder's name).

    ``config`` (flags, ``--config``) wins over LSC's config files kept with the data.
    """
    folder = Path(folder)
    config = resolve_config(folder, config)
    name = check_name(name or folder.resolve().name)
    if (Path(data_dir) / name / "manifest.json").exists() and not force:
        raise DashboardError(f"dataset {name!r} already exists in {data_dir}; choose --name or pass --force to replace it")
    plan = check_folder(folder, config)
    with DatasetWriter(data_dir, name, fresh=True) as w:
        return _write(w, folder, plan, config)


def _write(w: DatasetWriter, folder: Path, plan: _Plan, config: LscConfig) -> Dataset:
    dims = sorted(plan.latents, key=int)
    default = config.default_dim if config.default_dim in plan.latents else dims[len(dims) // 2]
    w.set_info(
        type=config.type,
        metric=config.metric,
        provenance={"source": "Latent Space Cartography folder", "path": str(folder.resolve()),
                    "config_files": config.sources},
        default_space=default,
        image_shape=config.image_shape,
    )
    w.write_meta(plan.meta, plan.schema)
    for dim in dims:
        w.write_latent(dim, plan.latents[dim], kind="imported", description=f"latent/latent{dim}.h5 from {folder.name}")
    for dim, perp, xy in plan.tsne:
        if dim in plan.latents:
            w.write_layout(dim, "tsne", {"perplexity": perp}, xy)
        else:
            w.report.skip(f"tsne/tsne{dim}_perp{perp:g}.h5", f"no latent/latent{dim}.h5 to go with it")
    for dim, nn, dist, xy in plan.umap:
        if dim in plan.latents:
            # LSC's run_umap.py used umap-learn's default metric (euclidean), unsupervised
            w.write_layout(dim, "umap", {"n_neighbors": nn, "min_dist": dist, "metric": "euclidean", "label": None}, xy)
        else:
            w.report.skip(f"umap/umap{dim}.h5 neighbor{nn}-dist{dist:g}", f"no latent/latent{dim}.h5 to go with it")
    if plan.umap:
        w.report.notes.append(f"umap/: {len(plan.umap)} stored UMAP layouts imported (n_neighbors × min_dist, "
                              "euclidean, as LSC's run_umap.py made them)")
    if plan.raw is not None:
        raw_name, raw = plan.raw
        named = " (column names in header.csv)" if (folder / "header.csv").is_file() else ""
        w.write_latent("raw", raw, kind="imported",
                       description=f"the model's inputs, {raw.shape[1]} columns, from {raw_name}{named}")
        w.report.notes.append(f"{raw_name}: the model's inputs imported as latent space 'raw' ({raw.shape[1]} columns)")
    if config.type == "image":
        n = len(plan.meta)
        ext = _image_ext(folder, config)

        def images():
            for i in range(n):
                with Image.open(folder / "images" / f"{i}.{ext}") as im:
                    im.load()
                    yield i, im.copy()

        write_images(w, images(), n)
    if (folder / "header.csv").is_file():
        w.copy_in(folder / "header.csv", "extra/header.csv")
    if (folder / "models").exists():
        w.copy_in(folder / "models", "extra/models")
        w.report.notes.append("models/ kept as extra/models (LSC's Keras 2 decoders are not loaded)")
    if config.sources:
        w.report.notes.append(f"config read from {', '.join(config.sources)}")
    w.report.notes.extend(config.notes + plan.notes)
    w.report.counts = {"items": len(plan.meta), "skipped": len(w.report.skipped)}
    return w.finish()
