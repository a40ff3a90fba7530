"""Your own image folders: real PNGs from the emoji npm packages plus a corpus of broken files."""

from __future__ import annotations

import io
import os
import tarfile

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from dashboard.cli import cli
from dashboard.errors import DashboardError
from dashboard.ingest import images
from dashboard.store import open_dataset


@pytest.fixture(scope="module")
def folder(npm_dir, tmp_path_factory):
    """60 real emoji PNGs in a/ and b/ (the same 20 file names in both), and a corpus of broken files."""
    root = tmp_path_factory.mktemp("photos")
    (root / "a").mkdir()
    (root / "b").mkdir()
    with tarfile.open(npm_dir / "emoji-datasource-google-16.0.0.tgz") as tar:
        members = [m for m in tar.getmembers() if m.name.endswith(".png") and "/64/" in m.name][:40]
        for k, m in enumerate(members):
            data = tar.extractfile(m).read()
            (root / ("a" if k < 30 else "b") / os.path.basename(m.name)).write_bytes(data)
        for m in members[:10]:  # same names, other folder: two items, not an error
            (root / "b" / os.path.basename(m.name)).write_bytes(tar.extractfile(m).read())
    bad = root / "bad"
    bad.mkdir()
    (bad / "empty.png").write_bytes(b"")
    good = (root / "a" / os.path.basename(members[0].name)).read_bytes()
    (bad / "truncated.png").write_bytes(good[: len(good) // 3])
    (bad / "notes.jpg").write_text("not an image at all")
    (bad / "wide.png").write_bytes(_png(Image.new("RGB", (1300, 10), "red")))
    (bad / "dangling.png").symlink_to(root / "nowhere.png")
    # formats that must import: CMYK, 16-bit, palette with transparency, animated GIF, EXIF-rotated JPEG
    ok = root / "formats"
    ok.mkdir()
    Image.new("CMYK", (40, 30), (0, 255, 255, 0)).save(ok / "cmyk.jpg")
    Image.fromarray(np.linspace(0, 4095, 40 * 30).reshape(30, 40).astype(np.uint16)).save(ok / "deep16.png")
    pal = Image.new("P", (32, 32), 1)
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    pal.info["transparency"] = 0
    pal.paste(0, (0, 0, 16, 32))
    pal.save(ok / "palette.png", transparency=0)
    frames = [Image.new("RGB", (20, 20), c) for c in ("blue", "yellow")]
    frames[0].save(ok / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° when displayed
    Image.new("RGB", (40, 20), "green").save(ok / "rotated.jpg", exif=exif)
    (ok / os.fsdecode(b"caf\xe9.png")).write_bytes(good)  # a Latin-1 file name: not valid UTF-8
    return root


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def built(folder, tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    ds = images.build(data, name="mine", images=str(folder / "**" / "*"), model="pixels", layouts=("pca",))
    return data, ds


def test_every_file_is_imported_or_skipped_with_its_reason(built, folder):
    _, ds = built
    skipped = {s["item"]: s["reason"] for s in ds.report["skipped"]}
    assert skipped == {
        "bad/empty.png": "empty file (0 bytes)",
        "bad/truncated.png": skipped["bad/truncated.png"],
        "bad/notes.jpg": "not an image",
        "bad/wide.png": "extreme aspect ratio (1300×10; at most 64:1)",
        "bad/dangling.png": skipped["bad/dangling.png"],
    }
    assert skipped["bad/truncated.png"].startswith("truncated or corrupt")
    assert skipped["bad/dangling.png"].startswith("cannot read")
    assert ds.report["counts"]["items"] == 40 + 10 + 6 and ds.n == 56
    names = list(ds.meta["name"])
    assert len(set(names)) == ds.n  # same file name in a/ and b/: two items
    assert sum(n.endswith(os.path.basename(names[0])) for n in names) == 2
    assert "formats/caf\ufffd.png" in names
    assert any("anim.gif: animated (2 frames): first frame used" in n for n in ds.report["notes"])


def test_formats_orientation_and_transparency(built):
    _, ds = built
    row = {n: i for i, n in enumerate(ds.meta["name"])}
    with Image.open(ds.image_path(row["formats/rotated.jpg"])) as im:
        assert im.size == (20, 40)  # EXIF orientation applied
    with Image.open(ds.image_path(row["formats/palette.png"])) as im:
        assert im.mode == "RGBA" and im.getpixel((2, 2))[3] == 0 and im.getpixel((30, 2))[3] == 255
    with Image.open(ds.image_path(row["formats/deep16.png"])) as im:
        assert im.mode == "RGB" and im.getextrema()[0][1] >= 250  # 12 bits in 16 stretched to 8
    with Image.open(ds.image_path(row["formats/anim.gif"])) as im:
        assert im.convert("RGB").getpixel((5, 5)) == (0, 0, 255)  # the first frame
    with Image.open(ds.image_path(row["formats/cmyk.jpg"])) as im:
        assert im.mode == "RGB"
    with Image.open(ds.image_path(0, thumb=True)) as im:
        assert max(im.size) <= 64 and im.mode == "RGBA"  # emoji keep their transparency
    assert ds.spaces["pixels"].dim == 24 * 24 * 3 and ds.default_space == "pca55"


def test_decompression_bombs_are_skipped(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # Pillow's own limit, lowered so a 64 px emoji is a bomb
    with pytest.raises(images.SkipImage, match="decompression bomb"):
        images.open_image(next((folder / "a").glob("*.png")))


def test_adding_images_computes_only_the_new_features(folder, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    files = sorted((folder / "a").glob("*.png"))
    for f in files[:20]:
        (src / f.name).write_bytes(f.read_bytes())
    first = images.build(tmp_path / "data", name="grow", images=str(src), model="pixels", layouts=())
    assert first.report["counts"]["features_from_cache"] == 0
    for f in files[20:25]:
        (src / f.name).write_bytes(f.read_bytes())
    again = images.build(tmp_path / "data", name="grow", images=str(src), model="pixels", layouts=())
    assert again.n == 25 and again.report["counts"]["features_from_cache"] == 20
    assert np.allclose(again.latent("pixels")[:20], first.latent("pixels")[:20])


def test_metadata_matches_by_path_or_name_and_reports_the_rest(folder, tmp_path):
    a_files = sorted(p.name for p in (folder / "a").glob("*.png"))
    b_only = sorted(set(p.name for p in (folder / "b").glob("*.png")) - set(a_files))
    csv = tmp_path / "meta.csv"
    rows = [
        "filename,category,tags,year,lat,lng,permalink,notes",
        f"a/{a_files[0]},Smileys,happy|face,1999,41.3,-72.9,https://example.org/1,café",
        f"{b_only[0]},Flags,,not a year,200,10,,",
        f"{a_files[1]},Smileys,,2001-05-03,,,,",  # this name is in a/ and b/: ambiguous
        "missing.png,Nothing,,2000,,,,",
    ]
    csv.write_bytes("\n".join(rows).encode("cp1252"))  # a Windows spreadsheet's encoding
    ds = images.build(tmp_path / "data", name="meta", images=str(folder / "a") + "/*.png", model="pixels",
                      metadata=str(csv), layouts=())
    ds2 = images.build(tmp_path / "data", name="meta2", images=str(folder / "[ab]" / "*.png"), model="pixels",
                       metadata=str(csv), layouts=())
    m = ds2.meta.set_index("name")
    first = m.loc[f"a/{a_files[0]}"]
    assert (first["category"], first["tags"], first["year"], first["lat"], first["notes"]) == (
        "Smileys", "happy|face", 1999, 41.3, "café")
    flag = m.loc[f"b/{b_only[0]}"]
    assert flag["category"] == "Flags" and flag["tags"] == "Flags" and pd.isna(flag["year"]) and pd.isna(flag["lat"])
    assert ds2.schema["category"] == "categorical" and ds2.schema["year"] == "numeric"
    notes = " ".join(ds2.report["notes"])
    assert "not UTF-8; read as cp1252" in notes
    assert "row 3: year 'not a year' is not a year" in notes and "row 3: lat '200' is not between -90 and 90" in notes
    assert "1 row(s) name no image: missing.png" in notes
    assert f"name a file name several images share; give the path: {a_files[1]}" in notes
    assert "image(s) have no row" in notes
    assert ds.meta.set_index("name").loc[a_files[1], "year"] == 2001  # unique in a/ alone: matched by name


def test_vectors_file_and_keras_weights(folder, tmp_path):
    import keras

    pngs = sorted((folder / "a").glob("*.png"))[:8]
    src = tmp_path / "src"
    src.mkdir()
    for f in pngs:
        (src / f.name).write_bytes(f.read_bytes())
    np.save(tmp_path / "v.npy", np.arange(8 * 3, dtype=np.float32).reshape(8, 3))
    ds = images.build(tmp_path / "data", name="vec", images=str(src), vectors=str(tmp_path / "v.npy"), layouts=())
    assert ds.latent("vectors")[2].tolist() == [6, 7, 8]
    np.save(tmp_path / "short.npy", np.zeros((5, 3), np.float32))
    with pytest.raises(DashboardError, match="5 rows but --images finds 8 files"):
        images.build(tmp_path / "data", name="vec2", images=str(src), vectors=str(tmp_path / "short.npy"))
    # a real MobileNetV3 (random weights saved as a file stand in for ImageNet's: this machine is offline)
    weights = tmp_path / "mobilenet.weights.h5"
    keras.applications.MobileNetV3Small(weights=None, include_top=True).save_weights(weights)
    ds = images.build(tmp_path / "data", name="cnn", images=str(src), model="mobilenet_v3", weights=str(weights),
                      layouts=())
    X = ds.latent("mobilenet")
    assert X.shape == (8, 576) and np.isfinite(X).all() and X.std(axis=0).max() > 0


def _offline(*args, **kwargs):
    raise OSError("no internet in tests")


def test_without_weights_the_build_stops_before_any_work(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty-keras"))
    monkeypatch.setattr("urllib.request.urlopen", _offline)  # Keras's download fails at once, as offline
    r = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "build", "images", "photos",
                                 "--images", str(folder / "a")])
    assert r.exit_code == 1 and r.output.count("\n") == 1
    assert "--model inception_v3 needs its ImageNet weights" in r.output and "--model pixels" in r.output
    assert not (tmp_path / "data" / "photos").exists() and not list((tmp_path / "data").glob(".photos*"))
    r = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "build", "images", "x", "--images", "nowhere/*.png",
                                 "--model", "pixels"])
    assert r.exit_code == 1 and "matches no files" in r.output
    r = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "build", "digits", "--images", "x"])
    assert r.exit_code == 2 and "--images does not apply to the digits recipe" in r.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_files_are_skipped(folder, tmp_path):
    f = tmp_path / "secret.png"
    f.write_bytes((next((folder / "a").glob("*.png"))).read_bytes())
    f.chmod(0)
    with pytest.raises(images.SkipImage, match="permission denied"):
        images.open_image(f)


def test_pixplot_layouts():
    from dashboard.compute import arrangements as A

    rng = np.random.default_rng(0)
    xy, _ = A.grid(rng.normal(size=(50, 2)))
    cells = {tuple(np.round(p, 4)) for p in xy}
    assert len(cells) == 50 and np.abs(xy).max() <= 1.0001  # one item per cell
    left = rng.normal(size=(40, 2)) + [-5, 0]
    right = rng.normal(size=(40, 2)) + [5, 0]
    g, _ = A.grid(np.vstack([left, right]))
    assert g[:40, 0].mean() < g[40:, 0].mean()  # neighbours stay together
    xy, _ = A.alphabetical(["b", "a", "C"])
    assert xy[1, 0] < xy[0, 0] and xy[1, 1] == xy[0, 1] > xy[2, 1]  # a b on the first row, C below
    xy, labels = A.categorical(["x", "y", "x", None, "x"])
    assert [t for t, _, _ in labels] == ["x (3)", "(no category) (1)", "y (1)"]
    boxes = {v: xy[[k for k, c in enumerate(["x", "y", "x", None, "x"]) if c == v]] for v in ("x", "y")}
    assert np.ptp(boxes["x"][:, 0]) < 0.8  # a compact box, not spread over the map
    xy, labels = A.date(np.array([1990, 1990, 2001, np.nan, 1995.5]))
    assert [t for t, _, _ in labels] == ["1990", "1995", "2001", "no date (1)"]
    # 20 bars of 5 years, too narrow to name each: every decade named, on two staggered rows, none overlapping
    _, decades = A.date(np.arange(1890, 1990))
    assert [t for t, _, _ in decades] == [f"{d}s" for d in range(1890, 1990, 10)]
    assert len({y for _, _, y in decades}) == 2 and A.overlapping(decades) == []
    rng = np.random.default_rng(1)
    for years in (rng.integers(1880, 1951, 200), rng.integers(1900, 1920, 300), rng.integers(1800, 2000, 500),
                  np.r_[rng.integers(1880, 1951, 200), [np.nan] * 5]):
        _, named = A.date(years.astype(float))
        assert A.overlapping(named) == [], named
        texts = [t for t, _, _ in named]
        dated = years[np.isfinite(years)].astype(int)
        if np.ptp(dated) < 100:  # bars of 5 years or less: every year's bar, else every decade, is named
            assert {f"{y // 10 * 10}s" for y in dated} <= set(texts) or {str(y) for y in dated} <= set(texts), texts
    assert "no date (5)" in texts
    assert xy[0, 0] < xy[4, 0] < xy[2, 0] < xy[3, 0]  # years left to right, undated last
    xy, labels = A.geographic(np.array([41.3, -33.9, np.nan]), np.array([-72.9, 151.2, 3.0]))
    assert xy[0].tolist() == pytest.approx([-72.9 / 180, 41.3 / 180]) and xy[1, 0] > 0.8
    assert labels[0][0] == "no coordinates (1)" and xy[2, 1] < -0.5
    # 80 items on one point (a city's archive): the map says how many are there; a pair says nothing
    lat = np.r_[np.full(80, 48.8566), np.full(2, 10.0), rng.uniform(-50, 50, 30)]
    lng = np.r_[np.full(80, 2.3522), np.full(2, 20.0), rng.uniform(-100, 100, 30)]
    xy, labels = A.geographic(lat, lng)
    assert labels == [("80 here", pytest.approx(xy[0, 0]), pytest.approx(xy[0, 1]))]


def test_build_stores_pixplot_layouts_from_the_metadata(folder, tmp_path, npm_dir):
    import json

    (tmp_path / "shapes.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [90, 0], [90, 45], [0, 0]]]}}]}))
    csv = tmp_path / "meta.csv"
    names = sorted(p.name for p in (folder / "a").glob("*.png"))
    lines = ["filename,category,year,lat,lng"] + [
        f"{n},{'odd' if k % 2 else 'even'},{1990 + k % 5},{-30 + k},{k * 5}" for k, n in enumerate(names)]
    csv.write_text("\n".join(lines))
    ds = images.build(tmp_path / "data", name="laid", images=str(folder / "a") + "/*.png", model="pixels",
                      metadata=str(csv), layouts=("pca",), geojson=str(tmp_path / "shapes.geojson"),
                      download_dir=npm_dir)
    assert set(ds.arrangements) == {"grid", "alphabetical", "categorical", "date", "geographic"}
    outline = ds.arrangement_outline("geographic")
    assert len(outline) > 100  # Natural Earth's land at 1:110m, from the world-atlas package
    assert outline[-1] == [[0, 0], [0.5, 0], [0.5, 0.25], [0, 0]]  # the user's shape, in the layout's coordinates
    xs = [p[0] for ring in outline[:-1] for p in ring]
    assert min(xs) >= -1.0001 and max(xs) <= 1.0001
    with pytest.raises(DashboardError, match="no polygons or lines"):
        (tmp_path / "empty.geojson").write_text('{"type": "FeatureCollection", "features": []}')
        images.build(tmp_path / "data", name="bad", images=str(folder / "a"), model="pixels",
                     geojson=str(tmp_path / "empty.geojson"))
    xy, labels = ds.arrangement("categorical")
    assert xy.shape == (30, 2) and sorted(t for t, _, _ in labels) == ["even (15)", "odd (15)"]
    from dashboard import mapdata
    from dashboard.viewstate import parse

    state, notices = parse(tmp_path / "data", "dataset=laid&proj=date")
    assert notices == [] and np.allclose(mapdata.positions(ds, state), ds.arrangement("date")[0])
    _, notices = parse(tmp_path / "data", "dataset=laid&proj=timeline")
    assert "expected pca, tsne, umap, vector, grid, alphabetical, categorical, date, geographic" in notices[0]


@pytest.mark.browser
def test_layouts_in_the_browser(folder, tmp_path, browser, npm_dir):
    from .conftest import SCREENSHOTS, open_page, running_server
    from .test_viewer_browser import choose, wait_drawn

    names = sorted(p.name for p in (folder / "a").glob("*.png"))
    lines = ["filename,category,year,lat,lng"] + [
        f"{n},{['archive', 'museum', 'library'][k % 3]},{1900 + 7 * k},{-40 + 3 * k},{-150 + 10 * k}"
        for k, n in enumerate(names)]
    (tmp_path / "meta.csv").write_text("\n".join(lines))
    ds = images.build(tmp_path / "data", name="photos", images=str(folder / "a") + "/*.png", model="pixels",
                      metadata=str(tmp_path / "meta.csv"), layouts=("pca", "umap"), min_cluster_size=3,
                      download_dir=npm_dir)
    assert len(ds.default_hotspots) >= 2
    with running_server(tmp_path / "data", "photos", tmp_path / "server.log") as url:
        page, errors = open_page(browser, url + "/?dataset=photos&mode=images&proj=categorical&color=category")
        stats = wait_drawn(page)
        assert stats["layout"].endswith("proj=categorical")
        page.wait_for_function("dashMap.stats().labels > 0", timeout=30_000)  # the categories named on the map
        page.screenshot(path=str(SCREENSHOTS / "images_categorical.png"))
        for layout in ("UMAP", "Date", "Geographic", "Grid"):
            choose(page, "proj-select", layout)
            page.wait_for_function(f"dashMap.stats().layout.endsWith('proj={layout.lower()}')", timeout=30_000)
            stats = wait_drawn(page, stats["drawnVersion"])
            page.screenshot(path=str(SCREENSHOTS / f"images_{layout.lower()}.png"))
            if layout == "Geographic":
                assert "outline" in stats["layers"]  # the world's coastlines under the points
            if layout == "Date":  # every bar or decade named, and the page hides none of the names for overlapping
                page.wait_for_function("dashMap.stats().labels > 0", timeout=30_000)
                hidden = page.evaluate("[...document.querySelectorAll('.map-label')].filter((e) => e.style.visibility === 'hidden').length")
                assert hidden == 0
        assert stats["labels"] == 0  # the grid has no labels

        # hotspots: the build's clusters, renamed, one deleted, one made from the selection
        page.wait_for_selector(".hotspot-row", timeout=30_000)
        before = page.locator(".hotspot-row").count()
        assert before >= 1
        first = page.locator("#hotspot-list input").first
        first.fill("Keycaps and signs")
        first.press("Enter")
        page.wait_for_function("document.querySelector('#hotspot-message').innerText.includes('Renamed')",
                               timeout=15_000)
        page.locator(".hotspot-face").first.click()  # fly there
        page.wait_for_timeout(1200)
        page.evaluate("dash_clientside.set_props('selection-store', {data: [0, 1, 2, 3]})")
        page.fill("#hotspot-label", "four items")
        page.click("#hotspot-create")
        page.wait_for_function("document.querySelector('#hotspot-message').innerText.includes('Created')",
                               timeout=15_000)
        if before > 1:
            page.locator("#hotspot-list button", has_text="×").nth(1).click()
            page.wait_for_function("document.querySelector('#hotspot-message').innerText.includes('Deleted')",
                                   timeout=15_000)
        expected = before + 1 - (1 if before > 1 else 0)
        page.wait_for_function(f"document.querySelectorAll('.hotspot-row').length === {expected}", timeout=15_000)
        page.screenshot(path=str(SCREENSHOTS / "images_hotspots.png"))
        assert errors == []
        page.close()
    # a restart keeps the edits: they are saved on the server
    with running_server(tmp_path / "data", "photos", tmp_path / "server2.log") as url:
        page, errors = open_page(browser, url + "/?dataset=photos&mode=images")
        wait_drawn(page)
        page.wait_for_selector(".hotspot-row", timeout=30_000)
        labels = page.eval_on_selector_all("#hotspot-list input", "els => els.map(e => e.value)")
        assert labels[0] == "Keycaps and signs" and labels[-1] == "four items" and len(labels) == expected
        assert errors == []
        page.close()


def test_hotspot_store_seeds_from_the_build_and_keeps_edits(tmp_path):
    from dashboard.compute.clusters import hotspots, medoid
    from dashboard.groups import HotspotStore

    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(45, 4)), rng.normal(size=(40, 4)) + 12, rng.normal(size=(5, 4)) * 40])
    found = hotspots(X, min_cluster_size=10)
    assert [len(h["members"]) for h in found][:2] == [45, 40] and found[0]["label"] == "Cluster 1"
    assert hotspots(X[:50], min_cluster_size=10) == []  # a cluster of more than half the items is no hotspot
    members = np.arange(45)
    d = np.linalg.norm(X[members][:, None] - X[members][None], axis=2).sum(axis=1)
    assert found[0]["representative"] == medoid(X, members) == int(np.argmin(d))  # the medoid, not the last member
    store = HotspotStore(tmp_path)
    listed = store.hotspots("d", "build-1", found)
    assert [h.size for h in listed[:2]] == [45, 40]
    store.rename_hotspot("d", listed[0].id, "the first blob")
    store.delete_hotspot("d", listed[1].id)
    with pytest.raises(DashboardError, match="is empty"):
        store.add_hotspot("d", "nothing", [], 0, n=90)
    again = HotspotStore(tmp_path).hotspots("d", "build-1", found)  # a restart: edits kept
    assert [h.label for h in again] == ["the first blob"] + [h["label"] for h in found[2:]]
    rebuilt = HotspotStore(tmp_path).hotspots("d", "build-2", found[:1])  # another build: its clusters
    assert [h.label for h in rebuilt] == ["Cluster 1"]


