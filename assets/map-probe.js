/* The probe: what a VAE latent space holds anywhere on its map, decoded (GET /api/probe.png).
 * Alt-click (or the Probe tool, then click) on the map shows it; dragging moves it live. */
(function (M) {
  "use strict";

  let dragging = false, pending = null, inFlight = false, active = false;

  function available() {
    return M.S.view && M.S.view.probe;
  }

  function show(event) {
    const S = M.S, map = document.getElementById(M.ids.map), box = document.getElementById("probe");
    if (!S.deck || !map || !box) return;
    const rect = map.getBoundingClientRect(), px = event.clientX - rect.left, py = event.clientY - rect.top;
    const [x, y] = S.deck.getViewports()[0].unproject([px, py]);
    box.hidden = false;
    box.style.left = Math.min(px + 14, rect.width - 150) + "px";
    box.style.top = Math.min(py + 14, rect.height - 170) + "px";
    pending = "/api/probe.png?" + S.view.layout + "&at=" + x.toFixed(5) + "," + y.toFixed(5);
    fetchNext();
  }

  function fetchNext() {
    // one request at a time, the newest position next: dragging never queues a backlog
    if (inFlight || !pending) return;
    const url = pending;
    pending = null;
    inFlight = true;
    fetch(url).then((r) => (r.ok ? r.blob().then((b) => ({b, how: r.headers.get("X-Probe-Method")})) : r.text().then((t) => {
      throw new Error(t);
    }))).then(({b, how}) => {
      const img = document.getElementById("probe-image");
      if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
      img.src = URL.createObjectURL(b);
      document.getElementById("probe-caption").textContent = "Decoded from " + how;
      M.S.probes = (M.S.probes || 0) + 1;
    }).catch((e) => {
      document.getElementById("probe-caption").textContent = String(e.message || e).trim();
    }).finally(() => { inFlight = false; fetchNext(); });
  }

  function hide() {
    const box = document.getElementById("probe");
    if (box) box.hidden = true;
  }

  document.addEventListener("pointerdown", (e) => {
    const map = document.getElementById(M.ids.map);
    if (!map || !map.contains(e.target) || !available() || !(e.altKey || active)) return;
    e.preventDefault();
    e.stopPropagation();
    dragging = true;
    show(e);
  }, true);
  document.addEventListener("pointermove", (e) => { if (dragging) { e.stopPropagation(); show(e); } }, true);
  document.addEventListener("pointerup", () => { dragging = false; }, true);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") hide(); });

  document.addEventListener("click", (e) => {
    if (!e.target.closest("#tool-probe")) return;
    active = !active;
    e.target.closest("#tool-probe").classList.toggle("active", active);
    if (!active) hide();
  });

  /** Called after every render: the Probe tool shows only for spaces with a decoder. */
  M.probe = {
    sync() {
      const button = document.getElementById("tool-probe");
      if (button) button.hidden = !available();
      if (!available()) { hide(); active = false; if (button) button.classList.remove("active"); }
    },
  };
})(window.dashMapModules = window.dashMapModules || {});
