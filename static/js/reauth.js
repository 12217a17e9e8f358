// Re-authentication for dangerous acts (apps/identity/reauth.py). A dangerous htmx request
// without a recent second factor is answered with the prompt (header X-Heatsite-Reauth),
// appended to the page; it opens as a modal dialog above everything (a confirmation modal that
// asked for the action is closed: its focus trap would keep the code field from the keyboard).
// Once a code is accepted the server triggers "heatsite:reauthenticated" and the same request
// is sent again from the same element, so the action proceeds.
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

  htmx.onLoad(function (elt) {
    const dialogs = elt.matches && elt.matches("dialog.reauth-prompt")
      ? [elt]
      : Array.from(elt.querySelectorAll ? elt.querySelectorAll("dialog.reauth-prompt") : []);
    dialogs.forEach(function (dialog) {
      if (dialog.dataset.shown) {
        return;
      }
      dialog.dataset.shown = "1";
      document.querySelectorAll(".modal.show").forEach(function (modal) {
        const instance = window.bootstrap && window.bootstrap.Modal.getInstance(modal);
        if (instance) {
          instance.hide();
        }
      });
      if (dialog.open) {
        dialog.close();
      }
      dialog.showModal();
      dialog.addEventListener("close", function () { dialog.remove(); });
      const field = dialog.querySelector("input:not([type=hidden])");
      if (field) {
        field.focus();
      }
    });
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
