"""Import a PixPlot output folder as a dataset: ``python -m dashboard add OUTPUT_DIR``.

Reads what PixPlot wrote, in the shapes its releases have written since 2019
(see shared/reference/pixplot.md and PixPlot's history):

* 2021 on (0.0.113): ``data/manifest.json`` pointing at ``imagelists/``,
  ``layouts/`` (UMAP variants, ``grid`` = rasterfairy, ``alphabetic`` = file
  order), ``hotspots/`` (members listed) and vectors in
  ``image-vectors/inception/<file>.npy``;
* 2020: the same without UMAP variants; hotspots in ``hotspots/`` or
  ``centroids/`` given by a convex hull in the UMAP layout, or as k-means
  centroid images; before August 2020 ``grid`` was the file-order grid and
  ``rasterfairy`` the rasterfairy grid; vectors in ``image-vectors/<file>.npy``;
* late 2019: a manifest without ``imagelist`` (the image list is inline,
  with ``atlas`` and ``cell_sizes``) whose layouts are paths or
  ``{"positions": …}``, and ``centroids`` files;
* early 2019 (``utils/process_images.py``): no manifest but ``plot_data.json``
  (every layout inline), ``centroids.json``, ``image_vectors/``,
  ``thumbs/128px/``.

Layouts are kept as they were drawn; the Inception vectors become a latent
space, so every other view works. Whatever is not imported is named in the
report with the reason.
"""

from __future__ import annotations

import gzip
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..compute.projections import pca
from ..errors import DashboardError
from ..store import THUMB_SIZE, Dataset, DatasetWriter
from .common import compute_layouts
from .images import PCA_DIMS, SkipImage, open_image, write_web_images
from .metadata import integers_if_whole, numbers_or_text

# Keys only PixPlot's manifests have (an IIIF or web-app manifest.json has none of them).
_MANIFEST_KEYS = {"imagelist", "images", "layouts", "atlas", "cell_sizes", "plot_id", "point_sizes", "atlas_dir"}
# PixPlot's names for its layouts → ours (and what each is). ``grid`` is decided per output: see _layout_name.
_DESCRIPTIONS = {
    "pixplot_umap": "PixPlot's UMAP layout",
    "pixplot_tsne": "PixPlot's t-SNE layout",
    "jittered": "PixPlot's jittered UMAP (points pushed apart onto a grid with pointgrid)",
    "grid": "PixPlot's grid: the UMAP layout snapped to a grid, neighbours kept together",
    "rasterfairy": "PixPlot's rasterfairy grid: the UMAP layout snapped to a grid, neighbours kept together",
    "alphabetic": "PixPlot's alphabetic grid: the images in file order",
    "categorical": "PixPlot's categorical layout: a box per category",
    "date": "PixPlot's date layout: a bar per year",
    "geographic": "PixPlot's geographic layout (longitude, latitude)",
    "custom": "PixPlot's custom layout (the metadata's x, y)",
}


def is_pixplot(path: Path) -> bool:
    """A PixPlot output folder (or its ``data`` folder), of any release since 2019."""
    return _data_dir(path) is not None


