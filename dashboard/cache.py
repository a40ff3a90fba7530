"""The computation cache: the only module that builds cache keys.

A key names everything a result depends on: the cache format, the dataset,
the *content fingerprint* of the latent space (so a rebuilt dataset with
new data can never serve a stale layout, while an identical rebuild reuses
its layouts), the method and its full, defaulted parameters. Values live in
a diskcache under ``<data_dir>/.cache`` shared by every worker process (see
:func:`cache_dir` for read-only data directories). A cache that cannot be
written (a full disk) never fails a read: results are computed and served
without being kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import diskcache

log = logging.getLogger(__name__)

CACHE_VERSION = 2  # 2: layouts normalised by their central 99%, not their extremes
CACHE_DIR = ".cache"
SIZE_LIMIT = 8 * 2**30


def cache_dir(data_dir: Path | str) -> Path:
    """Where a data directory's cache (and job state) lives.

    ``DASHBOARD_CACHE_DIR`` when set; else ``<data_dir>/.cache``; and when the data
    directory is read-only (a shared, published collection), a per-user folder
    named after it, so that a read-only collection can still be served.
    """
    if os.environ.get("DASHBOARD_CACHE_DIR"):
        return Path(os.environ["DASHBOARD_CACHE_DIR"])
    data_dir = Path(data_dir)
    inside = data_dir / CACHE_DIR
    if os.access(inside if inside.exists() else data_dir, os.W_OK) or not data_dir.exists():
        return inside
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return home / "dashboard" / "cache-of" / hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:16]


class _Unwritable:
    """Stands in for a cache that cannot be opened (a full disk): nothing is kept, nothing fails."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def get(self, key, default=None, **kw):
        return default

    def set(self, *a, **kw) -> bool:
        return False

    def __contains__(self, key) -> bool:
        return False

    def iterkeys(self):
        return iter(())

    def close(self) -> None:
        pass


def _write_failed(e: BaseException) -> bool:
    import errno

    if isinstance(e, OSError):
        return e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES)
    # sqlite's words for the same (a full disk shows as an I/O error when the WAL cannot grow)
    return isinstance(e, sqlite3.OperationalError) and any(
        m in str(e) for m in ("full", "readonly", "unable to open", "disk I/O error"))


def open_cache(data_dir: Path | str) -> diskcache.Cache:
    """The shared cache of a data directory (cheap to open; safe across processes).

    When it cannot be opened for lack of space or permission, a stand-in that keeps nothing.
    """
    try:
        return diskcache.Cache(str(cache_dir(data_dir)), size_limit=SIZE_LIMIT)
    except (OSError, sqlite3.OperationalError) as e:
        if not _write_failed(e):
            raise
        log.warning("the cache of %s cannot be opened (%s): results are computed and not kept", data_dir, e)
        return _Unwritable()


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
    try:
        cache.set(key, value, retry=True, tag=f"seconds={time.perf_counter() - start:.3f}")
    except (OSError, sqlite3.OperationalError) as e:
        if not _write_failed(e):
            raise
        log.warning("a result could not be kept in the cache (%s); it is served all the same", e)
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


class Memo:
    """The last few values by key, in this process: what every request of a view reads (a tile pyramid,
    an item's colours, a column's codes) is computed or read from the cache once, not per request.

    A memo of cache entries, never state: keys name everything a value depends on.
    """

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, compute):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = compute()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value
