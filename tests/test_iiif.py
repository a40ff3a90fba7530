"""IIIF manifests (Presentation 2 and 3) against a IIIF server the test starts on 127.0.0.1.

The server is strict the way the specifications are: an image request is answered only in a form the
service's Image API version (1.1, 2.1, 3.0) and compliance level must support, so a request in the wrong
form fails as it would on a real level-1 server. The manifests are written from the Presentation 2.1 and
3.0 specifications and the IIIF cookbook recipes, shaped like what institutions publish.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image

from dashboard.ingest import iiif, images
from dashboard.ingest.html_text import split_links, to_text

P2 = "http://iiif.io/api/presentation/2/context.json"
P3 = "http://iiif.io/api/presentation/3/context.json"


def _jpeg(color, size=(1600, 1200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="JPEG")
    return buf.getvalue()


def _color(n: int) -> tuple[int, int, int]:
    """The n-th of 125 colours at least 63 apart on some channel, so each image is told apart after JPEG and WebP."""
    return ((n % 5) * 63, (n // 5 % 5) * 63, (n // 25 % 5) * 63)


# size forms each compliance level must support (Image API 1.1, 2.1 and 3.0 compliance documents)
SIZE_FORMS = {
    1: {0: {"full"}, 1: {"full", "w,", ",h", "pct:n"}, 2: {"full", "w,", ",h", "pct:n", "w,h", "!w,h"}},
    2: {0: {"full"}, 1: {"full", "w,", ",h", "pct:n"}, 2: {"full", "max", "w,", ",h", "pct:n", "w,h", "!w,h"}},
    3: {0: {"max"}, 1: {"max", "w,", ",h"}, 2: {"max", "w,", ",h", "pct:n", "w,h", "!w,h"}},
}
QUALITY = {1: "native", 2: "default", 3: "default"}


def _size_form(size: str) -> str:
    for pattern, form in ((r"full|max", size), (r"\d+,", "w,"), (r",\d+", ",h"), (r"pct:[\d.]+", "pct:n"),
                          (r"\d+,\d+", "w,h"), (r"!\d+,\d+", "!w,h")):
        if re.fullmatch(pattern, size):
            return form
    return "?"


class Server:
    """A small IIIF Image + Presentation server: manifests v2 and v3, image services of each version and level,
    plain files, failures on purpose."""

    def __init__(self):
        self.hits: dict[str, int] = {}
        self.active = 0
        self.most_active = 0
        self.lock = threading.Lock()
        self.docs: dict[str, tuple[int, bytes, str]] = {}  # unquoted path -> answer
        self.services: dict[str, dict] = {}  # service name -> version, level, colour, sizes
        self.colors: dict[str, tuple] = {}  # service name or file path -> colour of its image
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                with server.lock:
                    server.hits[self.path] = server.hits.get(self.path, 0) + 1
                    server.active += 1
                    server.most_active = max(server.most_active, server.active)
                try:
                    time.sleep(0.05)  # long enough for concurrent downloads to overlap
                    status, body, kind = server.answer(self.path)
                    self.send_response(status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    with server.lock:
                        server.active -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        for k, name in enumerate(("red", "green", "blue", "grey")):
            self.service(name, 2, 1, color=[(200, 30, 30), (30, 160, 60), (40, 60, 200), (128, 128, 128)][k])
        self.file("/direct/grey.jpg", color=(128, 128, 128))
        self.add("/v2.json", self.v2())
        self.add("/v3.json", self.v3())
        self.docs["/broken.json"] = (500, b"oops", "text/plain")

    # --- what the server holds

    def service(self, name: str, version: int, level: int, *, color=None, sizes=(), features=()) -> str:
        """An Image API service (``features``: size forms it supports beyond its level); returns its id."""
        self.services[name] = {"version": version, "level": level, "sizes": tuple(sizes), "features": set(features)}
        self.colors[name] = color or _color(len(self.colors) + 1)
        return f"{self.base}/iiif/{name}"

    def file(self, path: str, *, color=None, body: bytes | None = None, kind="image/jpeg") -> str:
        """A plain file (an image without a service, or anything else); returns its URL."""
        if body is None:
            self.colors[path] = color or _color(len(self.colors) + 1)
            body = _jpeg(self.colors[path])
        self.docs[path] = (200, body, kind)
        return self.base + path

    def add(self, path: str, doc) -> str:
        self.docs[path] = (200, json.dumps(doc).encode(), "application/json")
        return self.base + path

    def answer(self, path: str):
        path = unquote(path)
        if path in self.docs:
            return self.docs[path]
        m = re.fullmatch(r"/iiif/(.+)/full/([^/]+)/0/(\w+)\.jpg", path)
        if m and m.group(1) in self.services:
            s = self.services[m.group(1)]
            form = _size_form(m.group(2))
            listed = {f"{w}," if s["version"] == 2 else f"{w},{h}" for w, h in s["sizes"]}
            if (form not in SIZE_FORMS[s["version"]][s["level"]] | s["features"] and m.group(2) not in listed) \
                    or m.group(3) != QUALITY[s["version"]]:
                return 400, b"not supported at this level", "text/plain"
            return 200, _jpeg(self.colors[m.group(1)]), "image/jpeg"
        return 404, b"not found", "text/plain"

    # --- the manifests of the first test

    def v2(self):
        def canvas(k, label, service=None, direct=None):
            res = {"@id": direct or f"{self.base}/iiif/{service}/full/full/0/default.jpg", "@type": "dctypes:Image"}
            if service:
                res["service"] = {"@id": f"{self.base}/iiif/{service}",
                                  "profile": "http://iiif.io/api/image/2/level1.json"}
            return {"@id": f"{self.base}/c{k}", "@type": "sc:Canvas", "label": label,
                    "images": [{"@type": "oa:Annotation", "resource": res}]}

        return {"@context": P2, "@type": "sc:Manifest",
                "label": "Letters, 1890", "metadata": [{"label": "Date", "value": "1890"},
                                                      {"label": "Collection", "value": "Beinecke"}],
                "sequences": [{"canvases": [canvas(1, "f. 1r", "red"), canvas(2, "f. 1v", "green"),
                                            canvas(3, "f. 2r", direct=f"{self.base}/direct/grey.jpg")]}]}

    def v3(self):
        def canvas(k, label, service):
            body = {"id": f"{self.base}/iiif/{service}/full/max/0/default.jpg", "type": "Image",
                    "service": [{"id": f"{self.base}/iiif/{service}", "type": "ImageService3", "profile": "level1"}]}
            return {"id": f"{self.base}/v3/c{k}", "type": "Canvas", "label": {"en": [label]},
                    "items": [{"type": "AnnotationPage", "items": [{"type": "Annotation", "body": body}]}]}

        self.service("blue3", 3, 1, color=(40, 60, 200))
        return {"@context": P3, "type": "Manifest",
                "label": {"en": ["Photographs"]},
                "metadata": [{"label": {"en": ["Date"]}, "value": {"none": ["1920"]}}],
                "items": [canvas(1, "plate 1", "blue3"), canvas(2, "plate 2", "missing")]}


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.httpd.shutdown()


# --------------------------------------------------------------------------
# manifests shaped as the specifications and cookbook recipes write them


def v2_image(s: Server, name: str, profile, *, width=1600, height=1200,
             context="http://iiif.io/api/image/2/context.json", service_id=None) -> dict:
    """A v2 image resource with its Image API service (``profile`` as the service declares it)."""
    service = {"@context": context, "@id": service_id or f"{s.base}/iiif/{name}", "profile": profile}
    return {"@id": f"{s.base}/iiif/{name}/full/full/0/default.jpg", "@type": "dctypes:Image", "format": "image/jpeg",
            "width": width, "height": height, "service": service}


def v2_canvas(s: Server, cid: str, label: str, resource=None, *, images=None) -> dict:
    if images is None:
        images = [{"@type": "oa:Annotation", "motivation": "sc:painting", "resource": resource,
                   "on": f"{s.base}/canvas/{cid}"}]
    return {"@id": f"{s.base}/canvas/{cid}", "@type": "sc:Canvas", "label": label, "width": 1600, "height": 1200,
            "images": images}


def v2_manifest(s: Server, path: str, label, canvases: list, *, metadata=None, sequences=None) -> str:
    doc = {"@context": P2, "@id": s.base + path, "@type": "sc:Manifest", "label": label,
           "sequences": sequences if sequences is not None else [{"@type": "sc:Sequence", "canvases": canvases}]}
    if metadata is not None:
        doc["metadata"] = metadata
    return s.add(path, doc)


def v3_image(s: Server, name: str, service_type="ImageService3", profile="level1", *, width=1600, height=1200) -> dict:
    service = {"id": f"{s.base}/iiif/{name}", "type": service_type, "profile": profile}
    if service_type == "ImageService2":
        service = {"@id": service["id"], "@type": "ImageService2",
                   "profile": f"http://iiif.io/api/image/2/{profile}.json"}
    return {"id": f"{s.base}/iiif/{name}/full/max/0/default.jpg", "type": "Image", "format": "image/jpeg",
            "width": width, "height": height, "service": [service]}


def v3_canvas(s: Server, cid: str, label: str, body) -> dict:
    canvas = f"{s.base}/canvas3/{cid}"
    return {"id": canvas, "type": "Canvas", "label": {"en": [label]}, "width": 1600, "height": 1200,
            "items": [{"id": f"{canvas}/page", "type": "AnnotationPage", "items": [
                {"id": f"{canvas}/anno", "type": "Annotation", "motivation": "painting", "body": body,
                 "target": canvas}]}]}


def v3_manifest(s: Server, path: str, label: dict, items: list, *, metadata=None) -> str:
    doc = {"@context": P3, "id": s.base + path, "type": "Manifest", "label": label, "items": items}
    if metadata is not None:
        doc["metadata"] = metadata
    return s.add(path, doc)


def _level(level: int) -> str:
    """An Image API 2 service's profile at ``level``."""
    return f"http://iiif.io/api/image/2/level{level}.json"


