"""The map in headless Chromium against a plain Dash + Plotly page and Embedding Atlas 0.22.0.

For synthetic datasets (8-d blobs, a category and a number per point, PCA
layout) this measures, in one Chromium, with one rule for "drawn" (see
``_drawn.py``: screenshots of the map until it stops changing; a frozen tab
cannot be screenshotted, so it counts as not drawn yet):

- first render: seconds from navigation to the complete map; the time the
  main thread is blocked by long tasks after the first frame; bytes per point
  of the binary data routes (Chromium's encoded bytes, after gzip);
- changes: colour-by, a legend entry hidden, a category filter and a search,
  each from the control to the settled map.

Baselines, in the same run and the same browser: a Dash page with a plotly
``Scattergl`` of the same points (what most Dash apps do), and Embedding
Atlas 0.22.0 (the last release that draws with WebGL2), installed by this
script into its own virtual environment (``bench/.atlas-venv``) and given the
same points as parquet with x/y precomputed, so that neither side projects.

    python bench/bench_viewer.py [--sizes 100000,1000000] [--settle 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import _atlas  # noqa: E402
import _drawn  # noqa: E402
import _serve  # noqa: E402
from _serve import free_port  # noqa: E402
from _results import RESULTS, save  # noqa: E402
from dashboard import fixtures, mapview  # noqa: E402
from dashboard.errors import DashboardError  # noqa: E402
from dashboard.store import open_dataset  # noqa: E402

CHROMIUM = os.environ.get("DASHBOARD_CHROMIUM", _drawn.CHROMIUM)
ARGS = _drawn.ARGS
CATEGORIES = 10


def make_dataset(data_dir: Path, n: int) -> str:
    """Synthetic blobs of ``n`` points (8-d, 10 categories, a number), made once per data directory."""
    name = f"synth{n // 1000}k" if n >= 1000 else f"synth{n}"
    if not (data_dir / name / "manifest.json").exists():
        # as `add` leaves a dataset: its first view computed (layout, colours, tiles), so the first visit draws at once
        mapview.prepare(fixtures.blobs(data_dir, name, n=n, dim=8, categories=CATEGORIES))
    return name


# --------------------------------------------------------------------------
# the baseline page: plotly Scattergl in dcc.Graph, figures re-sent on change

BASELINE_APP = r'''
import sys
import numpy as np
import plotly.graph_objects as go
from dash import Dash, Input, Output, dcc, html
from dashboard.computed import get_layout
from dashboard.store import open_dataset

ds = open_dataset(sys.argv[1], sys.argv[2])
xy = get_layout(ds, ds.default_space, "pca").xy
meta = ds.meta
app = Dash(__name__)
app.layout = html.Div([
    dcc.RadioItems(id="color", options=["category", "value"], value="category", inline=True),
    dcc.Checklist(id="filter", options=sorted(meta["category"].unique()), value=[], inline=True),
    dcc.Graph(id="graph", style={"height": "800px"}),
])

@app.callback(Output("graph", "figure"), Input("color", "value"), Input("filter", "value"))
def figure(color, keep):
    if color == "category":
        c = meta["category"].str[1:].astype(int).to_numpy()
    else:
        c = meta["value"].to_numpy()
    opacity = np.where(meta["category"].isin(keep), 1.0, 0.1) if keep else 1.0
    fig = go.Figure(go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers",
                                 marker={"color": c, "size": 3, "opacity": opacity, "colorscale": "Viridis"}))
    fig.update_layout(margin={"l": 0, "r": 0, "t": 0, "b": 0}, uirevision=1)
    return fig

app.run(host="127.0.0.1", port=int(sys.argv[3]), debug=False)
'''


def serve(cmd: list[str], port: int, log: Path):
    """Our map or the Plotly page (run from the checkout, so it serves this checkout's code)."""
    return _serve.serve(cmd, port, log, cwd=ROOT)


class Wire:
    """Bytes on the wire per request (Chromium's encodedDataLength), grouped."""

    def __init__(self, page):
        self.urls: dict[str, str] = {}
        self.sizes: list[tuple[str, int]] = []
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.on("Network.requestWillBeSent", lambda e: self.urls.__setitem__(e["requestId"], e["request"]["url"]))
        cdp.on("Network.loadingFinished", lambda e: self.sizes.append((self.urls.get(e["requestId"], ""), int(e["encodedDataLength"]))))

    def reset(self) -> None:
        self.sizes.clear()

    def total(self, contains: str = "") -> int:
        return sum(s for u, s in self.sizes if contains in u)


# The map's own controls float over the canvas (tools, status line): hidden here, so the screenshots
# see only the map and an empty canvas counts as blank (not drawn).
HIDE_OVERLAYS = "document.head.insertAdjacentHTML('beforeend', '<style>.map-tools, .map-status, .progress, " \
                ".map-tooltip { visibility: hidden !important; }</style>')"


def measure_ours(browser, url: str, name: str, n: int, settle: float) -> dict:
    """First render and four changes on our map, each until the map has settled."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _drawn.install(page)
    page.add_init_script(f"document.addEventListener('DOMContentLoaded', () => {{ {HIDE_OVERLAYS}; }});")
    wire = Wire(page)
    t0 = time.perf_counter()
    page.goto(f"{url}/?dataset={name}&mode=points&proj=pca&color=category", wait_until="commit")
    load = _drawn.wait_drawn(page, "#map", t0, settle_s=settle)
    blocked, _ = _drawn.longtasks(page, load["first_ms"])
    out = {"first_s": load["drawn_s"], "first_frame_s": load["first_s"], "blocked_after_first_ms": blocked,
           "first_data_bytes": wire.total("/api/"), "first_all_bytes": wire.total(),
           "timings_ms": page.evaluate("dashMap.stats().timings")}
    out["first_data_bpp"] = out["first_data_bytes"] / n
    png = load["png"]
    page.wait_for_selector(".legend-item", timeout=600_000)  # Dash's controls are attached
    changes = {
        # set_props does what choosing in a control does (the page's callbacks run)
        "colour": lambda: page.evaluate("dash_clientside.set_props('color-select', {value: 'value'})"),
        "legend": None,  # set below: needs the categorical legend back
        "filter": lambda: page.evaluate("dash_clientside.set_props({type: 'category', column: 'category'}, {value: ['c1']})"),
        "search": lambda: page.fill("#search-input", "p1") or page.press("#search-input", "Enter"),
    }
    for key, action in changes.items():
        if key == "legend":
            page.evaluate("dash_clientside.set_props('color-select', {value: 'category'})")
            png = _drawn.wait_drawn(page, "#map", time.perf_counter(), settle_s=settle, changed_from=png)["png"]
            action = lambda: page.locator(".legend-item").first.click()  # noqa: E731
        wire.reset()
        mark = _drawn.now_ms(page)
        t = time.perf_counter()
        action()
        r = _drawn.wait_drawn(page, "#map", t, settle_s=settle, changed_from=png)
        out[f"{key}_s"] = r["drawn_s"]
        out[f"{key}_blocked_ms"], _ = _drawn.longtasks(page, mark)
        out[f"{key}_bpp"] = wire.total() / n
        png = r["png"]
    (RESULTS / f"viewer_{name}.png").write_bytes(png)
    page.close()
    return out


def measure_plotly(browser, url: str, n: int, settle: float) -> dict:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _drawn.install(page)
    wire = Wire(page)
    t0 = time.perf_counter()
    page.goto(url + "/", wait_until="commit")
    load = _drawn.wait_drawn(page, "#graph", t0, settle_s=settle)
    blocked, _ = _drawn.longtasks(page, load["first_ms"])
    page.close()
    return {"first_s": load["drawn_s"], "first_frame_s": load["first_s"], "blocked_after_first_ms": blocked,
            "first_all_bytes": wire.total()}


def server_colour_ms(data_dir: Path, name: str) -> tuple[float, float]:
    """Median server time of a colour-by change: ours (colour bytes) vs building Plotly's new figure JSON."""
    import plotly.graph_objects as go

    from dashboard.computed import get_layout
    from dashboard.mapdata import _color_legend
    from dashboard.viewstate import parse

    ds = open_dataset(data_dir, name)
    xy = get_layout(ds, ds.default_space, "pca").xy
    state, _ = parse(data_dir, f"dataset={name}&color=value")
    _color_legend(ds, state)  # metadata read once per process, as in a running server

    def ours():  # computed each time (the server keeps the last few; this is the first request's cost)
        rgba, _ = _color_legend(ds, state)
        return rgba.tobytes()

    def plotly():
        fig = go.Figure(go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers", marker={"color": ds.meta["value"].to_numpy()}))
        return fig.to_json()

    def median_ms(fn) -> float:
        times = []
        for _ in range(7):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1000)
        return float(np.median(times))

    return median_ms(ours), median_ms(plotly)


def atlas_parquet(data_dir: Path, name: str, path: Path) -> Path:
    """The same points, at the same PCA positions, for Embedding Atlas."""
    from dashboard.computed import get_layout

    ds = open_dataset(data_dir, name)
    xy = get_layout(ds, ds.default_space, "pca").xy
    meta = ds.meta
    return _atlas.write_parquet(path, xy[:, 0], xy[:, 1], meta["name"], meta["category"].astype(str), meta["value"])


def run(sizes: list[int], data_dir: Path, tmp: Path, settle: float = 3.0) -> dict:
    """Every measurement for every size; returns the figures (also what the test suite checks)."""
    from playwright.sync_api import sync_playwright

    from dashboard import deckjs

    RESULTS.mkdir(parents=True, exist_ok=True)
    atlas_python = _atlas.ensure_venv()
    try:  # as a server does in the background: deck.gl's own build, once per machine
        deckjs.fetch()
    except DashboardError as e:
        print(f"({e})")
    print(f"our page runs deck.gl's {deckjs.bundle()[2]} build", flush=True)
    results = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for n in sizes:
            name = make_dataset(data_dir, n)
            port = free_port()
            with serve([sys.executable, "-m", "dashboard", "--data-dir", str(data_dir), "--dataset", name,
                        "--port", str(port)], port, tmp / f"ours{n}.log") as url:
                ours = measure_ours(browser, url, name, n, settle)
            port = free_port()
            with serve([sys.executable, "-c", BASELINE_APP, str(data_dir), name, str(port)], port,
                       tmp / f"plotly{n}.log") as url:
                plotly = measure_plotly(browser, url, n, settle)
            port = free_port()
            parquet = atlas_parquet(data_dir, name, tmp / f"{name}.parquet")
            with _atlas.serve(atlas_python, parquet, port, tmp / f"atlas{n}.log") as url:
                atlas = _atlas.measure(browser, url, n, category="c1", settle_s=settle)
            row = {"ours": ours, "plotly": plotly, "atlas": atlas,
                   "ratio_first_vs_plotly": ours["first_s"] / plotly["first_s"],
                   "ratio_first_vs_atlas": ours["first_s"] / atlas["load_s"],
                   "ratio_colour_vs_atlas": ours["colour_s"] / atlas["colour_s"],
                   "ratio_filter_vs_atlas": ours["filter_s"] / atlas["filter_s"]}
            results[n] = row
            report(n, row)
        browser.close()
    return results


def report(n: int, row: dict) -> None:
    o, p, a = row["ours"], row["plotly"], row["atlas"]
    print(f"\n{n:,} points (seconds until the map stops changing; ratio = ours / theirs, lower is better)")
    print(f"  first render: ours {o['first_s']:.2f} s, Plotly page {p['first_s']:.2f} s "
          f"({row['ratio_first_vs_plotly']:.2f}x, goal <= 0.5), Atlas {a['load_s']:.2f} s "
          f"({row['ratio_first_vs_atlas']:.2f}x, goal <= 1)")
    print(f"  main thread blocked after the first frame: ours {o['blocked_after_first_ms']:.0f} ms (goal < 1000 at 1M), "
          f"Atlas {a['load_longtask_ms']:.0f} ms, Plotly {p['blocked_after_first_ms']:.0f} ms")
    print(f"  first render data: {o['first_data_bpp']:.2f} B/pt (goal <= 12)")
    print(f"  colour change: ours {o['colour_s']:.2f} s vs Atlas {a['colour_s']:.2f} s ({row['ratio_colour_vs_atlas']:.2f}x); "
          f"{o['colour_bpp']:.2f} B/pt")
    print(f"  filter: ours {o['filter_s']:.2f} s vs Atlas {a['filter_s']:.2f} s ({row['ratio_filter_vs_atlas']:.2f}x); "
          f"{o['filter_bpp']:.2f} B/pt")
    print(f"  legend entry hidden: ours {o['legend_s']:.2f} s; search: ours {o['search_s']:.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds a picture must stay unchanged to count as drawn")
    parser.add_argument("--data-dir", type=Path, help="keep the synthetic datasets here (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or Path(tmp)
        data_dir.mkdir(parents=True, exist_ok=True)
        sizes = [int(s) for s in args.sizes.split(",")]
        results = run(sizes, data_dir, Path(tmp), args.settle)
        if 100_000 in sizes:
            ours_ms, plotly_ms = server_colour_ms(data_dir, make_dataset(data_dir, 100_000))
            print(f"\nserver, colour change at 100k: {ours_ms:.1f} ms vs a Plotly figure {plotly_ms:.1f} ms")
            results[100_000]["server_colour_ms"], results[100_000]["plotly_server_colour_ms"] = ours_ms, plotly_ms
    print("saved", save("viewer", {str(k): v for k, v in results.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
