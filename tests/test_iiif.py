"""IIIF manifests (Presentation 2 and 3) against a IIIF server the test starts on 127.0.0.1."""

from __future__ import annotations

import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from dashboard.ingest import iiif, images


def _jpeg(color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (1600, 1200), color).save(buf, format="JPEG")
    return buf.getvalue()


class Server:
    """A small IIIF Image + Presentation server: manifests v2 and v3, an image service, failures on purpose."""

    def __init__(self):
        self.hits: dict[str, int] = {}
        self.active = 0
        self.most_active = 0
        self.lock = threading.Lock()
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
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    with server.lock:
                        server.active -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def answer(self, path: str):
        colors = {"red": (200, 30, 30), "green": (30, 160, 60), "blue": (40, 60, 200), "grey": (128, 128, 128)}
        if path.startswith("/iiif/") and path.endswith("/full/!1000,1000/0/default.jpg"):
            name = path.split("/")[2]
            if name in colors:
                return 200, _jpeg(colors[name]), "image/jpeg"
        if path == "/direct/grey.jpg":
            return 200, _jpeg(colors["grey"]), "image/jpeg"
        if path == "/v2.json":
            return 200, json.dumps(self.v2()).encode(), "application/json"
        if path == "/v3.json":
            return 200, json.dumps(self.v3()).encode(), "application/json"
        if path == "/broken.json":
            return 500, b"oops", "text/plain"
        return 404, b"not found", "text/plain"

    def v2(self):
        def canvas(k, label, service=None, direct=None):
            res = {"@id": direct or f"{self.base}/iiif/{service}/full/full/0/default.jpg", "@type": "dctypes:Image"}
            if service:
                res["service"] = {"@id": f"{self.base}/iiif/{service}", "profile": "http://iiif.io/api/image/2/level1.json"}
            return {"@id": f"{self.base}/c{k}", "@type": "sc:Canvas", "label": label,
                    "images": [{"@type": "oa:Annotation", "resource": res}]}

        return {"@context": "http://iiif.io/api/presentation/2/context.json", "@type": "sc:Manifest",
                "label": "Letters, 1890", "metadata": [{"label": "Date", "value": "1890"},
                                                      {"label": "Collection", "value": "Beinecke"}],
                "sequences": [{"canvases": [canvas(1, "f. 1r", "red"), canvas(2, "f. 1v", "green"),
                                            canvas(3, "f. 2r", direct=f"{self.base}/direct/grey.jpg")]}]}

    def v3(self):
        def canvas(k, label, service):
            body = {"id": f"{self.base}/iiif/{service}/full/max/0/default.jpg", "type": "Image",
                    "service": [{"id": f"{self.base}/iiif/{service}", "type": "ImageService3"}]}
            return {"id": f"{self.base}/v3/c{k}", "type": "Canvas", "label": {"en": [label]},
                    "items": [{"type": "AnnotationPage", "items": [{"type": "Annotation", "body": body}]}]}

        return {"@context": "http://iiif.io/api/presentation/3/context.json", "type": "Manifest",
                "label": {"en": ["Photographs"]},
                "metadata": [{"label": {"en": ["Date"]}, "value": {"none": ["1920"]}}],
                "items": [canvas(1, "plate 1", "blue"), canvas(2, "plate 2", "missing")]}


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.httpd.shutdown()


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
    assert server.hits["/iiif/red/full/!1000,1000/0/default.jpg"] == before["/iiif/red/full/!1000,1000/0/default.jpg"]


def test_a_list_that_yields_nothing_is_one_clear_error(server, tmp_path):
    listing = tmp_path / "m.txt"
    listing.write_text(f"{server.base}/nowhere.json\n")
    with pytest.raises(Exception, match="no image could be downloaded from 1 manifest"):
        images.build(tmp_path / "data", name="x", images=str(listing), model="pixels", layouts=())
