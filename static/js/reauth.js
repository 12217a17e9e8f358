// Re-authentication for dangerous acts (apps/identity/reauth.py). A dangerous htmx request
// without a recent second factor is answered with the prompt (header X-Heatsite-Reauth); once
// a code is accepted the server triggers "heatsite:reauthenticated" and the same request is
// sent again from the same element, so the action proceeds.
(function () {
  "use strict";
  let pending = null;
  document.addEventListener("htmx:beforeSwap", function (evt) {
    const xhr = evt.detail.xhr;
    if (xhr && xhr.getResponseHeader("X-Heatsite-Reauth") === "required") {
      const config = evt.detail.requestConfig || {};
      pending = {
        elt: config.elt || evt.detail.elt,
        event: config.triggeringEvent ? config.triggeringEvent.type : null,
        verb: config.verb,
        path: config.path,
      };
    }
  });
  document.addEventListener("heatsite:reauthenticated", function () {
    const again = pending;
    pending = null;
    if (!again) {
      return;
    }
    if (again.elt && again.elt.isConnected && again.event) {
      htmx.trigger(again.elt, again.event);
    } else if (again.elt && again.elt.isConnected) {
      htmx.ajax(again.verb.toUpperCase(), again.path, { source: again.elt });
    }
  });
})();
