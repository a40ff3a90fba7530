/* Roles and names Dash's own components leave out or get wrong (dcc 4.x): radio items and
 * checklists are drawn as a listbox of options that contain inputs (nested interactive controls,
 * no name); a dropdown keeps an aria-hidden input that can take the focus; an upload's file input
 * and inputs without a label of their own have no name. Fixed in the DOM as the components render, so axe-core finds no serious violation.
 * (Why not our own components: these keep Dash's value/options props and their callbacks.) */
(function () {
  'use strict';

  function nameOf(el) {
    const label = el.closest('label.control, .control');
    const heading = label && label.querySelector(':scope > span');
    return el.getAttribute('aria-label') || (heading && heading.textContent.trim()) ||
      (el.closest('[aria-label]') && el.closest('[aria-label]').getAttribute('aria-label')) || '';
  }

  function fix(root) {
    root.querySelectorAll('.dash-radioitems, .dash-checklist').forEach((group) => {
      const radio = group.classList.contains('dash-radioitems');
      group.setAttribute('role', radio ? 'radiogroup' : 'group');
      const name = nameOf(group);
      if (name) { group.setAttribute('aria-label', name); }
      group.querySelectorAll('[role="option"]').forEach((option) => {
        option.removeAttribute('role');
        option.removeAttribute('aria-selected');
      });
    });
    root.querySelectorAll('.dash-dropdown-focus-target[aria-hidden="true"]').forEach((input) => {
      input.setAttribute('tabindex', '-1');
    });
    // dcc.Input takes no aria-label: an input with no label of its own is named by its placeholder,
    // or, in the lists of hotspots, groups and vectors, as the name it edits
    root.querySelectorAll('input:not([type="hidden"]):not([type="file"]):not([aria-label])').forEach((input) => {
      if (input.labels && input.labels.length) { return; }
      input.setAttribute('aria-label', input.placeholder || (input.closest('.hotspot-row') ? 'Hotspot name' : 'Name'));
    });
    root.querySelectorAll('input[type="file"]:not([aria-label])').forEach((input) => {
      const box = input.parentElement;
      input.setAttribute('aria-label', (box && box.textContent.trim()) || 'Upload a file');
    });
  }

  let queued = false;
  new MutationObserver(() => {
    if (queued) { return; }
    queued = true;
    requestAnimationFrame(() => { queued = false; fix(document); });
  }).observe(document.documentElement, { childList: true, subtree: true });
  document.addEventListener('DOMContentLoaded', () => fix(document));
})();
