/* Inline validation: a number box holding what its control does not allow says what is allowed,
 * in a bubble under it (so the top bar never reflows), and tells assistive technology. Every number
 * input of the page carries its bounds (min, max, step) from the server's registries, so one rule
 * here covers the projections' parameters, the vector radius and any later one. */
(function () {
  'use strict';

  function allowed(el) {
    if (el.validity.badInput) { return 'Enter a number.'; }
    const lo = el.min, hi = el.max;
    const whole = el.step && Number(el.step) === 1 ? 'a whole number ' : 'a number ';
    const steps = el.validity.stepMismatch && Number(el.step) !== 1 ? ` in steps of ${el.step}` : '';
    if (lo !== '' && hi !== '') { return `Allowed: ${whole}from ${lo} to ${hi}${steps}.`; }
    if (lo !== '') { return `Allowed: ${whole}of at least ${lo}${steps}.`; }
    if (hi !== '') { return `Allowed: ${whole}of at most ${hi}${steps}.`; }
    return `Allowed: ${whole.trim()}${steps}.`;
  }

  function check(el) {
    if (!(el instanceof HTMLInputElement) || el.type !== 'number' || !el.id) { return; }
    const id = el.id + '-allowed';
    let hint = document.getElementById(id);
    if (el.validity.valid) {
      if (hint) { hint.remove(); }
      el.removeAttribute('aria-invalid');
      return;
    }
    if (!hint) {
      hint = document.createElement('span');
      hint.id = id;
      hint.className = 'field-allowed';
      hint.setAttribute('role', 'alert');
      (el.closest('.control, label') || el.parentNode).appendChild(hint);
    }
    hint.textContent = allowed(el);
    el.setAttribute('aria-invalid', 'true');
    el.setAttribute('aria-describedby', id);
  }

  document.addEventListener('input', (e) => check(e.target), true);
  document.addEventListener('change', (e) => check(e.target), true);
})();
