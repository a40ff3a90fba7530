/* Levels of detail: a large map drawn from the tiles in view (dashboard/tiles.py), and the density overview.
 *
 * Above the server's threshold the view says ``tiled``: the browser never holds every
 * point. deck.gl's TileLayer (in the deck's OrthographicView) picks the tiles in view;
 * tile (z, x, y) of the pyramid holds the items of levels ≤ z in its square, a uniform
 * sample of it, so the first frame is level 0 and zooming in fetches finer tiles with
 * more items. Each tile is drawn by the DotsLayer with its items' global indices, which
 * is how colours, filters, search hits, selection and picking apply per tile: the
 * colour slice comes from the server for the tile's items, the mask is the browser's
 * (map-filter.js), indexed by them. Tile geometry is kept in an LRU with a cap on the
 * items held; a colour change refetches only the colour slices, a filter nothing.
 * The slices of every tile in view are fetched before the map redraws, so a colour
 * change is one frame, not one per tile (each frame draws every point in view again).
 *
 * Images mode draws from the image pyramid (fewer items a level: a mosaic of about
 * 4,096 thumbnails in view) and each tile brings its own atlas of its items'
 * thumbnails (dashboard/atlases.py), small cells on the pyramid's levels and larger
 * ones on the zooms past them, so the map sharpens where one zooms. Each level's
 * images are sized so that the level's sample covers the map. GPU textures stay under
 * TEXTURE_CAP: the TileLayer's cache counts each tile's texture and drops the least
 * recently seen tiles out of view (their textures go with their layers).
 */
