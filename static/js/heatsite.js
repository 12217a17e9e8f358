/* Heatsite front end: live updates over websockets; htmx does the rest. */
(function () {
  "use strict";

  function socket(path, onEvent, onState) {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var delay = 1000;
    var ws;
    function open() {
      ws = new WebSocket(scheme + location.host + path);
      ws.onopen = function () { delay = 1000; if (onState) onState("connected"); };
      ws.onmessage = function (msg) { onEvent(JSON.parse(msg.data)); };
      ws.onclose = function (ev) {
        if (onState) onState("disconnected");
        // 44xx: refused by the server (login, permission); retrying would not help.
        if (ev.code >= 4400 && ev.code < 4500) return;
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 30000);
      };
    }
    open();
    return { close: function () { ws.onclose = null; ws.close(); } };
  }

  function fmt(value, digits) {
    return value === null || value === undefined ? "—" : Number(value).toFixed(digits);
  }

  var liveKw = {};

  function liveFleet() {
    socket("/ws/fleet/", function (event) {
      if (event.type === "heat.reading") {
        liveKw[event.site_id] = event.power_kw;
        var cell = document.querySelector('[data-live-site="' + event.site_id + '"]');
        if (cell) {
          cell.textContent = fmt(event.power_kw, 1) + " kW";
          cell.classList.remove("updated"); void cell.offsetWidth; cell.classList.add("updated");
        }
        var total = 0;
        Object.keys(liveKw).forEach(function (k) { total += liveKw[k] || 0; });
        var el = document.getElementById("fleet-total-kw");
        if (el) el.textContent = fmt(total, 1);
      } else if (event.type === "heat.fleet_total") {
        var t = document.getElementById("fleet-total-kw");
        if (t) t.textContent = fmt(event.power_kw, 1);
      }
    });
  }

  function liveSite(siteId) {
    socket("/ws/sites/" + siteId + "/", function (event) {
      if (event.type === "heat.reading") {
        ["power_kw", "supply_c", "return_c", "flow_m3h"].forEach(function (key) {
          var el = document.querySelector('[data-live="' + key + '"]');
          if (el) el.textContent = fmt(event[key], key === "flow_m3h" ? 2 : 1);
        });
      }
      if (event.type && event.type.indexOf("node.") === 0) {
        document.body.dispatchEvent(new CustomEvent("hardware-changed", { detail: event }));
      }
      document.dispatchEvent(new CustomEvent("heatsite:event", { detail: event }));
    });
  }

  window.Heatsite = { socket: socket, liveFleet: liveFleet, liveSite: liveSite, fmt: fmt };
})();
