"""IIIF Presentation manifests (v2 and v3) as image sources for ``build images``.

``--images manifests.txt`` lists one manifest URL per line. Every canvas of
every manifest is downloaded (PixPlot took only the first), through the
Image API service at a bounded size when the canvas has one. Downloads are
polite: a few at a time, with timeouts and retries; what fails is listed in
the build report and the rest builds. Manifest and canvas labels and the
manifests' metadata become metadata columns.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import DashboardError

#: Longest side requested from an Image API service (the web image is 600 px).
SIZE = 1000
TIMEOUT = 30
RETRIES = 3
#: Simultaneous downloads (a polite client for cultural-heritage servers).
CONCURRENCY = 4
USER_AGENT = "latent-space-dashboard (IIIF import)"


@dataclass
class Canvas:
    manifest: str
    manifest_label: str
    canvas: int
    label: str
    image: str
    metadata: dict = field(default_factory=dict)


def is_manifest_list(images: str) -> bool:
    """``--images`` names a text file of manifest URLs rather than a glob."""
    path = Path(images).expanduser()
    if not path.is_file() or path.suffix.lower() not in (".txt", ".list", ""):
        return False
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    return bool(lines) and all(ln.startswith(("http://", "https://")) or ln.startswith("#") for ln in lines)


def _text(value) -> str:
    """A v2 string / list / {@value} or a v3 language map as plain text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "; ".join(filter(None, (_text(v) for v in value)))
    if isinstance(value, dict):
        if "@value" in value:
            return str(value["@value"])
        for lang in ("en", "none", *value.keys()):
            if lang in value:
                return _text(value[lang])
    return str(value)


def _service_url(service, size: int) -> str | None:
    if isinstance(service, list):
        service = service[0] if service else None
    if not isinstance(service, dict):
        return None
    base = service.get("@id") or service.get("id")
    return f"{base.rstrip('/')}/full/!{size},{size}/0/default.jpg" if base else None


def canvases(manifest: dict, url: str, size: int = SIZE) -> list[Canvas]:
    """Every canvas of a v2 or v3 Presentation manifest with its image URL."""
    label = _text(manifest.get("label"))
    metadata = {_text(m.get("label")).strip().lower(): _text(m.get("value")) for m in manifest.get("metadata") or []
                if isinstance(m, dict) and _text(m.get("label")).strip()}
    out = []
    if "sequences" in manifest:  # Presentation 2
        for seq in manifest.get("sequences") or []:
            for c in seq.get("canvases") or []:
                for img in (c.get("images") or [])[:1]:
                    res = img.get("resource") or {}
                    image = _service_url(res.get("service"), size) or res.get("@id")
                    if image:
                        out.append(Canvas(url, label, len(out), _text(c.get("label")), image, metadata))
    else:  # Presentation 3
        for c in manifest.get("items") or []:
            if c.get("type") != "Canvas":
                continue
            bodies = [a.get("body") for page in c.get("items") or [] for a in page.get("items") or []]
            for body in bodies[:1]:
                body = body[0] if isinstance(body, list) else body or {}
                image = _service_url(body.get("service"), size) or body.get("id")
                if image:
                    out.append(Canvas(url, label, len(out), _text(c.get("label")), image, metadata))
    return out


def _get(url: str, *, timeout: float = TIMEOUT, retries: int = RETRIES) -> bytes:
    """GET with a timeout; network errors and 5xx answers are retried with a growing pause."""
    last = None
    for attempt in range(retries):
        try:
            req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.read()
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
            if e.code < 500 and e.code != 429:
                break  # 404, 403: asking again will not help
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            last = str(getattr(e, "reason", e)) or type(e).__name__
        time.sleep(0.5 * 2 ** attempt)
    raise OSError(last or "failed")


def download(manifest_list: str, folder: Path, *, size: int = SIZE) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Fetch every canvas image into ``folder``: (metadata table with a filename column, failures (url, reason))."""
    urls = [ln.strip() for ln in Path(manifest_list).expanduser().read_text(encoding="utf-8", errors="replace")
            .splitlines() if ln.strip() and not ln.strip().startswith("#")]
    folder.mkdir(parents=True, exist_ok=True)
    failures: list[tuple[str, str]] = []
    found: list[Canvas] = []
    for m, url in enumerate(urls):
        try:
            manifest = json.loads(_get(url))
            items = canvases(manifest, url, size)
            if not items:
                failures.append((url, "manifest has no canvases with images"))
            for c in items:
                c.canvas = (m, c.canvas)
            found += items
        except (OSError, ValueError) as e:
            failures.append((url, f"manifest not loaded ({e})"))

    def fetch(c: Canvas):
        name = f"{c.canvas[0]:04d}-{c.canvas[1]:05d}.jpg"
        target = folder / name
        if not target.exists():  # a re-run downloads only what is missing
            try:
                data = _get(c.image)
            except OSError as e:
                return c, None, str(e)
            tmp = target.with_suffix(".part")
            tmp.write_bytes(data)
            tmp.replace(target)
        return c, name, None

    rows = []
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        for c, name, error in pool.map(fetch, found):
            if error:
                failures.append((c.image, f"image not downloaded ({error}); canvas {c.canvas[1] + 1} of {c.manifest}"))
                continue
            rows.append({"filename": name, "manifest": c.manifest, "manifest_label": c.manifest_label,
                         "canvas": c.canvas[1] + 1, "canvas_label": c.label, "permalink": c.image,
                         **{k: v for k, v in c.metadata.items() if k not in ("filename", "i", "name")}})
    if not rows:
        raise DashboardError(f"--images {manifest_list}: no image could be downloaded from {len(urls)} manifest(s)"
                             + (f"; first failure: {failures[0][0]}: {failures[0][1]}" if failures else ""))
    return pd.DataFrame(rows).astype({"canvas": "int64"}), failures
