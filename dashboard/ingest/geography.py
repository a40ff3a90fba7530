"""Shapes under the geographic layout: the world's land (Natural Earth via the npm package
world-atlas) and a user's ``--geojson``, as rings in the layout's plate carrée coordinates."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from ..errors import DashboardError

WORLD_ATLAS = ("world-atlas", "2.0.2")  # Natural Earth 1:110m, public domain; ISC-licensed package


def _scaled(ring) -> list[list[float]]:
    # the geographic layout puts (lng, lat) at (lng / 180, lat / 180)
    return [[round(float(x) / 180.0, 5), round(float(y) / 180.0, 5)] for x, y, *_ in ring]


def topojson_rings(topology: dict, name: str) -> list[list[list[float]]]:
    """The rings of object ``name`` of a TopoJSON topology, as lists of (lng, lat).

    Hand-written because no TopoJSON reader is among our dependencies and the
    format is short to read: quantised, delta-encoded arcs (spec §2.1.5),
    geometries as lists of arc indices, a negative index meaning the arc reversed.
    """
    scale, translate = (topology.get("transform") or {}).get("scale"), (topology.get("transform") or {}).get("translate")
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for p in arc:
            if scale:
                x, y = x + p[0], y + p[1]
                points.append([x * scale[0] + translate[0], y * scale[1] + translate[1]])
            else:
                points.append(p[:2])
        arcs.append(points)

    def ring(indices):
        out = []
        for k in indices:
            pts = arcs[k] if k >= 0 else arcs[~k][::-1]
            out.extend(pts[1:] if out else pts)  # consecutive arcs share their end point
        return out

    def geometries(g):
        if g["type"] == "GeometryCollection":
            for sub in g["geometries"]:
                yield from geometries(sub)
        elif g["type"] == "Polygon":
            yield from (ring(r) for r in g["arcs"])
        elif g["type"] == "MultiPolygon":
            yield from (ring(r) for poly in g["arcs"] for r in poly)

    return list(geometries(topology["objects"][name]))


def _split_at_antimeridian(path: list[list[float]]) -> list[list[list[float]]]:
    """Outlines are drawn as lines: a ring that jumps across ±180° becomes two lines, not one across the map."""
    parts, current = [], [path[0]]
    for p in path[1:]:
        if abs(p[0] - current[-1][0]) > 0.5:  # more than 90° of longitude in one step
            parts.append(current)
            current = []
        current.append(p)
    parts.append(current)
    return [q for q in parts if len(q) > 1]


def world_outline(download_dir: Path) -> list[list[list[float]]]:
    """The world's land outline at 1:110m, fetched once with npm (like the emoji packages)."""
    from .emoji import fetch_package

    tarball = fetch_package(WORLD_ATLAS[0], download_dir, version=WORLD_ATLAS[1])
    with tarfile.open(tarball, "r:gz") as tar:
        topology = json.load(tar.extractfile("package/land-110m.json"))
    return [part for r in topojson_rings(topology, "land") for part in _split_at_antimeridian(_scaled(r))]


def geojson_outline(path: str) -> list[list[list[float]]]:
    """Polygon and line coordinates of a GeoJSON file (a FeatureCollection, Feature or geometry)."""
    try:
        data = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DashboardError(f"--geojson {path}: not a readable GeoJSON file ({e})") from None
    rings: list = []

    def walk(g):
        if not isinstance(g, dict):
            return
        kind = g.get("type")
        if kind == "FeatureCollection":
            for f in g.get("features") or []:
                walk(f)
        elif kind == "Feature":
            walk(g.get("geometry"))
        elif kind == "GeometryCollection":
            for sub in g.get("geometries") or []:
                walk(sub)
        elif kind == "Polygon":
            rings.extend(g["coordinates"])
        elif kind == "MultiPolygon":
            rings.extend(r for poly in g["coordinates"] for r in poly)
        elif kind == "LineString":
            rings.append(g["coordinates"])
        elif kind == "MultiLineString":
            rings.extend(g["coordinates"])

    walk(data)
    if not rings:
        raise DashboardError(f"--geojson {path}: no polygons or lines in it")
    return [_scaled(r) for r in rings]
