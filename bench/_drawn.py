"""One rule for "the map is drawn", the same for our map and for its peers.

A map counts as drawn when a user would see it finished: screenshots of the
element that holds its canvas are taken back to back until one stays
unchanged for ``settle_s`` seconds, is not blank, and (after an interaction)
differs from the picture before it. The time reported is when the first
screenshot of that final, unchanging run completed.

Screenshots go through the page itself (Playwright runs script in the page
before each capture), so none completes while the main thread is blocked: a
frozen tab counts as not drawn, however early its canvas was painted (checked:
a square painted at 1 s before a 4 s busy loop is "drawn" at 5.1 s).
Long tasks (main-thread work over 50 ms) are recorded alongside, since a map
that is drawn but janky is not done either.

Usage (Playwright's sync API)::

    browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    install(page)
    t0 = time.perf_counter(); page.goto(url)
    first = wait_drawn(page, "#map", t0)
"""

from __future__ import annotations

import io
import time

from PIL import Image

CHROMIUM = "/usr/bin/chromium"
# Headless WebGL in software (SwiftShader); --use-gl=swiftshader renders blank here.
ARGS = ["--no-sandbox", "--enable-unsafe-swiftshader", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# for wait_drawn's ready: no tile the tiled map's view needs is still on its way (true on an untiled map)
TILES_READY = "!((window.dashMap && dashMap.stats().tiles) || {}).loading"

# Runs before any page script, so the observer sees every long task from the
# start; ``buffered`` also collects the ones queued before it was attached.
LONGTASK_SCRIPT = """
window.__longtasks = window.__longtasks || [];
try {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__longtasks.push([e.startTime, e.duration]);
  }).observe({type: 'longtask', buffered: true});
} catch (e) { /* no longtask support: totals stay 0 */ }
"""


def launch(playwright):
    """Chromium from Debian with the flags that give headless WebGL here."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)


def install(page) -> None:
    """Record long tasks into ``window.__longtasks`` on every page this ``page`` loads.

    Call it before ``page.goto``; an init script runs on navigation only, so a
    page filled by ``page.set_content`` records nothing.
    """
    page.add_init_script(LONGTASK_SCRIPT)


def now_ms(page) -> float:
    """The page's ``performance.now()``, to mark a moment for :func:`longtasks`."""
    return float(page.evaluate("performance.now()"))


def longtasks(page, after_ms: float | None = None) -> tuple[float, int]:
    """(total ms, count) of long tasks, only those starting after ``after_ms`` if given."""
    return tuple(page.evaluate(
        """(after) => {
             const l = (window.__longtasks || []).filter(([s]) => after === null || s > after);
             return [l.reduce((a, [, d]) => a + d, 0), l.length];
           }""", after_ms))


def _box(page, selector: str):
    """The element's box clipped to the viewport, or None while it is absent or empty."""
    el = page.query_selector(selector)
    box = el.bounding_box() if el else None
    if not box:
        return None
    vp = page.viewport_size or {"width": 1 << 16, "height": 1 << 16}
    x0, y0 = max(box["x"], 0), max(box["y"], 0)
    x1, y1 = min(box["x"] + box["width"], vp["width"]), min(box["y"] + box["height"], vp["height"])
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return {"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0}


def _pixels(png: bytes) -> tuple[tuple[int, int], bytes, bool]:
    """(size, raw RGBA pixels, blank?) — blank means every pixel the same colour."""
    im = Image.open(io.BytesIO(png)).convert("RGBA")
    return im.size, im.tobytes(), im.getcolors(1) is not None


def wait_drawn(page, clip_selector: str, start: float, *, settle_s: float = 3.0, timeout_s: float = 600,
               changed_from: bytes | None = None, ready: str | None = None) -> dict:
    """Seconds from ``start`` (a ``time.perf_counter()``) until the element is drawn.

    Screenshots of the element's box (re-queried every time, so a late or
    resized element is followed) are taken back to back. Each is stamped with
    the time it *completed*. Pixels are compared exactly (decoded RGBA bytes,
    not PNG bytes, whose encoding may differ): a map at rest redraws identical
    frames here (Atlas 0.22 in SwiftShader settles byte-identical), so no
    tolerance is needed, and any tolerance would hide a few late points.

    The final picture is one that stays byte-identical over ``settle_s`` of
    consecutive screenshots, is not one flat colour, and differs from
    ``changed_from`` (a PNG taken before an interaction) when that is given,
    and, when ``ready`` (a JavaScript expression) is given, for which it is true
    at the end of the run: a tiled map holding its coarser tiles while a finer
    one is still on its way looks at rest, but is not drawn.
    Returns ``{"drawn_s", "shots", "png", "first_s", "first_ms"}``: ``drawn_s``
    is the completion time of the first screenshot of that final run;
    ``first_s`` that of the first non-blank screenshot (the map's first frame)
    and ``first_ms`` the page's ``performance.now()`` just after it, to count
    the long tasks that follow the first frame. Raises ``TimeoutError`` if no
    such picture appears within ``timeout_s``.
    """
    before = _pixels(changed_from)[:2] if changed_from is not None else None
    deadline = start + timeout_s
    shots = 0
    first_s = first_ms = None
    run_key = run_t = None  # pixels of the current unchanged run, and when its first shot completed
    while time.perf_counter() < deadline:
        try:
            box = _box(page, clip_selector)
            if box is None:  # not in the DOM (or not laid out) yet: keep polling
                time.sleep(0.05)
                continue
            left_ms = max((deadline - time.perf_counter()) * 1000, 1)
            # animations left as they are: a spinner still turning means not drawn
            png = page.screenshot(clip=box, timeout=left_ms)
        except Exception as e:
            if page.is_closed():
                raise
            if "imeout" in f"{type(e).__name__} {e}":  # the tab stayed frozen until the deadline
                break
            time.sleep(0.05)  # the page navigated or the element went away mid-shot: look again
            continue
        t = time.perf_counter() - start
        shots += 1
        size, raw, blank = _pixels(png)
        if first_s is None and not blank:
            first_s, first_ms = t, now_ms(page)
        key = (size, raw)
        if key != run_key:
            run_key, run_t, run_png = key, t, png
            continue
        if t - run_t >= settle_s and not blank and key != before:
            if ready is not None and not page.evaluate(ready):
                continue
            return {"drawn_s": run_t, "shots": shots, "png": run_png, "first_s": first_s, "first_ms": first_ms}
    raise TimeoutError(f"{clip_selector!r} not drawn within {timeout_s:.0f} s ({shots} screenshots)")
