/* The page around the map: dismissible notices, the About panel's Esc, the loading state until the
 * map's first frame. (The map itself: map*.js.) */
(function () {
  'use strict';

  document.addEventListener('click', (e) => {
    const close = e.target.closest('.notice-close');
    if (close) { close.closest('.notice').remove(); }
  });

  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape') { return; }
    const about = document.getElementById('about');
    if (about && !about.hidden) { document.getElementById('about-close').click(); }
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
