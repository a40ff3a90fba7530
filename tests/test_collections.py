"""Real collections never break a build: a corpus generated here (every format Pillow writes, lying
suffixes, clutter, decoders that raise, hang or crash), interrupted builds, rebuilds, full disks."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFile

from dashboard.errors import DashboardError
from dashboard.ingest import images
from dashboard.store import open_dataset

ROOT = Path(__file__).resolve().parent.parent
needs_fork = pytest.mark.skipif(sys.platform != "linux", reason="the planted decoders reach the workers by fork")


def _picture(seed: int, size=(24, 18)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8), "RGB")


def _formats_pillow_writes() -> dict[str, str]:
    """Format → a file extension, for every format Pillow has a writer for."""
    Image.init()
    by_format: dict[str, str] = {}
    for ext, fmt in sorted(Image.registered_extensions().items()):
        if fmt in Image.SAVE:
            by_format.setdefault(fmt, ext)
    return by_format


def _write_every_format(folder: Path) -> dict[str, bool]:
    """One small picture per format Pillow writes, and the same bytes under a lying suffix.

    Returns file name → whether Pillow itself opens and loads it (what must become an item).
    """
    written = {}
    for k, (fmt, ext) in enumerate(_formats_pillow_writes().items()):
        im = _picture(k)
        buf = io.BytesIO()
        for mode in ("RGB", "L", "1", "P", "F"):  # some writers take only some modes (XBM: 1-bit, BLP: palette)
            try:
                im.convert(mode).save(buf, format=fmt)
                break
            except Exception:  # noqa: BLE001 - a writer that needs something else: try the next mode
                buf = io.BytesIO()
        if not buf.getvalue():
            continue
        for name in (f"formats/{fmt.lower()}{ext}", f"lying/{fmt.lower()}.{'jpg' if fmt == 'PNG' else 'png'}"):
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(buf.getvalue())
            try:
                with Image.open(folder / name) as check:
                    check.load()
                written[name] = True
            except Exception:  # noqa: BLE001
                written[name] = False
    return written


# A Pillow plugin planted for the test: a "BOOM" file names what its decoder does when loaded.
class _Boom(ImageFile.ImageFile):
    format = "BOOM"
    format_description = "test decoder that fails on purpose"

    def _open(self):
        self.what = self.fp.read(64).split(b"\n")[1].decode()
        self._size = (8, 8)
        self._mode = "RGB"

    def load(self):
        what = self.what
        if what == "hang":
            time.sleep(600)
        if what == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        if what == "bomb":
            raise Image.DecompressionBombError("planted bomb")
        if what == "struct.error":
            raise struct.error("unpack requires a buffer of 4 bytes")
        raise {"OSError": OSError, "ValueError": ValueError, "NotImplementedError": NotImplementedError,
               "SyntaxError": SyntaxError, "EOFError": EOFError, "MemoryError": MemoryError,
               "RuntimeError": RuntimeError, "KeyError": KeyError, "ZeroDivisionError": ZeroDivisionError}[what]("planted")


BOOMS = ("OSError", "ValueError", "NotImplementedError", "SyntaxError", "struct.error", "EOFError", "MemoryError",
         "bomb", "RuntimeError", "KeyError", "ZeroDivisionError", "hang", "crash")


def _register_boom() -> None:
    """Pillow opens BOOM files with _Boom (in this process, or in a decoding process as it starts)."""
    Image.init()
    Image.register_open("BOOM", _Boom, _is_boom)


def _is_boom(prefix: bytes) -> bool:
    return prefix[:4] == b"BOOM"


@pytest.fixture
def boom_plugin(monkeypatch):
    monkeypatch.setattr(Image, "OPEN", dict(Image.OPEN))
    monkeypatch.setattr(Image, "ID", list(Image.ID))
    _register_boom()
    # decoding processes start from a clean forkserver: each registers the plugin as it starts
    monkeypatch.setattr(images, "decoder_pool", functools.partial(images.decoder_pool, initializer=_register_boom))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Every format Pillow writes (and lying suffixes), plain clutter, hidden clutter, a few real photos."""
    root = tmp_path_factory.mktemp("corpus")
    loads = _write_every_format(root)
    for k in range(12):
        _picture(100 + k, (40, 30)).save(root / f"photo{k:02d}.jpg", quality=90)
    (root / "notes.txt").write_text("a list of photographs\n")
    (root / "captions.csv").write_text("filename,caption\nphoto00.jpg,a caption\n")
    (root / "empty.png").write_bytes(b"")
    (root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (root / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    (root / "__MACOSX").mkdir()
    (root / "__MACOSX" / "._photo00.jpg").write_bytes(b"\x00\x05\x16\x07")
    (root / ".hidden").mkdir()
    _picture(7).save(root / ".hidden" / "inside.png")
    return root, loads


def test_every_file_is_an_item_or_a_named_skip(corpus, tmp_path):
    root, loads = corpus
    ds = images.build(tmp_path / "data", name="corpus", images=str(root), model="pixels", layouts=())
    items = set(ds.meta["name"])
    skipped = {s["item"]: s["reason"] for s in ds.report["skipped"]}
    every = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert items | set(skipped) == every and not items & set(skipped)  # every file accounted for, once
    # what Pillow opens and loads is an item, whatever its suffix; what it does not is a skip with a reason
    assert {name for name, ok in loads.items() if ok} <= items
    assert all(skipped[name] for name, ok in loads.items() if not ok)
    for fmt in ("tga", "ppm", "pcx", "sgi", "bmp", "ico", "jpeg2000", "tiff", "webp", "gif", "dds", "blp", "qoi"):
        assert any(n.startswith(f"formats/{fmt}") for n in items), fmt
        assert f"lying/{fmt}.png" in items, fmt  # decided by content, not suffix
    assert skipped["notes.txt"] == "not an image" and skipped["captions.csv"] == "not an image"
    assert skipped["empty.png"] == "empty file (0 bytes)"
    for clutter in (".DS_Store", "Thumbs.db", "__MACOSX/._photo00.jpg", ".hidden/inside.png"):
        assert skipped[clutter] == "hidden file or system clutter (ignored)"
    assert ds.report["counts"]["files"] == len(every)
    assert set(ds.meta["folder"]) >= {root.name, "formats", "lying"}  # the top folder by its own name, not "."


@needs_fork
def test_whatever_a_decoder_does_costs_one_file(boom_plugin, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(6):
        _picture(k).save(folder / f"good{k}.png")
    for what in BOOMS:
        (folder / f"boom-{what}.png").write_bytes(b"BOOM\n" + what.encode() + b"\n")
    start = time.perf_counter()
    # 8 s: the limit must stop the hanging decoder, not a busy CI machine's slow restart of the crashed one
    ds = images.build(tmp_path / "data", name="boom", images=str(folder), model="pixels", layouts=(),
                      decode_timeout=8)
    assert time.perf_counter() - start < 60  # the hanging decoder was stopped, not waited for
    assert sorted(ds.meta["name"]) == [f"good{k}.png" for k in range(6)]
    reasons = {s["item"]: s["reason"] for s in ds.report["skipped"]}
    assert set(reasons) == {f"boom-{what}.png" for what in BOOMS}
    assert reasons["boom-NotImplementedError.png"].startswith("unsupported format BOOM")
    assert reasons["boom-MemoryError.png"] == "too large to decode (out of memory)"
    assert reasons["boom-bomb.png"].startswith("decompression bomb")
    assert reasons["boom-hang.png"] == "decoding took longer than 8 s (the time limit)"
    assert reasons["boom-crash.png"].startswith("the decoder crashed")
    for what in ("OSError", "ValueError", "SyntaxError", "struct.error", "EOFError", "RuntimeError", "KeyError"):
        assert reasons[f"boom-{what}.png"].startswith("truncated or corrupt BOOM"), reasons[f"boom-{what}.png"]


# -- interrupted builds and rebuilds, in real processes killed with SIGKILL

def _cli_build(data: Path, folder: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dashboard", "--data-dir", str(data), "build", "images", "coll", "--images", str(folder),
         "--model", "pixels", "--layouts", "pca", *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )


def _result(data: Path) -> dict:
    """What a build produced, independent of its version folder and build id."""
    ds = open_dataset(data, "coll")
    thumbs = [hashlib.sha1(ds.image_path(i, thumb=True).read_bytes()).hexdigest() for i in range(ds.n)]
    return {"names": list(ds.meta["name"]), "thumbs": thumbs, "latent": ds.latent(ds.default_space).tolist(),
            "skipped": sorted((s["item"], s["reason"]) for s in ds.report["skipped"]), "state": ds.state}


def _grow(folder: Path, start: int, count: int, prefix: str = "img") -> None:
    for k in range(start, start + count):
        _picture(1000 + k, (60, 40)).save(folder / f"{prefix}{k:03d}.png")


def test_a_killed_build_resumes_to_the_same_result(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _grow(folder, 0, 150)
    (folder / "readme.txt").write_text("not an image")
    start = time.perf_counter()
    p = _cli_build(tmp_path / "whole", folder)
    out = p.communicate(timeout=300)[0].decode()
    assert p.returncode == 0, out
    whole = time.perf_counter() - start
    expected = _result(tmp_path / "whole")
    rng = random.Random(4)
    data = tmp_path / "killed"
    for _ in range(2):  # killed twice at random moments, then run to the end
        p = _cli_build(data, folder)
        time.sleep(rng.uniform(0.2, whole))
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    p = _cli_build(data, folder)
    out = p.communicate(timeout=300)[0].decode()
    assert p.returncode == 0, out
    assert _result(data) == expected
    assert [e.name for e in data.iterdir() if e.name.startswith(".coll")] == [".coll.lock"] or all(
        e.name in (".coll.lock",) or e.name.startswith(".coll.build-") for e in data.iterdir() if e.name.startswith(".coll"))
    assert not (data / ".coll.partial").exists()


def test_a_rebuild_is_served_entirely_old_or_entirely_new(tmp_path):
    """Readers poll the dataset while a rebuild of a grown folder is killed and rerun: every read sees one
    version whole (its names and thumbnails belong together); the new build has a new build_id."""
    folder = tmp_path / "in"
    folder.mkdir()
    _grow(folder, 0, 80)
    data = tmp_path / "data"
    p = _cli_build(data, folder)
    assert p.wait(timeout=300) == 0, p.stdout.read().decode()
    old_id = open_dataset(data, "coll").build_id
    thumb_of = {}  # name → thumbnail hash, from a reference build of the grown folder
    _grow(folder, 80, 60, prefix="added")  # sorted first: every old item moves to another index
    ref = tmp_path / "ref"
    shutil.copytree(folder, ref / "in")
    p = _cli_build(ref / "data", ref / "in")
    assert p.wait(timeout=300) == 0
    r = open_dataset(ref / "data", "coll")
    for i, name in enumerate(r.meta["name"]):
        thumb_of[name] = hashlib.sha1(r.image_path(i, thumb=True).read_bytes()).hexdigest()

    seen, problems, stop = set(), [], threading.Event()

    def read_forever():
        while not stop.is_set():
            try:
                ds = open_dataset(data, "coll")
                names = list(ds.meta["name"])
                for i in range(0, len(names), 7):
                    got = hashlib.sha1(ds.image_path(i, thumb=True).read_bytes()).hexdigest()
                    if got != thumb_of[names[i]]:
                        problems.append(f"build {ds.build_id}: item {i} ({names[i]}) shows another image")
                if ds.state != "complete" or len(names) != ds.n:
                    problems.append(f"build {ds.build_id}: state {ds.state}, {len(names)} names for n={ds.n}")
                seen.add((ds.build_id, ds.n))
            except Exception as e:  # noqa: BLE001 - any failure to read is what this test looks for
                problems.append(f"{type(e).__name__}: {e}")

    reader = threading.Thread(target=read_forever)
    reader.start()
    try:
        p = _cli_build(data, folder)
        time.sleep(1.5)
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        assert open_dataset(data, "coll").build_id == old_id  # the killed rebuild changed nothing served
        p = _cli_build(data, folder)
        assert p.wait(timeout=300) == 0, p.stdout.read().decode()
        time.sleep(0.3)
    finally:
        stop.set()
        reader.join()
    assert problems == []
    new = open_dataset(data, "coll")
    assert new.n == 140 and new.build_id != old_id
    assert {b for b, _ in seen} <= {old_id, new.build_id} and (new.build_id, 140) in seen


def test_a_full_disk_ends_a_build_with_one_line(tmp_path):
    disk = tmp_path / "small"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        folder = tmp_path / "in"
        folder.mkdir()
        rng = np.random.default_rng(0)
        for k in range(60):  # noise does not compress: 60 web images of 600×450 overflow 3 MB
            Image.fromarray(rng.integers(0, 255, (450, 600, 3), dtype=np.uint8)).save(folder / f"n{k}.png")
        p = _cli_build(disk / "data", folder)
        out = p.communicate(timeout=300)[0].decode()
        assert p.returncode == 1, out
        assert "Traceback" not in out
        line = out.strip().splitlines()[-1]
        assert "the disk is full" in line and "coll" in line, out
        assert not (disk / "data" / ".coll.partial").exists()  # the space is given back
    finally:
        subprocess.run(["umount", str(disk)], check=False)


@pytest.mark.skipif(os.geteuid() != 0 or sys.platform != "linux", reason="needs root to mount a read-only folder")
def test_a_read_only_data_directory_is_one_line(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _grow(folder, 0, 3)
    ro = tmp_path / "ro"
    ro.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)], capture_output=True).returncode:
        pytest.skip("cannot mount a read-only tmpfs here")
    try:
        p = _cli_build(ro / "data", folder)
        out = p.communicate(timeout=120)[0].decode()
        assert p.returncode == 1 and "Traceback" not in out and "read-only" in out, out
    finally:
        subprocess.run(["umount", str(ro)], check=False)


def test_a_glob_that_matches_nothing_says_so(tmp_path):
    with pytest.raises(DashboardError, match="matches no files"):
        images.find_images(str(tmp_path / "*.png"))
    (tmp_path / ".DS_Store").write_bytes(b"x")
    with pytest.raises(DashboardError, match=r"only 1 hidden"):
        images.find_images(str(tmp_path))
