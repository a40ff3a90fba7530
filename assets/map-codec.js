/* The page URL ↔ view state, driven by the server's field table (dashboard/viewstate.py FIELDS).
 *
 * The table arrives in the page's boot JSON (config.fields): keys, kinds, defaults and
 * aliases are never typed here, so a field added in Python is encoded the same way on
 * both sides. decode() is the dataset-independent half of viewstate.parse (the server
 * still checks values against the dataset); encode() mirrors viewstate.encode.
 */
(function (M) {
  "use strict";

  const fields = () => (M.config.fields || []);
  const num = (v) => String(Number((+v).toPrecision(6)));  // Python's f"{v:.6g}", as a number
  const equal = (a, b) => JSON.stringify(a) === JSON.stringify(b);

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

  function decodeSelection(text) {
    const out = [];
    for (const part of text.split(".").filter(Boolean)) {
      const m = /^(\d+)(?:-(\d+))?$/.exec(part);
      if (!m) continue;
      for (let i = +m[1]; i <= +(m[2] || m[1]); i++) out.push(i);
    }
    return Array.from(new Set(out)).sort((a, b) => a - b);
  }

  /**
   * URL pairs for a state (an object of field values): defaults left out unless the
   * field's default depends on the dataset. ``options.selection``: "always" keeps a
   * selection longer than the URL limit (for POSTed downloads), false leaves it out.
   */
  function encode(state, options) {
    const opts = options || {}, pairs = [];
    for (const f of fields()) {
      if (!(f.name in state)) continue;
      const v = state[f.name];
      if (v === null || v === undefined || (!f.always && equal(v, f.default))) continue;
      switch (f.kind) {
        case "str": case "int": pairs.push([f.key, String(v)]); break;
        case "float": pairs.push([f.key, num(v)]); break;
        case "bool": if (v) pairs.push([f.key, "1"]); break;
        case "list": v.forEach((x) => pairs.push([f.key, String(x)])); break;
        case "params": Object.entries(v).forEach(([k, x]) => pairs.push([k, Number.isInteger(x) ? String(x) : num(x)])); break;
        case "filters": Object.entries(v).forEach(([col, xs]) => xs.forEach((x) => pairs.push([f.key + col, String(x)]))); break;
        case "ranges": Object.entries(v).forEach(([col, [lo, hi]]) => pairs.push([f.key + col, num(lo) + "," + num(hi)])); break;
        case "selection": {
          if (opts.selection === false || !v.length) break;
          const text = encodeSelection(v);
          if (text.length <= (M.config.maxSelectionChars || 6000) || opts.selection === "always") pairs.push([f.key, text]);
          break;
        }
        case "camera": pairs.push([f.key, v.map(num).join(",")]); break;
        default: break;
      }
    }
    return new URLSearchParams(pairs).toString();
  }

  /** Field values from a URL query, by the table (unchecked against any dataset). */
  function decode(query) {
    const q = new URLSearchParams(query), out = {};
    const last = (f) => {
      for (const key of [f.key].concat(f.aliases || [])) {
        const all = q.getAll(key);
        if (all.length) return all[all.length - 1];
      }
      return null;
    };
    const paramNames = new Set(Object.values(M.config.projections || {}).flat());
    for (const f of fields()) {
      const raw = last(f);
      switch (f.kind) {
        case "str": if (raw !== null) out[f.name] = raw; break;
        case "int": if (raw !== null && raw !== "") out[f.name] = parseInt(raw, 10); break;
        case "float": if (raw !== null && raw !== "") out[f.name] = parseFloat(raw); break;
        case "bool": out[f.name] = ["1", "true", "on"].includes(raw); break;
        case "list": out[f.name] = q.getAll(f.key).filter(Boolean); break;
        case "params": {
          const p = {};
          for (const [k, v] of q) if (paramNames.has(k) && v !== "") p[k] = isNaN(+v) ? v : +v;
          out[f.name] = p;
          break;
        }
        case "filters": case "ranges": {
          const o = {};
          for (const [k, v] of q) {
            if (!k.startsWith(f.key)) continue;
            const col = k.slice(f.key.length);
            if (f.kind === "filters") { if (v !== "") (o[col] = o[col] || []).push(v); } else o[col] = v.split(",").map(Number);
          }
          out[f.name] = o;
          break;
        }
        case "selection": out[f.name] = raw ? decodeSelection(raw) : []; break;
        case "camera": out[f.name] = raw ? raw.split(",").map(Number) : null; break;
        default: break;
      }
    }
    return out;
  }

  M.codec = {encode, decode, encodeSelection};
})(window.dashMapModules = window.dashMapModules || {});
