/* Brushing a numeric histogram: press on a bar, drag across others, release — the column's range
 * filter becomes the span of those bars (its slider moves, and the map, counts and other histograms
 * follow as for any range). A press and release on one bar is a click, handled by the server
 * (callbacks/viewer.filter_by_bar). Shift+click extends the current range to a bar, without a drag. Bars carry their bin edges as data-lo / data-hi (callbacks/viewer._bars). */
(function () {
  'use strict';

  let brush = null;  // {column, start, end}: bar indices

  // Looked up each time: Dash redraws the histograms after every view change, even mid-drag.
  function barsOf(column) {
    return [...document.querySelectorAll('.hist-bar[data-lo]')].filter((el) => el.dataset.column === column);
  }

  // The bar under the pointer's x, clamped to the histogram (the pointer may leave it vertically).
  function indexAt(bars, x) {
    const first = bars[0].getBoundingClientRect(), last = bars[bars.length - 1].getBoundingClientRect();
    const t = (x - first.left) / Math.max(1, last.right - first.left);
    return Math.max(0, Math.min(bars.length - 1, Math.floor(t * bars.length)));
  }

  function mark(b) {
    const lo = Math.min(b.start, b.end), hi = Math.max(b.start, b.end);
    barsOf(b.column).forEach((el, k) => el.classList.toggle('brushing', k >= lo && k <= hi));
  }

  // To the server's bar filter (callbacks/viewer.filter_by_bar), which moves the column's slider.
  function setRange(column, lo, hi) {
    const M = window.dashMapModules || {};
    if (M.setProps && M.ids) { M.setProps(M.ids.histBrush, { data: { column: column, range: [lo, hi], at: Date.now() } }); }
  }

  function span(bars, a, b) {
    const from = bars[Math.min(a, b)], to = bars[Math.max(a, b)];
    return [parseFloat(from.dataset.lo), parseFloat(to.dataset.hi)];
  }

  document.addEventListener('pointerdown', (e) => {
    const bar = e.target.closest && e.target.closest('.hist-bar[data-lo]');
    if (!bar || e.button !== 0 || e.shiftKey) { return; }
    const bars = barsOf(bar.dataset.column), k = bars.indexOf(bar);
    brush = { column: bar.dataset.column, start: k, end: k };
  });

  document.addEventListener('pointermove', (e) => {
    if (!brush) { return; }
    const bars = barsOf(brush.column);
    if (!bars.length) { return; }
    const end = indexAt(bars, e.clientX);
    if (end !== brush.end) { brush.end = end; mark(brush); }
  });

  document.addEventListener('pointerup', () => {
    const b = brush;
    brush = null;
    if (!b) { return; }
    const bars = barsOf(b.column);
    bars.forEach((el) => el.classList.remove('brushing'));
    if (b.start === b.end || !bars.length) { return; }  // a click: the server's bar filter
    const [lo, hi] = span(bars, b.start, b.end);
    setRange(b.column, lo, hi);
  });

  // Shift+click: from the chosen range (or, with none chosen, this bar alone) to this bar.
  document.addEventListener('click', (e) => {
    const bar = e.target.closest && e.target.closest('.hist-bar[data-lo]');
    if (!bar || !e.shiftKey) { return; }
    e.preventDefault();
    e.stopPropagation();  // not a click for filter_by_bar
    const bars = barsOf(bar.dataset.column), k = bars.indexOf(bar);
    const chosen = bars.map((el, j) => (el.classList.contains('chosen') ? j : -1)).filter((j) => j >= 0);
    const anchor = chosen.length ? (k < chosen[0] ? chosen[chosen.length - 1] : chosen[0]) : k;
    const [lo, hi] = span(bars, anchor, k);
    setRange(bar.dataset.column, lo, hi);
  }, true);
})();
