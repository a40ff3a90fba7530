/* Binary buffers from the server: positions, colours, masks, sizes, edges, labels.
 *
 * Each buffer is named by a query string (its "key") that the server computed from
 * the view; a buffer is fetched only when its key changes. The first view's buffers
 * start downloading as soon as this page's scripts run, before Dash has started.
 * (The mask is computed in the browser: map-filter.js.)
 */
(function (M) {
  "use strict";

  const early = {};

  async function fetchArray(url, Type) {
    const r = await fetch(url);
    if (!r.ok) throw new Error((await r.text()).trim() || r.statusText);
    return new Type(await r.arrayBuffer());
  }

  async function fetchJson(url) {
    const r = await fetch(url);
    if (!r.ok) throw new Error((await r.text()).trim() || r.statusText);
    return r.json();
  }

  /** Start downloading what the first view draws (called once, at load). */
  function prefetch(view) {
    if (!view) return;
    M.filter.prefetch(view);  // the filtered columns' codes (map-filter.js)
    const search = view.filter && view.filter.search;
    if (search) early["mask.bin?" + search] = fetchArray("/api/mask.bin?" + search, Uint8Array).catch(() => null);
    if (view.tiled) return;  // a tiled map fetches tiles (map-tiles.js), never the whole buffers
    early["positions.bin?" + view.layout] = fetchArray("/api/positions.bin?" + view.layout, Float32Array).catch(() => null);
    early["colors.bin?" + view.colors] = fetchArray("/api/colors.bin?" + view.colors, Uint8Array).catch(() => null);
  }

  /** A typed array from /api/<route>?<key>, the early (preloaded) download's when there is one. */
  async function load(route, key, Type) {
    const name = route + "?" + key;
    const got = early[name];
    delete early[name];
    if (got) {
      const value = await got;
      if (value) return value;
    }
    return fetchArray("/api/" + name, Type);
  }

  /**
   * A part of the view that may be absent: fetched into S[name] when its key changes,
   * dropped when the view has none. With ``failure``, an error leaves the rest of the
   * map drawn and says so.
   */
  function optional(name, route, read, failure) {
    const S = M.S;
    const key = S.view[name];
    if (S.keys[name] === key) return null;
    if (!key) return Promise.resolve().then(() => { S[name] = null; S.keys[name] = null; });
    const job = read(route, key).then((value) => { S[name] = value; S.keys[name] = key; });
    return failure
      ? job.catch((e) => { S[name] = null; S.keys[name] = key; M.status(failure + e.message); })
      : job;
  }

  M.transport = {
    fetchArray, fetchJson, prefetch, load, optional,
    array: (Type) => (route, key) => load(route, key, Type),
    json: (route, key) => fetchJson("/api/" + route + "?" + key),
  };
})(window.dashMapModules = window.dashMapModules || {});
