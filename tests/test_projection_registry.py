"""Every registered projection goes through every place that lists projections (as scikit-learn's
``check_estimator`` runs one battery over every estimator): compute and cache, the URL codec, the
map's menu and inputs, the background jobs, ``export-layout``, the CSV export and ``export-network``.

A projection registered only here ("random") shows that adding one is one entry plus its function.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from click.testing import CliRunner

from dashboard import registry
from dashboard.app import create_app
from dashboard.cli import cli
from dashboard.computed import get_layout
from dashboard.layouts.viewer import param_inputs
from dashboard.mapview import resolve
from dashboard.viewstate import parse


def _random(X, params, *, y, random_state, progress):
    """The test's projection: points where a seeded generator puts them."""
    return np.random.default_rng(params["seed"]).normal(size=(len(X), 2))


RANDOM = registry.Projection("random", "Random (test only)", _random,
                             params={"seed": registry.Param(int, 0, 0, 1_000_000, help="generator seed", step=1)})


@pytest.fixture(autouse=True)
def random_projection():
    registry.register(RANDOM)  # the one entry
    yield
    registry.unregister("random")


# A non-default value of one parameter per projection that has any, to check the URL and the cache key.
OTHER = {"tsne": ("perplexity", 12.0), "umap": ("n_neighbors", 8), "random": ("seed", 7)}
NAMES = [*registry.PROJECTIONS, "random"]


@pytest.mark.parametrize("name", NAMES)
def test_every_projection_everywhere(name, make_dataset, tmp_path):
    ds = make_dataset(n=150, dim=6, categories=3)
    data_dir = ds.path.parent
    entry = registry.get(name)

    # the page shows a computed layout at once, or computes it in the background (never in a request)
    state, notices = parse(data_dir, f"dataset=blobs&proj={name}")
    assert notices == [] and state.proj == name
    resolved = resolve(ds, state)
    assert (resolved.view["job"] is not None) == entry.background
    assert (resolved.view["pending"] is not None) == entry.background

    # compute, then the cache: the same request is served from it; another parameter value is another entry
    first = get_layout(ds, ds.default_space, name)
    assert first.xy.shape == (150, 2) and np.isfinite(first.xy).all()
    assert get_layout(ds, ds.default_space, name).from_cache
    if name in OTHER:
        key, value = OTHER[name]
        other = get_layout(ds, ds.default_space, name, **{key: value})
        assert not other.from_cache and not np.array_equal(other.xy, first.xy)

        # the URL codec: the parameter's own key, round-tripped
        state, notices = parse(data_dir, f"dataset=blobs&proj={name}&{key}={value}")
        assert notices == [] and state.params == {key: value}
        assert parse(data_dir, state.to_query())[0] == state
    assert resolve(ds, parse(data_dir, f"dataset=blobs&proj={name}")[0]).view["job"] is None  # cached now
    if entry.blocks:  # it promises to read a large space by row ranges only: store.Rows gives nothing else
        from dashboard.store import Rows

        X, defaults = ds.latent(ds.default_space), {p: spec.default for p, spec in entry.params.items()}
        by_rows = entry.compute(Rows(X.shape, lambda a, b: X[a:b]), defaults, y=None, random_state=42, progress=None)
        assert np.allclose(by_rows, entry.compute(X, defaults, y=None, random_state=42, progress=None), atol=1e-5)

    # the menu and its parameter inputs
    from dashboard.callbacks.viewer import projection_options

    assert {"label": entry.label, "value": name} in projection_options(ds)
    offered = {p for (m, p) in param_inputs() if m == name}
    assert offered == {p for p, spec in entry.params.items() if spec.step is not None}

    # export-layout
    out = tmp_path / "layout.csv"
    result = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "export-layout", "blobs", "--projection", name,
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert len(list(csv.DictReader(out.open()))) == 150

    # the CSV export of the page's view
    client = create_app(data_dir, dataset="blobs").server.test_client()
    resp = client.get(f"/export/blobs.csv?proj={name}&rows=all")
    rows = list(csv.DictReader(io.StringIO(resp.data.decode())))
    assert resp.status_code == 200 and len(rows) == 150 and rows[0]["projection"].startswith(name)
    assert float(rows[0]["x"]) == pytest.approx(float(first.xy[0, 0]), abs=1e-5)

    # export-network places the nodes by it
    net = tmp_path / "net.gexf"
    result = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "export-network", "--dataset", "blobs",
                                      "--projection", name, "-o", str(net)])
    assert result.exit_code == 0, result.output
    assert net.exists()


def test_an_unknown_projection_is_one_line(make_dataset, tmp_path):
    ds = make_dataset(n=50, dim=4)
    result = CliRunner().invoke(cli, ["--data-dir", str(ds.path.parent), "export-layout", "blobs", "--projection",
                                      "mds", "-o", str(tmp_path / "x.csv")])
    assert result.exit_code != 0 and "unknown projection 'mds'" in result.output
    state, notices = parse(ds.path.parent, "dataset=blobs&proj=mds")
    assert state.proj == "umap" and "Unknown projection 'mds'" in notices[0]
