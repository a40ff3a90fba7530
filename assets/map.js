/* The map: deck.gl 9 (from the pydeck wheel, served at /deck.js) fed with binary arrays.
 *
 * This entry module creates the deck, renders views, moves the camera, keeps the URL
 * and handles the page's buttons and keys; the map-*.js modules hold the state, the
 * transport of buffers, the layers, the atlases and the selection tools. The first
 * view comes inlined in the page (#map-boot) and these scripts run before Dash's, so
 * the map draws it at once, in a stage where the page will put the map (see "the map's
 * element"), without waiting for Dash's scripts or callbacks; Dash's callbacks later
 * send the same view (nothing is fetched or drawn again) and every change after it.
 */
(function (M) {
  "use strict";

  const FIT_MARGIN = 2.3;  // layouts fill [-1, 1]; show a little more
  const S = M.S;

  const FIT_PAD = 12;       // pixels kept between a fitted vector overlay and what covers the map
  const AXIS_NAME_PX = 22;  // the vector view's axis names along the bottom and left edges (map-labels.js)

  function fitViewState() {
    const el = S.container;
    const side = Math.max(50, Math.min(el.clientWidth || 800, el.clientHeight || 600));
    if (S.vector) return fitVector(el);
    return {target: [0, 0, 0], zoom: Math.log2(side / FIT_MARGIN)};
  }

  /** How far down the map the tool rows over its top reach (buttons, layout buttons, the quality note), in the map's pixels. */
  function toolsBottom() {
    return Math.max(0, ...M.labels.boxes(".map-tools > *").map((b) => b[3]));
  }

  /** A vector shown: the camera that shows the items' frame ([-1, 1]), both groups' hulls and the whole
   * path (its overshoot to 1.5 reaches past the end group) inside the part of the map left free by the
   * tool rows above, the axis names and the key (map-labels.js) below it or beside it. */
  function fitVector(el) {
    const v = S.vector, w = el.clientWidth || 800, h = el.clientHeight || 600;
    let x0 = -1, x1 = 1, y0 = -1, y1 = 1;
    for (const [x, y] of [...v.start.hull, ...v.end.hull, ...v.steps.map((s) => [s.x, s.y])]) {
      x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
    const axes = v.axes ? AXIS_NAME_PX : 0;
    const free = {left: axes + FIT_PAD, top: toolsBottom() + FIT_PAD, right: w - FIT_PAD, bottom: h - axes - FIT_PAD};
    const key = M.labels.keyRect();
    // the key sits in the bottom-right corner: keep the overlay above it or left of it, whichever shows it larger
    const frames = key ? [{...free, bottom: Math.min(free.bottom, key.top - FIT_PAD)}, {...free, right: Math.min(free.right, key.left - FIT_PAD)}] : [free];
    const dx = Math.max(x1 - x0, 1e-6), dy = Math.max(y1 - y0, 1e-6);
    const scaleOf = (f) => Math.min((f.right - f.left) / dx, (f.bottom - f.top) / dy);
    const f = frames.reduce((a, b) => (scaleOf(b) > scaleOf(a) ? b : a));
    const scale = Math.max(scaleOf(f), 1);
    // the box's centre at the free frame's centre: the target (the map's centre) is offset from it (y points up)
    const cx = (x0 + x1) / 2 - ((f.left + f.right) / 2 - w / 2) / scale;
    const cy = (y0 + y1) / 2 + ((f.top + f.bottom) / 2 - h / 2) / scale;
    return {target: [cx, cy, 0], zoom: Math.log2(scale)};
  }

  // ------------------------------------------------------------------ the map's element

  /** The map's element (made here, not by Dash): drawn first in a stage placed where Dash will put
   * the map, then moved into Dash's slot once Dash has rendered the page, at the same size. */
  function mapElement() {
    let el = document.getElementById(M.ids.map);
    if (!el) {
      el = document.createElement("div");
      el.id = M.ids.map;
      el.className = "map";
      el.tabIndex = 0;
      el.setAttribute("role", "application");
      el.setAttribute("aria-label", "The map: drag to pan, wheel to zoom, click an item to open it");
    }
    return el;
  }

  /** Move the map into Dash's slot when there is one (after Dash renders, and again after a page
   * change brings the map page back); true when the map is in the page. */
  function adopt() {
    const slot = document.getElementById(M.ids.mapSlot);
    if (!slot) return !!document.getElementById(M.ids.map);
    const el = mapElement();
    if (el.parentNode !== slot) {
      slot.appendChild(el);
      for (const id of ["map-stage", "topbar-stage"]) {
        const stage = document.getElementById(id);
        if (stage) stage.remove();
      }
    }
    return true;
  }

  function stage(state) {
    // Where the page will put the map (style.css, .map-stage): under the top bar, between the panels.
    const box = document.createElement("div");
    box.id = "map-stage";
    box.className = "map-stage";
    box.dataset.left = state.left || "";
    box.dataset.right = state.right || "";
    // the page's own "Drawing the map…" comes with Dash: until then the stage says it (hidden at the first frame)
    const loading = document.createElement("div");
    loading.className = "map-loading";
    loading.setAttribute("role", "status");
    const spinner = document.createElement("span");
    spinner.className = "spinner";
    spinner.setAttribute("aria-hidden", "true");
    loading.append(spinner, "Drawing the map…");
    box.append(mapElement(), loading);
    document.body.appendChild(box);
    // …and the top bar's place: the title and what is shown, until Dash renders the controls there
    const bar = document.createElement("div");
    bar.id = "topbar-stage";
    bar.className = "topbar-stage";
    bar.setAttribute("aria-hidden", "true");
    const title = document.createElement("strong");
    title.textContent = "Latent space dashboard";
    const what = document.createElement("span");
    what.textContent = [state.dataset, state.space && "space " + state.space, state.color && "colour by " + state.color]
      .filter(Boolean).join(" · ");
    const wait = document.createElement("span");
    wait.className = "muted";
    wait.textContent = "loading the controls…";
    bar.append(title, what, wait);
    document.body.appendChild(bar);
  }

  function ensureDeck(view) {
    if (!adopt()) return false;
    const el = document.getElementById(M.ids.map);
    if (S.deck && S.container === el) return true;
    if (S.deck) { S.deck.finalize(); S.deck = null; S.layerCache.clear(); }
    S.container = el;
    S.decks += 1;
    const camera = S.wantedCamera;
    S.wantedCamera = null;
    // a vector view opened without a camera is fitted once its overlay has come (render): its path may reach past [-1, 1]
    S.fitted = !!camera || !(view.state && view.state.vector !== null && view.state.vector !== undefined);
    // deck.gl's Deck, not pydeck's createDeck: the same with either build of /deck.js (dashboard/deckjs.py)
    // Without a GPU, multisampling costs about half of every frame (0.12 s -> 0.07 s at 100k points in
    // SwiftShader); the points draw their own soft edge (map-dots.js), so software GL goes without it.
    const deviceProps = M.layers.softwareGL() ? {webgl: {antialias: false}} : {};
    S.deck = new deck.Deck({...M.layers.converter().convert(view.spec.deck), parent: el, deviceProps});
    M.note("deck");
    // Ready once deck.gl has its device and the canvas has been measured (a frame later).
    S.deckReady = new Promise((resolve) => S.deck.setProps({onLoad: () => requestAnimationFrame(() => requestAnimationFrame(resolve))}));
    S.camera = camera ? {target: [camera[0], camera[1], 0], zoom: camera[2]} : fitViewState();
    S.deck.setProps({
      initialViewState: S.camera,
      onViewStateChange: ({viewState}) => { S.camera = viewState; onZoom(); M.sharp.cameraMoved(); M.tiles.cameraMoved(); M.url.schedule(); },
      onHover: M.select.onHover,
      onClick: M.select.onClick,
      onAfterRender: onAfterRender,
      getCursor: ({isDragging, isHovering}) => (S.tool !== "pan" || S.spaceHeld) ? "crosshair" : (isDragging ? "grabbing" : (isHovering ? "pointer" : "grab")),
    });
    M.select.installOverlay(el);
    return true;
  }

  function onAfterRender() {
    S.frames += 1;
    M.labels.place();
    M.tiles.recolourLate();
    M.note("frame " + ((S.deck && S.deck.props.layers) || []).length + " layers");
    if (!S.deck || !(S.positions || (S.view && S.view.tiled))) return;
    const layers = S.deck.props.layers || [];
    if (layers.length && layers.every((l) => l.isLoaded)) {
      if (S.firstFrameAt === null) {
        S.firstFrameAt = performance.now();
        document.documentElement.classList.add("map-drawn");  // hides "Drawing the map…" (style.css)
      }
      S.drawnVersion = S.version;
    }
  }

  // ------------------------------------------------------------------ render

  async function render(view) {
    const none = window.dash_clientside ? window.dash_clientside.no_update : null;
    if (!view || !window.deck || !ensureDeck(view)) return none;
    const T = M.transport, previous = S.view;
    S.view = view;
    S.spec = view.spec;
    if (M.probe) M.probe.sync();
    const datasetChanged = !previous || previous.dataset !== view.dataset;
    const version = ++S.version;
    if (S.timings.view === undefined) S.timings.view = performance.now();
    M.status(view.pending || "");
    try {
      const jobs = [];
      if (view.tiled) {  // tiles in view only (map-tiles.js): no whole buffers
        jobs.push(M.tiles.ensure(view));
      } else if (S.keys.layout !== view.layout) {
        jobs.push(T.load("positions.bin", view.layout, Float32Array).then((a) => {
          S.positions = a; S.keys.layout = view.layout; S.levels = null;
          S.animate = previous !== null && previous !== undefined && view.n <= M.layers.ANIMATE_MAX;
        }));
      }
      if (!view.tiled && S.keys.colors !== view.colors) {
        jobs.push(T.load("colors.bin", view.colors, Uint8Array).then((a) => { S.colors = a; S.keys.colors = view.colors; }));
      }
      jobs.push(
        M.filter.ensure(view),
        M.tiles.ensureDensity(view),
        T.optional("vector", "vector.json", T.json, "No vector overlay: "),
        T.optional("layoutOutline", "layout_outline.json", (r, k) => T.json(r, k).then((rings) => rings.map((path) => ({path})))),
        T.optional("sizes", "sizes.bin", T.array(Uint8Array)),
        T.optional("edges", "edges.bin", (r, k) => T.load(r, k, Uint8Array).then((a) => {
          // m × 2 uint32 index pairs, then m opacities (see routes.edges)
          const m = a.length / 9;
          return {pairs: new Uint32Array(a.buffer, 0, 2 * m), alpha: a.subarray(8 * m)};
        }), "No neighbour graph: "),
        M.atlas.ensure(view),
      );
      if (view.mode === "words" && S.keys.labels !== view.labels) {
        jobs.push(fetch("/api/labels.txt?" + view.labels).then((r) => r.text()).then((t) => { S.labels = t.split("\n"); S.keys.labels = view.labels; }));
      }
      // Cluster labels are computed on the server the first time (HDBSCAN): the map never waits for
      // them; they join it when they come.
      const labels = T.optional("layoutLabels", "layout_labels.json",
        (r, k) => T.json(r, k).then((got) => got.map(([text, x, y, level, share]) => ({text, x, y, level, share}))), "No cluster labels: ");
      if (labels) labels.then(() => { if (S.layersVersion === version) M.layers.draw(); });  // else the draw below takes them
      // …and the deck's canvas has its size: layers given before that are drawn twice.
      jobs.push(S.deckReady);
      await Promise.all(jobs);
      if (view.mode === "words" && !S.levels) S.levels = await T.load("levels.bin", view.layout, Uint8Array);
    } catch (e) {
      M.status("Could not load the map: " + e.message);
      return none;
    }
    if (version !== S.version) return none;  // a newer view is on its way
    if (S.timings.data === undefined) S.timings.data = performance.now();
    if (datasetChanged && previous) {
      S.items.clear();
      if (!S.wantedCamera) S.fitted = false;
    }
    if (S.wantedCamera) {
      jump(S.wantedCamera);
      S.wantedCamera = null;
      S.fitted = true;
    } else if (!S.fitted) {
      M.labels.draw();  // the vector's key first: the fit keeps clear of it
      jump(null);
      S.fitted = true;
    }
    S.layersVersion = version;
    M.layers.draw();
    M.filter.warm(view);
    if (S.drawnVersion >= 0 && S.deck.props.layers.every((l) => l.isLoaded) && !S.deck.needsRedraw()) {
      S.drawnVersion = version;  // nothing changed on screen: this view is drawn already
    }
    M.url.schedule();
    return version;
  }

  function onZoom() {
    // Words and cluster labels: more appear as one zooms in (levels computed on the server).
    if (!S.view || !S.camera || (S.view.mode !== "words" && !S.view.clusterLabels)) return;
    const level = Math.max(0, Math.floor(S.camera.zoom - Math.log2(M.config.baseScale || 400) + 0.5));
    if (level !== S.level) { S.level = level; M.layers.draw(); }
  }

  // ------------------------------------------------------------------ camera

  function jump(camera, duration) {
    let vs = camera ? {target: [camera[0], camera[1], 0], zoom: camera[2]} : fitViewState();
    if (duration) vs = {...vs, transitionDuration: duration, transitionInterpolator: new deck.LinearInterpolator(["target", "zoom"])};
    S.camera = vs;
    M.note("camera");
    S.deck.setProps({initialViewState: vs});
    onZoom();
    M.sharp.cameraMoved();
    M.tiles.cameraMoved();
  }

  function setCamera(cam) {
    if (!cam) return window.dash_clientside.no_update;
    const current = S.camera && S.camera.target ? [S.camera.target[0], S.camera.target[1], S.camera.zoom] : null;
    if (current && cam.every((v, k) => Math.abs(v - current[k]) < 1e-4)) return cam;  // already there (the boot view)
    if (S.deck && (S.positions || (S.view && S.view.tiled && S.tiles))) jump(cam); else S.wantedCamera = cam;
    return cam;
  }

  function focus(i) {
    if (i === null || i === undefined) {
      if (S.focus !== null) { S.focus = null; M.layers.draw(); }
      return null;
    }
    S.focus = i;
    if (S.view && S.view.tiled) {  // no positions array: ask the server where the item is
      M.tiles.positionsOf([i]).then((p) => {
        if (S.focus !== i) return;
        S.focusXY = [p[0], p[1]]; S.keys.focusXY = S.view.layout;
        M.layers.draw();
        if (S.camera) jump([p[0], p[1], focusZoom(i)], 700);
        S.focusFromMap = null;
      }).catch(() => null);
      return i;
    }
    M.layers.draw();
    if (S.positions && S.camera) jump([S.positions[2 * i], S.positions[2 * i + 1], focusZoom(i)], 700);
    S.focusFromMap = null;
    return i;
  }

  /** The zoom to show a focused item at: clicked on the map, the map only centres on it (its zoom was the
   * user's choice); chosen elsewhere (a list, the lightbox's next, a link), close enough to see it. */
  function focusZoom(i) {
    return S.focusFromMap === i ? S.camera.zoom : Math.max(S.camera.zoom, fitViewState().zoom + 2);
  }

  function flyTo(members) {
    // Frame the given items (a hotspot): their bounding box, with a margin.
    if (!S.deck || !members.length) return 0;
    if (!S.positions) {  // a tiled map: the members' positions come from the server
      if (S.view && S.view.tiled) M.tiles.positionsOf(members).then((p) => frame(p, members.map((_, k) => k))).catch(() => null);
      return members.length;
    }
    return frame(S.positions, members);
  }

  function frame(positions, members) {
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const i of members) {
      const x = positions[2 * i], y = positions[2 * i + 1];
      x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
    const el = S.container, side = Math.max(50, Math.min(el.clientWidth || 800, el.clientHeight || 600));
    const extent = Math.max(x1 - x0, y1 - y0, 0.05) * 1.4;
    jump([(x0 + x1) / 2, (y0 + y1) / 2, Math.log2(side / extent)], 800);
    return members.length;
  }

  // ------------------------------------------------------------------ URL

  /** The page's query: the view's state with the current selection and camera. */
  function pageQuery(withSelection) {
    if (!S.view) return "";
    const c = S.camera && S.camera.target ? [S.camera.target[0], S.camera.target[1], S.camera.zoom] : null;
    return M.codec.encode({...S.view.state, selection: S.selection, camera: c}, {selection: withSelection || false});
  }

  M.url = {
    query: pageQuery,
    schedule() {
      clearTimeout(S.urlTimer);
      S.urlTimer = setTimeout(() => {
        // Not before Dash has read the page's URL (its first view): the URL it was opened with may say
        // more than the view (a space that does not exist, for one, which Dash's notice names).
        if (!S.view || window.location.pathname !== "/" || S.timings.dash === undefined) return;
        const url = "?" + pageQuery(true);
        if (url !== window.location.search) window.history.replaceState(window.history.state, "", url);
      }, 250);
    },
  };

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
      M.select.syncTools();
    } else if (t.dataset.rows && S.view) {
      download(".csv", {rows: t.dataset.rows});
    } else if (t.id === M.ids.downloadNetwork && S.view) {
      download("/network", {rows: S.selection.length ? "selection" : "filtered", format: S.networkFormat});
    } else if (t.id === M.ids.clearSelection) {
      M.select.update([]);
    }
  });

  const typing = (e) => e.target && (e.target.tagName === "INPUT" || e.target.tagName === "TEXTAREA" || e.target.isContentEditable);
  document.addEventListener("keydown", (e) => {
    if (e.code === "Space" && !typing(e) && !S.spaceHeld) { S.spaceHeld = true; M.select.syncTools(); e.preventDefault(); }
    if (e.code === "Escape" && !typing(e)) { S.tool = "pan"; M.select.syncTools(); }
  });
  document.addEventListener("keyup", (e) => {
    if (e.code === "Space" && S.spaceHeld) { S.spaceHeld = false; M.select.syncTools(); }
  });

  // ------------------------------------------------------------------ boot: draw before Dash

  (function boot() {
    // Dash may render the map's slot at any time (first render, back from another page): the map moves in.
    new MutationObserver(() => { if (document.getElementById(M.ids.mapSlot)) adopt(); })
      .observe(document.documentElement, {childList: true, subtree: true});
    const view = M.boot.view;
    if (!view || window.location.pathname !== "/") return;
    M.transport.prefetch(view);
    if (M.boot.camera) S.wantedCamera = M.boot.camera;
    if (M.boot.selection) S.selection = M.boot.selection;
    if (document.body && !document.getElementById(M.ids.mapSlot)) stage(view.state);
    render(view);
  })();

  window.dashMap = {
    render(view) {
      if (S.timings.dash === undefined) S.timings.dash = performance.now();  // Dash's first view (after the boot's)
      return render(view);
    },
    focus, setCamera, flyTo,
    /** The filter controls changed ([column, values] per category filter, [column, value, min, max] per
     * slider, the hidden legend entries): the map redraws from the browser's mask (map-filter.js). */
    applyFilters(categories, ranges, hide) {
      const filters = {}, spans = {};
      for (const [col, values] of categories) if (values && values.length) filters[col] = values;
      const num = (v) => Number((+v).toPrecision(6));  // as the URL keeps it (viewstate.encode)
      for (const [col, value, lo, hi] of ranges) {
        if (value && (value[0] > lo || value[1] < hi)) spans[col] = [num(value[0]), num(value[1])];  // full span: no filter
      }
      M.filter.apply({filters, ranges: spans, hide: hide || []});
      return Object.keys(filters).length + Object.keys(spans).length + (hide || []).length;
    },
    setSelection: M.select.set,
    setNetworkFormat: (fmt) => { S.networkFormat = fmt || "gexf"; return S.networkFormat; },
    /** For tests and benchmarks: what is drawn, and when the first frame with data was. */
    stats: () => ({
      version: S.version, drawnVersion: S.drawnVersion, firstFrameAt: S.firstFrameAt, n: S.view ? S.view.n : 0,
      focus: S.focus, probes: S.probes || 0,
      layers: S.deck ? (S.deck.props.layers || []).map((l) => l.id) : [], selection: S.selection.length,
      labels: M.labels.count(),
      camera: S.camera && S.camera.target ? [S.camera.target[0], S.camera.target[1], S.camera.zoom] : null,
      mode: S.view ? S.view.mode : null, layout: S.keys.layout, colors: S.keys.colors, level: S.level,
      edges: S.edges ? S.edgeCount : 0, sized: !!S.sizes,
      vector: S.vector ? {name: S.vector.name, steps: S.vector.steps.length, images: !!(S.vector.steps[0] || {}).image} : null,
      timings: {...S.timings, firstFrame: S.firstFrameAt},
      frames: S.frames, decks: S.decks, events: S.events.slice(),
      tiled: !!(S.view && S.view.tiled), sharp: M.sharp.stats(), tiles: S.view && S.view.tiled ? M.tiles.stats() : null, density: !!S.density,
    }),
    /** For tests: the mask drawn (one byte per item, as the server's mask.bin), null when nothing is filtered. */
    mask: () => (S.mask ? Array.from(S.mask) : null),
    /** For tests: the shown vector's hull and path points in the map's pixels ([] when none is shown). */
    vectorPoints: () => {
      if (!S.vector || !S.deck) return [];
      const vp = S.deck.getViewports()[0], v = S.vector;
      return [...v.start.hull, ...v.end.hull, ...v.steps.map((s) => [s.x, s.y])].map((p) => vp.project(p));
    },
    project: (i) => {
      const vp = S.deck.getViewports()[0];
      return vp.project([S.positions[2 * i], S.positions[2 * i + 1]]);
    },
  };
})(window.dashMapModules = window.dashMapModules || {});
