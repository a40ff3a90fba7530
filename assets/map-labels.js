/* The clusters' names over the map, as page text rather than a deck.gl TextLayer.
 *
 * A few dozen names need no GPU: a TextLayer costs a font atlas and a shader program,
 * which software GL compiles in seconds on the first frame; text in the page costs
 * nothing to draw, stays crisp and is read by screen readers. Each name is placed at
 * its cluster's centre (the server places them so that they never overlap at the zoom
 * level they carry) and moved with the camera.
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
        return {el, x: l.x, y: l.y};
      });
      box.replaceChildren(...shown.map((s) => s.el));
    }
    place();
  }

  /** Move the names with the camera (called after every frame the deck draws). */
  function place() {
    const S = M.S;
    if (!box || !shown.length || !S.deck) return;
    const vp = S.deck.getViewports()[0];
    if (!vp) { requestAnimationFrame(place); return; }  // the deck has not measured its canvas yet
    for (const s of shown) {
      const [px, py] = vp.project([s.x, s.y]);
      s.el.style.transform = `translate(${px.toFixed(1)}px, ${py.toFixed(1)}px) translateX(-50%)`;
    }
  }

  M.labels = {draw, place, count: () => shown.length};
})(window.dashMapModules = window.dashMapModules || {});
