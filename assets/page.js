/* The page around the map: dismissible notices, listed items that move the map, the About panel's Esc and
 * its column types, the loading state until the map's first frame. (The map itself: map*.js.) */
(function () {
  'use strict';

  document.addEventListener('click', (e) => {
    const close = e.target.closest('.notice-close');
    if (close) { close.closest('.notice').remove(); }
    // A listed item (callbacks/common.item_button: neighbours, the selection, the analyses' lists) moves
    // the map to it, as a click on the map does.
    const item = e.target.closest('[data-item]');
    const M = window.dashMapModules;
    if (item && M && M.setProps) { M.setProps(M.ids.clicked, {data: Number(item.dataset.item)}); }
  });

  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape') { return; }
    const about = document.getElementById('about');
    if (about && !about.hidden) { document.getElementById('about-close').click(); }
    // inside the About panel's frame (after a click in it, keys go there): the map page closes the panel,
    // unless Esc is closing a menu
    if (window.parent !== window && !document.querySelector('[role=listbox]')) {
      window.parent.postMessage({kind: 'about-close'}, window.location.origin);
    }
  });

  // From the About panel (the summary page in its frame, callbacks/summary.py): Esc there, and a column's
  // type changed there (the controls are filled again for the new types, from the view in the address bar).
  window.addEventListener('message', (e) => {
    if (e.origin !== window.location.origin || !e.data) { return; }
    const about = document.getElementById('about');
    if (e.data.kind === 'about-close' && about && !about.hidden) { document.getElementById('about-close').click(); }
    if (e.data.kind !== 'column-types') { return; }
    if (window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props('column-types', {data: {revision: e.data.revision, search: window.location.search}});
    }
  });

  // "Drawing the map…" until the map has drawn once (or says why it cannot).
  const loading = setInterval(() => {
    const el = document.getElementById('map-loading');
    if (!el) { return; }
    const stats = window.dashMap && window.dashMap.stats();
    const status = document.getElementById('map-status');
    if ((stats && stats.drawnVersion >= 0) || (status && status.textContent)) {
      el.hidden = true;
      clearInterval(loading);
    }
  }, 150);
})();
