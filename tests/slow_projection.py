"""A projection for the job tests, loaded through DASHBOARD_PLUGINS in the server and its job processes:
it takes ``seconds`` (reporting progress as it goes) and logs each run's pid to ``$SLOW_PROJECTION_LOG`` when
it starts, and to ``$SLOW_PROJECTION_DONE_LOG`` when it finishes."""

from __future__ import annotations

import os
import time

import numpy as np

from dashboard.registry import Param, Projection, PROJECTIONS, register


def _slow(X, p, *, y, random_state, progress):
    log = os.environ.get("SLOW_PROJECTION_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
    steps = 20
    for k in range(steps):
        time.sleep(p["seconds"] / steps)
        if progress:
            progress((k + 1) / steps)
    done = os.environ.get("SLOW_PROJECTION_DONE_LOG")
    if done:
        with open(done, "a") as f:
            f.write(f"{os.getpid()}\n")
    return np.asarray(X[:, :2], dtype=np.float32)


if "slow" not in PROJECTIONS:
    register(Projection("slow", "Slow", _slow,
                        params={"seconds": Param(float, 8.0, 0.1, 600, help="how long it takes", label="Seconds")},
                        background=True))
