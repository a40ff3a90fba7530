/* Image atlases: which texture and cell holds each item's thumbnail.
 *
 * The server packs thumbnails into ≤ 4096² textures at build time; this module
 * fetches their layout (three numbers per texture) and builds deck.gl's icon mapping.
 */
(function (M) {
  "use strict";

  /** deck.gl's icon mapping of a texture ({count, cols}) of ``cell``-pixel cells (a tile's atlas too). */
  function mapping(texture, cell) {
    // Cell k sits at row k / cols, column k % cols: built here from three numbers
    // instead of shipping a JSON entry per image.
    const out = {};
    for (let k = 0; k < texture.count; k++) {
      out[k] = {x: (k % texture.cols) * cell, y: Math.floor(k / texture.cols) * cell, width: cell, height: cell};
    }
    return out;
  }

  /** Fetch the atlas layout of the view's dataset and cell size if it changed (else null). */
  function ensure(view) {
    const S = M.S, key = view.dataset + "/" + view.cell;
    if (view.mode !== "images" || view.tiled || S.atlasKey === key) return null;  // a tiled map: an atlas a tile
    return M.transport.fetchJson("/api/atlas.json?dataset=" + encodeURIComponent(view.dataset) + "&cell=" + view.cell)
      .then((info) => {
        S.atlas = info;
        S.atlasKey = key;
        S.mappings = info.textures.map((t) => mapping(t, info.cell));
      });
  }

  M.atlas = {ensure, mapping};
})(window.dashMapModules = window.dashMapModules || {});
