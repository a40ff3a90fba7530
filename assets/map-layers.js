/* deck.gl layers from the specs pydeck wrote (dashboard/deckspec.py) and the binary buffers.
 *
 * A layer is rebuilt only when what it shows changed (its key): the same layer object
 * is handed back to deck.gl otherwise, so a selection or a click never re-uploads a
 * million positions or redraws what did not change. Software GL draws a million points
 * in seconds, so every frame counts.
 */
(function (M) {
  "use strict";

  const DIM_ALPHA = 56;               // what filtered-out items fade to (of 255): visible, receding
  const UNSELECTED_ALPHA = 96;        // what is not selected dims to while there is a selection
  const PALE = 236;                   // the grey receding items are mixed with (near the map's background)
  // A selection of more items gets no rings (each an instanced circle: ~2 s a frame per 100,000 in software
  // GL, and a black mass past a few thousand): the rest dims, which says as much.
  const RING_MAX = 20000;
  const SIZE_BY_RANGE = [0.35, 3.0];  // radius factors of the smallest and largest "size by" value
  const EDGE_RGB = [70, 80, 95];
  const START_RGB = [47, 111, 176], END_RGB = [214, 96, 39];  // a vector's start and end groups
  // Layout changes animate only below this many items: each frame of a transition
  // draws every point again (a million points take seconds a frame in software GL).
  const ANIMATE_MAX = 50000;
  // Above this many items, software GL draws only the items that pass the filters (see itemLayers).
  const COMPACT_MIN = 200000;

  function converter() {
    const S = M.S;
    if (!S.converter) S.converter = new deck.JSONConverter({configuration: {classes: {...deck, DotsLayer: M.DotsLayer, TintedIconLayer: M.TintedIconLayer}}});
    return S.converter;
  }

  /** The layer ``id`` for ``key``: the one built last time if the key is the same. */
  function cached(id, key, make) {
    const hit = M.S.layerCache.get(id);
    if (hit && hit.key === key) return hit.layer;
    const layer = make();
    M.S.layerCache.set(id, {key, layer});
    return layer;
  }

  function template(kind, props) {
    // The spec pydeck wrote, turned into a deck.gl layer, then given our data.
    const layer = converter().convert(M.S.spec.layers[kind]);
    const transitions = props.animated && M.S.animate ? layer.props.transitions : {};
    return layer.clone({transitions, ...props});
  }

  /** Item k of an RGBA array made to recede: paler as well as more transparent, since where thousands of
   * points overlap, transparency alone adds back up to the full colour (a dense blob did not recede). */
  function recede(rgba, k, alpha) {
    for (let c = 0; c < 3; c++) rgba[4 * k + c] = Math.round(0.4 * rgba[4 * k + c] + 0.6 * PALE);
    rgba[4 * k + 3] = Math.min(rgba[4 * k + 3], alpha);
  }

  function shownColors() {
    // Full colour for what passes the filters (and matches the search), faded otherwise; while
    // there is a selection, what is not selected dims too.
    const S = M.S, c = S.colors, m = S.mask, sel = S.selection;
    if (!m && !sel.length) return c;
    const key = S.keys.colors + "|" + S.keys.mask + "|" + S.view.searching + "|" + selectionKey();
    if (S.shown && S.shown.key === key) return S.shown.values;
    const out = new Uint8Array(c), n = S.view.n, searching = S.view.searching;
    const chosen = sel.length ? new Uint8Array(n) : null;
    if (chosen) for (const i of sel) if (i < n) chosen[i] = 1;
    for (let i = 0; i < n; i++) {
      if (m && (!(m[i] & 1) || (searching && !(m[i] & 2)))) recede(out, i, DIM_ALPHA);
      else if (chosen && !chosen[i]) recede(out, i, UNSELECTED_ALPHA);
    }
    S.shown = {key, values: out};
    return out;
  }

  /** Changes when the selection does (cheap: its size and ends, and a sum). */
  function selectionKey() {
    const sel = M.S.selection;
    if (!sel.length) return "";
    let sum = 0;
    for (const i of sel) sum = (sum + i * 2654435761) % 4294967296;
    return sel.length + ":" + sel[0] + ":" + sel[sel.length - 1] + ":" + sum;
  }

  function isShown(i) {
    const S = M.S, m = S.mask;
    if (!m) return true;
    return (m[i] & 1) && (!S.view.searching || (m[i] & 2));
  }

  function sizeAttribute(accessor, kind, a, b) {
    // "Size by": one byte per item from the server, scaled around the layer's own size.
    const S = M.S;
    if (!S.sizes) return {};
    const key = S.keys.sizes + "|" + kind + "|" + S.view.size;
    if (!S.sizeScaled || S.sizeScaled.key !== key) {
      const base = S.spec.layers[kind][accessor], [lo, hi] = SIZE_BY_RANGE, out = new Float32Array(S.sizes.length);
      for (let i = 0; i < out.length; i++) out[i] = base * (lo + (hi - lo) * S.sizes[i] / 255);
      S.sizeScaled = {key, values: out};
    }
    return {[accessor]: {value: S.sizeScaled.values.subarray(a, b), size: 1}};
  }

  function itemLayers(dataKey) {
    const S = M.S, view = S.view, pos = S.positions, n = view.n;
    if (view.mode === "images" && S.atlas) {
      // coloured by a column: each image takes a tint of its colour (dark images, digits, too)
      const kind = view.frames ? "tinted" : "images";
      const sharp = M.sharp.layer(shownColors());  // zoomed in past the cells: the images in view, crisp
      return S.atlas.textures.map((t, k) => cached("images-" + k, dataKey + "|" + S.atlasKey + "|" + kind, () => {
        const a = t.first, b = t.first + t.count, colors = shownColors();
        return template(kind, {
          id: "images-" + k, animated: true,
          data: {length: t.count, attributes: {
            getPosition: {value: pos.subarray(2 * a, 2 * b), size: 2},
            getColor: {value: colors.subarray(4 * a, 4 * b), size: 4},
            ...sizeAttribute("getSize", "images", a, b),
          }},
          iconAtlas: "/api/atlas/" + encodeURIComponent(view.dataset) + "/" + S.atlas.cell + "/" + k + ".png?build=" + S.atlas.build,
          iconMapping: S.mappings[k],
          getIcon: (_, {index}) => index,
          updateTriggers: {getIcon: S.atlasKey},
          first: a,
        });
      })).concat(sharp ? [sharp] : []);
    }
    if (S.mask && n > COMPACT_MIN && softwareGL()) {
      // Without a GPU every drawn point costs microseconds: draw only what passes, not a faded million.
      return [cached("points", dataKey, () => {
        const keep = [];
        for (let i = 0; i < n; i++) if (isShown(i)) keep.push(i);
        const m = keep.length, xy = new Float32Array(2 * m), rgba = new Uint8Array(4 * m), colors = S.colors;
        keep.forEach((i, j) => {
          xy[2 * j] = pos[2 * i]; xy[2 * j + 1] = pos[2 * i + 1];
          rgba[4 * j] = colors[4 * i]; rgba[4 * j + 1] = colors[4 * i + 1];
          rgba[4 * j + 2] = colors[4 * i + 2]; rgba[4 * j + 3] = colors[4 * i + 3];
        });
        S.compacted = `Showing the ${m.toLocaleString()} matching items; the other ${(n - m).toLocaleString()} are ` +
                      "hidden, not faded, as this browser draws without a GPU.";
        return template("points", {id: "points", data: {length: m, attributes: {
          getPosition: {value: xy, size: 2}, getFillColor: {value: rgba, size: 4}}}, indexMap: Uint32Array.from(keep)});
      })];
    }
    return [cached("points", dataKey, () => (S.compacted = null) || template("points", {
      id: "points", animated: true,
      data: {length: n, attributes: {
        getPosition: {value: pos, size: 2},
        getFillColor: {value: shownColors(), size: 4},
        ...sizeAttribute("getRadius", "points", 0, n),
      }},
      first: 0,
    }))];
  }

  let software = null;
  /** Whether WebGL runs in software here (SwiftShader, llvmpipe): headless browsers, machines without a GPU. */
  function softwareGL() {
    if (software === null) {
      const gl = document.createElement("canvas").getContext("webgl2");
      const info = gl && gl.getExtension("WEBGL_debug_renderer_info");
      software = /swiftshader|llvmpipe|software/i.test(info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : "");
      if (gl) { const lose = gl.getExtension("WEBGL_lose_context"); if (lose) lose.loseContext(); }
    }
    return software;
  }

  function wordLayer(dataKey) {
    const S = M.S, pos = S.positions, n = S.view.n;
    return cached("words", dataKey + "|" + S.level + "|" + S.keys.labels, () => {
      const colors = shownColors(), shown = [];
      for (let i = 0; i < n; i++) if (S.levels[i] <= S.level && isShown(i)) shown.push(i);
      return template("words", {
        id: "words", data: shown,
        getPosition: (i) => [pos[2 * i], pos[2 * i + 1]],
        getText: (i) => S.labels[i] || "",
        getColor: (i) => [Math.round(colors[4 * i] * 0.7), Math.round(colors[4 * i + 1] * 0.7), Math.round(colors[4 * i + 2] * 0.7), 255],
        wordsLayer: true,
      });
    });
  }

  function edgeScope() {
    // Which sources' edges are drawn: every item, the selection or the clicked item.
    const S = M.S, scope = S.view.edgeScope || "all";
    if (scope === "selection") return {key: "selection:" + S.selection.join(","), keep: new Set(S.selection)};
    if (scope === "item") return {key: "item:" + S.focus, keep: new Set(S.focus === null ? [] : [S.focus])};
    return {key: "all", keep: null};
  }

  function edgeLayer() {
    // Segment end points and colours gathered once per (layout, graph, scope): 20 bytes
    // per edge on the GPU, nothing sent but the 9-byte edges (index pairs and opacity).
    const S = M.S, scope = edgeScope();
    const key = S.keys.layout + "|" + S.keys.edges + "|" + scope.key;
    return cached("edges", key, () => {
      const {pairs, alpha} = S.edges, pos = S.positions, keep = scope.keep;
      const chosen = [];
      for (let k = 0; k < alpha.length; k++) if (!keep || keep.has(pairs[2 * k])) chosen.push(k);
      const m = chosen.length;
      const src = new Float32Array(2 * m), dst = new Float32Array(2 * m), rgba = new Uint8Array(4 * m);
      chosen.forEach((k, j) => {
        const a = pairs[2 * k], b = pairs[2 * k + 1];
        src[2 * j] = pos[2 * a]; src[2 * j + 1] = pos[2 * a + 1];
        dst[2 * j] = pos[2 * b]; dst[2 * j + 1] = pos[2 * b + 1];
        rgba.set(EDGE_RGB, 4 * j); rgba[4 * j + 3] = keep ? Math.min(255, 2 * alpha[k]) : alpha[k];
      });
      S.edgeCount = m;
      return template("edges", {id: "edges", data: {length: m, attributes: {
        getSourcePosition: {value: src, size: 2}, getTargetPosition: {value: dst, size: 2}, getColor: {value: rgba, size: 4}}}});
    });
  }

  function vectorLayers() {
    // The shown vector: its groups' hulls; the path between the centroids (9 steps and the
    // overshoot to 1.5), its steps, and for generative datasets each step's decoded image.
    const S = M.S, v = S.vector, key = S.keys.vector + "|" + S.keys.layout;
    const hulls = cached("hulls", key, () => template("hulls", {id: "hulls", data: [[v.start, START_RGB], [v.end, END_RGB]].map(
      ([g, rgb]) => ({hull: g.hull, fill: rgb.concat([30]), line: rgb.concat([230])}))}));
    const steps = v.steps;
    const path = [
      cached("path", key, () => template("path", {id: "path", data: [{path: steps.map((s) => [s.x, s.y])}]})),
      cached("steps", key, () => template("steps", {id: "steps", data: steps})),
    ];
    if (steps.length && steps[0].image) {
      path.push(cached("step-images", key, () => template("stepImages", {
        id: "step-images", data: steps,
        getIcon: (s) => ({url: s.image, width: 64, height: 64, id: S.keys.vector + "#" + s.k}),
      })));
    }
    return {hulls, path};
  }

  function marker(kind, id, indices, key) {
    const pos = M.S.positions;
    return cached(id, key + "|" + M.S.keys.layout, () => template(kind, {
      id, data: indices, getPosition: (i) => [pos[2 * i], pos[2 * i + 1]],
    }));
  }

  /** Give deck.gl the layers the state asks for; unchanged layers are the same objects. */
  function draw() {
    const S = M.S;
    const view = S.view, n = view ? view.n : 0;
    if (!S.deck || !view || (view.tiled ? !S.tiles : (!S.positions || !S.colors))) return;
    const dataKey = [S.keys.layout, S.keys.colors, S.keys.mask, view.searching, selectionKey(), S.keys.sizes, view.size, view.mode,
                     JSON.stringify(S.spec.layers.points), JSON.stringify(S.spec.layers.images)].join("|");
    const layers = [];
    if (S.layoutOutline && S.layoutOutline.length) {
      layers.push(cached("outline", S.keys.layoutOutline, () => template("outline", {id: "outline", data: S.layoutOutline})));
    }
    if (S.edges && !view.tiled) layers.push(edgeLayer());  // edges need every position: not on a tiled map
    const vector = S.vector ? vectorLayers() : null;
    if (vector) layers.push(vector.hulls);
    if (view.density && S.density) layers.unshift(M.tiles.densityLayer());
    layers.push(...(view.tiled ? [M.tiles.layer()] : itemLayers(dataKey)));
    if (S.compacted && !view.pending) M.status(S.compacted);
    if (view.mode === "words" && S.labels && S.levels) layers.push(wordLayer(dataKey));
    if (vector) layers.push(...vector.path);
    // cluster labels carry the zoom level from which they fit (a stored layout's all show): page text
    M.labels.draw();
    if (S.selection.length && S.selection.length <= RING_MAX && !view.tiled) {
      layers.push(marker("selection", "selection", S.selection, S.selection.join(",")));
    }
    if (S.focus !== null && S.focus < n && !view.tiled) layers.push(marker("focus", "focus", [S.focus], String(S.focus)));
    if (S.focus !== null && view.tiled && S.focusXY) {  // a tiled map has no positions array: the server said where
      layers.push(cached("focus", S.focus + "|" + S.keys.focusXY, () => template("focus", {id: "focus", data: [S.focusXY], getPosition: (p) => p})));
    }
    S.animate = false;  // only the draw right after a layout change animates
    const current = S.deck.props.layers || [];
    if (current.length === layers.length && current.every((l, k) => l === layers[k])) return;
    M.note("layers " + layers.filter((l, k) => l !== current[k]).map((l) => l.id).join(","));
    S.deck.setProps({layers});
  }

  M.layers = {draw, isShown, recede, selectionKey, ANIMATE_MAX, RING_MAX, UNSELECTED_ALPHA, cached, template, converter, softwareGL};
})(window.dashMapModules = window.dashMapModules || {});
