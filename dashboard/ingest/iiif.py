"""IIIF Presentation manifests (v2 and v3) as image sources for ``build images``.

``--images manifests.txt`` lists one manifest (or collection) URL per line.
Collections are followed to their member manifests, ``MAX_DEPTH`` levels
deep. Every canvas of a manifest's first sequence (v2) or ``items`` (v3) is
one item, downloaded through its Image API service in a form the service's
version and compliance level support (:func:`image_request`), else from the
image's own URL. A ``Choice`` gives its default (first) image, a
``SpecificResource`` its ``source``. Sound, video, PDF and other bodies are
not downloaded, and each canvas not taken is listed in the build report with
why, as is every manifest or image that fails. Downloads are polite: a few at
a time, with timeouts, retries, a size limit and a Content-Type check.

Downloads are cached by canvas and image URL, not by position, so editing the
manifest list never attaches an image to another canvas's metadata; files no
manifest names any more are removed.

Columns: ``manifest``, ``manifest_label``, ``canvas`` (the canvas's position
in its manifest, counting from 1, whether or not it was taken),
``canvas_label``, ``permalink`` (the image URL) and the manifest's and
canvas's ``metadata`` (the canvas's value wins), lower-cased labels as
column names (``meta_<label>`` where a label is one of our columns). A label given
several times keeps every value, joined with ``"; "``. Multilingual values
(v2 ``@language`` lists and v3 language maps alike) give the first language
of :data:`LANGUAGES` they have, else their first. HTML in values becomes text
with its http(s) links as ``[text](url)`` (:mod:`.html_text`).
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import json
import re
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from ..errors import DashboardError
from .html_text import to_text

#: Longest side requested from an Image API service (the web image is 600 px).
SIZE = 1000
TIMEOUT = 30
RETRIES = 3
#: Simultaneous downloads (a polite client for cultural-heritage servers).
CONCURRENCY = 4
USER_AGENT = "latent-space-dashboard (IIIF import)"
#: Largest image and manifest accepted (a whole video or a master TIFF is not a thumbnail source).
MAX_IMAGE_BYTES = 50 * 2**20
MAX_MANIFEST_BYTES = 64 * 2**20
#: How many collection levels are followed below a listed collection.
MAX_DEPTH = 3
#: Preferred languages of multilingual values, in order; ``none`` is a value given without a language.
LANGUAGES = ("en", "none")

#: Our own columns; a metadata label with one of these names becomes ``meta_<name>``.
COLUMNS = ("filename", "i", "name", "folder", "manifest", "manifest_label", "canvas", "canvas_label", "permalink")
#: Column types of the table :func:`download` returns, for the build's schema (the canvas is a number).
SCHEMA = {"canvas": "numeric", "permalink": "text"}
#: Characters a URL keeps when quoted: the reserved ones and ``%`` (so an already quoted URL stays as it is).
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"


@dataclass
class Canvas:
    """One canvas taken from a manifest: where its image is and what describes it."""

    manifest: str
    manifest_label: str
    canvas: int  # position in the manifest, from 1
    canvas_id: str
    label: str
    image: str  # the URL requested
    metadata: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Names the cached download: the canvas and the image URL, never a position in the list."""
        text = f"{self.manifest}\n{self.canvas_id or self.canvas}\n{self.image}"
        return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclass
class ImageService:
    """An Image API service as a manifest declares it."""

    base: str
    version: int  # 1, 2 or 3
    level: int  # compliance level 0, 1 or 2
    features: frozenset = frozenset()
    sizes: tuple = ()  # (w, h) pairs a level-0 service offers


class Refused(Exception):
    """An answer not worth retrying: not an image, or too large."""


def is_manifest_list(images: str) -> bool:
    """``--images`` names a text file of manifest URLs rather than a glob."""
    path = Path(images).expanduser()
    if not path.is_file() or path.suffix.lower() not in (".txt", ".list", ""):
        return False
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    return bool(lines) and all(ln.startswith(("http://", "https://")) or ln.startswith("#") for ln in lines)


def quote_url(url: str) -> str:
    """``url`` safe to request: spaces and other characters a URL cannot hold are %-escaped, the rest kept."""
    return quote(url.strip(), safe=_URL_SAFE)


# --------------------------------------------------------------------------
# values: strings, v2 @language lists, v3 language maps


