/* The map by keyboard: with the map focused, arrow keys move to the nearest item in that direction
 * (from the clicked item, else from the middle of the view), Enter opens it large, Esc closes it;
 * in the lightbox, ← and → go through the selection or what the filters keep. */
(function (M) {
  "use strict";

  /** The nearest item from item ``from`` (or the view's centre) within 45° of the screen direction. */
  function nearestInDirection(from, dx, dy) {
    const S = M.S;
    if (!S.deck || !S.positions) return -1;
    const vp = S.deck.getViewports()[0];
    const origin = from >= 0 ? vp.project([S.positions[2 * from], S.positions[2 * from + 1]]) : [vp.width / 2, vp.height / 2];
    let best = -1, bestScore = Infinity;
    const n = S.positions.length / 2;
    for (let i = 0; i < n; i++) {
      if (i === from) continue;
      const [x, y] = vp.project([S.positions[2 * i], S.positions[2 * i + 1]]);
      const ax = x - origin[0], ay = y - origin[1];
      const along = ax * dx + ay * dy;
      if (from >= 0 && along <= 0) continue;
      const across = Math.abs(ax * dy - ay * dx);
      if (from >= 0 && across > along) continue;  // outside the 90° cone
      const score = from >= 0 ? along + 2 * across : ax * ax + ay * ay;
      if (score < bestScore) { bestScore = score; best = i; }
    }
    return best;
  }

  const DIRECTIONS = {ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1]};

  document.addEventListener("keydown", (e) => {
    const lightbox = document.getElementById("lightbox");
    if (lightbox && !lightbox.hidden) {
      if (e.key === "Escape") document.getElementById("lightbox-close").click();
      else if (e.key === "ArrowLeft") document.getElementById("lightbox-prev").click();
      else if (e.key === "ArrowRight") document.getElementById("lightbox-next").click();
      else return;
      e.preventDefault();
      return;
    }
    const map = document.getElementById(M.ids.map);
    if (!map || !map.contains(document.activeElement)) return;
    const S = M.S;
    if (e.key === "Enter" && S.focus !== null) {
      M.setProps("lightbox-open", {data: true});
      e.preventDefault();
      return;
    }
    const d = DIRECTIONS[e.key];
    if (!d) return;
    e.preventDefault();
    const next = nearestInDirection(S.focus === null ? -1 : S.focus, d[0], d[1]);
    if (next >= 0) {
      S.focusFromMap = null;  // the map follows the keyboard
      M.setProps(M.ids.clicked, {data: next});
    }
  });

  M.keys = {nearestInDirection};
})(window.dashMapModules = window.dashMapModules || {});
