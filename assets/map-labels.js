/* The clusters' names over the map, as page text rather than a deck.gl TextLayer.
 *
 * A few dozen names need no GPU: a TextLayer costs a font atlas and a shader program,
 * which software GL compiles in seconds on the first frame; text in the page costs
 * nothing to draw, stays crisp and is read by screen readers. Each name is placed at
 * its cluster's centre and moved with the camera; names that would overlap are hidden.
 */
(function (M) {
  "use strict";

  let box = null, shown = [], key = null;

  /** The names of S.layoutLabels for the current zoom level (more appear as one zooms in). */
  function draw() {
    const S = M.S, labels = S.layoutLabels || [];
    if (!S.container) return;
    if (!box || box.parentNode !== S.container) {
      box = document.createElement("div");
      box.className = "map-labels";
      S.container.appendChild(box);
      key = null;
    }
    const wanted = S.keys.layoutLabels + "|" + S.level + "|" + labels.length;
    if (wanted !== key) {
      key = wanted;
      shown = labels.filter((l) => l.level === undefined || l.level <= S.level).map((l) => {
        const el = document.createElement("span");
        el.className = "map-label";
        el.textContent = l.text;
        if (l.share !== undefined && l.share < 0.5) {
          // a cluster the filters (mostly) emptied: its name recedes as its points do
          el.classList.add("receded");
          el.style.opacity = String(0.3 + 1.4 * l.share);
        }
        return {el, x: l.x, y: l.y, level: l.level || 0};
      }).sort((a, b) => a.level - b.level);  // stable: the server's order within a level
      box.replaceChildren(...shown.map((s) => s.el));
    }
    place();
    vectorKey();
  }

  // ------------------------------------------------------------------ the vector view's key

  let keyBox = null, keyFor = null;

  function swatchLine(cls, text) {
    const line = document.createElement("div");
    const swatch = document.createElement("span");
    swatch.className = "swatch " + cls;
    swatch.setAttribute("aria-hidden", "true");
    line.append(swatch, text);
    return line;
  }

  /** While a vector is shown: a key naming its start (blue) and end (orange) groups, and in the vector
   * view what x and y mean, with the axes' names at the map's bottom and left edges. Page text, as the
   * cluster names: no font atlas for software GL to build. */
  function vectorKey() {
    const S = M.S, v = S.vector;
    const wanted = v ? S.keys.vector + "|" + S.keys.layout : null;
    if (keyBox && keyBox.parentNode !== S.container) { keyBox = null; keyFor = null; }
    if (wanted === keyFor) return;
    keyFor = wanted;
    if (!v) { if (keyBox) keyBox.replaceChildren(); return; }
    if (!keyBox) {
      keyBox = document.createElement("div");
      keyBox.className = "vector-key-layer";
      S.container.appendChild(keyBox);
    }
    const key = document.createElement("div");
    key.className = "vector-key";
    key.setAttribute("role", "note");
    key.setAttribute("aria-label", "Key of the vector " + v.name);
    key.append(swatchLine("start", `${v.start.name} (start, ${v.start.size.toLocaleString()})`),
               swatchLine("end", `${v.end.name} (end, ${v.end.size.toLocaleString()})`));
    const parts = [key];
    if (v.axes) {
      for (const axis of ["x", "y"]) {
        const line = document.createElement("div");
        line.className = "axis-line";
        line.textContent = `${axis}: ${v.axes[axis]}`;
        key.appendChild(line);
        const name = document.createElement("div");  // the axis's name along its edge
        name.className = "vector-axis " + axis;
        name.textContent = `${v.axes[axis]} →`;
        parts.push(name);
      }
    }
    keyBox.classList.toggle("with-axes", !!v.axes);
    keyBox.replaceChildren(...parts);
  }

  /** The key's box in the map's pixels (null when none is shown): the camera's fit keeps clear of it. */
  function keyRect() {
    const [b] = boxes(".vector-key");
    return b ? {left: b[0], top: b[1], right: b[2], bottom: b[3]} : null;
  }

  const GAP = 3;  // pixels kept free between two names

  /** Move the names with the camera (called after every frame the deck draws). The server spaces the
   * names for its own estimate of their size; a page name (bold, on a pill) can be wider, so a name that
   * would overlap one placed before it (coarser levels come first) is hidden until there is room. */
  function place() {
    const S = M.S;
    if (!box || !shown.length || !S.deck) return;
    const vp = S.deck.getViewports()[0];
    if (!vp) { requestAnimationFrame(place); return; }  // the deck has not measured its canvas yet
    // the map's own controls drawn over it (tool rows, notices, a job's progress) and its edges are
    // taken: a name under a button, or cut by the map's edge, is hidden until the camera moves it clear
    const W = S.container.clientWidth, H = S.container.clientHeight;
    const kept = boxes(".map-tools > *, .map-status, .progress, .vector-key");
    for (const s of shown) {
      if (!s.w) { s.w = s.el.offsetWidth; s.h = s.el.offsetHeight; }  // measured once, when first laid out
      const [px, py] = vp.project([s.x, s.y]);
      const left = px - s.w / 2, r = [left - GAP, py - GAP, left + s.w + GAP, py + s.h + GAP];
      const inside = r[0] >= 0 && r[1] >= 0 && r[2] <= W && r[3] <= H;
      const free = inside && kept.every((k) => r[0] >= k[2] || r[2] <= k[0] || r[1] >= k[3] || r[3] <= k[1]);
      if (free) kept.push(r);
      s.el.style.visibility = free ? "" : "hidden";
      s.el.style.transform = `translate(${left.toFixed(1)}px, ${py.toFixed(1)}px)`;
    }
  }

  /** Boxes [left, top, right, bottom], in the map's pixels, of the shown elements matching ``selector`` in or
   * over the map (its tool rows, status, a job's progress, the vector key): the names and the camera's fit
   * keep clear of them. */
  function boxes(selector) {
    const map = M.S.container, area = map && map.parentElement, out = [];
    if (!area) return out;
    const origin = map.getBoundingClientRect();
    for (const el of area.querySelectorAll(selector)) {
      const r = el.getBoundingClientRect();
      if (r.width && r.height) out.push([r.left - origin.left, r.top - origin.top, r.right - origin.left, r.bottom - origin.top]);
    }
    return out;
  }

  M.labels = {draw, place, keyRect, boxes, count: () => shown.length};
})(window.dashMapModules = window.dashMapModules || {});
