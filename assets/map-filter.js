/* Filters in the browser: the map's mask computed here, not fetched per change.
 *
 * One byte per item, as the server's mapdata.mask: bit 1 passes the category filters,
 * the numeric ranges and the legend's hidden entries; bit 2 matches the search. Each
 * filtered column comes once as codes (/api/codes.bin: a category code or a float64
 * per item, mapdata.column_codes), so a click on a filter or a legend entry redraws
 * the map at once, before any Dash callback answers (those still count what passes,
 * for the legend, the histograms and the downloads). Only the search is matched on
 * the server (Python's regular expressions): its bits come with the view. Past a couple
 * of million items the whole mask comes from the server instead (mapview.BROWSER_FILTER_MAX).
 */
(function (M) {
  "use strict";

  const PASSES = 1, MATCHES = 2;
  const columns = new Map();  // "codes query" → Promise of {values, data}; a few columns per dataset

  function parse(buf) {
    const length = new DataView(buf).getUint32(0, true);
    const head = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, length)));
    const Type = {u2: Uint16Array, u4: Uint32Array, f8: Float64Array}[head.dtype];
    return {values: head.values || null, data: new Type(buf, 4 + length)};
  }

  /** A column's codes (legend: the colour legend's entries), fetched once per build. */
  function column(base, name, legend) {
    const query = base + "&" + new URLSearchParams({column: name, legend: legend ? "1" : "0"});
    if (!columns.has(query)) {
      if (columns.size > 12) columns.delete(columns.keys().next().value);
      const got = fetch("/api/codes.bin?" + query).then(async (r) => {
        if (!r.ok) throw new Error((await r.text()).trim() || r.statusText);
        return parse(await r.arrayBuffer());
      });
      got.catch(() => columns.delete(query));
      columns.set(query, got);
    }
    return columns.get(query);
  }

  /** What the mask of a view depends on. */
  function part(view) {
    const st = view.state, f = view.filter || {};
    if ("server" in f) return {server: f.server || null, filters: {}, ranges: {}, hide: []};  // a very large map
    return {
      base: f.codes, n: view.n,
      filters: st.filters || {}, ranges: st.ranges || {},
      hide: f.hideColumn ? (st.hide || []) : [], hideColumn: f.hideColumn || null,
      search: f.search || null,
    };
  }

  /** The same string for the same mask, whichever order the values came in. */
  function keyOf(p) {
    const sorted = (o) => Object.keys(o).sort().map((k) => [k, Array.isArray(o[k]) ? o[k].slice().sort() : o[k]]);
    if ("server" in p) return JSON.stringify(["server", p.server]);
    return JSON.stringify([p.base, sorted(p.filters).filter(([, v]) => v.length), sorted(p.ranges),
                           p.hide.slice().sort(), p.hideColumn, p.search]);
  }

  const empty = (p) => !Object.values(p.filters).some((v) => v.length) && !Object.keys(p.ranges).length &&
                       !p.hide.length && !p.search;

  async function compute(p) {
    if (p.server) return M.transport.load("mask.bin", p.server, Uint8Array);
    if (empty(p)) return null;
    const n = p.n, out = new Uint8Array(n).fill(PASSES);
    const keepCodes = (c, test) => {
      const allow = Uint8Array.from(c.values, (v) => (test(v) ? 1 : 0)), d = c.data;
      for (let i = 0; i < n; i++) if (!allow[d[i]]) out[i] = 0;
    };
    const jobs = [];
    for (const [col, chosen] of Object.entries(p.filters)) {
      if (!chosen.length) continue;
      const set = new Set(chosen.map(String));
      jobs.push(column(p.base, col, false).then((c) => () => keepCodes(c, (v) => set.has(v))));
    }
    for (const [col, [lo, hi]] of Object.entries(p.ranges)) {
      jobs.push(column(p.base, col, false).then((c) => () => {
        const d = c.data;
        for (let i = 0; i < n; i++) if (!(d[i] >= lo && d[i] <= hi)) out[i] = 0;  // NaN fails, as on the server
      }));
    }
    if (p.hide.length) {
      const hidden = new Set(p.hide);
      jobs.push(column(p.base, p.hideColumn, true).then((c) => () => keepCodes(c, (v) => !hidden.has(v))));
    }
    if (p.search) {
      jobs.push(M.transport.load("mask.bin", p.search, Uint8Array).then((bits) => () => {
        for (let i = 0; i < n; i++) out[i] |= bits[i] & MATCHES;
      }));
    }
    for (const apply of await Promise.all(jobs)) apply();
    return out;
  }

  /** Make S.mask the view's mask; resolves to whether it changed. */
  async function ensure(view) {
    const S = M.S, p = part(view), key = keyOf(p);
    if (S.keys.mask === key) return false;
    S.maskWanted = key;
    const mask = await compute(p);
    if (S.maskWanted !== key) return false;  // a newer filter came meanwhile
    S.mask = mask; S.keys.mask = key;
    return true;
  }

  /** Start fetching the codes of a view's filtered columns (with the page, before the map draws). */
  function prefetch(view) {
    const p = part(view);
    if (!p.base) return;
    for (const col of Object.keys(p.filters).concat(Object.keys(p.ranges))) column(p.base, col, false).catch(() => null);
    if (p.hide.length) column(p.base, p.hideColumn, true).catch(() => null);
  }

  /** Once the map is drawn, when the tab is idle: fetch the filter panel's category columns and the
   * legend's entries, so that a first click on a filter or a legend entry needs nothing from the server. */
  function warm(view) {
    const f = view.filter || {};
    if (!f.codes || !f.warm || !f.warm.length || warmed.has(f.codes)) return;
    warmed.add(f.codes);
    const idle = window.requestIdleCallback || ((fn) => setTimeout(fn, 500));
    idle(() => {
      f.warm.forEach((col) => column(f.codes, col, false).catch(() => null));
      if (f.hideColumn) column(f.codes, f.hideColumn, true).catch(() => null);  // the legend's entries
    });
  }
  const warmed = new Set();

  /**
   * A filter control changed: draw its mask now. ``change`` holds the new filters, ranges and hidden
   * legend entries; the server's view with the same values follows and draws nothing new.
   */
  async function apply(change) {
    const S = M.S;
    if (!S.view || !S.deck || !S.view.filter || "server" in S.view.filter) return;  // the server's mask follows
    S.view = {...S.view, state: {...S.view.state, ...change}};  // downloads and the URL say what is drawn
    try {
      if (await ensure(S.view)) { M.note("filter in the browser"); M.layers.draw(); }
    } catch (e) {
      M.status("Could not filter the map: " + e.message);
    }
  }

  M.filter = {ensure, apply, prefetch, warm, PASSES, MATCHES};
})(window.dashMapModules = window.dashMapModules || {});
