/* The map's shared state and the page's small helpers.
 *
 * Every map module reads and writes this one object. Numbers that must agree with
 * the server (the zoom scale of word levels, the longest selection kept in a URL,
 * the view-state fields) come from the page's boot JSON, never retyped here.
 */
(function (M) {
  "use strict";

  M.S = {
    deck: null, container: null, converter: null, view: null, spec: null,
    keys: {}, positions: null, colors: null, mask: null, levels: null, labels: null, edges: null, edgeLines: null,
    sizes: null, sizeScaled: null, networkFormat: "gexf",
    atlas: null, atlasKey: null, mappings: [],
    selection: [], focus: null, focusFromMap: null,
    camera: null, wantedCamera: null, fitted: false, level: 0, animate: false,
    tool: "pan", spaceHeld: false, version: 0, drawnVersion: -1, firstFrameAt: null,
    tooltipFor: -1, items: new Map(), urlTimer: null, timings: {}, layerCache: new Map(), events: [],
    deckReady: null, decks: 0, frames: 0,  // the deck's readiness; how many decks and frames were made
    shown: null, compacted: null, edgeCount: 0,  // derived per view: faded colours, the filter note, edges drawn
  };

  /** Keep the last few things the map did, with their times (dashMap.stats().events): what redrew and why. */
  M.note = function (what) {
    const events = M.S.events;
    events.push([Math.round(performance.now()), what]);
    if (events.length > 30) events.shift();
  };

  /** The page's boot JSON (inlined by the server): the view the URL asks for and shared constants. */
  M.boot = (function () {
    const el = document.getElementById("map-boot");
    try { return el ? JSON.parse(el.textContent) : {}; } catch (e) { return {}; }
  })();
  M.config = M.boot.config || {};
  /** The page's element and store ids (layouts/viewer.py), from the boot JSON. */
  M.ids = M.config.ids || {};

  M.setProps = function (id, props) {
    if (window.dash_clientside && window.dash_clientside.set_props) window.dash_clientside.set_props(id, props);
  };

  M.status = function (text) {
    const el = document.getElementById(M.ids.status);
    if (el) { el.textContent = text || ""; el.hidden = !text; }
  };
})(window.dashMapModules = window.dashMapModules || {});
