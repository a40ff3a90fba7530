"""Interactive maps of image collections and latent spaces.

``python -m dashboard --dataset emoji`` builds and serves a dataset;
``python -m dashboard --help`` lists the commands.
"""

import os
from pathlib import Path

__version__ = "0.1.0"

# UMAP's numba functions take 60–85 s to compile on first use. Keep numba's
# cache in one per-user folder so that cost is paid once per machine, not
# once per process, even when site-packages is read-only.
os.environ.setdefault(
    "NUMBA_CACHE_DIR",
    str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dashboard" / "numba"),
)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
