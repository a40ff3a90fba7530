"""HTML in metadata values (IIIF allows a little) reduced to plain text that keeps its links.

IIIF Presentation values may carry ``a b br i img p small span sub sup``
markup. We never show it as HTML: it becomes text, and each ``<a href>``
with an http(s) target becomes a markdown-style link ``[text](url)`` that
:func:`split_links` turns back into (text, url) pieces for the page to render
as real links. Scripts, styles and every other target are dropped, so
nothing in a value can run.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import quote

# A value is HTML when it is wrapped in a tag (the IIIF rule) or holds a tag of the kind publishers use.
_TAG = re.compile(r"</?\s*[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?/?>|&[a-zA-Z]+;|&#\d+;")
_LINK = re.compile(r"\[([^\[\]]*)\]\((https?://[^\s()]+)\)")
_BLOCKS = {"p", "br", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"}
_DROPPED = {"script", "style", "template", "noscript"}


def is_web_url(url: str) -> bool:
    """Only http(s) targets become links (no ``javascript:``, ``data:``…)."""
    return url.strip().lower().startswith(("http://", "https://"))


class _Reader(HTMLParser):
    def __init__(self, links: bool):
        super().__init__(convert_charrefs=True)
        self.links = links
        self.out: list[str] = []
        self.href: str | None = None  # the open link's target
        self.anchor: list[str] = []  # the open link's text
        self.dropped = 0  # depth inside <script>/<style>

    def _emit(self, text: str) -> None:
        (self.anchor if self.href is not None else self.out).append(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in _DROPPED:
            self.dropped += 1
        elif tag in _BLOCKS:
            self._emit("\n")
        elif tag == "img" and attrs.get("alt"):
            self._emit(attrs["alt"])
        elif tag == "a" and self.href is None:
            href = (attrs.get("href") or "").strip()
            self.href = href if self.links and is_web_url(href) else ""
            self.anchor = []

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in _DROPPED:
            self.dropped -= 1

    def handle_endtag(self, tag):
        if tag in _DROPPED:
            self.dropped = max(0, self.dropped - 1)
        elif tag == "p":
            self._emit("\n")
        elif tag == "a" and self.href is not None:
            self._close_link()

    def _close_link(self):
        href, text = self.href, _squeeze("".join(self.anchor)).replace("[", "(").replace("]", ")")
        self.href = None
        if href:
            # brackets and spaces would end the markdown link early
            self.out.append(f"[{text or href}]({quote(href, safe=_URL_SAFE)})")
        else:
            self.out.append(text)

    def handle_data(self, data):
        if not self.dropped:
            self._emit(data)

    def close(self):
        super().close()
        if self.href is not None:  # an <a> never closed
            self._close_link()


#: Characters left as they are when a URL is quoted: the reserved ones and ``%`` (already-quoted URLs stay so).
_URL_SAFE = ":/?#@!$&'*+,;=%~[]"


def _squeeze(text: str) -> str:
    """Runs of spaces become one; line breaks stay (at most one blank line's worth: one newline)."""
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def to_text(value: str, *, links: bool = True) -> str:
    """``value`` as plain text: HTML tags removed, entities decoded, http(s) links kept as ``[text](url)``.

    Text that holds no markup is returned unchanged (apart from surrounding spaces).
    """
    if not _TAG.search(value):
        return value.strip()
    reader = _Reader(links)
    reader.feed(value)
    reader.close()
    return _squeeze("".join(reader.out))


def split_links(text: str) -> list[str | tuple[str, str]]:
    """Plain text pieces and ``(text, url)`` links, in order, from a value :func:`to_text` wrote."""
    pieces: list[str | tuple[str, str]] = []
    at = 0
    for m in _LINK.finditer(text):
        if m.start() > at:
            pieces.append(text[at:m.start()])
        pieces.append((m.group(1) or m.group(2), m.group(2)))
        at = m.end()
    if at < len(text):
        pieces.append(text[at:])
    return pieces
