/* The map: deck.gl 9 (from the pydeck wheel, served at /deck.js) fed with binary arrays.
 *
 * Dash callbacks send a small "view" (query strings naming the buffers, the layer specs
 * pydeck wrote); this file fetches positions / colours / masks as typed arrays, swaps them
 * into the layers, animates layout changes, and handles picking, the lasso and box
 * selection, the tooltip and the URL. It reports back with dash_clientside.set_props.
 */
(function () {
  "use strict";

  const DIM_ALPHA = 28;         // what filtered-out items fade to (of 255)
  const FIT_MARGIN = 2.3;       // layouts fill [-1, 1]; show a little more
  const BASE_SCALE = 400;       // must match compute/declutter.py
  const URL_SELECTION_MAX = 6000;  // and viewstate.MAX_SELECTION_CHARS
  const SIZE_BY_RANGE = [0.35, 3.0];  // radius factors of the smallest and largest "size by" value
  const EDGE_RGB = [70, 80, 95];

  const S = {
    deck: null, container: null, converter: null, view: null, spec: null,
    keys: {}, positions: null, colors: null, mask: null, levels: null, labels: null, edges: null, edgeLines: null,
    sizes: null, sizeScaled: null, networkFormat: "gexf",
    atlas: null, atlasKey: null, mappings: [],
    selection: [], focus: null, focusFromMap: null,
    camera: null, wantedCamera: null, fitted: false, level: 0,
    tool: "pan", spaceHeld: false, version: 0, drawnVersion: -1, firstFrameAt: null,
    tooltipFor: -1, items: new Map(), urlTimer: null, timings: {},
  };

  // ------------------------------------------------------------------ helpers

  // The data routes read the same query as the page, so positions and colours
  // start downloading now, while Dash is still building the page; render()
  // uses them if the server's view turns out to name the same buffers.
  const PREFETCH = {};
  if (window.location.pathname === "/") {
    const q = window.location.search.slice(1);
    [["positions", Float32Array], ["colors", Uint8Array]].forEach(([kind, Type]) => {
      PREFETCH[kind] = fetch("/api/" + kind + ".bin?" + q + "&early=1")
        .then(async (r) => (r.status === 200 ? {key: r.headers.get("X-View-Key"), data: new Type(await r.arrayBuffer())} : null))
        .catch(() => null);
    });
  }

  async function load(kind, key, Type) {
    const early = PREFETCH[kind];
    PREFETCH[kind] = null;
    if (early) {
      const got = await early;
      if (got && got.key === key) return got.data;
    }
    return fetchArray("/api/" + kind + ".bin?" + key, Type);
  }

  function optional(name, route, read, failure) {
    // A part of the view that may be absent: fetched into S[name] when its key changes, dropped
    // when the view has none. With ``failure``, an error leaves the rest of the map drawn and says so.
    const key = S.view[name];
    if (S.keys[name] === key) return null;
    if (!key) return Promise.resolve().then(() => { S[name] = null; S.keys[name] = null; });
    const job = read("/api/" + route + "?" + key).then((value) => { S[name] = value; S.keys[name] = key; });
    return failure
      ? job.catch((e) => { S[name] = null; S.keys[name] = key; status(failure + e.message); })
      : job;
  }

  async function fetchJson(url) {
    const r = await fetch(url);
    if (!r.ok) throw new Error((await r.text()).trim() || r.statusText);
    return r.json();
  }

  async function fetchArray(url, Type) {
    const r = await fetch(url);
    if (!r.ok) throw new Error((await r.text()).trim() || r.statusText);
    return new Type(await r.arrayBuffer());
  }

  function setProps(id, props) {
    if (window.dash_clientside && window.dash_clientside.set_props) window.dash_clientside.set_props(id, props);
  }

  function status(text) {
    const el = document.getElementById("map-status");
    if (el) { el.textContent = text || ""; el.hidden = !text; }
  }

  function converter() {
    if (!S.converter) {
      S.converter = new deck.JSONConverter({configuration: {classes: deck}});
    }
    return S.converter;
  }

  function template(kind, props) {
    // The spec pydeck wrote, turned into a deck.gl layer, then given our data.
    const layer = converter().convert(S.spec.layers[kind]);
    return layer.clone(props);
  }

  function fitViewState() {
    const el = S.container;
    const side = Math.max(50, Math.min(el.clientWidth || 800, el.clientHeight || 600));
    return {target: [0, 0, 0], zoom: Math.log2(side / FIT_MARGIN)};
  }

  function ensureDeck(view) {
    const el = document.getElementById("map");
    if (!el) return false;
    if (S.deck && S.container === el) return true;
    if (S.deck) { S.deck.finalize(); S.deck = null; }
    S.container = el;
    S.spec = view.spec;
    S.keys = {};
    S.fitted = false;
    S.deck = createDeck({container: el, jsonInput: view.spec.deck});
    S.deck.setProps({
      initialViewState: fitViewState(),
      onViewStateChange: ({viewState}) => { S.camera = viewState; onZoom(); scheduleUrl(); },
      onHover: onHover,
      onClick: onClick,
      onAfterRender: onAfterRender,
      getCursor: ({isDragging, isHovering}) => (S.tool !== "pan" || S.spaceHeld) ? "crosshair" : (isDragging ? "grabbing" : (isHovering ? "pointer" : "grab")),
    });
    installOverlay(el);
    return true;
  }

  function onAfterRender() {
    if (!S.deck || !S.positions) return;
    const layers = S.deck.props.layers || [];
    if (layers.length && layers.every((l) => l.isLoaded)) {
      if (S.firstFrameAt === null) S.firstFrameAt = performance.now();
      S.drawnVersion = S.version;
    }
  }

  // ------------------------------------------------------------------ render

  async function render(view) {
    if (!view || !window.deck || !ensureDeck(view)) return window.dash_clientside.no_update;
    const previous = S.view;
    S.view = view;
    S.spec = view.spec;
    const datasetChanged = !previous || previous.dataset !== view.dataset;
    const version = ++S.version;
    if (S.timings.view === undefined) S.timings.view = performance.now();
    status(view.pending || "");
    try {
      const jobs = [];
      if (S.keys.layout !== view.layout) {
        jobs.push(load("positions", view.layout, Float32Array).then((a) => { S.positions = a; S.keys.layout = view.layout; S.levels = null; S.edgeLines = null; }));
      }
      if (S.keys.colors !== view.colors) {
        jobs.push(load("colors", view.colors, Uint8Array).then((a) => { S.colors = a; S.keys.colors = view.colors; }));
      }
      jobs.push(
        optional("mask", "mask.bin", (url) => fetchArray(url, Uint8Array)),
        optional("vector", "vector.json", fetchJson, "No vector overlay: "),
        optional("layoutOutline", "layout_outline.json", (url) => fetchJson(url).then((rings) => rings.map((path) => ({path})))),
        optional("layoutLabels", "layout_labels.json",
          (url) => fetchJson(url).then((labels) => labels.map(([text, x, y]) => ({text, x, y})))),
        optional("sizes", "sizes.bin", (url) => fetchArray(url, Uint8Array)),
        optional("edges", "edges.bin", (url) => fetchArray(url, Uint8Array).then((a) => {
          // m × 2 uint32 index pairs, then m opacities (see routes.edges)
          const m = a.length / 9;
          S.edgeLines = null;  // segments are rebuilt from the new edges
          return {pairs: new Uint32Array(a.buffer, 0, 2 * m), alpha: a.subarray(8 * m)};
        }), "No neighbour graph: "),
      );
      if (view.mode === "words" && S.keys.labels !== view.labels) {
        jobs.push(fetch("/api/labels.txt?" + view.labels).then((r) => r.text()).then((t) => { S.labels = t.split("\n"); S.keys.labels = view.labels; }));
      }
      const atlasKey = view.dataset + "/" + view.cell;
      if (view.mode === "images" && S.atlasKey !== atlasKey) {
        jobs.push(fetch("/api/atlas.json?dataset=" + encodeURIComponent(view.dataset) + "&cell=" + view.cell)
          .then((r) => r.json()).then((info) => { S.atlas = info; S.atlasKey = atlasKey; S.mappings = info.textures.map(mapping); }));
      }
      await Promise.all(jobs);
      if (view.mode === "words" && !S.levels) {
        S.levels = await fetchArray("/api/levels.bin?" + view.layout, Uint8Array);
      }
    } catch (e) {
      status("Could not load the map: " + e.message);
      return window.dash_clientside.no_update;
    }
    if (version !== S.version) return window.dash_clientside.no_update;  // a newer view is on its way
    if (S.timings.data === undefined) S.timings.data = performance.now();
    if (datasetChanged) {
      S.items.clear();
      if (!S.wantedCamera) S.fitted = false;
    }
    if (S.wantedCamera) {
      jump(S.wantedCamera);
      S.wantedCamera = null;
      S.fitted = true;
    } else if (!S.fitted) {
      jump(null);
      S.fitted = true;
    }
    draw();
    scheduleUrl();
    return version;
  }

  function mapping(texture) {
    // Pre-packed atlas: cell k sits at row k / cols, column k % cols. Built here from
    // three numbers instead of shipping a JSON entry per image.
    const cell = S.atlas.cell, out = {};
    for (let k = 0; k < texture.count; k++) {
      out[k] = {x: (k % texture.cols) * cell, y: Math.floor(k / texture.cols) * cell, width: cell, height: cell};
    }
    return out;
  }

  function shownColors() {
    // Full colour for what passes the filters (and matches the search); faded otherwise.
    const n = S.view.n, c = S.colors, m = S.mask;
    if (!m) return c;
    const out = new Uint8Array(c);
    const searching = S.view.searching;
    for (let i = 0; i < n; i++) {
      const v = m[i];
      if (!(v & 1) || (searching && !(v & 2))) out[4 * i + 3] = DIM_ALPHA;
    }
    return out;
  }

  function isShown(i) {
    const m = S.mask;
    if (!m) return true;
    return (m[i] & 1) && (!S.view.searching || (m[i] & 2));
  }

  function draw() {
    if (!S.deck || !S.positions || !S.colors) return;
    const view = S.view, n = view.n, pos = S.positions;
    const colors = shownColors();
    const key = view.layout + "|" + view.colors + "|" + view.mask;
    const layers = [];
    if (S.layoutOutline && S.layoutOutline.length) layers.push(template("outline", {id: "outline", data: S.layoutOutline}));
    if (S.edges) layers.push(edgeLayer());
    if (S.vector) layers.push(template("hulls", {id: "hulls", data: hullData()}));
    if (view.mode === "images" && S.atlas) {
      S.atlas.textures.forEach((t, k) => {
        const a = t.first, b = t.first + t.count;
        layers.push(template("images", {
          id: "images-" + k,
          data: {length: t.count, attributes: {
            getPosition: {value: pos.subarray(2 * a, 2 * b), size: 2},
            getColor: {value: colors.subarray(4 * a, 4 * b), size: 4},
            ...sizeAttribute("getSize", "images", a, b),
          }},
          iconAtlas: "/api/atlas/" + encodeURIComponent(view.dataset) + "/" + S.atlas.cell + "/" + k + ".png",
          iconMapping: S.mappings[k],
          getIcon: (_, {index}) => index,
          updateTriggers: {getIcon: S.atlasKey},
          first: a,
        }));
      });
    } else {
      layers.push(template("points", {
        id: "points",
        data: {length: n, attributes: {
          getPosition: {value: pos, size: 2},
          getFillColor: {value: colors, size: 4},
          ...sizeAttribute("getRadius", "points", 0, n),
        }},
        first: 0,
      }));
    }
    if (view.mode === "words" && S.labels && S.levels) {
      const shown = [];
      const level = S.level;
      for (let i = 0; i < n; i++) if (S.levels[i] <= level && isShown(i)) shown.push(i);
      layers.push(template("words", {
        id: "words",
        data: shown,
        getPosition: (i) => [pos[2 * i], pos[2 * i + 1]],
        getText: (i) => S.labels[i] || "",
        getColor: (i) => [Math.round(colors[4 * i] * 0.7), Math.round(colors[4 * i + 1] * 0.7), Math.round(colors[4 * i + 2] * 0.7), 255],
        updateTriggers: {getPosition: key, getColor: key, getText: S.keys.labels},
        transitions: {},
        wordsLayer: true,
      }));
    }
    if (S.vector) layers.push(...pathLayers());
    if (S.layoutLabels && S.layoutLabels.length) {
      layers.push(template("layoutLabels", {id: "layout-labels", data: S.layoutLabels}));
    }
    if (S.selection.length) {
      layers.push(template("selection", {
        id: "selection", data: S.selection,
        getPosition: (i) => [pos[2 * i], pos[2 * i + 1]],
        updateTriggers: {getPosition: view.layout},
      }));
    }
    if (S.focus !== null && S.focus < n) {
      layers.push(template("focus", {
        id: "focus", data: [S.focus],
        getPosition: (i) => [pos[2 * i], pos[2 * i + 1]],
        updateTriggers: {getPosition: view.layout},
      }));
    }
    S.deck.setProps({layers});
  }

  const START_RGB = [47, 111, 176], END_RGB = [214, 96, 39];  // the vector's start and end groups

  function hullData() {
    return [[S.vector.start, START_RGB], [S.vector.end, END_RGB]].map(([g, rgb]) => (
      {hull: g.hull, fill: rgb.concat([30]), line: rgb.concat([230])}));
  }

  function pathLayers() {
    // The path between the centroids (9 steps and the overshoot to 1.5), its steps, and
    // for generative datasets the decoded image of each step above it.
    const steps = S.vector.steps;
    const out = [
      template("path", {id: "path", data: [{path: steps.map((s) => [s.x, s.y])}]}),
      template("steps", {id: "steps", data: steps}),
    ];
    if (steps.length && steps[0].image) {
      out.push(template("stepImages", {
        id: "step-images", data: steps,
        getIcon: (s) => ({url: s.image, width: 64, height: 64, id: S.keys.vector + "#" + s.k}),
      }));
    }
    return out;
  }

  function sizeAttribute(accessor, kind, a, b) {
    // "Size by": one byte per item from the server, scaled around the layer's own size.
    if (!S.sizes) return {};
    if (!S.sizeScaled || S.sizeScaled.key !== S.keys.sizes + "|" + kind + "|" + S.view.size) {
      const base = S.spec.layers[kind][accessor], [lo, hi] = SIZE_BY_RANGE, out = new Float32Array(S.sizes.length);
      for (let i = 0; i < out.length; i++) out[i] = base * (lo + (hi - lo) * S.sizes[i] / 255);
      S.sizeScaled = {key: S.keys.sizes + "|" + kind + "|" + S.view.size, values: out};
    }
    return {[accessor]: {value: S.sizeScaled.values.subarray(a, b), size: 1}};
  }

  function edgeScope() {
    // Which sources' edges are drawn: every item, the selection or the clicked item.
    const scope = S.view.edgeScope || "all";
    if (scope === "selection") return {key: "selection:" + S.selection.join(","), keep: new Set(S.selection)};
    if (scope === "item") return {key: "item:" + S.focus, keep: new Set(S.focus === null ? [] : [S.focus])};
    return {key: "all", keep: null};
  }

  function edgeLayer() {
    // Segment end points and colours gathered once per (layout, graph, scope): 20 bytes
    // per edge on the GPU, nothing sent but the 9-byte edges (index pairs and opacity).
    const scope = edgeScope();
    if (!S.edgeLines || S.edgeLines.scope !== scope.key) {
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
      S.edgeLines = {scope: scope.key, length: m, attributes: {
        getSourcePosition: {value: src, size: 2}, getTargetPosition: {value: dst, size: 2}, getColor: {value: rgba, size: 4}}};
    }
    return template("edges", {id: "edges", data: S.edgeLines});
  }

  function onZoom() {
    if (!S.view || S.view.mode !== "words" || !S.camera) return;
    const level = Math.max(0, Math.floor(S.camera.zoom - Math.log2(BASE_SCALE) + 0.5));
    if (level !== S.level) { S.level = level; draw(); }
  }

  // ------------------------------------------------------------------ camera

  function jump(camera, duration) {
    let vs = camera ? {target: [camera[0], camera[1], 0], zoom: camera[2]} : fitViewState();
    if (duration) vs = {...vs, transitionDuration: duration, transitionInterpolator: new deck.LinearInterpolator(["target", "zoom"])};
    S.camera = vs;
    S.deck.setProps({initialViewState: vs});
    onZoom();
  }

  function setCamera(cam) {
    if (!cam) return window.dash_clientside.no_update;
    if (S.deck && S.positions) jump(cam); else S.wantedCamera = cam;
    return cam;
  }

  function focus(i) {
    if (i === null || i === undefined) {
      S.focus = null; draw();
      return null;
    }
    S.focus = i;
    draw();
    if (S.focusFromMap !== i && S.positions && S.camera) {
      const zoom = Math.max(S.camera.zoom, fitViewState().zoom + 2);
      jump([S.positions[2 * i], S.positions[2 * i + 1], zoom], 700);
    }
    S.focusFromMap = null;
    return i;
  }

  // ------------------------------------------------------------------ URL

  function encodeSelection(sel) {
    const out = [];
    for (let k = 0; k < sel.length;) {
      let j = k;
      while (j + 1 < sel.length && sel[j + 1] === sel[j] + 1) j++;
      out.push(j === k ? String(sel[k]) : sel[k] + "-" + sel[j]);
      k = j + 1;
    }
    return out.join(".");
  }

  function pageQuery(withSelection) {
    let q = S.view ? S.view.query : "";
    if (S.selection.length && withSelection) {
      const sel = encodeSelection(S.selection);
      if (sel.length <= URL_SELECTION_MAX || withSelection === "always") q += "&sel=" + sel;
    }
    if (S.camera && S.camera.target) {
      const c = S.camera;
      q += "&cam=" + [c.target[0], c.target[1], c.zoom].map((v) => (+v).toPrecision(6)).join(",");
    }
    return q;
  }

  function scheduleUrl() {
    clearTimeout(S.urlTimer);
    S.urlTimer = setTimeout(() => {
      if (!S.view || window.location.pathname !== "/") return;
      const url = "?" + pageQuery(true);
      if (url !== window.location.search) window.history.replaceState(window.history.state, "", url);
    }, 250);
  }

  // ------------------------------------------------------------------ picking

  function globalIndex(info) {
    if (!info || !info.layer || info.index < 0) return -1;
    const first = info.layer.props.first;
    if (first === undefined) return info.layer.props.wordsLayer ? info.object : -1;
    return first + info.index;
  }

  async function onHover(info) {
    const tip = document.getElementById("map-tooltip");
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
        const r = await fetch("/api/item?dataset=" + encodeURIComponent(S.view.dataset) + "&i=" + i);
        item = await r.json();
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
    if (S.tool !== "pan" || S.spaceHeld) return;
    const i = globalIndex(info);
    if (i < 0) return;
    const src = event && event.srcEvent;
    if (src && (src.shiftKey || src.metaKey || src.ctrlKey)) {
      const set = new Set(S.selection);
      if (set.has(i)) set.delete(i); else set.add(i);
      updateSelection(Array.from(set));
      return;
    }
    S.focusFromMap = i;
    setProps("clicked-store", {data: i});
  }

  // ------------------------------------------------------------------ selection

  function setSelection(sel) {
    S.selection = (sel || []).slice().sort((a, b) => a - b);
    draw();
    scheduleUrl();
    return S.selection.length;
  }

  function updateSelection(indices) {
    const sorted = indices.slice().sort((a, b) => a - b);
    setSelection(sorted);
    setProps("selection-store", {data: sorted});
  }

  function insidePolygon(poly) {
    // World-space polygon test over the position array (the layout is linear in
    // world units, so screen → world once per vertex is enough).
    const pos = S.positions, n = S.view.n, out = [];
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const [x, y] of poly) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
    for (let i = 0; i < n; i++) {
      const x = pos[2 * i], y = pos[2 * i + 1];
      if (x < x0 || x > x1 || y < y0 || y > y1 || !isShown(i)) continue;
      let inside = false;
      for (let a = 0, b = poly.length - 1; a < poly.length; b = a++) {
        const [xa, ya] = poly[a], [xb, yb] = poly[b];
        if ((ya > y) !== (yb > y) && x < ((xb - xa) * (y - ya)) / (yb - ya) + xa) inside = !inside;
      }
      if (inside) out.push(i);
    }
    return out;
  }

  function installOverlay(el) {
    const canvas = document.createElement("canvas");
    canvas.className = "lasso-overlay";
    el.appendChild(canvas);
    let path = null, additive = false;
    const point = (e) => { const r = canvas.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
    const paint = () => {
      const ctx = canvas.getContext("2d");
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      if (!path || path.length < 2) return;
      ctx.beginPath();
      const pts = S.tool === "box" && !S.spaceHeld ? boxCorners(path) : path;
      pts.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
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
      const pts = S.tool === "box" && !S.spaceHeld ? boxCorners(path) : path;
      path = null;
      paint();
      if (pts.length < 3 || !S.positions) return;
      const viewport = S.deck.getViewports()[0];
      const world = pts.map(([x, y]) => viewport.unproject([x, y]).slice(0, 2));
      const found = insidePolygon(world);
      updateSelection(additive ? Array.from(new Set(S.selection.concat(found))) : found);
    });
    syncOverlay();
  }

  function boxCorners(path) {
    const [x0, y0] = path[0], [x1, y1] = path[path.length - 1];
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]];
  }

  function syncOverlay() {
    const active = S.tool !== "pan" || S.spaceHeld;
    document.querySelectorAll(".lasso-overlay").forEach((c) => c.classList.toggle("active", active));
    document.querySelectorAll(".map-tools .tool").forEach((b) => b.classList.toggle("active", b.id === "tool-" + (S.spaceHeld ? "lasso" : S.tool)));
  }

  // ------------------------------------------------------------------ page events

  function download(path, extra) {
    // A POST form: a large selection does not fit in a URL, and the browser
    // saves the file itself (the server sets Content-Disposition).
    const form = document.createElement("form");
    form.method = "POST";
    form.action = "/export/" + encodeURIComponent(S.view.dataset) + path;
    const params = new URLSearchParams(pageQuery("always"));
    for (const [k, v] of Object.entries(extra)) params.set(k, v);
    for (const [k, v] of params) {
      const input = document.createElement("input");
      input.type = "hidden"; input.name = k; input.value = v;
      form.appendChild(input);
    }
    document.body.appendChild(form);
    form.submit();
    form.remove();
  }

  document.addEventListener("click", (e) => {
    const t = e.target.closest("button");
    if (!t) return;
    if (t.classList.contains("tool")) {
      if (t.id === "tool-fit") { if (S.deck) jump(null, 500); return; }
      S.tool = t.id.replace("tool-", "");
      syncOverlay();
    } else if (t.dataset.rows && S.view) {
      download(".csv", {rows: t.dataset.rows});
    } else if (t.id === "download-network" && S.view) {
      download("/network", {rows: S.selection.length ? "selection" : "filtered", format: S.networkFormat});
    } else if (t.id === "clear-selection") {
      updateSelection([]);
    }
  });

  const typing = (e) => e.target && (e.target.tagName === "INPUT" || e.target.tagName === "TEXTAREA" || e.target.isContentEditable);
  document.addEventListener("keydown", (e) => {
    if (e.code === "Space" && !typing(e) && !S.spaceHeld) { S.spaceHeld = true; syncOverlay(); e.preventDefault(); }
    if (e.code === "Escape" && !typing(e)) { S.tool = "pan"; syncOverlay(); }
  });
  document.addEventListener("keyup", (e) => {
    if (e.code === "Space" && S.spaceHeld) { S.spaceHeld = false; syncOverlay(); }
  });

  window.dashMap = {
    render, setSelection, focus, setCamera,
    setNetworkFormat: (fmt) => { S.networkFormat = fmt || "gexf"; return S.networkFormat; },
    flyTo: (members) => {
      // Frame the given items (a hotspot): their bounding box, with a margin.
      if (!S.deck || !S.positions || !members.length) return 0;
      let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
      for (const i of members) {
        const x = S.positions[2 * i], y = S.positions[2 * i + 1];
        x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
      const el = S.container, side = Math.max(50, Math.min(el.clientWidth || 800, el.clientHeight || 600));
      const extent = Math.max(x1 - x0, y1 - y0, 0.05) * 1.4;
      jump([(x0 + x1) / 2, (y0 + y1) / 2, Math.log2(side / extent)], 800);
      return members.length;
    },
    /** For tests and benchmarks: what is drawn, and when the first frame with data was. */
    stats: () => ({
      version: S.version, drawnVersion: S.drawnVersion, firstFrameAt: S.firstFrameAt, n: S.view ? S.view.n : 0,
      layers: S.deck ? (S.deck.props.layers || []).map((l) => l.id) : [], selection: S.selection.length,
      camera: S.camera && S.camera.target ? [S.camera.target[0], S.camera.target[1], S.camera.zoom] : null,
      mode: S.view ? S.view.mode : null, layout: S.keys.layout, level: S.level,
      edges: S.edges && S.edgeLines ? S.edgeLines.length : 0, sized: !!S.sizes,
      vector: S.vector ? {name: S.vector.name, steps: S.vector.steps.length, images: !!(S.vector.steps[0] || {}).image} : null,
      timings: {...S.timings, firstFrame: S.firstFrameAt},
    }),
    project: (i) => {
      const vp = S.deck.getViewports()[0];
      return vp.project([S.positions[2 * i], S.positions[2 * i + 1]]);
    },
  };
})();
