"""Steps shared by every recipe: images in, default layouts, the summary."""

from __future__ import annotations

import io
import time
from typing import Callable, Iterable

from PIL import Image
from tqdm import tqdm

from .. import computed
from ..tiles import use_tiles
from ..store import HOTSPOTS, THUMB_SIZE, Dataset, DatasetWriter, atomic_path

#: Layouts computed at build time unless asked otherwise: PCA of every
#: space (instant) and UMAP of the default space (the map users open first).
DEFAULT_LAYOUTS = ("pca", "umap")


def thumbnail(img: Image.Image, size: int = THUMB_SIZE) -> Image.Image:
    """Fit into ``size`` px; tiny images (digits' 8×8) are enlarged with hard edges."""
    w, h = img.size
    scale = size / max(w, h)
    if scale >= 2:
        f = int(scale)
        return img.resize((w * f, h * f), Image.NEAREST)
    if scale < 1:
        img = img.copy()
        img.thumbnail((size, size), Image.LANCZOS)
    return img


def write_images(writer: DatasetWriter, images: Iterable[tuple[int, Image.Image]], total: int, desc: str = "images") -> None:
    """Write ``images/<i>.png`` and ``thumbs/<i>.png``; those already written are kept (resume)."""
    for i, img in tqdm(images, total=total, desc=desc, unit="img", leave=False):
        full = writer.path / "images" / f"{i}.png"
        thumb = writer.path / "thumbs" / f"{i}.png"
        if full.exists() and thumb.exists():
            continue
        for path, im in ((full, img), (thumb, thumbnail(img))):
            buf = io.BytesIO()
            im.save(buf, format="PNG")
            with atomic_path(path) as tmp:
                tmp.write_bytes(buf.getvalue())


def compute_layouts(dataset: Dataset, methods: Iterable[str]) -> dict[str, float]:
    """Fill the cache: PCA of every space, other methods for the default space, and for image
    datasets the atlases at the map's default cell size (so the first visit packs nothing).

    Returns seconds per layout (a cached one costs milliseconds).
    """
    methods = list(methods)
    jobs = [(s, "pca") for s in dataset.spaces] if "pca" in methods else []
    jobs += [(dataset.default_space, m) for m in methods if m != "pca"]
    timings = {}
    for space, method in tqdm(jobs, desc="layouts", unit="layout", leave=False):
        start = time.perf_counter()
        computed.get_layout(dataset, space, method)
        timings[f"{method} of {space}"] = round(time.perf_counter() - start, 2)
    if dataset.type == "image" and not use_tiles(dataset.n):  # a large map packs its tiles' (mapview.prepare)
        from ..atlases import pack
        from ..viewstate import default_cell

        start = time.perf_counter()
        textures = pack(dataset, default_cell(dataset))
        timings[f"{textures} image atlas textures"] = round(time.perf_counter() - start, 2)
    return timings


