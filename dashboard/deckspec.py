"""deck.gl specs for the map, written with pydeck.

Python decides what is drawn and how (layer types, units, picking,
transitions); ``assets/map.js`` turns these specs into deck.gl layers with the
JSON converter of the deck.gl bundle in the pydeck wheel and feeds them binary
data. Strings meant as literals are quoted: pydeck marks every string as an
expression.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache

import pydeck as pdk

#: Milliseconds a layout change takes to animate.
TRANSITION_MS = 900


def _lit(s: str) -> str:
    return f"'{s}'"


#: Points keep their full radius up to this many items; above it they shrink with the density.
FULL_RADIUS_MAX = 50_000


def point_radius(n: int, size: float = 1.0) -> float:
    """Pixels of a point's radius: smaller as maps get denser (a million points at full size are one blob,
    and each pixel a point covers costs time in software GL)."""
    return 2.5 * size * min(1.0, math.sqrt(FULL_RADIUS_MAX / max(n, 1)))


def image_size(n: int, cell: float | None = None) -> float:
    """An image's width in the map's units (the layout spans about 2): a grid layout's cell; else larger
    for small collections, so that a hundred photographs open as pictures, not specks (about n images
    side by side would fill the map), and never under 0.035 (a thousand images and more)."""
    if cell:
        return 0.92 * cell
    return max(0.035, min(0.12, 1.2 / math.sqrt(max(n, 1))))


def spec(mode: str, size: float, cell: float | None = None, n: int = 0) -> dict:
    """The deck (view, camera, controller) and one template per layer kind.

    ``cell``: the spacing of a grid layout, which images then fill (PixPlot sized cells per layout);
    ``n``: how many items the map draws (dense maps draw smaller points).
    """
    # Every page and every view callback asks for it: building it with pydeck costs ~75 ms (each
    # pydeck.Deck looks for Jupyter by trying imports that fail), so it is built once per argument
    # set and each caller gets its own copy.
    return json.loads(_spec_json(mode, float(size), None if cell is None else float(cell), int(n)))


@lru_cache(maxsize=256)
def _spec_json(mode: str, size: float, cell: float | None, n: int) -> str:
    transitions = {"getPosition": {"duration": TRANSITION_MS, "type": "interpolation"}}
    layers = {
        # ScatterplotLayer's props drawn as GL points (assets/map-dots.js): one vertex per item
        "points": pdk.Layer(
            "DotsLayer", data=[], id="points", pickable=True, radius_units=_lit("pixels"),
            get_radius=point_radius(n, size), radius_min_pixels=1, stroked=False, transitions=transitions,
            update_triggers={},
        ),
        "images": pdk.Layer(
            # World-sized icons: they grow as users zoom in, like PixPlot's cells.
            "IconLayer", data=[], id="images", pickable=True, size_units=_lit("common"),
            get_size=image_size(n, cell) * size, size_min_pixels=2, alpha_cutoff=0.05,
            transitions=transitions,
        ),
        # the same, each image mixed with its colour (assets/map-dots.js), when coloured by a column
        "tinted": pdk.Layer(
            "TintedIconLayer", data=[], id="images", pickable=True, size_units=_lit("common"),
            get_size=image_size(n, cell) * size, size_min_pixels=2, alpha_cutoff=0.05,
            transitions=transitions,
        ),
        "words": pdk.Layer(
            "TextLayer", data=[], id="words", pickable=True, size_units=_lit("pixels"), get_size=12 * size,
            font_family=_lit("system-ui, sans-serif"), get_text_anchor=_lit("middle"),
            get_alignment_baseline=_lit("center"), outline_width=2, outline_color=[255, 255, 255, 220],
            font_settings={"sdf": True}, get_pixel_offset=[0, -10], transitions=transitions,
        ),
        "edges": pdk.Layer(
            "LineLayer", data=[], id="edges", pickable=False, width_units=_lit("pixels"), get_width=1,
            get_color=[90, 100, 115, 70],
        ),
        # the shown attribute vector: its groups' hulls, the path between centroids, decoded images
        "hulls": pdk.Layer(
            "PolygonLayer", data=[], id="hulls", pickable=False, stroked=True, filled=True,
            line_width_units=_lit("pixels"), get_line_width=2, get_polygon="hull",
            get_fill_color="fill", get_line_color="line",
        ),
        "path": pdk.Layer(
            "PathLayer", data=[], id="path", pickable=False, width_units=_lit("pixels"), get_width=3,
            get_path="path", get_color=[30, 30, 30, 200], cap_rounded=True, joint_rounded=True,
        ),
        "steps": pdk.Layer(
            "ScatterplotLayer", data=[], id="steps", pickable=False, radius_units=_lit("pixels"), get_radius=5,
            get_position="[x, y]", stroked=True, line_width_units=_lit("pixels"), get_line_width=1.5,
            get_fill_color=[255, 255, 255, 255], get_line_color=[30, 30, 30, 255],
        ),
        "stepImages": pdk.Layer(
            "IconLayer", data=[], id="step-images", pickable=False, size_units=_lit("pixels"), get_size=44,
            get_position="[x, y]", get_pixel_offset=[0, -30],
        ),
        # shapes under a stored layout: the world's coastlines under the geographic one
        "outline": pdk.Layer(
            "PathLayer", data=[], id="outline", pickable=False, width_units=_lit("pixels"), get_width=1,
            get_path="path", get_color=[150, 160, 175, 200],
        ),
        # the labels of PixPlot's layouts: category boxes, years
        "selection": pdk.Layer(
            "ScatterplotLayer", data=[], id="selection", pickable=False, radius_units=_lit("pixels"),
            # a thin ring that leaves the selected images visible
            get_radius=max(4.0, 4.5 * size), stroked=True, filled=False, line_width_units=_lit("pixels"),
            get_line_width=1.25, get_line_color=[47, 111, 176, 235],
        ),
        "focus": pdk.Layer(
            "ScatterplotLayer", data=[], id="focus", pickable=False, radius_units=_lit("pixels"),
            get_radius=9, stroked=True, filled=False, line_width_units=_lit("pixels"), get_line_width=3,
            get_line_color=[214, 39, 40, 255],
        ),
    }
    deck = pdk.Deck(
        layers=[],
        views=[pdk.View(type="OrthographicView", controller={"doubleClickZoom": False}, flip_y=False)],
        initial_view_state=pdk.ViewState(target=[0, 0, 0], zoom=8),
        map_provider=None,
    )
    deck_json = json.loads(deck.to_json())
    deck_json.pop("mapStyle", None)
    return json.dumps({
        "deck": deck_json,
        "layers": {k: json.loads(pdk.Deck(layers=[v], map_provider=None).to_json())["layers"][0] for k, v in layers.items()},
        "mode": mode,
    })
