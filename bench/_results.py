"""Where benchmarks keep their figures: bench/results/<name>.json (git-ignored)."""

from __future__ import annotations

import json
import os
from pathlib import Path

#: DASHBOARD_BENCH_RESULTS moves them (the test suite's tiny runs write into a temporary folder).
RESULTS = Path(os.environ.get("DASHBOARD_BENCH_RESULTS") or Path(__file__).resolve().parent / "results")


def save(name: str, result: dict) -> Path:
    """Write one benchmark's figures as JSON and return the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path
