"""The computation cache: the only module that builds cache keys.

A key names everything a result depends on: the cache format, the dataset,
the *content fingerprint* of the latent space (so a rebuilt dataset with
new data can never serve a stale layout, while an identical rebuild reuses
its layouts), the method and its full, defaulted parameters. Values live in
a diskcache under ``<data_dir>/.cache`` shared by every worker process.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import diskcache

CACHE_VERSION = 2  # 2: layouts normalised by their central 99%, not their extremes
CACHE_DIR = ".cache"
SIZE_LIMIT = 8 * 2**30


def open_cache(data_dir: Path | str) -> diskcache.Cache:
    """The shared cache of a data directory (cheap to open; safe across processes)."""
    return diskcache.Cache(str(Path(data_dir) / CACHE_DIR), size_limit=SIZE_LIMIT)


def make_key(dataset: str, fingerprint: str, space: str, method: str, params: dict[str, Any]) -> str:
    """A canonical string key (JSON, sorted parameters)."""
    return json.dumps(
        {
            "v": CACHE_VERSION,
            "dataset": dataset,
            "space": str(space),
            "fingerprint": fingerprint,
            "method": method,
            "params": {k: params[k] for k in sorted(params)},
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def parse_key(key: str) -> dict | None:
    try:
        d = json.loads(key)
    except (TypeError, ValueError):
        return None
    return d if isinstance(d, dict) and d.get("v") == CACHE_VERSION else None


def get_or_compute(cache: diskcache.Cache, key: str, compute: Callable[[], Any]) -> tuple[Any, bool]:
    """Return ``(value, hit)``; on a miss run ``compute`` and store its result."""
    value = cache.get(key, default=None, retry=True)
    if value is not None:
        return value, True
    start = time.perf_counter()
    value = compute()
    cache.set(key, value, retry=True, tag=f"seconds={time.perf_counter() - start:.3f}")
    return value, False


def cached(data_dir: Path | str, key: str, compute: Callable[[], Any] | None) -> tuple[Any, bool]:
    """``(value, hit)`` of ``key`` in a data directory's cache, computed and stored on a miss.

    With ``compute=None`` nothing is computed: ``(None, False)`` on a miss (what a page
    request uses for results that take minutes, such as UMAP).
    """
    with open_cache(data_dir) as c:
        if compute is None:
            value = c.get(key, default=None, retry=True)
            return value, value is not None
        return get_or_compute(c, key, compute)


def contains(data_dir: Path | str, key: str) -> bool:
    """Whether ``key`` is in a data directory's cache (its value is not read)."""
    with open_cache(data_dir) as c:
        return key in c


def entries_for(cache: diskcache.Cache, dataset: str) -> list[dict]:
    """Every cache entry of one dataset, decoded from its key."""
    out = []
    for key in cache.iterkeys():
        d = parse_key(key)
        if d and d["dataset"] == dataset:
            out.append(d)
    return out