(function (M) {
  "use strict";
  if (!window.deck) return;

  // Items whose geometry this tab keeps (8 bytes each, plus 4 for colours): ~36 MB.
  const MAX_HELD = 3000000;
  // deck.gl tile zoom of the pyramid's level 0: tiles are TILE_WORLD·2^K "pixels" at zoom 0.
  const K = 10;
  // Levels below the deepest one: the deepest level's tiles split further, so a dense corner is fetched in parts.
  const DEEPER = 3;
  const DIM_ALPHA = 28;
  // GPU memory for the image tiles' atlases (RGBA, 4 bytes a pixel): a tile's texture is at most 2048² (16 MB).
  const TEXTURE_CAP = 256 * 2 ** 20;

  const geometry = new Map();  // "layout|z/x/y" → {indices, positions, length}, oldest first
  let held = 0, fetched = 0, requests = 0, textures = 0, texturesPeak = 0;
  const fetchedLevels = [];  // the pyramid level of each tile geometry fetched, the last 500 (for tests)

  /** A tile's response, counted; a failure as an Error with the server's one line. */
  async function fetchTile(url, signal) {
    requests += 1;
    const r = await fetch(url, {signal});
    if (!r.ok) throw new Error((await r.text()).trim() || r.statusText);
    return r;
  }

  async function fetchBytes(url, signal) {
    return (await fetchTile(url, signal)).arrayBuffer();
  }

  /** The pyramid of the view's layout (tiles.json), fetched when the layout changes; on a colour
   * change, the colours of the tiles in view (resolves when all of them have come). */
  function ensure(view) {
    const S = M.S;
    if (!view.tiled) return null;
    const images = view.mode === "images", key = view.tiles;  // the server's query for the view's pyramid
    if (S.tiles && S.tiles.key === key) return recolourShown(view);
    return M.transport.fetchJson("/api/tiles.json?" + key).then((meta) => {
      textures = 0;  // the last layer's tiles, textures and all, go with it
      S.tiles = {key, images, meta, colors: view.colors, bump: 0};
    });
  }

  function tileset() {
    const S = M.S, tl = S.deck && (S.deck.props.layers || []).find((l) => l.id === "tiles");
    return tl && tl.state && tl.state.tileset;
  }

  /** A tile's colours for the view's colour key (a tile holds the ones it was last drawn with). */
  function recolour(d, colors) {
    if (d.colors === colors) return Promise.resolve();
    if (d.recolouring && d.recolouring.colors === colors) return d.recolouring.job;
    const job = fetchBytes(d.path + "/colors.bin?" + d.key + "&" + colors).then((b) => {
      if (d.recolouring && d.recolouring.colors !== colors) return;  // a newer colour came meanwhile
      d.rgba = new Uint8Array(b); d.colors = colors; d.masked = null; d.recolouring = null;
    });
    d.recolouring = {colors, job};
    return job;
  }

  async function recolourShown(view) {
    const S = M.S, tiles = tileset();
    if (S.tiles.colors === view.colors) return;
    const shown = tiles ? tiles.tiles.filter((t) => t.isVisible && t.content) : [];
    S.tiles.pending = view.colors;
    try {
      await Promise.all(shown.map((t) => recolour(t.content, view.colors)));
    } finally {
      if (S.tiles.pending === view.colors) S.tiles.pending = null;
    }
    if (S.view === view) S.tiles.colors = view.colors;  // the layer's renderSubLayers trigger
  }

  /** After each frame: a tile that came into view with an older view's colours (it was out of view at
   * the change) fetches its own, and the map redraws once they are in. Tiles out of view wait. */
  function recolourLate() {
    const S = M.S, tiles = S.view && S.view.tiled && S.tiles && tileset();
    if (!tiles || S.tiles.pending === S.view.colors) return;  // recolourShown draws them all at once
    const colors = S.view.colors;
    for (const t of tiles.tiles) {
      const d = t.content;
      if (!t.isVisible || !d || !d.length || d.colors === colors || (d.recolouring && d.recolouring.colors === colors)) continue;
      recolour(d, colors).then(() => {
        if (S.tiles.late) return;
        S.tiles.late = requestAnimationFrame(() => { S.tiles.late = 0; S.tiles.bump += 1; M.layers.draw(); });
      }).catch(() => null);
    }
  }

  async function tileGeometry(query, z, x, y, signal) {
    const key = query + "|" + z + "/" + x + "/" + y;
    const hit = geometry.get(key);
    if (hit) { geometry.delete(key); geometry.set(key, hit); return hit; }
    const buf = await fetchBytes("/api/tile/" + z + "/" + x + "/" + y + ".bin?" + query, signal);
    const m = buf.byteLength / 8, w = M.S.tiles.meta.tileWorld / Math.pow(2, z), x0 = x * w, y0 = y * w;
    const q = new Uint16Array(buf, 4 * m, 2 * m), positions = new Float32Array(2 * m);
    for (let k = 0; k < 2 * m; k += 2) {
      positions[k] = x0 + (q[k] / 65535) * w;
      positions[k + 1] = y0 + (q[k + 1] / 65535) * w;
    }
    const got = {indices: new Uint32Array(buf, 0, m), positions, length: m};
    geometry.set(key, got);
    held += m; fetched += 1;
    fetchedLevels.push(z);
    if (fetchedLevels.length > 500) fetchedLevels.shift();
    for (const [k, g] of geometry) {  // the least recently used go first
      if (held <= MAX_HELD) break;
      geometry.delete(k); held -= g.length;
    }
    return got;
  }

  /** An image tile's atlas: its items' thumbnails, cell k for its k-th item (X-Cell px, X-Count of them). */
  async function tileAtlas(url, signal) {
    const r = await fetchTile(url, signal);
    const cell = Number(r.headers.get("X-Cell")), count = Number(r.headers.get("X-Count"));
    const image = await createImageBitmap(await r.blob());
    const mapping = M.atlas.mapping({count, cols: Math.max(1, Math.floor(image.width / cell))}, cell);
    return {image, cell, count, mapping, bytes: 4 * image.width * image.height};
  }

  /** A tile's content: geometry and colours (the mask is applied as it is drawn: a filter fetches nothing);
   * for images, its atlas too. */
  async function tileData({index, signal}) {
    const S = M.S, view = S.view, z = index.z - K, {x, y} = index, key = S.tiles.key;
    const path = "/api/tile/" + z + "/" + x + "/" + y;
    const [g, rgba, atlas] = await Promise.all([
      tileGeometry(key, z, x, y, signal),
      fetchBytes(path + "/colors.bin?" + key + "&" + view.colors, signal).then((b) => new Uint8Array(b)),
      S.tiles.images ? tileAtlas(path + "/atlas.png?" + key, signal) : null,
    ]);
    if (atlas) trackTexture(atlas, +1);
    return {...g, rgba, colors: view.colors, path, key, z, atlas,
            byteLength: 12 * g.length + (atlas ? atlas.bytes : 0)};
  }

  function trackTexture(atlas, sign) {
    textures += sign * atlas.bytes;
    texturesPeak = Math.max(texturesPeak, textures);
  }

  /** World size of an image on tile zoom z: the items of levels ≤ z side by side over the map's extent. */
  function imageSize(z) {
    const meta = M.S.tiles.meta, [x0, y0, x1, y1] = meta.bounds;
    const count = Math.min(meta.n, meta.base * Math.pow(4, Math.min(z, meta.levels - 1)));
    return Math.max(x1 - x0, y1 - y0) / Math.sqrt(count) * (M.S.view.size || 1);
  }

  /** A tile's colours with the items the browser's mask leaves out faded (map-filter.js) and, while there
   * is a selection, what is not selected dimmed, as on a map drawn whole (map-layers.js shownColors). */
  function maskedColors(d) {
    const S = M.S, mask = S.mask, searching = S.view.searching, selection = S.selection;
    if (!mask && !selection.length) return d.rgba;
    const key = S.keys.mask + "|" + searching + "|" + M.layers.selectionKey();
    if (d.masked && d.masked.key === key) return d.masked.rgba;
    const rgba = new Uint8Array(d.rgba), recede = M.layers.recede;
    const set = selection.length ? selectedSet() : null;
    for (let k = 0; k < d.length; k++) {
      if (mask) {
        const v = mask[d.indices[k]];
        if (!(v & 1) || (searching && !(v & 2))) { recede(rgba, k, DIM_ALPHA); continue; }
      }
      if (set && !set.has(d.indices[k])) recede(rgba, k, M.layers.UNSELECTED_ALPHA);
    }
    d.masked = {key, rgba};
    return rgba;
  }

  function selectedSet() {
    const S = M.S;
    if (!S.tiles.selected || S.tiles.selected.of !== S.selection) S.tiles.selected = {of: S.selection, set: new Set(S.selection)};
    return S.tiles.selected.set;
  }

  function itemsLayer(props, d) {
    if (!d.atlas) {
      return M.layers.template("points", {
        id: props.id + "-points",
        data: {length: d.length, attributes: {getPosition: {value: d.positions, size: 2}, getFillColor: {value: maskedColors(d), size: 4}}},
        indexMap: d.indices,
      });
    }
    // coloured by a column: each thumbnail on a square of its colour (as below the threshold)
    const m = d.atlas.count;
    return M.layers.template(M.S.view.frames ? "tinted" : "images", {
      id: props.id + "-images",
      data: {length: m, attributes: {getPosition: {value: d.positions.subarray(0, 2 * m), size: 2},
                                     getColor: {value: maskedColors(d).subarray(0, 4 * m), size: 4}}},
      iconAtlas: d.atlas.image, iconMapping: d.atlas.mapping, getIcon: (_, {index}) => index,
      getSize: imageSize(d.z), sizeMinPixels: 1,
      indexMap: d.indices,
    });
  }

  function renderTile(props) {
    const d = props.data;
    if (!d || !d.length) return null;
    const out = [itemsLayer(props, d)];
    if (M.S.selection.length && M.S.selection.length <= M.layers.RING_MAX) {  // thin rings, as below the threshold
      const set = selectedSet(), chosen = [];
      for (let k = 0; k < d.length; k++) if (set.has(d.indices[k])) chosen.push(k);
      if (chosen.length) {
        out.push(M.layers.template("selection", {
          id: props.id + "-selection", data: chosen,
          getPosition: (k) => [d.positions[2 * k], d.positions[2 * k + 1]],
        }));
      }
    }
    return out;
  }

  function fitZoom() {
    const el = M.S.container, side = Math.max(50, Math.min(el.clientWidth || 800, el.clientHeight || 600));
    return Math.log2(side / 2.3);  // map.js's fit: layouts fill [-1, 1] with a margin
  }

  // ------------------------------------------------------------------ the next level, when a frame can afford it

  // Items a frame may hold where the camera is one level short of the last: software GL draws
  // about a million points a second, a GPU many millions a frame. A zoom into a small region then shows
  // every item there instead of the level before's sample.
  const AFFORD_SOFTWARE = 1500000, AFFORD_GPU = 6000000;

  /** Items of levels ≤ ``level`` in view: each tile that meets the bounds counts for the share of its area
   * in view (its items taken as spread evenly; whole tiles overcounted a 1 % zoom at 10M points twice over,
   * so the last level was never drawn there). */
  function countUpTo(meta, level, b) {
    let total = 0;
    for (let l = 0; l <= level; l++) {
      const w = meta.tileWorld / Math.pow(2, l);
      for (const [x, y, c] of meta.counts[l]) {
        const dx = Math.min((x + 1) * w, b[2]) - Math.max(x * w, b[0]);
        const dy = Math.min((y + 1) * w, b[3]) - Math.max(y * w, b[1]);
        if (dx > 0 && dy > 0) total += c * (dx * dy) / (w * w);
      }
    }
    return total;
  }

  /** After the camera moved (by hand, or by a jump: a link, a hotspot, the lightbox): where it is one level
   * short of the pyramid's last, draw the last level if the items in view fit a frame (every item there is
   * then drawn), and go back when they no longer do. Decided for the camera itself, before the tile layer
   * picks its tiles for it: deciding once the camera rested first fetched and drew the level short of the
   * last, then fetched the last over it (at 10M points, a 1 % zoom drew ~2M points twice). */
  function cameraMoved() {
    const S = M.S;
    if (!S.view || !S.view.tiled || !S.tiles || !S.camera || !S.camera.target || !S.container) return;
    const meta = S.tiles.meta, el = S.container, scale = Math.pow(2, S.camera.zoom);
    const w = (el.clientWidth || 800) / 2 / scale, h = (el.clientHeight || 600) / 2 / scale;
    const [cx, cy] = S.camera.target, b = [cx - w, cy - h, cx + w, cy + h];
    // the level the tile layer picks without the extra one: deck.gl takes ceil(zoom + zoomOffset) in an
    // orthographic view (layer(): zoomOffset)
    const z = Math.ceil(S.camera.zoom + K - 1 - fitZoom() + 0.001) - K;
    const afford = M.layers.softwareGL() ? AFFORD_SOFTWARE : AFFORD_GPU;
    // only the last level: it completes the view, where any other would just double what a frame holds
    const extra = z + 1 === meta.levels - 1 && countUpTo(meta, z + 1, b) <= afford ? 1 : 0;
    if (extra !== (S.tiles.extra || 0)) { S.tiles.extra = extra; M.layers.draw(); }
  }

  /** The TileLayer's refinement: while tiles of a new camera load, the last complete picture stays drawn
   * (its tiles at the new camera), and the new tiles show together once all have come. Showing each as it
   * came (deck.gl's "best-available") drew a frame per tile: in software GL each frame of a 1 % zoom at 10M
   * points rasterises up to two million points again, so the map settled about a second later. With no
   * complete picture yet (the first frame), the nearest loaded ancestor of a missing tile stands in. */
  let complete = new Set();
  function holdUntilLoaded(all) {
    const selected = all.filter((t) => t.isSelected);
    if (selected.every((t) => t.isLoaded)) {
      complete = new Set(selected.map((t) => t.id));
      return;
    }
    const held = all.filter((t) => complete.has(t.id) && t.isLoaded && t.content);
    if (held.length) {
      for (const t of all) t.isVisible = false;
      for (const t of held) t.isVisible = true;
      return;
    }
    for (const t of selected) {
      if (t.isLoaded) continue;
      t.isVisible = false;
      let a = t.parent;
      while (a && !a.isLoaded) a = a.parent;
      if (a) a.isVisible = true;
    }
  }

  /** The TileLayer of the view: the same object while nothing it shows changed. */
  function layer() {
    const S = M.S, view = S.view, meta = S.tiles.meta;
    const fetchKey = S.tiles.key;  // colours are refetched per tile, not the tiles (recolourShown)
    const extra = S.tiles.extra || 0;
    const key = [fetchKey, extra, S.tiles.colors, S.tiles.bump, S.keys.mask, view.searching,
                 M.layers.selectionKey(),
                 JSON.stringify(S.spec.layers.points)].join("|");
    return M.layers.cached("tiles", key, () => {
      const [x0, y0, x1, y1] = meta.bounds;
      const pad = meta.tileWorld / Math.pow(2, meta.grid);
      return new deck.TileLayer({
        id: "tiles",
        tileSize: meta.tileWorld * Math.pow(2, K),
        // level l from one zoom step past the fit to the next: about ``base`` items in view at every level
        // (one more where the next level fits a frame: cameraMoved)
        zoomOffset: K - 1 - fitZoom() + 0.001 + extra,
        minZoom: K, maxZoom: K + Math.min(meta.levels - 1 + DEEPER, meta.grid),
        extent: [x0 - pad, y0 - pad, x1 + pad, y1 + pad],
        maxCacheByteSize: S.tiles.images ? TEXTURE_CAP : 12 * MAX_HELD, maxRequests: 6,
        onTileUnload: (tile) => { if (tile.content && tile.content.atlas) trackTexture(tile.content.atlas, -1); },
        refinementStrategy: holdUntilLoaded,
        pickable: true,
        getTileData: tileData,
        renderSubLayers: renderTile,
        updateTriggers: {getTileData: fetchKey, renderSubLayers: key},
      });
    });
  }

  /** Positions of some items (float32 x, y pairs), from the server: a tiled map holds no positions array. */
  async function positionsOf(indices) {
    const body = new URLSearchParams(M.S.view.layout);
    body.set("sel", M.codec.encodeSelection(indices.slice().sort((a, b) => a - b)));
    const r = await fetch("/api/points.bin", {method: "POST", body});
    if (!r.ok) throw new Error((await r.text()).trim() || r.statusText);
    return new Float32Array(await r.arrayBuffer());
  }

  /** Every item inside a polygon (world units) that passes the filters: computed on the server over all n. */
  async function lasso(polygon) {
    const view = M.S.view, body = new URLSearchParams(view.query + "&" + view.layout);
    body.set("polygon", JSON.stringify(polygon));
    const r = await fetch("/api/lasso.bin", {method: "POST", body});
    if (!r.ok) throw new Error((await r.text()).trim() || r.statusText);
    return new Uint32Array(await r.arrayBuffer());
  }

  // ------------------------------------------------------------------ the density overview

  /** The layout's density raster, fetched when the layout changes while the overview is on. */
  function ensureDensity(view) {
    const S = M.S;
    if (!view.density || S.keys.density === view.layout) return null;
    return fetch("/api/density.png?" + view.layout).then(async (r) => {
      if (!r.ok) throw new Error((await r.text()).trim() || r.statusText);
      const bounds = r.headers.get("X-Bounds").split(",").map(Number);
      S.density = {image: await createImageBitmap(await r.blob()), bounds};
      S.keys.density = view.layout;
    }).catch((e) => { S.density = null; S.keys.density = view.layout; M.status("No density overview: " + e.message); });
  }

  function densityLayer() {
    const S = M.S;
    return M.layers.cached("density", S.keys.density, () => new deck.BitmapLayer({
      id: "density", image: S.density.image, bounds: S.density.bounds, pickable: false, opacity: 0.85,
    }));
  }

  /** For dashMap.stats(): items held and drawn, tiles fetched and shown. */
  function stats() {
    const S = M.S, tiles = tileset();
    const shown = tiles ? tiles.tiles.filter((t) => t.isVisible && t.content) : [];
    // items drawn inside the view (world bounds x0, y0, x1, y1)
    const vp = S.deck ? S.deck.getViewports()[0] : null, b = vp ? vp.getBounds() : null;
    let inView = 0;
    if (b) {
      for (const t of shown) {
        const p = t.content.positions;
        for (let k = 0; k < p.length; k += 2) if (p[k] >= b[0] && p[k] <= b[2] && p[k + 1] >= b[1] && p[k + 1] <= b[3]) inView++;
      }
    }
    return {
      inView, viewBounds: b, lasso: S.lastPolygon || null,
      held, fetched, requests, tilesShown: shown.length, fetchedLevels: fetchedLevels.slice(),
      // tiles the view needs that have not arrived: a picture at rest with some pending is not drawn yet
      loading: tiles ? tiles.tiles.filter((t) => t.isSelected && !t.isLoaded).length : 0,
      stale: shown.filter((t) => t.content.colors !== S.view.colors).length,  // shown with an older view's colours
      drawn: shown.reduce((a, t) => a + t.content.length, 0),
      levels: S.tiles ? S.tiles.meta.levels : 0, extra: S.tiles ? S.tiles.extra || 0 : 0,
      // image tiles: GPU bytes of the atlases held now and at most (never above textureCap), cells drawn
      textureBytes: textures, texturePeak: texturesPeak, textureCap: TEXTURE_CAP,
      cells: Array.from(new Set(shown.filter((t) => t.content.atlas).map((t) => t.content.atlas.cell))).sort((a, b) => a - b),
      zooms: Array.from(new Set(shown.map((t) => t.index.z - K))).sort((a, b) => a - b),
    };
  }

  M.tiles = {ensure, recolourLate, layer, lasso, positionsOf, ensureDensity, densityLayer, stats, cameraMoved, K};
})(window.dashMapModules = window.dashMapModules || {});
