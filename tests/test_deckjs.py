"""``/deck.js``: deck.gl's own build from npm once it has been fetched, the pydeck wheel's until then (or
without npm); the map draws the same with either."""

from __future__ import annotations

import gzip

import pytest

from dashboard import deckjs
from dashboard.errors import DashboardError

from .test_viewer_browser import server, viewer_data, wait_drawn  # noqa: F401 - fixtures


def test_the_pydeck_wheel_ships_the_release_that_is_fetched():
    # an upgraded pydeck with another deck.gl: VERSION must follow, or the two builds could draw differently
    assert f'"{deckjs.VERSION}"' in deckjs.pydeck_path().read_text()


def test_without_npm_the_fetch_fails_in_one_line_and_the_wheels_build_is_served(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "no-npm-here"))
    with pytest.raises(DashboardError) as e:
        deckjs.fetch()
    assert "\n" not in str(e.value) and "pydeck" in str(e.value)
    assert not deckjs.cache_path().exists()
    raw, packed, which = deckjs.bundle()
    assert which == "pydeck" and raw == deckjs.pydeck_path().read_bytes() and gzip.decompress(packed) == raw


def test_the_npm_build_is_fetched_once_and_then_served(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = deckjs.fetch()
    assert path == deckjs.cache_path() and [p.name for p in path.parent.iterdir()] == [path.name]  # no scratch left
    text = path.read_text()
    assert "JSONConverter" in text and "ScatterplotLayer" in text and "OrthographicView" in text
    stamp = path.stat().st_mtime_ns
    assert deckjs.fetch() == path and path.stat().st_mtime_ns == stamp  # kept: nothing fetched again
    raw, packed, which = deckjs.bundle()
    assert which == "npm" and raw == path.read_bytes() and gzip.decompress(packed) == raw
    assert len(raw) < len(deckjs.pydeck_path().read_bytes()) / 2


@pytest.mark.parametrize("build", ["npm", "pydeck"])
def test_the_map_draws_with_either_build(server, browser, build):  # noqa: F811
    script = (deckjs.fetch() if build == "npm" else deckjs.pydeck_path()).read_bytes()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.route("**/deck.js", lambda route: route.fulfill(body=script, content_type="text/javascript"))
    page.goto(server + "/?dataset=digits&mode=points&proj=pca&space=64&color=label")
    stats = wait_drawn(page)
    assert stats["n"] == 1797 and "points" in stats["layers"] and stats["labels"] > 0
    # deck.gl's own build has the scripting class DeckGL; the wheel's does not: the page ran the one given
    assert page.evaluate("typeof deck.DeckGL") == ("function" if build == "npm" else "undefined")
    assert errors == []
