"""Import a PixPlot output folder as a dataset: ``python -m dashboard add OUTPUT_DIR``.

Reads what PixPlot wrote (``data/manifest.json`` and what it points to):
the image list, the originals and thumbnails, the Inception vectors it
cached, its layouts (UMAP, grid, alphabetic, categorical, date, geographic,
custom, with their labels), its hotspots (and a ``user_hotspots.json`` saved
from the viewer) and the per-image metadata. Layouts are kept as they were
drawn; the Inception vectors become a latent space, so every other view works.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..compute.projections import pca
from ..errors import DashboardError
from ..store import THUMB_SIZE, Dataset, DatasetWriter
from .common import compute_layouts
from .images import PCA_DIMS, SkipImage, open_image, write_web_images

# PixPlot layout key → our stored layout name
LAYOUT_NAMES = {"umap": "pixplot_umap", "grid": "grid", "alphabetic": "alphabetical", "categorical": "categorical",
                "date": "date", "geographic": "geographic", "custom": "custom"}


def is_pixplot(path: Path) -> bool:
    """A PixPlot output folder (or its ``data`` folder)."""
    return _data_dir(path) is not None


def _data_dir(path: Path) -> Path | None:
    for d in (path / "data", path):
        m = d / "manifest.json"
        if m.is_file():
            try:
                manifest = json.loads(m.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                return None
            if isinstance(manifest, dict) and "imagelist" in manifest and "layouts" in manifest:
                return d
    return None


def _resolve(data: Path, rel: str | None) -> Path | None:
    """PixPlot's manifest paths start with its output directory ("output/data/…"): keep what follows data/."""
    if not rel:
        return None
    parts = Path(rel).parts
    if "data" in parts:
        parts = parts[len(parts) - parts[::-1].index("data"):]
    path = data.joinpath(*parts)
    for candidate in (path, path.with_name(path.name + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _read_json(path: Path):
    if path.suffix == ".gz":  # PixPlot's --gzip
        import gzip

        with gzip.open(path, "rt", encoding="utf-8") as f:
            return json.load(f)
    return json.loads(path.read_text(encoding="utf-8"))


def import_pixplot(data_dir: Path, path: Path, *, name: str | None = None, force: bool = False) -> Dataset:
    """The PixPlot output at ``path`` as dataset ``name`` (default: the folder's name)."""
    data = _data_dir(path)
    if data is None:
        raise DashboardError(f"{path}: not a PixPlot output folder (no data/manifest.json with an imagelist)")
    manifest = _read_json(data / "manifest.json")
    imagelist_path = _resolve(data, manifest.get("imagelist"))
    if imagelist_path is None:
        raise DashboardError(f"{path}: the manifest's image list {manifest.get('imagelist')!r} is missing")
    filenames = [str(f) for f in _read_json(imagelist_path)["images"]]
    n = len(filenames)
    name = name or (path.name if path.name != "data" else path.parent.name)

    with DatasetWriter(data_dir, name, fresh=force) as w:
        w.report.skipped.clear()
        w.report.notes.clear()
        w.set_info(type="image", metric="cosine", image_format="webp",
                   provenance={"source": f"PixPlot output {path}", "pixplot_version": manifest.get("version")})
        (w.path / "images").mkdir(exist_ok=True)
        (w.path / "thumbs").mkdir(exist_ok=True)
        for i, filename in enumerate(filenames):
            # every image keeps its place (PixPlot's layouts follow the list), so a missing file is a blank cell
            source = next((p for p in (data / "originals" / filename, data / "thumbs" / filename) if p.is_file()), None)
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
        rows = []
        for filename in filenames:
            f = data / "metadata" / "file" / f"{filename}.json"
            try:
                rows.append(_read_json(f) if f.is_file() else {})
            except (OSError, json.JSONDecodeError) as e:
                w.report.notes.append(f"{f.name}: not readable JSON ({e})")
                rows.append({})
        extra = pd.DataFrame([{k: ("|".join(map(str, v)) if isinstance(v, list) else v) for k, v in r.items()
                               if k not in ("filename", "i", "name")} for r in rows])
        if len(extra.columns):
            meta = pd.concat([meta, extra.reset_index(drop=True)], axis=1)
        for col in ("year", "lat", "lng"):
            if col in meta.columns:
                meta[col] = pd.to_numeric(meta[col], errors="coerce")
        overrides = {c: "categorical" for c in ("category", "label") if c in meta.columns}
        w.write_meta(meta, overrides)
        if "category" in meta.columns:
            w.manifest["label_column"] = "category"

        layouts = _layouts(data, manifest)
        vectors = [data / "image-vectors" / "inception" / f"{f}.npy" for f in filenames]
        if all(v.is_file() for v in vectors):
            X = np.stack([np.load(v).reshape(-1) for v in vectors]).astype(np.float32)
            w.write_latent("inception", X, kind="features", description="PixPlot's InceptionV3 vectors (2048-d)")
            if X.shape[1] > PCA_DIMS and n > 2:
                d = min(PCA_DIMS, n - 1)
                w.write_latent(f"pca{d}", pca(X, n_components=d), kind="pca",
                               description=f"PCA of the Inception vectors to {d} dims")
                w.manifest["default_space"] = f"pca{d}"
        else:
            missing = sum(not v.is_file() for v in vectors)
            umap = layouts.get("pixplot_umap")
            if umap is None:
                raise DashboardError(f"{path}: {missing} of {n} Inception vectors are missing and there is no UMAP layout")
            w.report.notes.append(f"{missing} of {n} Inception vectors missing: the latent space is PixPlot's 2-d UMAP")
            w.write_latent("umap2d", umap[0], kind="imported", description="PixPlot's UMAP positions")
        for key, (xy, labels) in layouts.items():
            w.write_arrangement(key, xy, labels, description=f"PixPlot's {key.replace('pixplot_', '')} layout")
        w.write_hotspots(_hotspots(data, manifest, filenames, w.report.notes))
        w.report.counts.update(items=n)
        w.publish()
        ds = Dataset(w.path)
        w.report.timings.update(compute_layouts(ds, ("pca",)))
        return w.finish()


def _layouts(data: Path, manifest: dict) -> dict[str, tuple[np.ndarray, list]]:
    out = {}
    for key, entry in (manifest.get("layouts") or {}).items():
        if not entry or key not in LAYOUT_NAMES:
            continue
        if key == "umap":
            variants = entry.get("variants") or []
            entry = variants[0] if variants else entry
        path = _resolve(data, entry.get("layout"))
        if path is None:
            continue
        xy = np.asarray(_read_json(path), np.float32)[:, :2]
        labels = []
        label_path = _resolve(data, entry.get("labels"))
        if label_path is not None:
            spec = _read_json(label_path)
            labels = [(str(t), float(p[0]), float(p[1])) for t, p in zip(spec.get("labels", []), spec.get("positions", []))]
        out[LAYOUT_NAMES[key]] = (xy, labels)
    return out


def _hotspots(data: Path, manifest: dict, filenames: list[str], notes: list[str]) -> list[dict]:
    """The user's saved hotspots if any, else PixPlot's defaults; representatives by file name."""
    index = {f: i for i, f in enumerate(filenames)}
    for rel in (manifest.get("custom_hotspots"), manifest.get("default_hotspots")):
        path = _resolve(data, rel)
        if path is None:
            continue
        out = []
        for h in _read_json(path):
            members = [int(i) for i in h.get("images", []) if 0 <= int(i) < len(filenames)]
            if not members:
                continue
            rep = index.get(str(h.get("img")), members[0])
            out.append({"label": str(h.get("label", f"Cluster {len(out) + 1}")), "members": members,
                        "representative": rep})
        notes.append(f"hotspots from {path.name}: {len(out)}")
        return out
    return []
