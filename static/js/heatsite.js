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

  // Django's JavaScript catalog (/jsi18n/, loaded by base.html); English when it is missing.
  var gettext = window.gettext || function (s) { return s; };

  function fmt(value, digits) {
    // Grouped and with the decimal mark of the page's language: 3,450.5 / 3 450,5.
    if (value === null || value === undefined) return "—";
    return new Intl.NumberFormat(document.documentElement.lang || "en", {
      minimumFractionDigits: digits, maximumFractionDigits: digits,
    }).format(Number(value));
  }


  function setState(state) {
    // Read by the end-to-end tests and the benchmark: the live socket is open.
    document.body.dataset.live = state;
  }

  function liveFleet() {
    // Cells follow each site's readings; the total comes from the server after each sweep
    // (`heat.fleet_total`), so the page never needs every site's value.
    socket("/ws/fleet/", function (event) {
      if (event.type === "heat.reading") {
        var cell = document.querySelector('[data-live-site="' + event.site_id + '"]');
        if (cell) {
          cell.textContent = fmt(event.power_kw, 1) + " kW";
          cell.classList.remove("updated"); void cell.offsetWidth; cell.classList.add("updated");
        }
      } else if (event.type === "heat.fleet_total") {
        var t = document.getElementById("fleet-total-kw");
        if (t) t.textContent = fmt(event.power_kw, 1);
      } else if (event.type === "heat.alarm" && event.site_id !== undefined) {
        alarmBadge(event);
      }
      document.dispatchEvent(new CustomEvent("heatsite:event", { detail: event }));
    }, setState);
  }

  function alarmBadge(event) {
    var badge = document.querySelector('[data-alarm-site="' + event.site_id + '"]');
    if (!badge) return;
    var count = badge.querySelector("span");
    var n = Number(count.textContent || 0) + (event.active === false ? -1 : 1);
    count.textContent = String(Math.max(n, 0));
    badge.classList.toggle("d-none", n <= 0);
  }

  function localTime(iso, tz) {
    // "HH:MM:SS" of an instant in the site's time zone (not the browser's).
    return new Intl.DateTimeFormat("en-GB", {
      timeZone: tz, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
    }).format(new Date(iso));
  }

  function liveSite(siteId) {
    socket("/ws/sites/" + siteId + "/", function (event) {
      if (event.type === "heat.reading") {
        ["power_kw", "supply_c", "return_c", "flow_m3h"].forEach(function (key) {
          var el = document.querySelector('[data-live="' + key + '"]');
          if (el) el.textContent = fmt(event[key], key === "flow_m3h" ? 2 : 1);
        });
        var chart = document.getElementById("heat-chart");
        var at = document.querySelector('[data-live="at"]');
        if (at && chart && event.ts) at.textContent = localTime(event.ts, chart.dataset.tz);
        var state = document.querySelector('[data-live="supply_state"]');
        if (state && event.supply_c !== null && event.supply_c !== undefined) {
          var ok = event.supply_c >= Number(state.dataset.contract);
          var word = document.createElement("span");
          word.className = ok ? "text-success" : "text-danger fw-semibold";
          word.textContent = ok ? gettext("met") : gettext("below");
          state.replaceChildren(word);
        }
      }
      if (event.type === "heat.alarm") {
        document.body.dispatchEvent(new CustomEvent("heat-alarm", { detail: event }));
      }
      if (event.type && event.type.indexOf("node.") === 0) {
        document.body.dispatchEvent(new CustomEvent("hardware-changed", { detail: event }));
      }
      document.dispatchEvent(new CustomEvent("heatsite:event", { detail: event }));
    }, setState);
  }

  window.Heatsite = {
    socket: socket, liveFleet: liveFleet, liveSite: liveSite, fmt: fmt, localTime: localTime,
  };
})();
