"""Callbacks of the analyses: the layout's trustworthiness beside the projection menu, the
neighbour-change panel and the selection report (see dashboard/layouts/analysis.py)."""

from __future__ import annotations

from dash import Input, Output, State, callback, html, no_update

from ..compute import arrangements
from ..compute.neighbors import EXACT_MAX
from ..computed import QUALITY_INLINE_MAX, get_layout_quality, get_neighbor_change, get_neighbors, get_selection_report
from ..errors import DashboardError
from ..groups import GroupStore, save_direction
from ..layouts import analysis as ids
from ..layouts import vectors as vector_ids
from ..layouts import viewer as viewer_ids
from ..mapdata import positions
from ..store import Dataset
from ..viewstate import DEFAULT_GRAPH_K, KEPT_PREFIX, TRUST_COLUMN, ViewState, parse
from .common import data_dir, dataset, item_button, item_strip, message, notices

#: Items listed in the neighbour-change panel.
CHANGED_SHOWN = 8


def color_options(ds: Dataset) -> list[dict]:
    """The analysis entries of the "Colour by" menu."""
    return ([{"label": "Layout trust (share of latent neighbours kept)", "value": TRUST_COLUMN}]
            + [{"label": f"Neighbours kept from space {s.label}", "value": KEPT_PREFIX + s.id}
               for s in ds.spaces.values()])


def _drawn_layout(view: dict | None) -> ViewState | None:
    """The layout the map draws now (the PCA stand-in while a projection is computed)."""
    return parse(data_dir(), view["layout"])[0] if view else None


# --------------------------------------------------------------------------
# layout quality


def quality_text(q: dict) -> tuple[str, str]:
    """The note and its tooltip for :func:`get_layout_quality`'s result."""
    how = (f"estimated on {q['sampled']:,} random items" if q["sampled"]
           else f"exact over all {q['n']:,} items")
    return (f"Trustworthiness {q['trustworthiness']:.3f} · continuity {q['continuity']:.3f}",
            f"k = {q['k']} neighbours, {how} (scikit-learn's definitions). Trustworthiness: 1 when every "
            "neighbour on the map is also near in the latent space; continuity: 1 when every latent "
            "neighbourhood stays together on the map. Colour by layout trust to see where.")


@callback(Output(ids.QUALITY, "children"), Output(ids.QUALITY, "title"), Input(viewer_ids.VIEW, "data"))
def show_quality(view):
    """Trustworthiness and continuity of the layout drawn now (the PCA stand-in while a projection computes)."""
    state = _drawn_layout(view)
    if state is None:
        return "", ""
    if state.proj in arrangements.BY_METADATA:
        return "", ""
    ds = dataset(state.dataset)
    try:
        q = get_layout_quality(ds, state.space, positions(ds, state), DEFAULT_GRAPH_K)
    except DashboardError as e:
        return "", message(e)
    if q is None:
        return ("Trustworthiness: not computed",
                f"{ds.n:,} items (more than {QUALITY_INLINE_MAX:,}): run `python -m dashboard quality {ds.name} "
                f"--dim {state.space} --projection {state.proj} -o trust.csv` once")
    return quality_text(q)


# --------------------------------------------------------------------------
# neighbour change


@callback(
    Output(ids.CHANGE_SPACE, "options"), Output(ids.CHANGE_SPACE, "value"),
    Input(viewer_ids.DATASET, "value"), Input(viewer_ids.DIM, "value"), State(ids.CHANGE_SPACE, "value"),
)
def change_spaces(name, space, chosen):
    """The other latent spaces; the last one listed to start with (digits: the smallest)."""
    if not name:
        return [], None
    ds = dataset(name)
    others = [s for s in ds.spaces.values() if s.id != space]
    options = [{"label": s.label, "value": s.id} for s in others]
    return options, chosen if chosen in {s.id for s in others} else (others[-1].id if others else None)


@callback(
    Output(ids.CHANGE_LIST, "children"),
    Input(ids.CHANGE_SPACE, "value"), Input(viewer_ids.DIM, "value"), Input(viewer_ids.GRAPH, "value"),
    State(viewer_ids.DATASET, "value"),
)
def show_change(other, space, graph, name):
    """The items whose neighbourhoods changed most, each with its neighbours in both spaces (k: the graph's)."""
    if not name or not space:
        return None
    ds = dataset(name)
    if space not in ds.spaces:
        return None
    if not other or other not in ds.spaces or other == space:
        return html.P("This dataset has one latent space: nothing to compare.", className="muted") \
            if len(ds.spaces) < 2 else None
    state = ViewState(dataset=name, space=space, graph=int(graph or 0))
    k, cached_only = state.graph_k, ds.n > EXACT_MAX
    try:
        jac = get_neighbor_change(ds, state.space, other, k, cached_only=cached_only)
        lists = [get_neighbors(ds, s, k, cached_only=cached_only) for s in (state.space, other)]
    except DashboardError as e:
        return notices([message(e)])
    if jac is None or any(x is None for x in lists):
        return html.P(f"Not computed yet for {ds.n:,} items: run `python -m dashboard compare {ds.name} "
                      f"--dims {state.space},{other} --k {k} -o kept.csv`.", className="muted")
    worst = jac.argsort(kind="stable")[:CHANGED_SHOWN]
    rows = [html.P(f"Mean share kept (Jaccard of {k} neighbours): {jac.mean():.2f}. "
                   f"Changed most:", className="muted")]
    for i in worst:
        a, b = lists[0][0][i][:k], lists[1][0][i][:k]
        shared = set(a.tolist()) & set(b.tolist())
        rows.append(html.Div(className="change-row", children=[
            html.Div(className="change-head", children=[
                item_button(ds, i), html.Span(f"keeps {len(shared)} of {k} (Jaccard {jac[i]:.2f})", className="muted")]),
            html.Span(f"in {ds.space(state.space).label}", className="muted"), item_strip(ds, a, shared),
            html.Span(f"in {ds.space(other).label}", className="muted"), item_strip(ds, b, shared),
        ]))
    return rows