def publish(s: Server) -> tuple[list[str], dict[str, tuple[int, str]], dict[str, str]]:
    """Every case of the manifests institutions publish: (the list's URLs, {canvas label: (canvas number, the
    request its image must be fetched by)}, {report item: reason it must give})."""
    b = s.base
    expect: dict[str, tuple[int, str]] = {}
    report: dict[str, str] = {}
    L1, L2 = _level(1), _level(2)

    def svc(name, version, level, form, **kw):
        s.service(name, version, level, **kw)
        return f"/iiif/{name.replace(' ', '%20')}/full/{form}"

    # Villanova: ``sequences`` an object, not a list; a canvas without an image in the middle
    s.service("vil1", 2, 2)
    s.service("vil3", 2, 1)
    vil = v2_manifest(s, "/villanova.json", "Villanova", None, sequences={"@type": "sc:Sequence", "canvases": [
        v2_canvas(s, "vil1", "V1", v2_image(s, "vil1", L2)),
        v2_canvas(s, "vil2", "V2", images=[]),
        v2_canvas(s, "vil3", "V3", v2_image(s, "vil3", L1))]})
    expect["V1"] = (1, "/iiif/vil1/full/!1000,1000/0/default.jpg")
    expect["V3"] = (3, "/iiif/vil3/full/1000,/0/default.jpg")
    report[f"{vil} canvas 2 (V2)"] = "no image on this canvas; manifest 'Villanova'"

    # a manifest that is a JSON array
    arr = s.add("/array.json", [{"@id": vil, "@type": "sc:Manifest"}])
    report[arr] = "not a IIIF manifest or collection (a JSON list)"

    # Qatar Digital Library: spaces in the service id, in a plain image URL and in the manifest URL
    s.service("Add MS 7475_0001.jp2", 2, 1)
    s.file("/direct/Add MS 7475_0002.jpg")
    qdl = v2_manifest(s, "/qdl/Add MS 7475.json", "Add MS 7475", [
        v2_canvas(s, "q1", "Q1", v2_image(s, "Add MS 7475_0001.jp2", L1)),
        v2_canvas(s, "q2", "Q2", {"@id": f"{b}/direct/Add MS 7475_0002.jpg", "@type": "dctypes:Image"})])
    expect["Q1"] = (1, "/iiif/Add%20MS%207475_0001.jp2/full/1000,/0/default.jpg")
    expect["Q2"] = (2, "/direct/Add%20MS%207475_0002.jpg")

    # v2 oa:Choice (default, or the first item when the default is rdf:nil) and oa:SpecificResource
    for name in ("ch2a", "ch2b", "ch2c", "ch2d", "sr2"):
        s.service(name, 2, 1)
    v2_manifest(s, "/choice2.json", "Choices 2", [
        v2_canvas(s, "c2", "C2", {"@type": "oa:Choice", "default": v2_image(s, "ch2a", L1),
                                  "item": [v2_image(s, "ch2b", L1)]}),
        v2_canvas(s, "c2n", "C2nil", {"@type": "oa:Choice", "default": "rdf:nil",
                                      "item": [v2_image(s, "ch2c", L1), v2_image(s, "ch2d", L1)]}),
        v2_canvas(s, "s2", "S2", {"@type": "oa:SpecificResource", "full": v2_image(s, "sr2", L1),
                                  "selector": {"@type": "oa:FragmentSelector", "value": "xywh=0,0,800,600"}})])
    expect["C2"] = (1, "/iiif/ch2a/full/1000,/0/default.jpg")
    expect["C2nil"] = (2, "/iiif/ch2c/full/1000,/0/default.jpg")
    expect["S2"] = (3, "/iiif/sr2/full/1000,/0/default.jpg")

    # v3 Choice (cookbook 0033-choice) and SpecificResource (cookbook 0299-region), source by object and by id
    s.service("ch3a", 3, 2)
    s.service("ch3b", 3, 2)
    s.service("sr3", 3, 1)
    s.file("/direct/s3b.jpg")
    v3_manifest(s, "/choice3.json", {"en": ["Choices 3"]}, [
        v3_canvas(s, "c3", "C3", {"type": "Choice", "choiceHint": "user",
                                  "items": [v3_image(s, "ch3a", profile="level2"), v3_image(s, "ch3b")]}),
        v3_canvas(s, "s3", "S3", {"type": "SpecificResource", "source": v3_image(s, "sr3"),
                                  "selector": {"type": "ImageApiSelector", "region": "0,0,800,600"}}),
        v3_canvas(s, "s3b", "S3b", {"type": "SpecificResource", "source": f"{b}/direct/s3b.jpg"})])
    expect["C3"] = (1, "/iiif/ch3a/full/!1000,1000/0/default.jpg")
    expect["S3"] = (2, "/iiif/sr3/full/1000,/0/default.jpg")
    expect["S3b"] = (3, "/direct/s3b.jpg")

    # two v2 sequences: only the first is taken, as viewers do
    for name in ("qa", "qb", "ra", "rb", "rc"):
        s.service(name, 2, 1)
    seqs = v2_manifest(s, "/sequences.json", "Two sequences", None, sequences=[
        {"@type": "sc:Sequence", "canvases": [v2_canvas(s, "qa", "Q-a", v2_image(s, "qa", L1)),
                                             v2_canvas(s, "qb", "Q-b", v2_image(s, "qb", L1))]},
        {"@type": "sc:Sequence", "canvases": [v2_canvas(s, n, n, v2_image(s, n, L1)) for n in ("ra", "rb", "rc")]}])
    expect["Q-a"] = (1, "/iiif/qa/full/1000,/0/default.jpg")
    expect["Q-b"] = (2, "/iiif/qb/full/1000,/0/default.jpg")
    report[f"{seqs} sequence 2"] = ("not taken: only the first sequence is shown, as viewers do; "
                                    "manifest 'Two sequences'")

    # a codex whose canvases 2 and 5 carry no image: the others keep their own numbers
    codex_canvases = []
    for k in range(1, 7):
        if k in (2, 5):
            codex_canvases.append(v2_canvas(s, f"cx{k}", f"cx f.{k}", images=[]))
        else:
            s.service(f"cx{k}", 2, 1)
            codex_canvases.append(v2_canvas(s, f"cx{k}", f"cx f.{k}", v2_image(s, f"cx{k}", L1)))
            expect[f"cx f.{k}"] = (k, f"/iiif/cx{k}/full/1000,/0/default.jpg")
    codex = v2_manifest(s, "/codex.json", "Codex", codex_canvases)
    for k in (2, 5):
        report[f"{codex} canvas {k} (cx f.{k})"] = "no image on this canvas; manifest 'Codex'"

    # metadata: repeated labels, @language lists (v2) and language maps (v3), HTML with links
    html = ('<p>Written by <a href="https://example.org/bodley">Thomas <b>Bodley</b></a> in 1602.'
            '<script>alert(1)</script></p><p>See <a href="javascript:alert(2)">this</a>.<br/>'
            '<img src="https://example.org/x.png" alt="seal"></p>')
    s.service("bod1", 2, 1)
    s.service("riks1", 3, 1)
    v2_manifest(s, "/bodleian.json", "Bodleian", [v2_canvas(s, "bod1", "B1", v2_image(s, "bod1", L1))], metadata=[
        {"label": "Subject", "value": "Maps"}, {"label": "Subject", "value": "Charts"},
        {"label": "subject", "value": "Navigation"},
        {"label": "Title", "value": [{"@value": "Arkiv", "@language": "sv"}, {"@value": "Archive", "@language": "en"}]},
        {"label": "Genre", "value": [{"@value": "Brev", "@language": "sv"}, {"@value": "Briefe", "@language": "de"}]},
        {"label": [{"@value": "Beskrivning", "@language": "sv"}, {"@value": "Description", "@language": "en"}],
         "value": html},
        {"label": "Description", "value": "A second description"},
        {"label": "Language", "value": ["Latin", "English"]},
        {"label": "Canvas", "value": "not our canvas column"}])
    v3_manifest(s, "/riksarkivet.json", {"sv": ["Riksarkivet"], "en": ["National Archives"]},
                [v3_canvas(s, "riks1", "R1", v3_image(s, "riks1"))], metadata=[
        {"label": {"sv": ["Titel"], "en": ["Title"]}, "value": {"sv": ["Arkiv"], "en-GB": ["Archive"]}},
        {"label": {"en": ["Genre"]}, "value": {"sv": ["Brev"], "de": ["Briefe"]}},
        {"label": {"en": ["Date"]}, "value": {"none": ["1920"]}}])
    expect["B1"] = (1, "/iiif/bod1/full/1000,/0/default.jpg")
    expect["R1"] = (1, "/iiif/riks1/full/1000,/0/default.jpg")

    # sound, video and PDF bodies (cookbook 0002-mvm-audio, 0003-mvm-video) are not downloaded; an image body
    # whose server answers with a video, and one too large, are refused on download
    s.service("still", 3, 1)
    s.file("/media/film.mp4", body=b"\x00" * 5000, kind="video/mp4")
    s.file("/media/song.mp4", body=b"\x00" * 5000, kind="audio/mp4")
    s.file("/media/book.pdf", body=b"%PDF-1.4", kind="application/pdf")
    s.file("/media/liar.jpg", body=b"\x00" * 5000, kind="video/mp4")
    s.file("/media/huge.jpg", body=b"\xff\xd8" + b"\x00" * 400_000, kind="image/jpeg")
    av = v3_manifest(s, "/av.json", {"en": ["Audio and video"]}, [
        {"id": f"{b}/canvas3/film", "type": "Canvas", "duration": 572.0, "label": {"en": ["film"]}, "items": [
            {"type": "AnnotationPage", "items": [{"type": "Annotation", "motivation": "painting", "body": {
                "id": f"{b}/media/film.mp4", "type": "Video", "format": "video/mp4", "duration": 572.0}}]}]},
        v3_canvas(s, "song", "song", {"id": f"{b}/media/song.mp4", "type": "Sound", "format": "audio/mp4"}),
        v3_canvas(s, "book", "book", {"id": f"{b}/media/book.pdf", "type": "Text", "format": "application/pdf"}),
        v3_canvas(s, "still", "still", v3_image(s, "still")),
        v3_canvas(s, "liar", "liar", {"id": f"{b}/media/liar.jpg", "type": "Image"}),
        v3_canvas(s, "huge", "huge", {"id": f"{b}/media/huge.jpg", "type": "Image", "format": "image/jpeg"}),
        v3_canvas(s, "local", "local", {"id": "file:///etc/hostname", "type": "Image", "format": "image/jpeg"})])
    expect["still"] = (4, "/iiif/still/full/1000,/0/default.jpg")
    report[f"{av} canvas 1 (film)"] = "video canvas, not downloaded (video/mp4); manifest 'Audio and video'"
    report[f"{av} canvas 2 (song)"] = "sound canvas, not downloaded (audio/mp4); manifest 'Audio and video'"
    report[f"{av} canvas 3 (book)"] = "PDF canvas, not downloaded (application/pdf); manifest 'Audio and video'"
    report[f"{av} canvas 5 (liar)"] = (f"not an image (Content-Type video/mp4), not downloaded: {b}/media/liar.jpg; "
                                       "manifest 'Audio and video'")
    report[f"{av} canvas 7 (local)"] = ("not an http(s) URL, not read: file:///etc/hostname; "
                                        "manifest 'Audio and video'")
    report[f"{av} canvas 6 (huge)"] = (f"larger than the 300,000-byte limit, not downloaded: {b}/media/huge.jpg; "
                                       "manifest 'Audio and video'")

    # collections: v2 (manifests + a member collection) and v3 (items, a cycle, a chain deeper than the limit)
    for name in ("m2a", "m2b", "m3a", "deep"):
        s.service(name, 2, 1)
    m2a = v2_manifest(s, "/m2a.json", "Member 2a", [v2_canvas(s, "m2a", "M2a", v2_image(s, "m2a", L1))])
    m2b = v2_manifest(s, "/m2b.json", "Member 2b", [v2_canvas(s, "m2b", "M2b", v2_image(s, "m2b", L1))])
    m3a = v2_manifest(s, "/m3a.json", "Member 3a", [v2_canvas(s, "m3a", "M3a", v2_image(s, "m3a", L1))])
    deep = v2_manifest(s, "/deep.json", "Too deep", [v2_canvas(s, "deep", "Deep", v2_image(s, "deep", L1))])
    sub2 = s.add("/sub2.json", {"@context": P2, "@id": f"{b}/sub2.json", "@type": "sc:Collection", "label": "Sub",
                                "manifests": [{"@id": m2b, "@type": "sc:Manifest", "label": "Member 2b"}]})
    coll2 = s.add("/coll2.json", {"@context": P2, "@id": f"{b}/coll2.json", "@type": "sc:Collection", "label": "Top",
                                  "collections": [{"@id": sub2, "@type": "sc:Collection"}],
                                  "manifests": [{"@id": m2a, "@type": "sc:Manifest", "label": "Member 2a"}]})
    chain = deep
    for k in (4, 3, 2, 1):
        chain = s.add(f"/chain{k}.json", {"@context": P3, "id": f"{b}/chain{k}.json", "type": "Collection",
                                          "label": {"en": [f"chain {k}"]},
                                          "items": [{"id": chain, "type": "Collection"}]})
    coll3 = s.add("/coll3.json", {"@context": P3, "id": f"{b}/coll3.json", "type": "Collection",
                                  "label": {"en": ["Top 3"]},
                                  "items": [{"id": m3a, "type": "Manifest"},
                                            {"id": f"{b}/coll3.json", "type": "Collection"},
                                            {"id": f"{b}/chain1.json", "type": "Collection"},
                                            {"id": "file:///etc/hostname", "type": "Manifest"}]})
    expect["M2a"] = (1, "/iiif/m2a/full/1000,/0/default.jpg")
    expect["M2b"] = (1, "/iiif/m2b/full/1000,/0/default.jpg")
    expect["M3a"] = (1, "/iiif/m3a/full/1000,/0/default.jpg")
    report[f"{b}/chain3.json"] = f"collection not followed: more than {iiif.MAX_DEPTH} collections deep"

    # Image API requests, per version and compliance level
    api2 = [
        ("v1l1", svc("v1l1", 1, 1, "1000,/0/native.jpg"), v2_image(
            s, "v1l1", "http://library.stanford.edu/iiif/image-api/1.1/compliance.html#level1",
            context="http://library.stanford.edu/iiif/image-api/1.1/context.json")),
        ("v1l2", svc("v1l2", 1, 2, "!1000,1000/0/native.jpg"), v2_image(
            s, "v1l2", "http://library.stanford.edu/iiif/image-api/compliance.html#level2",
            context="http://library.stanford.edu/iiif/image-api/1.1/context.json")),
        ("v2l0", svc("v2l0", 2, 0, "1200,/0/default.jpg", sizes=[(400, 300), (1200, 900), (2400, 1800)]),
         {**v2_image(s, "v2l0", _level(0)), "service": {
             "@context": "http://iiif.io/api/image/2/context.json", "@id": f"{b}/iiif/v2l0",
             "profile": _level(0), "sizes": [{"width": 400, "height": 300}, {"width": 1200, "height": 900},
                                                {"width": 2400, "height": 1800}]}}),
        ("v2l0bare", svc("v2l0bare", 2, 0, "full/0/default.jpg"), v2_image(s, "v2l0bare", _level(0))),
        ("v2portrait", svc("v2portrait", 2, 1, ",1000/0/default.jpg"),
         v2_image(s, "v2portrait", L1, width=1200, height=1600)),
        ("v2confined", svc("v2confined", 2, 1, "!1000,1000/0/default.jpg", features={"!w,h"}), v2_image(
            s, "v2confined", [L1, {"supports": ["sizeByConfinedWh", "sizeByWh"]}])),
        ("v2small", svc("v2small", 2, 1, "full/0/default.jpg"), v2_image(s, "v2small", L1, width=800, height=600)),
        ("v2info", svc("v2info", 2, 2, "!1000,1000/0/default.jpg"),
         v2_image(s, "v2info", L2, service_id=f"{b}/iiif/v2info/info.json")),
        ("v2auth", svc("v2auth", 2, 2, "!1000,1000/0/default.jpg"), {**v2_image(s, "v2auth", L2), "service": [
            {"@context": "http://iiif.io/api/auth/1/context.json", "@id": f"{b}/auth/login",
             "profile": "http://iiif.io/api/auth/1/login"},
            {"@context": "http://iiif.io/api/image/2/context.json", "@id": f"{b}/iiif/v2auth", "profile": L2}]}),
    ]
    api3 = [
        ("v3l0", svc("v3l0", 3, 0, "max/0/default.jpg"), v3_image(s, "v3l0", profile="level0")),
        ("v3l1", svc("v3l1", 3, 1, "1000,/0/default.jpg"), v3_image(s, "v3l1", profile="level1")),
        ("v3l2", svc("v3l2", 3, 2, "!1000,1000/0/default.jpg"), v3_image(s, "v3l2", profile="level2")),
        ("v3v2", svc("v3v2", 2, 1, "1000,/0/default.jpg"), v3_image(s, "v3v2", "ImageService2", "level1")),
        ("v3small", svc("v3small", 3, 1, "max/0/default.jpg"), v3_image(s, "v3small", width=640, height=480)),
        ("plain", "/direct/plain.jpg", {"id": s.file("/direct/plain.jpg"), "type": "Image", "format": "image/jpeg"}),
    ]
    v2_manifest(s, "/api2.json", "Image API 1 and 2", [v2_canvas(s, n, n, body) for n, _, body in api2])
    v3_manifest(s, "/api3.json", {"en": ["Image API 3"]}, [v3_canvas(s, n, n, body) for n, _, body in api3])
    for k, (name, request, _) in enumerate(api2, start=1):
        expect[name] = (k, request)
    for k, (name, request, _) in enumerate(api3, start=1):
        expect[name] = (k, request)

    # shapes nobody foresaw are reported, never a crash
    weird = s.add("/weird.json", {"@context": P3, "type": "Manifest", "label": {"en": "not a list"},
                                  "metadata": "a string", "items": [
                                      {"type": "Canvas", "items": "oops"}, 5,
                                      {"type": "Canvas", "items": [{"items": [{"body": []}]}]}]})
    report[f"{weird} canvas 1"] = "no image on this canvas; manifest 'not a list'"
    report[f"{weird} canvas 2"] = "not a canvas; manifest 'not a list'"
    report[f"{weird} canvas 3"] = "no image on this canvas; manifest 'not a list'"
    s.docs["/notjson.json"] = (200, b"<html>Sorry</html>", "text/html")
    report[f"{b}/nowhere.json"] = "manifest not loaded (HTTP 404)"
    report["file:///etc/hostname"] = "not an http(s) URL, not read"

    urls = [vil, arr, qdl, f"{b}/choice2.json", f"{b}/choice3.json", seqs, codex, f"{b}/bodleian.json",
            f"{b}/riksarkivet.json", av, coll2, coll3, f"{b}/api2.json", f"{b}/api3.json", weird,
            f"{b}/notjson.json", f"{b}/nowhere.json", vil]
    report[vil] = "listed more than once; taken once"
    return urls, expect, report