def _by_language(value, out: dict[str, list[str]], lang: str = "none") -> None:
    if value is None:
        return
    if isinstance(value, (str, int, float)):
        out.setdefault(lang, []).append(str(value))
    elif isinstance(value, list):
        for v in value:
            _by_language(v, out, lang)
    elif isinstance(value, dict):
        if "@value" in value:  # v2
            _by_language(value["@value"], out, str(value.get("@language") or "none"))
        else:  # v3 language map
            for key, v in value.items():
                _by_language(v, out, "none" if key in ("@none", "none") else str(key))


def values(value, *, links: bool = True) -> list[str]:
    """The strings of a IIIF value in one language, as text (see :data:`LANGUAGES`)."""
    found: dict[str, list[str]] = {}
    _by_language(value, found)
    if not found:
        return []
    chosen = next((lang for want in LANGUAGES for lang in found
                   if lang.lower() == want or lang.lower().startswith(want + "-")), next(iter(found)))
    texts = (to_text(s, links=links) for s in found[chosen])
    return list(dict.fromkeys(t for t in texts if t))  # in order, without repeats


def text(value, *, links: bool = False) -> str:
    """A IIIF value as one line of text in the preferred language; several values joined with ``"; "``."""
    return "; ".join(values(value, links=links))


def metadata(entries) -> dict[str, str]:
    """``metadata`` pairs as {lower-cased label: every value of that label, joined with ``"; "``}."""
    found: dict[str, list[str]] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        label = text(entry.get("label")).strip().lower()
        if label:
            found.setdefault(f"meta_{label}" if label in COLUMNS else label, []).extend(values(entry.get("value")))
    return {label: "; ".join(dict.fromkeys(vs)) for label, vs in found.items() if vs}


# --------------------------------------------------------------------------
# Image API services and requests


def _id(obj) -> str:
    if isinstance(obj, str):
        return obj
    return str(obj.get("id") or obj.get("@id") or "") if isinstance(obj, dict) else ""


def _as_list(value) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def image_service(services, default_version: int) -> ImageService | None:
    """The best Image API service among a body's ``service`` entries (others, e.g. auth, are ignored)."""
    found = []
    for s in _as_list(services):
        if not isinstance(s, dict) or not _id(s):
            continue
        kind = str(s.get("type") or s.get("@type") or "")
        context = " ".join(map(str, _as_list(s.get("@context"))))
        profiles = _as_list(s.get("profile"))
        profile = " ".join(p for p in profiles if isinstance(p, str))
        marks = f"{kind} {context} {profile}"
        if "image-api" in marks or "library.stanford.edu" in marks or re.search(r"ImageService1|/image/1/", marks):
            version = 1
        elif m := re.search(r"ImageService([23])|/image/([23])/", marks):
            version = int(m.group(1) or m.group(2))
        elif "level" in profile:  # a bare "level1" is Image API 3's way
            version = 3
        elif kind or context:
            continue  # a service of another kind (auth, search, …)
        else:
            version = default_version
        level = int(m.group(1)) if (m := re.search(r"level([0-2])", profile)) else 1  # most declare level 1
        features = {str(f) for p in profiles if isinstance(p, dict) for f in _as_list(p.get("supports"))}
        features |= {str(f) for f in _as_list(s.get("extraFeatures"))}
        sizes = tuple((w, h) for z in _as_list(s.get("sizes")) if isinstance(z, dict)
                      and (w := _int(z.get("width"))) and (h := _int(z.get("height"))))
        base = re.sub(r"/info\.json$", "", _id(s).strip()).rstrip("/")
        found.append(ImageService(base, version, level, frozenset(features), sizes))
    return max(found, key=lambda s: (s.version, s.level), default=None)


def image_request(service: ImageService, width: int | None = None, height: int | None = None,
                  size: int = SIZE) -> str:
    """The URL of the image at ``size`` px on its longest side, in a form the service's version and level support.

    Level 2 (or the ``sizeByConfinedWh`` feature) gives ``!w,h``; level 1 gives ``w,`` (or ``,h`` for a portrait
    image of known size); level 0 gives the listed size nearest above ``size``, else the whole image. An image
    known to be smaller than ``size`` is asked for whole (level 1 need not scale up). Image API 1 calls the
    default quality ``native``.
    """
    whole = "max" if service.version == 3 else "full"
    quality = "native" if service.version == 1 else "default"
    known = bool(width and height)
    if known and max(width, height) <= size:
        form = whole
    elif service.level >= 2 or "sizeByConfinedWh" in service.features:
        form = f"!{size},{size}"
    elif service.level >= 1 or {"sizeByW", "sizeByH"} & service.features:
        by_w = service.level >= 1 or "sizeByW" in service.features
        by_h = service.level >= 1 or "sizeByH" in service.features
        form = f",{size}" if by_h and (not by_w or (known and height > width)) else f"{size},"
    elif service.sizes:
        big = [s for s in service.sizes if max(s) >= size]
        w, h = min(big, key=max) if big else max(service.sizes, key=max)
        form = f"{w},{h}" if service.version == 3 else f"{w},"
    else:
        form = whole
    return f"{service.base}/full/{form}/0/{quality}.jpg"