def test_build_options_become_the_datasets_defaults(folder, tmp_path):
    from dashboard.computed import projection_params
    from dashboard.viewstate import default_cell, parse

    names = sorted(p.name for p in (folder / "a").glob("*.png"))
    (tmp_path / "m.csv").write_text("filename,label\n" + "\n".join(f"{n},{k % 3}" for k, n in enumerate(names)))
    ds = images.build(tmp_path / "data", name="opts", images=str(folder / "a"), model="pixels", layouts=(),
                      metadata=str(tmp_path / "m.csv"), cell_size=16, n_neighbors=8, min_dist=0.2)
    params = projection_params(ds, "umap", {})
    assert (params["n_neighbors"], params["min_dist"], params["label"]) == (8, 0.2, "label")  # supervised by label
    assert projection_params(ds, "umap", {"n_neighbors": 30})["n_neighbors"] == 30  # the page can still change it
    assert default_cell(ds) == 16
    state, notices = parse(tmp_path / "data", "dataset=opts")
    assert notices == [] and state.params == {} and state.cell == 16
    assert ds.label_column == "label" and state.color == "label"  # not the one sub-folder all items share
    # a category every image shares colours nothing: the map opens on plain images, not one tint over all
    (tmp_path / "one.csv").write_text("filename,category\n" + "\n".join(f"{n},Smileys" for n in names))
    one = images.build(tmp_path / "data", name="one", images=str(folder / "a"), model="pixels", layouts=(),
                       metadata=str(tmp_path / "one.csv"))
    state, notices = parse(tmp_path / "data", "dataset=one")
    assert one.label_column is None and state.color == "" and notices == []
    # …and coloured by that category by hand (or a recipe's label all items share), the images stay plain
    from dashboard.mapview import resolve

    one_colour = resolve(one, parse(tmp_path / "data", "dataset=one&color=category&mode=images")[0]).view
    two_colours = resolve(ds, parse(tmp_path / "data", "dataset=opts&color=label&mode=images")[0]).view
    assert one_colour["frames"] is False and two_colours["frames"] is True


def test_a_folder_can_train_the_vae_and_decode_along_a_path(folder, tmp_path):
    from dashboard import vectorview

    ds = images.build(tmp_path / "data", name="vae", images=str(folder / "a"), model="vae", dims=(4,), epochs=1,
                      layouts=())
    s = ds.spaces["4"]
    assert s.kind == "vae" and s.decoder and s.val_loss > 0 and ds.default_space == "4"
    assert ds.latent("4").shape == (30, 4) and np.isfinite(ds.latent("4")).all()
    decoded = vectorview.reconstructions(ds, "4", ds.latent("4")[:2])
    assert len(decoded) == 2 and decoded[0].startswith("data:image/png;base64,")
    r = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "build", "images", "x", "--images",
                                 str(folder / "a"), "--model", "pixels", "--dims", "8"])
    assert r.exit_code == 2 and "--dims does not apply" in r.output


def test_a_folder_of_only_broken_files_is_one_clear_error(folder, tmp_path):
    with pytest.raises(DashboardError, match=r"none of the 5 files could be used \(dangling.png: cannot read"):
        images.build(tmp_path / "data", name="broken", images=str(folder / "bad"), model="pixels", layouts=())
    assert not (tmp_path / "data" / "broken").exists()  # nothing half-built is published
