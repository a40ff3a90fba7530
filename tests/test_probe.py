"""The probe: a map point turned back into a latent point and decoded."""

from __future__ import annotations

import numpy as np

from dashboard.compute.probe import invert


def test_at_an_item_the_probe_is_that_items_vector_and_between_items_a_weighted_mean():
    rng = np.random.default_rng(0)
    xy = rng.normal(size=(200, 2))
    Z = rng.normal(size=(200, 6)).astype(np.float32)
    z, near = invert(xy, Z, tuple(xy[17]))
    np.testing.assert_allclose(z, Z[17], atol=1e-6)
    assert list(near) == [17]
    point = (xy[3] + xy[4]) / 2
    z, near = invert(xy, Z, tuple(point), k=5)
    d = np.linalg.norm(xy[near] - point, axis=1)
    w = (1 / d**2) / (1 / d**2).sum()
    np.testing.assert_allclose(z, (w[:, None] * Z[near]).sum(axis=0), atol=1e-5)  # an independent computation
    assert len(near) == 5 and set(np.argsort(np.linalg.norm(xy - point, axis=1))[:5]) == set(near)


def test_a_space_without_a_decoder_answers_404_with_a_reason(digits_ds):
    from dashboard.app import create_app

    client = create_app(digits_ds.location.parent, dataset="digits").server.test_client()
    r = client.get("/api/probe.png?dataset=digits&space=64&proj=pca&at=0,0")
    assert r.status_code == 404 and b"has no decoder" in r.data and r.data.count(b"\n") == 1
    assert client.get("/api/probe.png?dataset=digits&space=64&proj=pca&at=a").status_code in (400, 404)


def test_the_probe_shows_a_decoded_image_that_changes_when_moved(browser, npm_dir, tmp_path):
    import tarfile

    from dashboard.ingest import images

    from .conftest import open_page, running_server

    folder = tmp_path / "emoji"
    folder.mkdir()
    with tarfile.open(npm_dir / "emoji-datasource-google-16.0.0.tgz") as tar:
        for m in [m for m in tar.getmembers() if m.name.endswith(".png") and "/64/" in m.name][:40]:
            (folder / m.name.rsplit("/", 1)[1]).write_bytes(tar.extractfile(m).read())
    images.build(tmp_path / "data", name="vae", images=str(folder), model="vae", dims=(4,), epochs=1, layouts=("pca",))
    with running_server(tmp_path / "data", "vae", tmp_path / "server.log") as url:
        page, errors = open_page(browser, url + "/?dataset=vae&space=4&proj=pca&mode=points")
        page.wait_for_function("window.dashMap && dashMap.stats().drawnVersion >= 0", timeout=60_000)
        page.wait_for_selector("#tool-probe:not([hidden])", timeout=30_000)
        box = page.locator("#map").bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.keyboard.down("Alt")
        page.mouse.move(x, y)
        page.mouse.down()
        page.wait_for_function("dashMap.stats().probes >= 1", timeout=30_000)
        first = page.evaluate("document.getElementById('probe-image').src")
        assert page.evaluate("document.getElementById('probe-image').naturalWidth") > 0
        for dx in (60, 120, 180):  # dragging moves it live
            page.mouse.move(x + dx, y + dx / 2)
            page.wait_for_timeout(400)
        page.mouse.up()
        page.keyboard.up("Alt")
        page.wait_for_function("dashMap.stats().probes >= 2", timeout=30_000)
        assert page.evaluate("document.getElementById('probe-image').src") != first
        assert "nearest this point" in page.inner_text("#probe-caption")
        assert errors == []