# --------------------------------------------------------------------------
# manifests and their canvases

_KINDS = {"image": None, "dctypes:image": None, "dctypes:stillimage": None,
          "video": "video", "dctypes:movingimage": "video", "sound": "sound", "audio": "sound",
          "dctypes:sound": "sound", "text": "text", "dctypes:text": "text", "foaf:document": "document",
          "model": "3D model", "dataset": "dataset"}


def _resolve(body) -> dict | None:
    """The image a body paints: a Choice's default (first) item, a SpecificResource's source."""
    for _ in range(5):  # nested Choices / SpecificResources, bounded
        if isinstance(body, list):
            body = body[0] if body else None
        if isinstance(body, str):
            return {"id": body}
        if not isinstance(body, dict):
            return None
        kind = str(body.get("type") or body.get("@type") or "")
        if kind in ("Choice", "oa:Choice"):
            default = body.get("default")
            body = default if isinstance(default, dict) else (body.get("items") or body.get("item"))
        elif kind in ("SpecificResource", "oa:SpecificResource") or ("source" in body and not body.get("service")):
            body = body.get("source") or body.get("full")
        else:
            return body
    return None


def _not_an_image(body: dict) -> str | None:
    """What a body is when it is not an image ("video", "sound", "PDF"…), from its declared format and type."""
    fmt = str(body.get("format") or "").lower().strip()
    kinds = [str(k).lower() for k in _as_list(body.get("type") or body.get("@type"))]
    if fmt.startswith("image/"):
        return None
    if fmt == "application/pdf":
        return "PDF"
    if fmt:
        return {"video": "video", "audio": "sound", "text": "text"}.get(fmt.split("/")[0], fmt)
    for k in kinds:
        if k in _KINDS and _KINDS[k]:
            return _KINDS[k]
    return None


def _int(value) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _painted(canvas: dict, version: int):
    """The first painting annotation's body of a canvas (v2 ``images``, v3 ``items``)."""
    if version == 2:
        for anno in _as_list(canvas.get("images")):
            if isinstance(anno, dict) and anno.get("resource") is not None:
                return anno["resource"]
        return None
    for page in _as_list(canvas.get("items")):
        for anno in _as_list(page.get("items") if isinstance(page, dict) else None):
            motivations = {str(m) for m in _as_list(anno.get("motivation"))} if isinstance(anno, dict) else {""}
            if (not motivations or motivations & {"painting", "sc:painting"}) and anno.get("body") is not None:
                return anno["body"]
    return None


def canvases(manifest: dict, url: str, size: int = SIZE) -> tuple[list[Canvas], list[tuple[str, str]]]:
    """Every canvas of a v2 or v3 Presentation manifest: (those with an image, (item, reason) for the others)."""
    label = text(manifest.get("label")) or url
    meta = metadata(manifest.get("metadata"))
    skipped: list[tuple[str, str]] = []
    if "sequences" in manifest:  # Presentation 2: the first sequence, as viewers show
        version = 2
        sequences = [s for s in _as_list(manifest.get("sequences")) if isinstance(s, dict)]
        items = _as_list(sequences[0].get("canvases")) if sequences else []
        if len(sequences) > 1:
            skipped.append((f"{url} sequence 2" + (f"–{len(sequences)}" if len(sequences) > 2 else ""),
                            f"not taken: only the first sequence is shown, as viewers do; manifest {label!r}"))
    else:
        version = 3
        items = _as_list(manifest.get("items"))
    out = []
    for k, c in enumerate(items, start=1):
        where = f"{url} canvas {k}"
        if not isinstance(c, dict):
            skipped.append((where, f"not a canvas; manifest {label!r}"))
            continue
        c_label = text(c.get("label"))
        where += f" ({c_label})" if c_label else ""
        kind = str(c.get("type") or c.get("@type") or "Canvas")
        if kind not in ("Canvas", "sc:Canvas"):
            skipped.append((where, f"not a canvas ({kind}); manifest {label!r}"))
            continue
        body = _resolve(_painted(c, version))
        if body is None:
            skipped.append((where, f"no image on this canvas; manifest {label!r}"))
            continue
        if other := _not_an_image(body):
            fmt = body.get("format")
            skipped.append((where, f"{other} canvas, not downloaded{f' ({fmt})' if fmt and fmt != other else ''};"
                                   f" manifest {label!r}"))
            continue
        service = image_service(body.get("service"), version)
        width, height = _int(body.get("width")), _int(body.get("height"))
        image = image_request(service, width, height, size) if service else _id(body)
        if not image:
            skipped.append((where, f"the image has no URL; manifest {label!r}"))
            continue
        out.append(Canvas(url, label, k, _id(c), c_label, quote_url(image), {**meta, **metadata(c.get("metadata"))}))
    return out, skipped


