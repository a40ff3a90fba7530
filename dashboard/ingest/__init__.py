"""Getting data in: recipes that build datasets from real sources, and imports."""

from __future__ import annotations

#: Recipe name → module with a ``build(data_dir, **options)`` function.
RECIPES = ("digits", "emoji", "words")


def recipe(name: str):
    """The module of a recipe (imported on demand: emoji pulls in TensorFlow)."""
    import importlib

    if name not in RECIPES:
        from ..errors import DashboardError

        raise DashboardError(f"unknown recipe {name!r}: expected one of {', '.join(RECIPES)}")
    return importlib.import_module(f"{__name__}.{name}")
