"""Advisory file locks (``flock``) that say a process is at work: a build, a background job.

The OS drops a lock when its process dies, so a killed process never leaves a stale one. Asking
whether a lock is held takes it for an instant, so taking one retries for a moment before
concluding that another process holds it.
"""

from __future__ import annotations

import fcntl
import time
from pathlib import Path
from typing import IO

#: How long taking a lock retries (a probe holds it for microseconds).
PATIENCE = 1.0


def try_lock(f: IO, patience: float = PATIENCE) -> bool:
    """Take the exclusive lock of open file ``f``; False when another process keeps holding it."""
    deadline = time.monotonic() + patience
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)


def held(path: Path) -> bool:
    """Whether some process holds the lock of file ``path`` now."""
    try:
        with open(path, "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
    except OSError:
        return False
    return False
