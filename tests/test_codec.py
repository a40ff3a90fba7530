"""Property tests of the view-state codec: random valid states survive URL → state → URL, through the
Python codec and through the browser's (assets/map-codec.js, driven by the same field table)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from dashboard import registry
from dashboard.viewstate import CELLS, EDGE_SCOPES, FIELDS, MAX_GRAPH_K, SIZE_RANGE, ViewState, parse

from .conftest import open_page, running_server

# text that must survive URL escaping: separators, percent signs, non-ASCII, spaces
ALPHABET = list("ab1 &=+%/?#é漢,.-_") + ["\u00a0"]


def _text(rng, k=8) -> str:
    return "".join(rng.choice(ALPHABET, size=int(rng.integers(0, k)))).strip()


def random_state(rng: np.random.Generator, ds) -> ViewState:
    """A random state that a user could reach on ``ds`` (digits): every field varied."""
    proj = str(rng.choice(list(registry.PROJECTIONS)))
    params = {}
    if proj == "tsne" and rng.random() < 0.7:
        params["perplexity"] = float(rng.choice([p for p in range(5, 100) if p != 30]))  # non-default only
    if proj == "umap" and rng.random() < 0.7:
        params["n_neighbors"] = int(rng.integers(2, 15)) if rng.random() < 0.5 else int(rng.integers(16, 200))
        params["min_dist"] = round(float(rng.uniform(0.11, 1.0)), 3)
    search = _text(rng)
    regex = bool(rng.random() < 0.3)
    if regex:
        search = re.escape(search)
    labels = sorted(ds.meta["label"].astype(str).unique())
    return ViewState(
        dataset="digits", space=str(rng.choice(list(ds.spaces))), proj=proj, params=params,
        color=str(rng.choice(["", "label", "ink", "graph:degree"])), y=str(rng.choice(["", "label", "ink"])),
        mode=str(rng.choice(["points", "images"])), search=search, search_field=str(rng.choice(["name", "label"])),
        hide=sorted(set(rng.choice(labels, size=int(rng.integers(0, 3))).tolist())),
        size=round(float(rng.uniform(*SIZE_RANGE)), 2), cell=int(rng.choice(CELLS)),
        graph=int(rng.integers(0, MAX_GRAPH_K + 1)), mutual=bool(rng.random() < 0.5),
        edges=str(rng.choice(EDGE_SCOPES)), size_by=str(rng.choice(["", "ink", "graph:eigenvector"])),
        vector=None, radius=round(float(rng.uniform(0.1, 9)), 3) if rng.random() < 0.3 else None, regex=regex,
        filters={"label": sorted(set(rng.choice(labels, size=2).tolist()))} if rng.random() < 0.5 else {},
        ranges={"ink": (float(rng.integers(0, 50)), float(rng.integers(50, 100)))} if rng.random() < 0.5 else {},
        selection=sorted(set(rng.integers(0, ds.n, size=int(rng.integers(0, 30))).tolist())),
        camera=(round(float(rng.normal()), 4), round(float(rng.normal()), 4), round(float(rng.uniform(-5, 12)), 3))
        if rng.random() < 0.5 else None,
    )


def test_random_states_round_trip(data_dir, digits_ds):
    rng = np.random.default_rng(12)
    for _ in range(300):
        state = random_state(rng, digits_ds)
        again, notices = parse(data_dir, state.to_query())
        assert notices == [], (state, notices)
        assert again == state


def test_the_table_and_the_state_agree():
    assert [f.name for f in FIELDS] == list(ViewState.__dataclass_fields__)
    keys = [f.key for f in FIELDS if f.key]
    assert len(keys) == len(set(keys))  # one name per field in URLs


@pytest.mark.browser
def test_the_browser_codec_round_trips(browser, data_dir, digits_ds, tmp_path):
    """The same random states through map-codec.js: JS encodes what Python parses, and JS decodes what
    Python wrote, both to the same state."""
    rng = np.random.default_rng(5)
    states = [random_state(rng, digits_ds) for _ in range(60)]
    with running_server(data_dir, "digits", tmp_path / "server.log") as url:
        page, errors = open_page(browser, url + "/?dataset=digits&proj=pca")
        page.wait_for_function("window.dashMapModules && dashMapModules.codec && dashMapModules.config.fields")
        for state in states:
            as_json = state.to_json()
            query = page.evaluate("(s) => dashMapModules.codec.encode(s, {selection: 'always'})", as_json)
            again, notices = parse(data_dir, query)
            assert notices == [] and again == state, (query, notices)

            decoded = page.evaluate("(q) => dashMapModules.codec.decode(q)", state.to_query())
            for f in FIELDS:
                want = json.loads(json.dumps(as_json[f.name]))
                got = decoded.get(f.name, f.default)
                assert got == want, (f.name, got, want, state.to_query())
        assert errors == []
        page.close()
