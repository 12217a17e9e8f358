/* Page wiring without inline scripts or inline event handlers (the Content-Security-Policy
   allows neither; apps/core/security.py). Loaded last on every page.

   - <div hidden data-init="Heatsite.liveSite" data-args="[12]"></div> calls that function
     with those JSON arguments once the page's scripts are loaded; data-init-element="some-id"
     passes that element first.
   - <form data-confirm="Really?"> asks before it is submitted (before htmx sees it too).
   - <input type="checkbox" data-check-all="input[name=nodes]"> ticks or clears those boxes. */
(function () {
  "use strict";

  function resolve(path) {
    return path.split(".").reduce(function (obj, key) {
      return obj === undefined || obj === null ? undefined : obj[key];
    }, window);
  }

  function start(root) {
    root.querySelectorAll("[data-init]").forEach(function (el) {
      var fn = resolve(el.dataset.init);
      if (typeof fn !== "function") {
        console.error("data-init: no function " + el.dataset.init);
        return;
      }
      var args = el.dataset.args ? JSON.parse(el.dataset.args) : [];
      if (el.dataset.initElement) args.unshift(document.getElementById(el.dataset.initElement));
      fn.apply(null, args);
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target.closest ? event.target.closest("form[data-confirm]") : null;
    if (form && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[data-check-all]")) return;
    document.querySelectorAll(box.dataset.checkAll).forEach(function (other) {
      other.checked = box.checked;
    });
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { start(document); });
  } else {
    start(document);
  }
  window.HeatsiteInit = { start: start };
})();
