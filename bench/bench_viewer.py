"""The map in headless Chromium: bytes per point and time to the first frame, vs Plotly.

For synthetic datasets of 100k and 1M points (8-d blobs, a category and a
number per point) this measures, with Chromium's own network accounting
(encoded bytes on the wire, after gzip):

- first render: bytes per point of the binary data routes, and of everything
  the page loaded (deck.gl, Dash's bundles, callbacks); time from navigation
  to the first frame with every point drawn;
- a colour-by change and a filter change: bytes per point of everything sent;
- server time of a colour-by change at 100k (the /api/colors.bin work).

Baseline, in the same run: a Dash page with a plotly ``Scattergl`` of the same
points (what most Dash apps do; dash-deck ships the same points as JSON),
where colour and filter changes send a new figure. Ratios = baseline / ours.

    python bench/bench_viewer.py [--sizes 100000,1000000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _results import save  # noqa: E402
from dashboard.store import DatasetWriter, open_dataset  # noqa: E402

CHROMIUM = os.environ.get("DASHBOARD_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--enable-unsafe-swiftshader", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CATEGORIES = 10


def make_dataset(data_dir: Path, n: int) -> str:
    name = f"synth{n // 1000}k"
    if (data_dir / name / "manifest.json").exists():
        return name
    rng = np.random.default_rng(0)
    labels = rng.integers(0, CATEGORIES, n)
    centres = rng.normal(scale=4, size=(CATEGORIES, 8))
    X = (centres[labels] + rng.normal(size=(n, 8))).astype(np.float32)
    meta = pd.DataFrame({"i": np.arange(n), "name": [f"point {k}" for k in range(n)],
                         "category": [f"c{k}" for k in labels], "value": rng.gamma(2.0, 1.0, n).round(3)})
    with DatasetWriter(data_dir, name) as w:
        w.set_info(type="other", metric="euclidean")
        w.write_meta(meta, schema_overrides={"category": "categorical", "value": "numeric"})
        w.write_latent(8, X, kind="raw")
        w.finish()
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(cmd: list[str], port: int, log: Path):
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        deadline = time.time() + 300
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise SystemExit(f"server did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


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


def measure_ours(browser, url: str, name: str, n: int) -> dict:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    wire = Wire(page)
    page.goto(f"{url}/?dataset={name}&mode=points&proj=pca&color=category")
    t_first = page.wait_for_function("window.dashMap && dashMap.stats().drawnVersion > 0 ? performance.now() : false",
                                     polling="raf", timeout=600_000).json_value()
    page.wait_for_timeout(1000)
    first_data, first_all = wire.total("/api/"), wire.total()
    timings = page.evaluate("dashMap.stats().timings")
    version = page.evaluate("dashMap.stats().drawnVersion")

    wire.reset()
    # set_props does what choosing in the control does (the page's callbacks run).
    page.evaluate("dash_clientside.set_props('color-select', {value: 'value'})")
    page.wait_for_function(f"dashMap.stats().drawnVersion > {version}", timeout=300_000)
    page.wait_for_timeout(1500)
    colour_all = wire.total()
    version = page.evaluate("dashMap.stats().drawnVersion")

    wire.reset()
    page.wait_for_selector(".filter", timeout=300_000)
    page.evaluate("dash_clientside.set_props({type: 'category', column: 'category'}, {value: ['c1']})")
    page.wait_for_function(f"dashMap.stats().drawnVersion > {version}", timeout=300_000)
    page.wait_for_timeout(1500)
    filter_all = wire.total()
    page.screenshot(path=str(ROOT / "bench" / "results" / f"viewer_{name}.png"), timeout=300_000)
    page.close()
    return {"first_ms": t_first, "timings_ms": timings, "first_data_bytes": first_data, "first_all_bytes": first_all,
            "colour_bytes": colour_all, "filter_bytes": filter_all,
            "first_data_bpp": first_data / n, "first_all_bpp": first_all / n,
            "colour_bpp": colour_all / n, "filter_bpp": filter_all / n}


def measure_plotly(browser, url: str, n: int) -> dict:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    wire = Wire(page)
    drawn = (f"(() => {{ const g = document.querySelector('#graph .js-plotly-plot'); "
             f"return g && g._fullData && g._fullData[0] && g._fullData[0]._length === {n} && "
             f"g.querySelector('canvas') ? performance.now() : false }})()")
    page.goto(url + "/")
    t_first = page.wait_for_function(drawn, polling="raf", timeout=600_000).json_value()
    page.wait_for_timeout(1000)
    first_all = wire.total()

    # set_props does what a click on the control does (the callback runs, a new figure comes).
    def colour():
        page.evaluate("dash_clientside.set_props('color', {value: 'value'})")

    def filt():
        page.evaluate("dash_clientside.set_props('filter', {value: ['c1']})")

    # dcc.Graph gives no "new figure drawn" signal: wait until the bytes stop.
    colour_bytes = _settled(page, wire, colour)
    filter_bytes = _settled(page, wire, filt)
    page.close()
    return {"first_ms": t_first, "first_all_bytes": first_all, "colour_bytes": colour_bytes, "filter_bytes": filter_bytes,
            "first_all_bpp": first_all / n, "colour_bpp": colour_bytes / n, "filter_bpp": filter_bytes / n}


def _settled(page, wire: Wire, action) -> int:
    """Run ``action`` and wait until no bytes arrived for 3 s (the new figure is in)."""
    wire.reset()
    action()
    last, quiet = -1, 0.0
    deadline = time.time() + 600
    while quiet < 3.0:
        if time.time() > deadline:
            raise SystemExit("the Plotly page did not answer a change within 10 minutes")
        page.wait_for_timeout(500)  # (Playwright delivers network events only while it runs)
        total = wire.total()
        quiet = quiet + 0.5 if total == last and total > 0 else 0.0
        last = total
    return last


def server_colour_ms(data_dir: Path, name: str) -> tuple[float, float]:
    """Median server time of a colour-by change: ours (colour bytes) vs building Plotly's new figure JSON."""
    import plotly.graph_objects as go

    from dashboard.computed import get_layout
    from dashboard.mapdata import color_legend

    ds = open_dataset(data_dir, name)
    xy = get_layout(ds, ds.default_space, "pca").xy
    color_legend(ds, "category")  # metadata read once per process, as in a running server

    def ours():
        rgba, _ = color_legend(ds, "value")
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--data-dir", type=Path, help="keep the synthetic datasets here (default: a temporary folder)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or Path(tmp)
        data_dir.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for n in (int(s) for s in args.sizes.split(",")):
                name = make_dataset(data_dir, n)
                port = free_port()
                with serve([sys.executable, "-m", "dashboard", "--data-dir", str(data_dir), "--dataset", name,
                            "--port", str(port)], port, Path(tmp) / f"ours{n}.log") as url:
                    ours = measure_ours(browser, url, name, n)
                port = free_port()
                with serve([sys.executable, "-c", BASELINE_APP, str(data_dir), name, str(port)], port,
                           Path(tmp) / f"plotly{n}.log") as url:
                    base = measure_plotly(browser, url, n)
                row = {"ours": ours, "plotly": base,
                       "ratio_first_ms": base["first_ms"] / ours["first_ms"],
                       "ratio_first_bytes": base["first_all_bytes"] / ours["first_all_bytes"],
                       "ratio_colour_bytes": base["colour_bytes"] / max(ours["colour_bytes"], 1),
                       "ratio_filter_bytes": base["filter_bytes"] / max(ours["filter_bytes"], 1)}
                if n == 100_000:
                    row["server_colour_ms"], row["plotly_server_colour_ms"] = server_colour_ms(data_dir, name)
                results[n] = row
                print(f"\n{n:,} points")
                print(f"  first render: data {ours['first_data_bpp']:.2f} B/pt (goal <= 12), whole page {ours['first_all_bpp']:.2f} B/pt "
                      f"vs plotly {base['first_all_bpp']:.2f} B/pt ({row['ratio_first_bytes']:.1f}x less)")
                t = ours["timings_ms"]
                print(f"  first frame: {ours['first_ms'] / 1000:.2f} s vs plotly {base['first_ms'] / 1000:.2f} s "
                      f"({row['ratio_first_ms']:.1f}x); ours: view from Dash at {t.get('view', 0) / 1000:.2f} s, "
                      f"data in at {t.get('data', 0) / 1000:.2f} s, drawn at {(t.get('firstFrame') or 0) / 1000:.2f} s")
                print(f"  colour change: {ours['colour_bpp']:.3f} B/pt (goal <= 4) vs plotly {base['colour_bpp']:.2f} B/pt "
                      f"({row['ratio_colour_bytes']:.0f}x less)")
                print(f"  filter change: {ours['filter_bpp']:.3f} B/pt (goal <= 1) vs plotly {base['filter_bpp']:.2f} B/pt "
                      f"({row['ratio_filter_bytes']:.0f}x less)")
                if "server_colour_ms" in row:
                    print(f"  server, colour change at 100k: {row['server_colour_ms']:.1f} ms (goal < 100) vs plotly figure "
                          f"{row['plotly_server_colour_ms']:.1f} ms ({row['plotly_server_colour_ms'] / row['server_colour_ms']:.1f}x)")
            browser.close()
    print("saved", save("viewer", {str(k): v for k, v in results.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