def _members(doc: dict) -> list[str] | None:
    """Member manifest and collection URLs of a v2 or v3 collection; None when ``doc`` is not a collection."""
    kind = str(doc.get("type") or doc.get("@type") or "")
    if kind in ("Collection", "sc:Collection"):
        members = (_as_list(doc.get("collections")) + _as_list(doc.get("manifests"))
                   + _as_list(doc.get("members")) + _as_list(doc.get("items")))
    elif kind not in ("Manifest", "sc:Manifest") and ("manifests" in doc or "collections" in doc) \
            and "sequences" not in doc:
        members = _as_list(doc.get("collections")) + _as_list(doc.get("manifests"))
    else:
        return None
    return [_id(m) for m in members if _id(m)]


# --------------------------------------------------------------------------
# downloads


def _get(url: str, *, timeout: float = TIMEOUT, retries: int = RETRIES, image: bool = False) -> bytes:
    """GET with a timeout and a size limit; network errors and 5xx answers are retried with a growing pause.

    With ``image``, an answer whose Content-Type is not an image is refused before its body is read.
    """
    if not url.strip().lower().startswith(("http://", "https://")):
        raise Refused("not an http(s) URL, not read")  # a manifest must not make us read local files
    limit = MAX_IMAGE_BYTES if image else MAX_MANIFEST_BYTES
    last = None
    for attempt in range(retries):
        try:
            req = urllib.request.Request(quote_url(url), headers={"User-Agent": USER_AGENT})
            with urllib.request.urlopen(req, timeout=timeout) as r:
                kind = r.headers.get_content_type() if r.headers.get("Content-Type") else ""
                if image and kind and not kind.startswith("image/") and kind not in (
                        "application/octet-stream", "binary/octet-stream"):
                    raise Refused(f"not an image (Content-Type {kind}), not downloaded")
                length = _int(r.headers.get("Content-Length"))
                data = r.read(limit + 1) if length is None or length <= limit else b""
                if (length or 0) > limit or len(data) > limit:
                    raise Refused(f"larger than the {limit:,}-byte limit, not downloaded")
                return data
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
            if e.code < 500 and e.code != 429:
                break  # 404, 403: asking again will not help
        except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException) as e:
            last = str(getattr(e, "reason", e)) or type(e).__name__
        if attempt + 1 < retries:
            time.sleep(0.5 * 2 ** attempt)
    raise OSError(last or "failed")


def _read_list(manifest_list: str) -> list[str]:
    return [ln.strip() for ln in Path(manifest_list).expanduser().read_text(encoding="utf-8", errors="replace")
            .splitlines() if ln.strip() and not ln.strip().startswith("#")]


