/* Picking and selection: hover tooltip, click, Shift-click, lasso and box.
 *
 * The lasso tests the position array in world space (the layout is linear in world
 * units, so screen → world once per polygon vertex is enough).
 */
(function (M) {
  "use strict";

  function globalIndex(info) {
    if (!info || !info.layer || info.index < 0) return -1;
    const sub = info.sourceLayer;  // a tile's points (map-tiles.js): the tile's global indices
    if (sub && sub !== info.layer && sub.props.indexMap) return sub.props.indexMap[info.index];
    if (info.layer.props.indexMap) return info.layer.props.indexMap[info.index];  // only what passes is drawn
    const first = info.layer.props.first;
    if (first === undefined) return info.layer.props.wordsLayer ? info.object : -1;
    return first + info.index;
  }

  async function onHover(info) {
    const S = M.S, tip = document.getElementById(M.ids.tooltip);
    if (!tip) return;
    const i = globalIndex(info);
    if (i < 0 || S.tool !== "pan") { tip.hidden = true; S.tooltipFor = -1; return; }
    tip.style.left = (info.x + 14) + "px";
    tip.style.top = (info.y + 14) + "px";
    if (S.tooltipFor === i) return;
    S.tooltipFor = i;
    let item = S.items.get(i);
    if (!item) {
      try {
        item = await M.transport.fetchJson("/api/item?dataset=" + encodeURIComponent(S.view.dataset) + "&i=" + i);
        S.items.set(i, item);
      } catch (e) { return; }
    }
    if (S.tooltipFor !== i) return;
    tip.replaceChildren();
    const title = document.createElement("strong");
    title.textContent = item.name;  // metadata is text, never markup
    tip.appendChild(title);
    Object.entries(item).filter(([k, v]) => k !== "name" && k !== "i" && v !== null).slice(0, 4).forEach(([k, v]) => {
      const row = document.createElement("div");
      row.textContent = k + ": " + (v.length > 60 ? v.slice(0, 57) + "…" : v);
      tip.appendChild(row);
    });
    tip.hidden = false;
  }

  function onClick(info, event) {
    const S = M.S;
    if (S.tool !== "pan" || S.spaceHeld) return;
    const i = globalIndex(info);
    if (i < 0) return;
    const src = event && event.srcEvent;
    if (src && (src.shiftKey || src.metaKey || src.ctrlKey)) {
      const set = new Set(S.selection);
      if (set.has(i)) set.delete(i); else set.add(i);
      update(Array.from(set));
      return;
    }
    S.focusFromMap = i;
    M.setProps(M.ids.clicked, {data: i});
    M.setProps("lightbox-open", {data: true});  // a click opens the item large, as PixPlot did
  }

  /** The selection as Dash set it: drawn, and kept in the URL. */
  function set(sel) {
    const S = M.S;
    S.selection = (sel || []).slice().sort((a, b) => a - b);
    M.layers.draw();
    M.url.schedule();
    return S.selection.length;
  }

  /** A selection made on the map: drawn and sent to Dash. */
  function update(indices) {
    const sorted = indices.slice().sort((a, b) => a - b);
    set(sorted);
    M.setProps(M.ids.selection, {data: sorted});
  }

  function insidePolygon(poly) {
    const S = M.S, pos = S.positions, n = S.view.n, out = [];
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const [x, y] of poly) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
    for (let i = 0; i < n; i++) {
      const x = pos[2 * i], y = pos[2 * i + 1];
      if (x < x0 || x > x1 || y < y0 || y > y1 || !M.layers.isShown(i)) continue;
      let inside = false;
      for (let a = 0, b = poly.length - 1; a < poly.length; b = a++) {
        const [xa, ya] = poly[a], [xb, yb] = poly[b];
        if ((ya > y) !== (yb > y) && x < ((xb - xa) * (y - ya)) / (yb - ya) + xa) inside = !inside;
      }
      if (inside) out.push(i);
    }
    return out;
  }

  function boxCorners(path) {
    const [x0, y0] = path[0], [x1, y1] = path[path.length - 1];
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]];
  }

  /** The transparent canvas over the map that draws the lasso or the box while dragging. */
  function installOverlay(el) {
    const S = M.S, canvas = document.createElement("canvas");
    canvas.className = "lasso-overlay";
    el.appendChild(canvas);
    let path = null, additive = false;
    const point = (e) => { const r = canvas.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
    const shape = () => (S.tool === "box" && !S.spaceHeld ? boxCorners(path) : path);
    const paint = () => {
      const ctx = canvas.getContext("2d");
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      if (!path || path.length < 2) return;
      ctx.beginPath();
      shape().forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.closePath();
      ctx.fillStyle = "rgba(47, 111, 176, 0.12)";
      ctx.strokeStyle = "rgba(47, 111, 176, 0.9)";
      ctx.lineWidth = 1.5;
      ctx.setLineDash([5, 4]);
      ctx.fill();
      ctx.stroke();
    };
    canvas.addEventListener("pointerdown", (e) => {
      canvas.width = canvas.clientWidth;
      canvas.height = canvas.clientHeight;
      canvas.setPointerCapture(e.pointerId);
      path = [point(e)];
      additive = e.shiftKey || e.metaKey || e.ctrlKey;
    });
    canvas.addEventListener("pointermove", (e) => {
      if (!path) return;
      const p = point(e), last = path[path.length - 1];
      if (Math.hypot(p[0] - last[0], p[1] - last[1]) > 3) { path.push(p); paint(); }
    });
    canvas.addEventListener("pointerup", () => {
      if (!path) return;
      const pts = shape();
      path = null;
      paint();
      if (pts.length < 3 || !(S.positions || (S.view && S.view.tiled))) return;
      const viewport = S.deck.getViewports()[0];
      const polygon = pts.map(([x, y]) => viewport.unproject([x, y]).slice(0, 2));
      const done = (found) => update(additive ? Array.from(new Set(S.selection.concat(found))) : found);
      if (S.view.tiled) {  // the browser holds a sample: the server tests every item
        S.lastPolygon = polygon;
        M.tiles.lasso(polygon).then((a) => done(Array.from(a))).catch((e) => M.status("Lasso failed: " + e.message));
      } else {
        done(insidePolygon(polygon));
      }
    });
    syncTools();
  }

  function syncTools() {
    const S = M.S, active = S.tool !== "pan" || S.spaceHeld;
    document.querySelectorAll(".lasso-overlay").forEach((c) => c.classList.toggle("active", active));
    document.querySelectorAll(".map-tools .tool").forEach((b) => b.classList.toggle("active", b.id === "tool-" + (S.spaceHeld ? "lasso" : S.tool)));
  }

  M.select = {onHover, onClick, set, update, installOverlay, syncTools};
})(window.dashMapModules = window.dashMapModules || {});
