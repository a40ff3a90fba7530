"""The deck.gl build the map page runs (served at ``/deck.js``).

The map's first frame waits for this script to run. deck.gl's own browser build (the ``deck.gl`` and
``@deck.gl/json`` npm packages, 1.7 MB) runs in about 0.25 s in a software-GL Chromium on 2 cores; the build
the pydeck wheel ships (4.3 MB: also its Jupyter widget, map providers and loaders) in about 1.4 s. So the
npm build is fetched once per machine with ``npm pack`` (the version pydeck's build is, so both draw the
same), in the background when a server starts, into the user's cache. Until it is there, or without npm or
the registry, pydeck's build is served: the page works the same with either.
"""

from __future__ import annotations

import gzip
import os
import tarfile
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

#: The deck.gl release inside the pydeck wheel (tests/test_deckjs.py checks that they agree).
VERSION = "9.3.6"
PACKAGES = ("deck.gl", "@deck.gl/json")


def cache_path() -> Path:
    """Where the npm build is kept: one file per version, for every data directory of the user."""
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return home / "dashboard" / f"deck.gl-{VERSION}.min.js"


def pydeck_path() -> Path:
    import pydeck

    return Path(pydeck.__file__).parent / "nbextension" / "static" / "index.js"


def fetch(target: Path | None = None) -> Path:
    """``npm pack`` deck.gl and @deck.gl/json and keep their browser builds, one after the other, as one
    script at ``target`` (default :func:`cache_path`); nothing is fetched when it is there already.
    Raises :class:`DashboardError` (one line) without npm or the registry."""
    from .ingest.emoji import fetch_package

    target = target or cache_path()
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".deck-") as scratch:
        parts = []
        for package in PACKAGES:
            tarball = fetch_package(package, Path(scratch), version=VERSION,
                                    help="the map then uses the deck.gl build of the pydeck wheel")
            with tarfile.open(tarball) as tar:
                parts.append(tar.extractfile("package/dist.min.js").read())
        part = Path(scratch) / target.name
        part.write_bytes(b"\n;\n".join(parts))
        os.replace(part, target)  # whole or absent: a server never serves half a script
    return target


_fetching: threading.Thread | None = None


def fetch_in_background() -> threading.Thread:
    """:func:`fetch` in a daemon thread (a server starts at once; pages get the npm build once it is
    there), one per process however many apps it makes; a failure is one line on stderr."""
    global _fetching
    if _fetching is not None:
        return _fetching

    def run() -> None:
        import sys

        from .errors import DashboardError

        try:
            fetch()
        except (DashboardError, OSError, tarfile.TarError, KeyError) as e:
            print(f"deck.gl {VERSION} from npm is not available ({e}); the map uses the pydeck wheel's build.",
                  file=sys.stderr)

    _fetching = threading.Thread(target=run, name="deck.gl fetch", daemon=True)
    _fetching.start()
    return _fetching


def bundle() -> tuple[bytes, bytes, str]:
    """The script to serve: (plain, gzipped, which build), the npm build when it has been fetched."""
    path, which = cache_path(), "npm"
    if not path.exists():
        path, which = pydeck_path(), "pydeck"
    stat = path.stat()
    return (*_read(str(path), stat.st_mtime_ns, stat.st_size), which)


@lru_cache(maxsize=2)
def _read(path: str, _mtime: int, _size: int) -> tuple[bytes, bytes]:
    raw = Path(path).read_bytes()
    return raw, gzip.compress(raw, compresslevel=6)
