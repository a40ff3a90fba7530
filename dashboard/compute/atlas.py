"""Image atlases: thumbnails packed into a few large textures for the GPU."""

from __future__ import annotations

import io
import math
from typing import Callable

from PIL import Image

#: WebGL guarantees 4096² textures on the laptops PixPlot users had trouble with (#191).
MAX_SIDE = 4096


def grid(n: int, cell: int, max_side: int = MAX_SIDE) -> list[dict]:
    """How ``n`` cells split into textures: [{first, count, cols, width, height}]."""
    cols = max_side // cell
    per = cols * cols
    out = []
    for first in range(0, n, per):
        count = min(per, n - first)
        rows = math.ceil(count / cols)
        out.append({"first": first, "count": count, "cols": cols, "width": cols * cell, "height": rows * cell})
    return out


def fit(im: Image.Image, cell: int) -> Image.Image:
    """``im`` as RGBA fitted into a ``cell``-pixel square, aspect kept (tiny images scaled up crisply)."""
    im = im.convert("RGBA")
    if im.size != (cell, cell):
        im.thumbnail((cell, cell), Image.Resampling.LANCZOS if max(im.size) > cell else Image.Resampling.NEAREST)
        if max(im.size) < cell:  # tiny images (digits are 8×8) are scaled up crisply
            f = cell / max(im.size)
            im = im.resize((max(1, round(im.width * f)), max(1, round(im.height * f))), Image.Resampling.NEAREST)
    return im


def square(im: Image.Image, cell: int) -> Image.Image:
    """``im`` fitted into a transparent ``cell``-pixel square, centred: drawn exactly where its atlas cell is."""
    im = fit(im, cell)
    out = Image.new("RGBA", (cell, cell), (0, 0, 0, 0))
    out.paste(im, ((cell - im.width) // 2, (cell - im.height) // 2))
    return out


def pack(open_image: Callable[[int], Image.Image | None], texture: dict, cell: int) -> bytes:
    """One atlas texture as PNG bytes; each image fitted into its cell, centred, aspect kept.

    ``open_image(i)`` returns an image or None (unreadable: the cell stays transparent).
    """
    sheet = Image.new("RGBA", (texture["width"], texture["height"]), (0, 0, 0, 0))
    cols = texture["cols"]
    for k in range(texture["count"]):
        im = open_image(texture["first"] + k)
        if im is None:
            continue
        im = fit(im, cell)
        x = (k % cols) * cell + (cell - im.width) // 2
        y = (k // cols) * cell + (cell - im.height) // 2
        sheet.paste(im, (x, y))
    buf = io.BytesIO()
    sheet.save(buf, format="PNG", optimize=False, compress_level=3)
    return buf.getvalue()


