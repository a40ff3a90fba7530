"""Every benchmark in bench/ runs at a tiny size, so that none can rot unnoticed.

The figures at this size mean nothing; what is checked is that each script
still runs end to end against its baseline and prints its comparison. Results
go to a temporary folder (``DASHBOARD_BENCH_RESULTS``), not bench/results.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

TINY = {
    "bench_build.py": (["--skip-emoji"], "store overhead"),
    "bench_projections.py": (["--n", "300", "--dim", "8"], "umap"),
    "bench_network.py": (["--n", "2000", "--dim", "8", "--k", "5"], "edges"),
    "bench_vectors.py": (["--n", "2000", "--dim", "16"], "vector view"),
    "bench_quality.py": (["--n", "2000", "--dim", "16"], "trust"),
    "bench_probe.py": (["--n", "40", "--requests", "5"], "probe round trip"),
    "bench_lsc_add.py": (["--sizes", "3000"], "the baseline's"),
    "bench_features.py": (["--synthetic", "--images", "4", "--batch", "2", "--models", "mobilenet_v3"],
                          "pixplot's path"),
}


def _run(script: str, args: list[str], results: Path, timeout: float = 1200) -> str:
    env = {**os.environ, "DASHBOARD_BENCH_RESULTS": str(results)}
    out = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], capture_output=True, text=True,
                         cwd=ROOT, env=env, timeout=timeout)
    assert out.returncode == 0, f"{script} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout


@pytest.mark.parametrize("script", sorted(TINY))
def test_benchmark_runs_tiny(script, tmp_path):
    args, expected = TINY[script]
    out = _run(script, args, tmp_path)
    assert expected in out.lower(), out
    assert list(tmp_path.glob("*.json")), "no figures saved"


def _bench_module(name: str):
    import importlib

    sys.path.insert(0, str(ROOT / "bench"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "bench"))


def test_bench_features_fails_when_a_row_fails(tmp_path, monkeypatch):
    import numpy as np

    bench = _bench_module("bench_features")

    def works(case):
        return np.ones((2, 3), np.float32), 0.5

    def broken(case):
        raise RuntimeError("the converted model\ndoes not load")

    monkeypatch.setattr(bench, "ROWS", [bench.Row("baseline", works), bench.Row("reference", works),
                                        bench.Row("broken", broken), bench.Row("absent", works, ("no_such_pkg_x",))])
    case = bench.Case("m", tmp_path / "w.h5", None, np.zeros((2, 1)), np.zeros((2, 1)), 2, tmp_path)
    monkeypatch.delenv("CI", raising=False)
    rows = bench.measure(case)
    assert rows["baseline"]["img_s"] == 4.0 and rows["reference"]["vs_pixplot"] == 1.0
    assert rows["absent"] == {"skipped": "not installed: no_such_pkg_x"}  # reported, not a failure here
    assert bench.failures({"models": {"m": {"rows": rows}}}) == [
        "m: broken: RuntimeError: the converted model does not load"]
    monkeypatch.setenv("CI", "true")  # CI installs every runtime of the test extra: a missing one fails
    failed = bench.failures({"models": {"m": {"rows": bench.measure(case)}}})
    assert [line.split(":")[1].strip() for line in failed] == ["broken", "absent"]


def test_every_benchmark_is_covered():
    scripts = {p.name for p in (ROOT / "bench").glob("bench_*.py")}
    assert scripts == set(TINY) | {"bench_images.py", "bench_viewer.py", "bench_load.py", "bench_scale.py",
                                   "bench_image_scale.py"}


@pytest.mark.slow
def test_bench_images_runs_tiny(npm_dir, tmp_path):
    out = _run("bench_images.py", ["--npm-dir", str(npm_dir), "--sample", "4", "--sizes", "20,40"], tmp_path)
    assert "faster" in out and "images/s end to end" in out


@pytest.mark.browser
def test_bench_viewer_runs_tiny(tmp_path):
    """Ours, the Plotly page and Embedding Atlas 0.22.0 (installed into bench/.atlas-venv on first use)."""
    out = _run("bench_viewer.py", ["--sizes", "2000", "--settle", "1"], tmp_path, timeout=1800)
    assert "Plotly page" in out and "Atlas" in out
    figures = json.loads((tmp_path / "viewer.json").read_text())["2000"]
    ours = figures["ours"]
    for key in ("first_s", "colour_s", "legend_s", "filter_s", "search_s"):
        assert ours[key] > 0
    assert figures["atlas"]["load_s"] > 0 and figures["plotly"]["first_s"] > 0
    assert ours["first_data_bpp"] <= 12


@pytest.mark.browser
def test_bench_load_runs_tiny(tmp_path):
    """gunicorn -w 4, a session recorded in Chromium, replayed by 3 clients and by 1 for 10 s each: no errors."""
    # long enough for a whole pass of the session (page to CSV export) on a busy CI machine
    out = _run("bench_load.py", ["--sizes", "digits", "--clients", "3", "--seconds", "10"], tmp_path)
    assert "errors: 0 (must be 0)" in out and "p95" in out, out
    row = json.loads((tmp_path / "load.json").read_text())["digits"]
    for run in ("many", "one"):
        assert row[run]["overall"]["errors"] == 0 and row[run]["overall"]["requests"] > 0
    # every step of the session was recorded and replayed: the page, its buffers, Dash's callbacks, the CSV
    kinds = set(row["many"]["kinds"])
    assert {"load:page", "load:buffer", "load:callback", "colour:callback", "filter:callback",
            "export:export"} <= kinds, kinds
    assert row["many"]["overall"]["p95_ms"] > 0 and row["ratio_p95"] > 0


@pytest.mark.parametrize("args, message", [
    (["--url", "127.0.0.1:8050", "--data-dir", "."], "--url takes comma-separated http(s):// base URLs"),
    (["--url", "http://127.0.0.1:8050"], "--url needs --data-dir"),
    (["--topology", "--profile"], "--profile samples the one gunicorn started here"),
])
def test_bench_load_says_where_it_cannot_point(args, message, tmp_path):
    """--url (running servers) and --topology (tests/topology.py) are checked before anything starts;
    tests/test_topology.py starts the topology itself."""
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_load.py"), *args], capture_output=True,
                         text=True, cwd=ROOT, env={**os.environ, "DASHBOARD_BENCH_RESULTS": str(tmp_path)}, timeout=120)
    assert out.returncode == 2 and message in out.stderr, out.stderr


def test_bench_scale_runs_tiny(tmp_path):
    """Tiles at a tiny size (threshold 4,000 for 20,000 points); Atlas is left out here, as
    test_bench_viewer_runs_tiny already runs the same _atlas module."""
    out = _run("bench_scale.py", ["--sizes", "20000", "--threshold", "4000", "--settle", "1", "--no-atlas"], tmp_path)
    assert "1 % zoom" in out and "panning" in out
    ours = json.loads((tmp_path / "scale.json").read_text())["20000"]["ours"]
    assert ours["tiled"] and ours["first_drawn"] == 1000 and ours["zoom_complete"] == 1.0
    assert ours["geometry_bytes_per_drawn"] <= 9 and ours["first_s"] > 0


@pytest.mark.browser
def test_a_picture_at_rest_is_not_drawn_while_ready_is_false(browser):
    """A tiled map holds its coarser tiles while a finer one is on its way: the picture is at rest, but
    wait_drawn's ``ready`` (bench/_drawn.TILES_READY on a map) keeps it from counting as drawn."""
    sys.path.insert(0, str(ROOT / "bench"))
    import _drawn

    page = browser.new_page(viewport={"width": 400, "height": 300})
    page.set_content('<div id="m" style="width:200px;height:100px;background:linear-gradient(red,blue)"></div>')
    page.evaluate("window.done = false; setTimeout(() => { window.done = true; }, 1500)")
    t0 = time.perf_counter()
    r = _drawn.wait_drawn(page, "#m", t0, settle_s=0.3, ready="window.done")
    assert time.perf_counter() - t0 >= 1.5 and r["drawn_s"] < 1.0  # drawn when it first looked so; counted when ready
    page.evaluate("window.dashMap = {stats: () => ({tiles: {loading: 2}})}")
    assert page.evaluate(_drawn.TILES_READY) is False
    page.evaluate("window.dashMap = {stats: () => ({tiles: null})}")
    assert page.evaluate(_drawn.TILES_READY) is True
    page.close()


@pytest.mark.browser
def test_bench_image_scale_runs_tiny(tmp_path):
    """3,000 shape images above a threshold of 1,000: built, a mosaic first, sharper cells on zooming in."""
    out = _run("bench_image_scale.py", ["--n", "3000", "--threshold", "1000", "--settle", "1"], tmp_path)
    assert "untiled path" in out and "texture memory at most" in out
    row = json.loads((tmp_path / "image_scale.json").read_text())
    ours = row["ours"]
    assert ours["tiled"] and ours["first_cells"] == [32] and 0 < ours["first_drawn"] <= 250
    assert max(ours["zooms"][-1]["cells"]) == 128 and ours["texture_peak_mb"] <= ours["cap_mb"]
    assert row["build_s"] > 0 and row["baseline"]["gpu_mb"] > 0
