"""The registry of projections: one entry per way of laying a latent space out in 2-D.

Every place that lists projections reads this registry: the map's menu and its
parameter inputs, the URL codec (``proj=`` and each parameter's key), the cache
key, the background jobs (``background`` entries are computed off the request
while PCA is shown), ``export-layout``, ``export-network`` and the CSV export.
Adding a projection is one :func:`register` call with its function;
``tests/test_projection_registry.py`` runs every entry through all of them,
as scikit-learn's ``check_estimator`` does for estimators.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .compute import projections as fn
from .errors import DashboardError
from .store import METRICS


@dataclass(frozen=True)
class Param:
    """One parameter: its type, bounds or choices, default, and whether the map offers an input for it."""

    type: type
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    help: str = ""
    step: float | None = None  # the map's number input steps by this; None: no input on the map
    label: str = ""  # the input's label on the map (default: the name)

    def check(self, method: str, name: str, value: Any) -> Any:
        """The value as this parameter's type; DashboardError names the parameter, what it allows and what it got."""
        if value is None:
            return self.default
        try:
            v = self.type(value)
        except (TypeError, ValueError):
            raise DashboardError(f"{method}: {name} must be {self.type.__name__}, got {value!r}") from None
        if isinstance(v, float) and not math.isfinite(v):
            raise DashboardError(f"{method}: {name} must be a finite number, got {value!r}")
        if self.choices is not None and v not in self.choices:
            raise DashboardError(f"{method}: {name} must be one of {', '.join(map(str, self.choices))}, got {value!r}")
        if (self.low is not None and v < self.low) or (self.high is not None and v > self.high):
            raise DashboardError(f"{method}: {name} must be between {self.low} and {self.high}, got {value!r}")
        return v


#: compute(X, params, *, y, random_state, progress) -> n × 2 array; ``params`` are checked and complete
#: (``metric`` filled in, ``label`` already turned into ``y``).
Compute = Callable[..., np.ndarray]


@dataclass(frozen=True)
class Projection:
    """A registered projection."""

    name: str  # its id in URLs, the cache key and the CLI
    label: str  # what the menu shows
    compute: Compute
    params: dict[str, Param] = field(default_factory=dict)
    #: slow (minutes on large data): computed in a background job, never inside a page request
    background: bool = False
    #: compute reads X only by row ranges (``X[a:b]``), so a large space comes as ``store.Rows``, never whole
    blocks: bool = False


PROJECTIONS: dict[str, Projection] = {}


def register(projection: Projection) -> Projection:
    """Add (or replace) a projection; every menu, URL, cache key and export then knows it."""
    PROJECTIONS[projection.name] = projection
    return projection


def unregister(name: str) -> None:
    PROJECTIONS.pop(name, None)


def get(name: str) -> Projection:
    """The projection called ``name``; DashboardError lists the registered ones."""
    try:
        return PROJECTIONS[name]
    except KeyError:
        raise DashboardError(f"unknown projection {name!r}: expected one of {', '.join(PROJECTIONS)}") from None


def _metric() -> Param:
    return Param(str, None, choices=METRICS, help="distance [default: the dataset's]")


register(Projection(
    "pca", "PCA",
    lambda X, p, *, y, random_state, progress: fn.pca(X, random_state=random_state),
    blocks=True,
))
register(Projection(
    "tsne", "t-SNE",
    lambda X, p, *, y, random_state, progress: fn.tsne(X, random_state=random_state, progress=progress, **p),
    params={"perplexity": Param(float, 30.0, 2, 200, help="t-SNE perplexity", step=1, label="Perplexity"), "metric": _metric()},
    background=True,
))
register(Projection(
    "umap", "UMAP",
    lambda X, p, *, y, random_state, progress: fn.umap(
        X, y=y, random_state=random_state, progress=progress, **{k: v for k, v in p.items() if k != "label"}),
    params={
        "n_neighbors": Param(int, 15, 2, 200, help="UMAP neighbourhood size", step=1, label="Neighbours"),
        "min_dist": Param(float, 0.1, 0.0, 1.0, help="UMAP minimum distance", label="Min dist",
                          step=0.01),  # PixPlot's default, 0.01, must be a valid value of the input
        "metric": _metric(),
        "label": Param(str, None, help="categorical column for supervised UMAP"),
    },
    background=True,
))


def load_plugins() -> list[str]:
    """Import the modules named in ``DASHBOARD_PLUGINS`` (comma-separated), which register their
    own projections; every process (the server, its job processes) loads the same ones."""
    import importlib
    import os

    names = [n.strip() for n in os.environ.get("DASHBOARD_PLUGINS", "").split(",") if n.strip()]
    for name in names:
        importlib.import_module(name)
    return names


load_plugins()