def _data_dir(path: Path) -> Path | None:
    for d in (path / "data", path):
        m = d / "manifest.json"
        if m.is_file():
            try:
                manifest = json.loads(m.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                return None
            if isinstance(manifest, dict) and _MANIFEST_KEYS & set(manifest):
                return d
        if (d / "plot_data.json").is_file():  # PixPlot before its manifest (early 2019)
            return d
    return None


def _resolve(data: Path, rel) -> Path | None:
    """PixPlot's manifest paths start with its output directory ("output/data/…", "/output/data/…"):
    keep what follows data/ (the folder may have been moved or renamed since)."""
    if not rel or not isinstance(rel, str):
        return None
    parts = [p for p in Path(rel).parts if p not in ("/", "\\")]
    if "data" in parts:
        parts = parts[len(parts) - parts[::-1].index("data"):]
    if not parts:
        return None
    path = data.joinpath(*parts)
    for candidate in (path, path.with_name(path.name + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _read_json(path: Path):
    if path.suffix == ".gz":  # PixPlot's --gzip
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return json.load(f)
    return json.loads(path.read_text(encoding="utf-8"))


def _rel(data: Path, path: Path) -> str:
    try:
        return str(path.relative_to(data))
    except ValueError:
        return path.name


@dataclass
class _Output:
    """One PixPlot output, whatever its release: what the import needs, and notes on the rest."""

    data: Path
    manifest: dict
    filenames: list[str]
    layouts: dict[str, tuple[np.ndarray, list, str]] = field(default_factory=dict)  # name → (xy, labels, description)
    hotspot_files: list[Path] = field(default_factory=list)
    inline_hotspots: list | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.filenames)


def read_output(path: Path) -> _Output:
    """Everything a PixPlot output folder holds, read (nothing written). Raises one-line errors."""
    data = _data_dir(path)
    if data is None:
        raise DashboardError(f"{path}: not a PixPlot output folder (no data/manifest.json or plot_data.json)")
    if not (data / "manifest.json").is_file():
        return _read_plot_data(data)
    manifest = _read_json(data / "manifest.json")
    if "imagelist" in manifest:
        imagelist_path = _resolve(data, manifest.get("imagelist"))
        if imagelist_path is None:
            raise DashboardError(f"{path}: the manifest's image list {manifest.get('imagelist')!r} is missing")
        try:
            listed = _read_json(imagelist_path)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DashboardError(f"{path}: the image list {_rel(data, imagelist_path)} is not readable JSON ({e})") from None
        images = listed.get("images") if isinstance(listed, dict) else None
        if not isinstance(images, list):
            raise DashboardError(f"{path}: the image list {_rel(data, imagelist_path)} has no 'images' list")
    elif isinstance(manifest.get("images"), list):  # before January 2020 the list was in the manifest
        images = manifest["images"]
    else:
        raise DashboardError(
            f"{path}: data/manifest.json has neither an 'imagelist' file nor an 'images' list, so no position "
            f"can be matched to an image (keys found: {', '.join(sorted(manifest)) or 'none'})")
    out = _Output(data, manifest, [str(f) for f in images])
    if "layouts" in manifest and isinstance(manifest["layouts"], dict):
        _manifest_layouts(out, manifest["layouts"])
    else:
        _layout_files(out)
    _hotspot_sources(out)
    return out


def _layout_name(key: str, keys: set[str]) -> str:
    """Our name for a PixPlot layout key. Until August 2020 PixPlot's ``grid`` was the file-order grid
    (beside ``rasterfairy``); since then that one is ``alphabetic`` and ``grid`` is the neighbour grid."""
    if key == "umap":
        return "pixplot_umap"
    if key in ("tsne", "tsne_2d"):
        return "pixplot_tsne"
    if key == "umap_2d":
        return "pixplot_umap"
    if key == "grid" and "alphabetic" not in keys:
        return "alphabetic"
    if key == "timeline":
        return "date"
    return key


def _add_layout(out: _Output, name: str, value, labels_rel=None, source: str = "", extra: str = "") -> None:
    """Read one layout (a path to JSON, or positions inline) into ``out.layouts``, or note why not."""
    where = source or name
    if value is None:
        out.notes.append(f"layout {name!r}: its manifest entry names no layout file; not imported")
        return
    try:
        if isinstance(value, str):
            p = _resolve(out.data, value)
            if p is None:
                out.notes.append(f"layout {name!r}: its file {value!r} is missing; not imported")
                return
            where = _rel(out.data, p)
            value = _read_json(p)
        if isinstance(value, dict):  # {"positions": […]} (later forks) or PixPlot's labelled layouts
            value = value.get("positions")
        xy = np.asarray(value, dtype=np.float32)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        out.notes.append(f"layout {name!r} ({where}): not readable JSON ({e}); not imported")
        return
    except (TypeError, ValueError):
        out.notes.append(f"layout {name!r} ({where}): not a list of [x, y] positions; not imported")
        return
    if xy.ndim != 2 or xy.shape[1] < 2 or len(xy) != out.n:
        out.notes.append(f"layout {name!r} ({where}): {xy.shape[0] if xy.ndim else 0} positions for {out.n} images; "
                         "not imported")
        return
    if not np.isfinite(xy[:, :2]).all():
        out.notes.append(f"layout {name!r} ({where}): NaN or infinite positions; not imported")
        return
    if xy.shape[1] > 2 and np.ptp(xy[:, 2]) > 0:
        extra += " (a 3-d layout: its x and y kept)"
    labels = []
    label_path = _resolve(out.data, labels_rel)
    if labels_rel and label_path is None:
        out.notes.append(f"layout {name!r}: its labels file {labels_rel!r} is missing; the layout has no labels")
    elif label_path is not None:
        try:
            spec = _read_json(label_path)
            labels = [(str(t), float(p[0]), float(p[1])) for t, p in zip(spec.get("labels", []), spec.get("positions", []))]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError, TypeError, ValueError, IndexError) as e:
            out.notes.append(f"layout {name!r}: labels {_rel(out.data, label_path)} not readable ({e}); no labels")
    out.layouts[name] = (xy[:, :2], labels, (_DESCRIPTIONS.get(name, f"PixPlot's {name} layout") + extra).strip())


def _manifest_layouts(out: _Output, layouts: dict) -> None:
    keys = set(layouts)
    for key, entry in layouts.items():
        if not entry:  # PixPlot writes False/None for a layout it did not make (no dates, no categories)
            continue
        name = _layout_name(key, keys)
        extra = " (PixPlot called it 'grid' until August 2020)" if name == "alphabetic" and key == "grid" else ""
        if isinstance(entry, str):  # December 2019: the path itself
            _add_layout(out, name, entry, extra=extra)
            continue
        if not isinstance(entry, dict):
            out.notes.append(f"layout {key!r}: manifest entry {entry!r} not understood; not imported")
            continue
        if key == "umap" and isinstance(entry.get("variants"), list) and entry["variants"]:
            for k, v in enumerate(entry["variants"]):
                if not isinstance(v, dict):
                    continue
                suffix = "" if k == 0 else f"_{k + 1}"
                params = ", ".join(f"{p} {v[p]}" for p in ("n_neighbors", "min_dist") if p in v)
                _add_layout(out, f"pixplot_umap{suffix}", v.get("layout"), extra=f" ({params})" if params else "")
                if v.get("jittered"):
                    _add_layout(out, f"jittered{suffix}", v["jittered"])
            continue
        # 2020 on: {"layout", "labels", "jittered"}; November 2019: {"positions", "centroids"}
        _add_layout(out, name, entry.get("layout") or entry.get("positions"), entry.get("labels"), extra=extra)
        if entry.get("jittered"):
            _add_layout(out, "jittered" if key == "umap" else f"{name}_jittered", entry["jittered"])
        if entry.get("centroids") and key == "umap":
            p = _resolve(out.data, entry["centroids"])
            if p is not None:
                out.hotspot_files.append(p)


# The layout files PixPlot wrote (``layouts/<key>-<plot_id>.json``), longest first so "umap-jittered" wins over "umap".
_FILE_KEYS = sorted(("umap", "umap-jittered", "grid", "rasterfairy", "alphabetic", "categorical", "categorical-labels",
                     "timeline", "timeline-labels", "date", "date-labels", "geographic", "custom", "tsne"),
                    key=len, reverse=True)


def _layout_files(out: _Output) -> None:
    """A manifest without ``layouts``: the layout files PixPlot left in data/layouts/."""
    folder = out.data / "layouts"
    files = sorted(p for p in folder.iterdir() if p.name.endswith((".json", ".json.gz"))) if folder.is_dir() else []
    pid = out.manifest.get("plot_id")
    by_key: dict[str, list[Path]] = {}
    for f in files:
        key = next((k for k in _FILE_KEYS if f.name.startswith((f"{k}-", f"{k}.json"))), None)
        if key is None:
            out.notes.append(f"layouts/{f.name}: not a layout PixPlot writes; not imported")
            continue
        by_key.setdefault(key, []).append(f)
    if not by_key:
        out.notes.append("manifest.json has no 'layouts' and data/layouts/ holds no layout files: "
                         "the layouts are computed from the vectors")
        return

    def pick(key: str) -> Path | None:
        found = by_key.get(key, [])
        if pid:
            found = [f for f in found if f"-{pid}." in f.name] or found
        if len(found) > 1:  # several runs in one folder: the newest, as PixPlot's viewer would have shown last
            found = sorted(found, key=lambda f: f.stat().st_mtime)
            out.notes.append(f"layouts/: {len(found)} {key!r} files; read the newest, {found[-1].name}")
        return found[-1] if found else None

    keys = set(by_key)
    used = []
    for key in by_key:
        if key.endswith("-labels"):
            continue
        f = pick(key)
        labels = pick(f"{key}-labels")
        name = "jittered" if key == "umap-jittered" else _layout_name(key, keys)
        _add_layout(out, name, f"layouts/{f.name}", f"layouts/{labels.name}" if labels else None)
        used.append(f.name)
    out.notes.append(f"manifest.json has no 'layouts': read {len(used)} layout file(s) from data/layouts/ "
                     f"({', '.join(used)})")


def _hotspot_sources(out: _Output) -> None:
    """Every hotspot file the output names or holds, in the order they are tried."""
    m = out.manifest
    for key in ("custom_hotspots", "default_hotspots", "hotspots", "centroids"):
        value = m.get(key)
        if isinstance(value, list):  # inline
            out.inline_hotspots = out.inline_hotspots or value
            continue
        p = _resolve(out.data, value)
        if p is not None and p not in out.hotspot_files:
            out.hotspot_files.append(p)
    for pattern in ("hotspots/user_hotspots.json", "hotspots/*.json*", "centroids/*.json*", "centroids.json"):
        for p in sorted(out.data.glob(pattern)):
            if p not in out.hotspot_files:
                out.hotspot_files.append(p)


def _read_plot_data(data: Path) -> _Output:
    """Early 2019: ``plot_data.json`` = {"cells": {"layouts": [keys], "data": [[file, w, h, [pos per key]]]}}."""
    try:
        plot = _read_json(data / "plot_data.json")
        cells = plot["cells"]
        keys, rows = list(cells["layouts"]), list(cells["data"])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DashboardError(f"{data}: plot_data.json is not readable JSON ({e})") from None
    except (KeyError, TypeError):
        raise DashboardError(f"{data}: plot_data.json has no cells.layouts and cells.data (PixPlot's early 2019 "
                             "format); cannot tell where the images go") from None
    out = _Output(data, {}, [str(r[0]) for r in rows])
    out.notes.append("PixPlot output from before its manifest (plot_data.json, early 2019)")
    for k, key in enumerate(keys):
        try:
            positions = [r[3][k] for r in rows]
        except (IndexError, TypeError):
            out.notes.append(f"layout {key!r}: missing for some images in plot_data.json; not imported")
            continue
        _add_layout(out, _layout_name(key, set(keys)), positions, source="plot_data.json")
    _hotspot_sources(out)
    return out


# --------------------------------------------------------------------------
# vectors, metadata, hotspots


def _load_vector(path: Path) -> np.ndarray:
    if path.name.endswith(".gz"):
        with gzip.open(path, "rb") as f:
            return np.load(io.BytesIO(f.read()), allow_pickle=False)
    return np.load(path, allow_pickle=False)


def read_vectors(out: _Output) -> tuple[np.ndarray | None, str]:
    """The Inception vectors in the image list's order, or ``None`` and why not.

    PixPlot cached one ``<file>.npy`` per image: in ``image-vectors/inception/``
    (from September 2020), ``image-vectors/`` (from December 2019) or, early
    2019, ``image_vectors/`` beside ``plot_data.json``; some users gzip them.
    """
    folders = [d for d in (out.data / "image-vectors" / "inception", out.data / "image-vectors", out.data / "image_vectors")
               if d.is_dir()]
    if not folders:
        return None, "no image-vectors/ folder"
    vectors, missing, broken = [], [], []
    for f in out.filenames:
        path = next((d / f"{f}{ext}" for d in folders for ext in (".npy", ".npy.gz") if (d / f"{f}{ext}").is_file()), None)
        if path is None:
            missing.append(f)
            continue
        try:
            vectors.append(_load_vector(path).reshape(-1).astype(np.float32))
        except (OSError, ValueError, EOFError) as e:
            broken.append(f"{path.name} ({e})")
    where = ", ".join(_rel(out.data, d) + "/" for d in folders)
    if missing or broken:
        why = []
        if missing:
            why.append(f"{len(missing)} of {out.n} images have no vector in {where} (first: {missing[0]})")
        if broken:
            why.append(f"{len(broken)} vector files not readable: {'; '.join(broken[:3])}")
        return None, "; ".join(why)
    sizes = {len(v) for v in vectors}
    if len(sizes) > 1:
        return None, f"the vectors in {where} have different lengths ({', '.join(map(str, sorted(sizes)))})"
    X = np.stack(vectors)
    if not np.isfinite(X).all():
        return None, f"the vectors in {where} hold NaN or infinite values"
    return X, where


def read_file_metadata(out: _Output) -> tuple[pd.DataFrame, list[str]]:
    """Per-image metadata (``metadata/file/<file>.json``; early 2019 ``metadata/<file>.json``), one row per image."""
    rows, notes = [], []
    for filename in out.filenames:
        f = next((p for p in (out.data / "metadata" / "file" / f"{filename}.json",
                              out.data / "metadata" / f"{filename}.json") if p.is_file()), None)
        try:
            value = _read_json(f) if f is not None else {}
            rows.append(value if isinstance(value, dict) else {})
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            notes.append(f"{f.name}: not readable JSON ({e})")
            rows.append({})
    def cell(v):  # PixPlot joins tags with "|"; anything nested is kept as its JSON text
        if isinstance(v, list):
            return "|".join(json.dumps(x) if isinstance(x, (dict, list)) else str(x) for x in v)
        return json.dumps(v) if isinstance(v, dict) else v

    extra = pd.DataFrame([{str(k): cell(v) for k, v in r.items() if k not in ("filename", "i", "name")} for r in rows],
                         index=range(out.n))
    for col in extra.columns:
        if col in ("year", "lat", "lng"):
            extra[col] = integers_if_whole(extra[col])
        elif col not in ("category", "tags", "description", "permalink", "label", "title"):
            extra[col] = numbers_or_text(extra[col])
    return extra, notes


def _inside(points: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """Which points lie inside (or on) a convex polygon, such as the hulls PixPlot drew around hotspots."""
    from scipy.spatial import Delaunay  # scipy comes with scikit-learn

    try:
        return Delaunay(ring).find_simplex(points, tol=1e-9) >= 0
    except ValueError:  # fewer than 3 distinct corners: no area
        return np.zeros(len(points), dtype=bool)


def read_hotspots(out: _Output, vectors: np.ndarray | None) -> tuple[list[dict], list[str]]:
    """The first hotspot file that yields hotspots, as ``{"label", "members", "representative"}``; notes on the rest.

    PixPlot's files over the years: members listed (``images``, from August
    2020, and ``user_hotspots.json``); a ``convex_hull`` in the UMAP layout
    with ``n_images`` (July 2020): members are the images inside it; a k-means
    centroid image (``idx``/``img``, 2019 to July 2020): members are the images
    nearest to it among the centroid images, in the UMAP layout (what PixPlot
    clustered then) or, without one, the vectors.
    """
    index = {f: i for i, f in enumerate(out.filenames)}
    umap = out.layouts.get("pixplot_umap", (None,))[0]
    sources = [(_rel(out.data, p), p) for p in out.hotspot_files]
    if out.inline_hotspots is not None:
        sources.insert(0, ("manifest.json", out.inline_hotspots))
    notes: list[str] = []
    for name, source in sources:
        try:
            items = _read_json(source) if isinstance(source, Path) else source
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            notes.append(f"hotspots {name}: not readable JSON ({e}); not imported")
            continue
        if not isinstance(items, list) or not items:
            notes.append(f"hotspots {name}: {'empty' if isinstance(items, list) else 'not a list of hotspots'}")
            continue
        items = [h for h in items if isinstance(h, dict)]
        hotspots, how = _hotspots_from(items, index, umap, vectors)
        if hotspots:
            notes.append(f"hotspots from {name}: {len(hotspots)}{how}")
            others = [n for n, _ in sources if n != name]
            if others:
                notes.append(f"hotspots in {', '.join(others)} not imported: {name} was used (PixPlot shows one set)")
            return hotspots, notes
        notes.append(f"hotspots {name}: {how or 'no members could be found'}; not imported")
    return [], notes


def _hotspots_from(items: list[dict], index: dict[str, int], umap, vectors) -> tuple[list[dict], str]:
    n = len(index)

    def rep_of(h, default):
        i = index.get(str(h.get("img")))
        if i is None and isinstance(h.get("idx"), int) and 0 <= h["idx"] < n:
            i = h["idx"]
        return default if i is None else i

    out = []
    if any("images" in h for h in items):
        for h in items:
            members = sorted({int(i) for i in h.get("images", []) if isinstance(i, (int, float)) and 0 <= int(i) < n})
            if members:
                rep = rep_of(h, members[0])
                out.append({"label": str(h.get("label") or f"Cluster {len(out) + 1}"), "members": members,
                            "representative": rep if rep in members else members[0]})
        return out, ""
    if any("convex_hull" in h for h in items):
        if umap is None:
            return [], "outlined in PixPlot's UMAP layout, which was not imported"
        for h in items:
            try:
                ring = np.asarray(h["convex_hull"], dtype=np.float64)[:, :2]
            except (KeyError, TypeError, ValueError, IndexError):
                continue
            members = np.flatnonzero(_inside(umap.astype(np.float64), ring)).tolist()
            if members:
                rep = rep_of(h, members[0])
                out.append({"label": str(h.get("label") or f"Cluster {len(out) + 1}"), "members": members,
                            "representative": rep if rep in members else members[0]})
        return out, " (members: the images inside each hotspot's outline in PixPlot's UMAP layout)"
    reps = [(h, rep_of(h, None)) for h in items]
    reps = [(h, r) for h, r in reps if r is not None]
    if not reps:
        return [], "its centroid images are not in the image list"
    space, where = (umap, "PixPlot's UMAP layout") if umap is not None else (vectors, "the Inception vectors")
    if space is None:
        return [], "k-means centroids without the UMAP layout or the vectors to assign images to them"
    centres = space[[r for _, r in reps]].astype(np.float64)
    nearest = np.array([np.argmin(((centres - x) ** 2).sum(axis=1)) for x in space.astype(np.float64)])
    for k, (h, r) in enumerate(reps):
        members = np.flatnonzero(nearest == k).tolist()
        if r not in members:
            members = sorted(members + [r])
        out.append({"label": str(h.get("label") or f"Cluster {k + 1}"), "members": members, "representative": r})
    return out, (f" (PixPlot kept only each k-means centroid's image: members are the images nearest to it "
                 f"among those, in {where})")


# --------------------------------------------------------------------------
# the import


def import_pixplot(data_dir: Path, path: Path, *, name: str | None = None, force: bool = False) -> Dataset:
    """The PixPlot output at ``path`` as dataset ``name`` (default: the folder's name)."""
    out = read_output(path)
    data, filenames, n = out.data, out.filenames, out.n
    if n == 0:
        raise DashboardError(f"{path}: PixPlot's image list is empty")
    name = name or (path.name if path.name != "data" else path.parent.name)
    X, vector_note = read_vectors(out)
    if X is None and "pixplot_umap" not in out.layouts:
        raise DashboardError(f"{path}: no Inception vectors ({vector_note}) and no UMAP layout "
                             "to place the images with")

    if (Path(data_dir) / name / "manifest.json").exists() and not force:
        raise DashboardError(f"dataset {name!r} already exists in {data_dir}; choose --name or pass --force to replace it")
    # always a new version, swapped in when complete: a re-import never rewrites the images being served
    with DatasetWriter(data_dir, name, fresh=True) as w:
        w.report.skipped.clear()
        w.report.notes.clear()
        w.set_info(type="image", metric="cosine", image_format="webp",
                   provenance={"source": f"PixPlot output {path}", "pixplot_version": out.manifest.get("version")})
        (w.path / "images").mkdir(exist_ok=True)
        (w.path / "thumbs").mkdir(exist_ok=True)
        folders = [data / "originals", data / "thumbs", data / "thumbs" / "128px", data / "thumbs" / "32px"]
        for i, filename in enumerate(filenames):
            # every image keeps its place (PixPlot's layouts follow the list), so a missing file is a blank cell
            source = next((d / filename for d in folders if (d / filename).is_file()), None)
            try:
                if source is None:
                    raise SkipImage("no original or thumbnail in the output folder")
                im, _ = open_image(source)
            except SkipImage as e:
                w.report.notes.append(f"{filename}: {e}; drawn blank")
                from PIL import Image

                im = Image.new("RGBA", (THUMB_SIZE, THUMB_SIZE), (0, 0, 0, 0))
            write_web_images(im, w.path / "images" / f"{i}.webp", w.path / "thumbs" / f"{i}.webp")

        meta = pd.DataFrame({"i": np.arange(n), "name": filenames})
        extra, notes = read_file_metadata(out)
        w.report.notes.extend(notes)
        if len(extra.columns):
            meta = pd.concat([meta, extra.reset_index(drop=True)], axis=1)
        overrides = {c: "categorical" for c in ("category", "label") if c in meta.columns}
        overrides.update({c: "text" for c in ("tags", "description", "permalink") if c in meta.columns})
        w.write_meta(meta, overrides)
        if "category" in meta.columns:
            w.manifest["label_column"] = "category"

        if X is not None:
            w.write_latent("inception", X, kind="features",
                           description=f"PixPlot's InceptionV3 vectors ({X.shape[1]}-d, from {vector_note})")
            if X.shape[1] > PCA_DIMS and n > 2:
                d = min(PCA_DIMS, n - 1)
                w.write_latent(f"pca{d}", pca(X, n_components=d), kind="pca",
                               description=f"PCA of the Inception vectors to {d} dims")
                w.manifest["default_space"] = f"pca{d}"
        else:
            w.report.notes.append(f"Inception vectors not imported ({vector_note}): the latent space is PixPlot's "
                                  "2-d UMAP")
            w.write_latent("umap2d", out.layouts["pixplot_umap"][0], kind="imported",
                           description="PixPlot's UMAP positions")
        for key, (xy, labels, description) in out.layouts.items():
            w.write_arrangement(key, xy, labels, description=description)
        hotspots, notes = read_hotspots(out, X)
        w.write_hotspots(hotspots)
        w.report.notes.extend(out.notes + notes)
        w.report.counts.update(items=n, layouts=len(out.layouts), hotspots=len(hotspots))
        w.publish()
        ds = Dataset(w.path)
        w.report.timings.update(compute_layouts(ds, ("pca",)))
        return w.finish()