def find_canvases(urls: list[str], size: int = SIZE) -> tuple[list[Canvas], list[tuple[str, str]]]:
    """Every canvas of the manifests ``urls`` name, following collections; (canvases, (item, reason) skipped).

    Whatever one manifest does wrong is one report line, never the end of the run.
    """
    found: list[Canvas] = []
    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()

    def visit(url: str, depth: int) -> None:
        if url in seen:
            if depth == 0:
                skipped.append((url, "listed more than once; taken once"))
            return
        seen.add(url)
        try:
            doc = json.loads(_get(url))
        except Exception as e:  # noqa: BLE001 -- any failure of one manifest is a report line
            skipped.append((url, str(e) if isinstance(e, Refused) else f"manifest not loaded ({e})"))
            return
        if not isinstance(doc, dict):
            skipped.append((url, f"not a IIIF manifest or collection (a JSON {type(doc).__name__})"))
            return
        try:
            members = _members(doc)
            if members is not None:
                if depth >= MAX_DEPTH:
                    skipped.append((url, f"collection not followed: more than {MAX_DEPTH} collections deep"))
                elif not members:
                    skipped.append((url, "collection has no manifests"))
                for member in members if depth < MAX_DEPTH else []:
                    visit(member, depth + 1)
                return
            taken, left = canvases(doc, url, size)
        except Exception as e:  # noqa: BLE001 -- a manifest shaped in a way we did not foresee
            skipped.append((url, f"manifest not read ({type(e).__name__}: {e})"))
            return
        if not taken and not left:
            skipped.append((url, "manifest has no canvases"))
        found.extend(taken)
        skipped.extend(left)

    for url in urls:
        visit(url, 0)
    return found, skipped


def _key_of(path: Path) -> str:
    return path.stem.rsplit("-", 1)[-1]


def download(manifest_list: str, folder: Path, *, size: int = SIZE) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Fetch every canvas image into ``folder``: (metadata table with a filename column, skipped (item, reason)).

    Files are named ``<manifest>-<canvas>-<key>``: the numbers keep the list's order, the key (canvas and
    image URL) says what the file is, so a file is reused, renamed when the list moves, and removed when no
    manifest names it any more.
    """
    urls = _read_list(manifest_list)
    folder.mkdir(parents=True, exist_ok=True)
    found, failures = find_canvases(urls, size)
    manifests = {url: m for m, url in enumerate(dict.fromkeys(c.manifest for c in found))}
    by_key: dict[str, Canvas] = {}
    for c in found:
        if c.key in by_key:
            failures.append((f"{c.manifest} canvas {c.canvas}", f"the same canvas and image as canvas "
                                                                 f"{by_key[c.key].canvas}; taken once"))
        else:
            by_key[c.key] = c
    cached = {_key_of(p): p for p in folder.iterdir() if p.is_file() and p.suffix != ".part"}
    for p in folder.iterdir():  # what no manifest names any more would become an item without metadata
        if p.is_file() and (p.suffix == ".part" or _key_of(p) not in by_key):
            p.unlink()

    def stem(c: Canvas) -> str:
        return f"{manifests[c.manifest]:04d}-{c.canvas:05d}-{c.key}"

    def fetch(c: Canvas) -> tuple[Canvas, str | None, str | None]:
        """(canvas, file name, None) or (canvas, None, why not); a full disk alone raises."""
        old = cached.get(c.key)
        # Saved as .jpg whatever the server sent: the build reads each file by its content.
        target = folder / (stem(c) + ".jpg")
        try:
            if old is not None and old.exists():  # a re-run downloads only what is missing
                if old != target:
                    old.replace(target)
                return c, target.name, None
            data = _get(c.image, image=True)
            tmp = target.with_suffix(".part")
            tmp.write_bytes(data)
            tmp.replace(target)
            return c, target.name, None
        except Refused as e:
            return c, None, str(e)
        except OSError as e:
            if e.errno == errno.ENOSPC:
                raise DashboardError(f"the disk is full: {folder}") from e
            return c, None, f"image not downloaded ({e})"
        except Exception as e:  # noqa: BLE001 -- one image's failure is a report line, never the end of the build
            return c, None, f"image not downloaded ({type(e).__name__}: {e})"

    rows = []
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        for c, name, error in pool.map(fetch, by_key.values()):
            if error:
                failures.append((f"{c.manifest} canvas {c.canvas}" + (f" ({c.label})" if c.label else ""),
                                 f"{error}: {c.image}; manifest {c.manifest_label!r}"))
                continue
            rows.append({"filename": name, "manifest": c.manifest, "manifest_label": c.manifest_label,
                         "canvas": c.canvas, "canvas_label": c.label, "permalink": c.image, **c.metadata})
    if not rows:
        raise DashboardError(f"--images {manifest_list}: no image could be downloaded from {len(urls)} manifest(s)"
                             + (f"; first failure: {failures[0][0]}: {failures[0][1]}" if failures else ""))
    return pd.DataFrame(rows).astype({"canvas": "int64"}), failures