def write_hotspots(w: DatasetWriter, dataset: Dataset, *, min_cluster_size: int | None = None,
                   max_clusters: int = 10) -> None:
    """PixPlot's hotspots of the map users open first (UMAP of the default space when it is computed,
    else its PCA), named by what their items share."""
    from ..compute import clusters

    space = dataset.default_space
    layout = computed.get_layout(dataset, space, "umap", cached_only=True) or computed.get_layout(dataset, space, "pca")
    mcs = min_cluster_size or max(20, dataset.n // 500)  # a few dozen hotspots' worth on large maps, 10 kept
    found = clusters.hotspots(layout.xy, min_cluster_size=mcs, max_clusters=max_clusters)
    w.write_hotspots(clusters.name_hotspots(found, dataset.meta, dataset.schema, text=dataset.type == "text"))


def complete(w: DatasetWriter, layouts: Iterable[str]) -> Dataset:
    """A recipe's last steps: the layouts and hotspots, then the build is published.

    A new version gets them before :meth:`~DatasetWriter.finish` swaps it in, so it is served
    whole, hotspots included (the groups store seeds them once per ``build_id``). A published
    version extended in place keeps its hotspots: only layouts not computed yet are added (to
    the cache, outside the version folder).
    """
    ds = Dataset(w.path)
    timings = compute_layouts(ds, layouts)
    if not w.published:
        w.report.timings.update(timings)
    if not (w.path / HOTSPOTS).is_file():
        write_hotspots(w, ds)
    return w.finish()


def what_changed(before: Dataset | None, after: Dataset, seconds: float, layouts: Iterable[str] = ()) -> str | None:
    """One line when a build extended the version that was served (same ``build_id``), else None
    (a new version: the caller prints its :func:`summary`). ``layouts``: those the build made sure of."""
    if before is None or before.build_id != after.build_id:
        return None
    ready = f"; layouts {', '.join(layouts)} ready" if layouts else ""
    done = f"({after.state}{ready}; {seconds:.1f} s)"
    added = [s for s in after.spaces if s not in before.spaces]
    if added:
        return f"{after.name}: added latent space{'s' if len(added) > 1 else ''} {', '.join(added)} to build {after.build_id} {done}"
    if before.state != after.state:
        return f"{after.name}: finished build {after.build_id} {done}"
    state = f", state {after.state}" if after.state != "complete" else ""
    return (f"{after.name} is up to date (build {after.build_id}{state}, {after.n:,} items, "
            f"{len(after.spaces)} latent spaces{ready}; {seconds:.1f} s); --force rebuilds it")


def summary(dataset: Dataset, seconds: float | None = None) -> str:
    """A few lines for the end of a build."""
    report = dataset.report
    skipped = report.get("skipped", [])
    lines = [
        f"{dataset.name}: {dataset.n:,} items ({dataset.type}), state {dataset.state}"
        + (f", built in {seconds:.1f} s" if seconds is not None else ""),
        "  latent spaces: " + ", ".join(s.label for s in dataset.spaces.values()),
        f"  skipped inputs: {len(skipped)}" + (" (see `info` for the reasons)" if skipped else ""),
    ]
    lines += [f"  note: {n}" for n in report.get("notes", [])]
    lines.append(f"  folder: {dataset.location}")
    return "\n".join(lines)


def train_vae_space(w: DatasetWriter, x, dim: int, epochs: int,
                    epochs_done: Callable[[int], None] | None = None) -> None:
    """Train the convolutional VAE on premultiplied images ``x`` and write its latent space,
    encoder, decoder and validation loss (what reconstructions along vectors decode with).

    ``epochs_done(k)`` is called after each epoch (a background job's progress; it may raise to stop
    the training, and then nothing of this space is written); without it a progress bar shows them.
    """
    from ..compute import vae

    start = time.perf_counter()
    with tqdm(total=epochs, desc=f"VAE latent {dim}", unit="epoch", leave=False,
              disable=epochs_done is not None) as bar:

        def on_epoch(epoch: int, logs: dict) -> None:
            bar.set_postfix(loss=f"{logs.get('loss', 0):.0f}", val=f"{logs.get('val_loss', 0):.0f}")
            bar.update(1)
            if epochs_done is not None:
                epochs_done(epoch + 1)

        trained = vae.train(x, dim, epochs=epochs, on_epoch=on_epoch)
    enc = w.save_keras(trained.encoder, "encoder", str(dim))
    dec = w.save_keras(trained.decoder, "decoder", str(dim))
    w.report.timings[f"vae{dim}_seconds"] = round(time.perf_counter() - start, 1)
    w.write_latent(
        str(dim),
        vae.encode(trained.encoder, x),
        kind="vae",
        description=f"convolutional VAE, {dim}-d latent mean, {epochs} epochs",
        val_loss=trained.val_loss,
        encoder=enc,
        decoder=dec,
    )