@callback(
    Output(viewer_ids.COLOR, "value", allow_duplicate=True),
    Input(ids.CHANGE_COLOR, "n_clicks"), State(ids.CHANGE_SPACE, "value"),
    prevent_initial_call=True,
)
def color_by_change(clicks, other):
    return KEPT_PREFIX + other if clicks and other else no_update


# --------------------------------------------------------------------------
# what sets the selection (or a group) apart


@callback(
    Output(ids.REPORT_SUBJECT, "options"),
    Input(viewer_ids.DATASET, "value"), Input(vector_ids.VERSION, "data"),
)
def report_subjects(name, _version):
    """The selection and every saved group."""
    options = [{"label": "the selection", "value": "selection"}]
    if name:
        options += [{"label": f"group {g.name} ({g.size:,})", "value": str(g.id)}
                    for g in GroupStore(data_dir()).groups(name)]
    return options


def _members(ds: Dataset, subject: str | None, selection: list | None):
    if subject and subject != "selection":
        return GroupStore(data_dir()).group(ds.name, int(subject)).members
    return [i for i in (selection or []) if 0 <= int(i) < ds.n]


def _share(x: float) -> str:
    return f"{x:.0%}" if x >= 0.01 else f"{x:.1%}"


def report_children(ds: Dataset, r: dict) -> list:
    """The report as the panel shows it."""
    out = [html.P(f"{r['n_in']:,} items against the other {r['n_out']:,}.", className="muted")]
    if r["categories"]:
        out += [html.H3("Over-represented"), html.Table(className="table report-table", children=[
            html.Thead(html.Tr([html.Th("value"), html.Th("in it"), html.Th("rest"), html.Th("p (Fisher)")])),
            html.Tbody([html.Tr([
                html.Td(f"{c['column']} = {c['value']}"),
                html.Td(f"{c['count_in']:,} ({_share(c['share_in'])})"), html.Td(_share(c["share_out"])),
                html.Td(f"{c['p']:.1e}")]) for c in r["categories"]]),
        ])]
    if r["numbers"]:
        out += [html.H3("Numbers that differ most"), html.Table(className="table report-table", children=[
            html.Thead(html.Tr([html.Th("column"), html.Th("median in it"), html.Th("rest"),
                                html.Th("effect", title="rank-biserial correlation, −1…1")])),
            html.Tbody([html.Tr([html.Td(m["column"]), html.Td(f"{m['median_in']:.4g}"),
                                 html.Td(f"{m['median_out']:.4g}"), html.Td(f"{m['effect']:+.2f}")])
                        for m in r["numbers"]]),
        ])]
    if r["nearest"]:
        out += [html.H3("Nearest to its centre, not in it"), item_strip(ds, r["nearest"])]
    return out


@callback(
    Output(ids.REPORT, "children"), Output(ids.REPORT_SAVE, "disabled"),
    Input(viewer_ids.SELECTION, "data"), Input(ids.REPORT_SUBJECT, "value"), Input(viewer_ids.DIM, "value"),
    State(viewer_ids.DATASET, "value"),
)
def show_report(selection, subject, space, name):
    """The selection (or a group) against the rest, in the shown latent space."""
    if not name or not space:
        return None, True
    ds = dataset(name)
    if space not in ds.spaces:
        return None, True
    try:
        members = _members(ds, subject, selection)
        if not len(members):
            return html.P("Select items on the map (or choose a group) to see what sets them apart.",
                          className="muted"), True
        if len(members) >= ds.n:
            return html.P("The selection holds every item: there is no rest to compare with.", className="muted"), True
        report = get_selection_report(ds, space, members)
    except DashboardError as e:
        return notices([message(e)]), True
    return report_children(ds, report), False


@callback(
    Output(ids.REPORT_MESSAGE, "children"), Output(vector_ids.VERSION, "data", allow_duplicate=True),
    Input(ids.REPORT_SAVE, "n_clicks"),
    State(ids.REPORT_SUBJECT, "value"), State(viewer_ids.SELECTION, "data"), State(viewer_ids.DATASET, "value"),
    State(vector_ids.VERSION, "data"),
    prevent_initial_call=True,
)
def save_report_vector(clicks, subject, selection, name, version):
    """The direction from the rest to the selection (or group), saved as a vector in one click."""
    if not clicks or not name:
        return no_update, no_update
    ds = dataset(name)
    try:
        group = int(subject) if subject and subject != "selection" else None
        members = _members(ds, subject, selection)
        v = save_direction(ds, members, f"selection of {len(members):,}", group_id=group)
    except DashboardError as e:
        return notices([message(e)]), no_update
    return notices([f"Saved vector {v.name!r} ({v.start_name} → {v.end_name}): choose it under Vector."], "ok"), \
        (version or 0) + 1
