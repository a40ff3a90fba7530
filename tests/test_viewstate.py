"""The page URL ↔ view state: round trips, and bad values become notices, never errors."""

from __future__ import annotations

import pytest

from dashboard.viewstate import decode_selection, encode_selection, parse


def test_selection_ranges_round_trip():
    sel = [0, 1, 2, 3, 7, 9, 10, 11, 1796]
    text = encode_selection(sel)
    assert text == "0-3.7.9-11.1796"
    assert decode_selection(text, 1797) == sel
    with pytest.raises(ValueError, match="outside 0-1796"):
        decode_selection("5.1797", 1797)
    with pytest.raises(ValueError, match="not an index"):
        decode_selection("5.x", 1797)


def test_defaults_for_a_dataset(data_dir):
    state, notices = parse(data_dir, "dataset=digits")
    assert notices == []
    assert (state.dataset, state.space, state.proj, state.color, state.mode) == ("digits", "64", "umap", "label", "images")


def test_a_full_query_round_trips(data_dir):
    query = ("dataset=digits&dim=16&proj=tsne&perplexity=12&color=ink&y=label&mode=points&size=2&q=digit+3"
             "&field=name&regex=1&f.label=3&f.label=5&r.ink=20,30&sel=0-4.9&cam=0.1,-0.2,9.5&hide=7&graph=5"
             "&mutual=1&edges=selection&sizeby=graph:eigenvector")
    state, notices = parse(data_dir, query)
    assert notices == []
    assert state.params == {"perplexity": 12.0}
    assert state.filters == {"label": ["3", "5"]} and state.ranges == {"ink": (20.0, 30.0)}
    assert state.selection == [0, 1, 2, 3, 4, 9] and state.camera == (0.1, -0.2, 9.5)
    assert state.mutual and state.edges == "selection" and state.size_by == "graph:eigenvector"
    again, notices = parse(data_dir, state.to_query())
    assert notices == [] and again == state


@pytest.mark.parametrize(
    "query, expected",
    [
        ("dataset=nope", "dataset 'nope', which is not here (available: digits); showing digits"),
        ("dim=33", "no latent space '33' (it has 64, 32, 16, 8); showing 64"),
        ("proj=mds", "Unknown projection 'mds'"),
        ("proj=umap&n_neighbors=abc", "n_neighbors must be int, got 'abc'; using the defaults"),
        ("proj=umap&min_dist=5", "min_dist must be between 0.0 and 1.0"),
        ("color=nope", "Colour by: no column 'nope'"),
        ("y=name", "Y axis: no column 'name'"),
        ("mode=words", "Mode 'words' is not available"),
        ("size=NaN", "Size 'NaN' must be a number"),
        ("cell=7", "Cell size '7' must be one of"),
        ("f.ink=3", "'ink' is not a categorical column"),
        ("r.ink=9,1", "is not 'low,high'"),
        ("sel=1-99999", "Selection in the link ignored"),
        ("cam=1,2", "Camera '1,2' is not 'x,y,zoom'"),
        ("graph=99", "Graph '99' must be a number of neighbours"),
        ("edges=some", "Edges 'some' must be one of all, selection, item"),
        ("sizeby=label", "Size by: no column 'label'"),
        ("color=graph:nope", "Colour by: no column 'graph:nope'"),
        ("q=(&regex=1", "not a valid regular expression"),
    ],
)
def test_bad_values_become_notices(data_dir, query, expected):
    state, notices = parse(data_dir, "dataset=digits&" + query)
    assert state is not None and state.dataset == "digits"
    assert any(expected in n for n in notices), notices


def test_no_datasets_is_a_notice(tmp_path):
    state, notices = parse(tmp_path, "dataset=digits")
    assert state is None and "no datasets yet" in notices[0]
