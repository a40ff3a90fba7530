/* Sharp images at deep zoom.
 *
 * The atlas holds each image at its cell size (32–128 px). Zoomed in past that, the
 * few items in view (at most MAX_SHARP) are drawn again over their cells from their
 * web images, fitted into a square exactly as the atlas cell is (/api/sharp), at the
 * resolution the zoom needs: enlarged cells turn crisp, as PixPlot's did when it
 * swapped in its large images.
 */
(function (M) {
  "use strict";

  const MAX_SHARP = 60;
  const SIDES = [128, 256, 512];

  /** The items in view, or null when there are more than ``max`` (then the atlas is sharp enough). */
  function inView(size, max) {
    const S = M.S, el = S.container, pos = S.positions, n = S.view.n;
    const scale = Math.pow(2, S.camera.zoom), [cx, cy] = S.camera.target;
    const hw = (el.clientWidth || 800) / 2 / scale + size, hh = (el.clientHeight || 600) / 2 / scale + size;
    const out = [];
    for (let i = 0; i < n; i++) {
      if (Math.abs(pos[2 * i] - cx) <= hw && Math.abs(pos[2 * i + 1] - cy) <= hh) {
        out.push(i);
        if (out.length > max) return null;
      }
    }
    return out;
  }

  /** The layer of sharp images for the current camera, or null (not zoomed in far enough, too many in view). */
  function layer(colors) {
    const S = M.S, view = S.view;
    S.sharpShown = 0;
    if (!view || view.mode !== "images" || view.tiled || !S.atlas || !S.positions || !S.camera || S.sizes) return null;
    const size = S.spec.layers.images.getSize, px = size * Math.pow(2, S.camera.zoom);
    if (px < S.atlas.cell * 1.3) return null;
    const items = inView(size, MAX_SHARP);
    if (!items || !items.length) return null;
    const side = SIDES.find((s) => s >= px) || SIDES[SIDES.length - 1];
    const kind = view.frames ? "tinted" : "images", pos = S.positions, base = "/api/sharp/" + encodeURIComponent(view.dataset) + "/";
    const key = [items.join(","), side, kind, S.keys.colors, S.keys.mask, view.searching, S.selection.length, S.atlasKey].join("|");
    S.sharpShown = items.length;
    return M.layers.cached("sharp", key, () => M.layers.template(kind, {
      id: "sharp", data: items, pickable: false,  // the atlas layer below answers hover and clicks
      getPosition: (i) => [pos[2 * i], pos[2 * i + 1]],
      getColor: (i) => [colors[4 * i], colors[4 * i + 1], colors[4 * i + 2], colors[4 * i + 3]],
      getIcon: (i) => ({url: base + i + ".png?px=" + side + "&build=" + S.atlas.build, width: side, height: side, id: i + "@" + side}),
      iconAtlas: null, iconMapping: null,
    }));
  }

  let timer = null;
  /** After the camera moved: redraw once it rests, if the sharp images should change. */
  function cameraMoved() {
    const S = M.S;
    if (!S.view || S.view.mode !== "images" || S.view.tiled) return;
    clearTimeout(timer);
    timer = setTimeout(() => M.layers.draw(), 150);
  }

  M.sharp = {layer, cameraMoved, stats: () => M.S.sharpShown || 0};
})(window.dashMapModules = window.dashMapModules || {});
