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
        return {el, x: l.x, y: l.y, level: l.level || 0};
      }).sort((a, b) => a.level - b.level);  // stable: the server's order within a level
      box.replaceChildren(...shown.map((s) => s.el));
    }
    place();
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
    const kept = [];
    for (const s of shown) {
      if (!s.w) { s.w = s.el.offsetWidth; s.h = s.el.offsetHeight; }  // measured once, when first laid out
      const [px, py] = vp.project([s.x, s.y]);
      const left = px - s.w / 2, r = [left - GAP, py - GAP, left + s.w + GAP, py + s.h + GAP];
      const free = kept.every((k) => r[0] >= k[2] || r[2] <= k[0] || r[1] >= k[3] || r[3] <= k[1]);
      if (free) kept.push(r);
      s.el.style.visibility = free ? "" : "hidden";
      s.el.style.transform = `translate(${left.toFixed(1)}px, ${py.toFixed(1)}px)`;
    }
  }

  M.labels = {draw, place, count: () => shown.length};
})(window.dashMapModules = window.dashMapModules || {});
