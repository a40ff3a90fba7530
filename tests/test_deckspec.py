"""The deck.gl specs the map is drawn with: built once per argument set, a fresh copy for every caller."""

from __future__ import annotations

from dashboard.deckspec import point_radius, spec


def test_each_caller_gets_its_own_copy_of_a_memoised_spec():
    first = spec("points", 1.0, None, 1000)
    first["layers"]["points"]["id"] = "changed by a caller"
    first["deck"].clear()
    again = spec("points", 1.0, None, 1000)
    assert again["layers"]["points"]["id"] == "points" and again["deck"]
    assert again["layers"]["points"]["getRadius"] == point_radius(1000, 1.0)


def test_every_argument_still_shapes_the_spec():
    base = spec("points", 1.0, None, 1000)
    assert spec("images", 1.0, None, 1000)["mode"] == "images"
    assert spec("points", 2.0, None, 1000)["layers"]["points"]["getRadius"] == 2 * base["layers"]["points"]["getRadius"]
    assert spec("points", 1.0, None, 10**6)["layers"]["points"]["getRadius"] < base["layers"]["points"]["getRadius"]
    assert spec("points", 1.0, 0.5, 1000)["layers"]["images"]["getSize"] == 0.92 * 0.5
