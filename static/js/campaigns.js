/* Firmware campaigns. The "new campaign" form: its dry run (an htmx fragment) is shown even when
   the form is refused (400, with the reason). A campaign's page: follows `ws/campaigns/<id>/`,
   updating each node's step, state and reason from the events, and re-fetching the progress
   bars, state and actions (the `campaign-live` fragment) when something changed. */
(function () {
  "use strict";

  document.body.addEventListener("htmx:beforeSwap", function (ev) {
    var target = ev.detail.target;
    if (ev.detail.xhr.status === 400 && target && target.id === "campaign-dry-run") {
      ev.detail.shouldSwap = true;
      ev.detail.isError = false;
    }
  });

  var page = document.getElementById("campaign-page");
  if (!page || !window.Heatsite) return;
  var campaignId = page.dataset.campaignId;
  var labelsEl = document.getElementById("campaign-labels");
  var labels = labelsEl ? JSON.parse(labelsEl.textContent) : { step: {}, state: {} };
  var BADGE = {
    succeeded: "text-bg-success", rolled_back: "text-bg-success", failed: "text-bg-danger",
    running: "text-bg-primary",
  };

  // At most one fragment request in flight, and one more queued behind it: a burst of events
  // costs two requests, and the last one always reflects the last event.
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    var live = document.getElementById("campaign-live");
    if (!live || !window.htmx) return;
    busy = true;
    htmx.ajax("GET", live.getAttribute("hx-get"), { target: "#campaign-live", swap: "outerHTML" })
      .finally(function () {
        busy = false;
        page.dataset.refreshed = String(Number(page.dataset.refreshed || 0) + 1);
        if (again) { again = false; refresh(); }
      });
  }

  function nodeEvent(e) {
    var row = page.querySelector('tr[data-node-id="' + e.node_id + '"]');
    if (!row) return;
    row.dataset.state = e.state;
    row.dataset.step = e.step;
    row.querySelector('[data-field="step"]').textContent = labels.step[e.step] || e.step;
    var badge = document.createElement("span");
    badge.className = "badge " + (BADGE[e.state] || "text-bg-light");
    badge.textContent = labels.state[e.state] || e.state;
    var state = row.querySelector('[data-field="state"]');
    state.replaceChildren(badge);
    row.querySelector('[data-field="reason"]').textContent = e.reason_text || e.reason || "";
    row.classList.remove("updated"); void row.offsetWidth; row.classList.add("updated");
  }

  Heatsite.socket("/ws/campaigns/" + campaignId + "/", function (e) {
    if (String(e.campaign_id) !== campaignId) return;
    if (e.type === "campaign.node") nodeEvent(e);
    if (e.type === "campaign.node" || e.type === "campaign.state") refresh();
    page.dataset.events = String(Number(page.dataset.events || 0) + 1);
  }, function (state) {
    // Read by the end-to-end tests: the live socket is open.
    page.dataset.liveState = state;
    document.body.dataset.live = state;
    if (state === "connected") refresh(); // what changed while the socket was closed
  });
})();