def _pixel(ds, i) -> np.ndarray:
    with Image.open(ds.image_path(i)) as im:
        return np.asarray(im.convert("RGB"))[im.height // 2, im.width // 2].astype(int)


def _assert_own_images(ds, server: Server, expect: dict[str, tuple[int, str]]):
    """Each item shows the image of its own canvas: the colour its server gave that canvas's image."""
    for i, row in ds.meta.iterrows():
        request = expect[row["canvas_label"]][1]
        source = unquote(request.split("/full/")[0].removeprefix("/iiif/")) if request.startswith("/iiif/") \
            else unquote(request)
        assert np.abs(_pixel(ds, i) - np.array(server.colors[source])).max() < 30, row["canvas_label"]


# --------------------------------------------------------------------------
# tests


def test_every_canvas_of_v2_and_v3_manifests(server, tmp_path):
    listing = tmp_path / "manifests.txt"
    listing.write_text("\n".join([f"{server.base}/v2.json", f"{server.base}/v3.json", "# a comment",
                                  f"{server.base}/broken.json", f"{server.base}/nowhere.json"]) + "\n")
    assert iiif.is_manifest_list(str(listing))
    ds = images.build(tmp_path / "data", name="letters", images=str(listing), model="pixels", layouts=())
    assert ds.n == 4  # 3 canvases of the v2 manifest (not just the first) + 1 of 2 in v3
    m = ds.meta.set_index("canvas_label")
    assert list(ds.meta["canvas_label"]) == ["f. 1r", "f. 1v", "f. 2r", "plate 1"]
    assert m.loc["f. 1r", "manifest_label"] == "Letters, 1890" and m.loc["f. 1r", "collection"] == "Beinecke"
    assert m.loc["plate 1", "manifest_label"] == "Photographs" and str(m.loc["plate 1", "date"]) == "1920"
    with Image.open(ds.image_path(0)) as im:
        assert max(im.size) == 600 and np.asarray(im.convert("RGB"))[10, 10, 0] > 150  # red, via the Image API
    skipped = {s["item"]: s["reason"] for s in ds.report["skipped"]}
    assert skipped[f"{server.base}/broken.json"] == "manifest not loaded (HTTP 500)"
    assert skipped[f"{server.base}/nowhere.json"] == "manifest not loaded (HTTP 404)"
    assert any("image not downloaded (HTTP 404)" in r for r in skipped.values())
    assert server.hits["/broken.json"] == iiif.RETRIES and server.hits["/nowhere.json"] == 1  # 5xx retried, 404 not
    assert server.most_active <= iiif.CONCURRENCY
    # a second run downloads nothing it already has
    before = dict(server.hits)
    images.build(tmp_path / "data", name="letters", images=str(listing), model="pixels", layouts=())
    assert server.hits["/iiif/red/full/1000,/0/default.jpg"] == before["/iiif/red/full/1000,/0/default.jpg"]


def test_manifests_as_institutions_publish_them(server, tmp_path, monkeypatch):
    """Every case at once, as one list: nothing crashes, each canvas has its own image, numbered by its position,
    every canvas not taken is in the report with why, and each service is asked in a form its level supports."""
    monkeypatch.setattr(iiif, "MAX_IMAGE_BYTES", 300_000)
    urls, expect, report = publish(server)
    listing = tmp_path / "manifests.txt"
    listing.write_text("\n".join(urls) + "\n")
    hits_before = dict(server.hits)
    ds = images.build(tmp_path / "data", name="published", images=str(listing), model="pixels", layouts=())

    skipped = {s["item"]: s["reason"] for s in ds.report["skipped"]}
    assert sorted(ds.meta["canvas_label"]) == sorted(expect), skipped
    got = {row["canvas_label"]: int(row["canvas"]) for _, row in ds.meta.iterrows()}
    assert got == {label: canvas for label, (canvas, _) in expect.items()}
    assert ds.meta["canvas"].dtype.kind == "i"  # a number, counted from 1 over every canvas of the manifest
    assert ds.schema["canvas"] == "numeric"
    for label, (_, request) in expect.items():
        assert server.hits.get(request, 0) - hits_before.get(request, 0) == 1, (label, request)
    _assert_own_images(ds, server, expect)

    for item, reason in report.items():
        assert skipped.get(item) == reason, item
    assert f"{server.base}/notjson.json" in skipped and skipped[f"{server.base}/notjson.json"].startswith(
        "manifest not loaded (")
    assert not any(item.startswith(f"{server.base}/sequences.json canvas") for item in skipped)  # not a canvas gone
    # no request for what is not an image, nor for a second sequence or a collection past the limit
    for path in ("/media/film.mp4", "/media/song.mp4", "/media/book.pdf", "/iiif/ra/full/1000,/0/default.jpg",
                 "/chain4.json", "/deep.json", "/iiif/ch2b/full/1000,/0/default.jpg"):
        assert server.hits.get(path, 0) == hits_before.get(path, 0), path
    assert server.hits["/coll3.json"] - hits_before.get("/coll3.json", 0) == 1  # a collection that names itself

    # metadata: every value of a repeated label, one language, HTML as text with its http(s) links
    row = ds.meta.set_index("canvas_label").loc["B1"]
    assert row["subject"] == "Maps; Charts; Navigation"
    assert row["title"] == "Archive" and row["genre"] == "Brev" and row["language"] == "Latin; English"
    assert row["description"] == ("Written by [Thomas Bodley](https://example.org/bodley) in 1602.\nSee this.\nseal; "
                                  "A second description")
    assert row["meta_canvas"] == "not our canvas column"
    riks = ds.meta.set_index("canvas_label").loc["R1"]
    assert riks["title"] == "Archive" and riks["genre"] == "Brev" and riks["manifest_label"] == "National Archives"
    assert str(riks["date"]) == "1920"


def test_a_changed_list_keeps_each_image_with_its_canvas(server, tmp_path):
    """Downloads are kept by canvas and image URL: a manifest added at the top of the list attaches no image to
    another canvas's metadata, nothing is fetched twice, and what no manifest names any more is removed."""
    urls = {}
    for m in ("A", "B", "N"):
        for k in (1, 2):
            server.service(f"order{m}{k}", 2, 1)
        urls[m] = v2_manifest(server, f"/order{m}.json", f"Order {m}", [
            v2_canvas(server, f"order{m}{k}", f"{m}{k}", v2_image(server, f"order{m}{k}", _level(1)))
            for k in (1, 2)])
    expect = {f"{m}{k}": (k, f"/iiif/order{m}{k}/full/1000,/0/default.jpg") for m in "ABN" for k in (1, 2)}
    listing = tmp_path / "manifests.txt"
    folder = tmp_path / "data" / ".iiif" / "order"
    folder.mkdir(parents=True)
    (folder / "0000-00000.jpg").write_bytes(_jpeg((255, 255, 255)))  # a file an older run left, by position

    def build(*names):
        listing.write_text("".join(urls[m] + "\n" for m in names))
        return images.build(tmp_path / "data", name="order", images=str(listing), model="pixels", layouts=())

    ds = build("A", "B")
    assert list(ds.meta["canvas_label"]) == ["A1", "A2", "B1", "B2"]
    _assert_own_images(ds, server, expect)
    before = dict(server.hits)
    ds = build("N", "A", "B")
    assert list(ds.meta["canvas_label"]) == ["N1", "N2", "A1", "A2", "B1", "B2"]
    assert list(ds.meta["manifest_label"]) == ["Order N"] * 2 + ["Order A"] * 2 + ["Order B"] * 2
    _assert_own_images(ds, server, expect)
    assert all(server.hits[expect[c][1]] == before[expect[c][1]] for c in ("A1", "A2", "B1", "B2"))  # reused
    assert len(list(folder.iterdir())) == 6
    ds = build("B")
    assert list(ds.meta["canvas_label"]) == ["B1", "B2"] and ds.n == 2
    _assert_own_images(ds, server, expect)
    assert len(list(folder.iterdir())) == 2  # the others' files are gone, so they cannot become items


def test_a_list_that_yields_nothing_is_one_clear_error(server, tmp_path):
    listing = tmp_path / "m.txt"
    listing.write_text(f"{server.base}/nowhere.json\n")
    with pytest.raises(Exception, match="no image could be downloaded from 1 manifest"):
        images.build(tmp_path / "data", name="x", images=str(listing), model="pixels", layouts=())


@pytest.mark.parametrize("service, size, request_", [
    ({"@context": "http://library.stanford.edu/iiif/image-api/1.1/context.json", "@id": "S",
      "profile": "http://library.stanford.edu/iiif/image-api/1.1/compliance.html#level1"}, None,
     "S/full/1000,/0/native.jpg"),
    ({"@context": "http://library.stanford.edu/iiif/image-api/1.1/context.json", "@id": "S",
      "profile": "http://library.stanford.edu/iiif/image-api/1.1/compliance.html#level0"}, None,
     "S/full/full/0/native.jpg"),
    ({"@context": "http://iiif.io/api/image/2/context.json", "@id": "S",
      "profile": "http://iiif.io/api/image/2/level1.json"}, None, "S/full/1000,/0/default.jpg"),
    ({"@context": "http://iiif.io/api/image/2/context.json", "@id": "S",
      "profile": "http://iiif.io/api/image/2/level2.json"}, None, "S/full/!1000,1000/0/default.jpg"),
    ({"@context": "http://iiif.io/api/image/2/context.json", "@id": "S",
      "profile": "http://iiif.io/api/image/2/level0.json"}, None, "S/full/full/0/default.jpg"),
    ({"@context": "http://iiif.io/api/image/2/context.json", "@id": "S/",
      "profile": "http://iiif.io/api/image/2/level1.json"}, (1000, 3000), "S/full/,1000/0/default.jpg"),
    ({"id": "S", "type": "ImageService3", "profile": "level0"}, None, "S/full/max/0/default.jpg"),
    ({"id": "S", "type": "ImageService3", "profile": "level1"}, None, "S/full/1000,/0/default.jpg"),
    ({"id": "S", "type": "ImageService3", "profile": "level2"}, None, "S/full/!1000,1000/0/default.jpg"),
    ({"id": "S", "type": "ImageService3", "profile": "level1", "extraFeatures": ["sizeByConfinedWh"]}, None,
     "S/full/!1000,1000/0/default.jpg"),
    ({"id": "S", "type": "ImageService3", "profile": "level0", "sizes": [{"width": 500, "height": 400},
                                                                         {"width": 2000, "height": 1600}]},
     None, "S/full/2000,1600/0/default.jpg"),
    ({"id": "S", "type": "ImageService3", "profile": "level1"}, (900, 700), "S/full/max/0/default.jpg"),
])
def test_the_image_request_is_one_the_service_supports(service, size, request_):
    s = iiif.image_service([service], 3)
    assert iiif.image_request(s, *(size or (None, None))) == request_


def test_values_take_one_language_for_v2_and_v3_alike():
    v2 = [{"@value": "arkiv", "@language": "sv"}, {"@value": "archive", "@language": "en"}]
    v3 = {"sv": ["arkiv"], "en": ["archive"]}
    assert iiif.text(v2) == iiif.text(v3) == "archive"
    assert iiif.text([{"@value": "Brev", "@language": "sv"}, {"@value": "Briefe", "@language": "de"}]) == "Brev"
    assert iiif.text({"none": ["1920"], "fr": ["mille neuf cent vingt"]}) == "1920"
    assert iiif.text(["one", "two", "one"]) == "one; two"
    assert iiif.metadata([{"label": "Subject", "value": "a"}, {"label": {"en": ["subject"]}, "value": {"en": ["b"]}},
                          "junk", {"label": "Empty", "value": ""}]) == {"subject": "a; b"}


def test_html_values_become_text_with_safe_links():
    text = to_text('<p>A <i>note</i> by <a href="https://example.org/a b">the (first) [clerk]</a></p>'
                   '<a href="javascript:alert(1)">x</a><a href="data:text/html,hi">y</a><script>alert(2)</script>'
                   '<span onclick="alert(3)">z</span> &amp; <sub>2</sub>')
    assert text == "A note by [the (first) (clerk)](https://example.org/a%20b)\nxyz & 2"
    assert split_links(text) == ["A note by ", ("the (first) (clerk)", "https://example.org/a%20b"), "\nxyz & 2"]
    assert to_text("1 < 2 and 3 > 2") == "1 < 2 and 3 > 2"  # not HTML: unchanged
    assert split_links("[click](javascript:alert(1))") == ["[click](javascript:alert(1))"]


def test_the_details_panel_shows_links_as_links_and_nothing_else():
    from dash import html

    from dashboard.callbacks.viewer import _value

    shown = _value("description", "Written by [Bodley](https://example.org/b) in 1602", "text")
    links = [c for c in shown.children if isinstance(c, html.A)]
    assert [(a.children, a.href) for a in links] == [("Bodley", "https://example.org/b")]
    assert [c for c in shown.children if isinstance(c, str)] == ["Written by ", " in 1602"]
    assert _value("title", "<script>alert(1)</script>", "text") == "<script>alert(1)</script>"  # text, never HTML


def test_no_exception_of_one_image_or_manifest_ends_the_download(server, tmp_path, monkeypatch):
    """Whatever one request raises (here http.client.InvalidURL, as an unquoted space once did) is one report line."""
    import http.client

    get, read = iiif._get, iiif.canvases

    def failing_get(url, **kw):
        if "/iiif/green/" in url:
            raise http.client.InvalidURL(f"URL can't contain control characters. {url!r}")
        return get(url, **kw)

    def failing_canvases(doc, url, size=iiif.SIZE):
        if url.endswith("/v3.json"):
            raise AttributeError("'str' object has no attribute 'get'")
        return read(doc, url, size)

    monkeypatch.setattr(iiif, "_get", failing_get)
    monkeypatch.setattr(iiif, "canvases", failing_canvases)
    listing = tmp_path / "m.txt"
    listing.write_text(f"{server.base}/v2.json\n{server.base}/v3.json\n")
    table, failures = iiif.download(str(listing), tmp_path / "images")
    assert list(table["canvas_label"]) == ["f. 1r", "f. 2r"]
    reasons = dict(failures)
    assert reasons[f"{server.base}/v3.json"] == "manifest not read (AttributeError: 'str' object has no attribute 'get')"
    assert reasons[f"{server.base}/v2.json canvas 2 (f. 1v)"].startswith("image not downloaded (InvalidURL: URL can't")
