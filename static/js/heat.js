/* The site page's heat chart: a server-built plotly figure (apps/heat/figures.py), extended live
   by `heat.reading` websocket events (Heatsite.liveSite dispatches them as `heatsite:event`),
   and zoomed out to the hourly/daily rollups by fetching another window's figure. */
(function () {
  "use strict";

  // Plotly has no time zones: x values are the site's local wall-clock time, as the server
  // writes them ("YYYY-MM-DD HH:MM:SS").
  function localX(iso, tz) {
    var parts = {};
    new Intl.DateTimeFormat("en-CA", {
      timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
    }).formatToParts(new Date(iso)).forEach(function (p) { parts[p.type] = p.value; });
    var hour = parts.hour === "24" ? "00" : parts.hour;
    return parts.year + "-" + parts.month + "-" + parts.day + " " + hour + ":" +
      parts.minute + ":" + parts.second;
  }

  function siteChart(elementId, dataId) {
    var el = document.getElementById(elementId), src = document.getElementById(dataId);
    if (!el || !src || !window.Plotly) return;
    var siteId = el.dataset.siteId;
    var figure = JSON.parse(src.textContent);
    var tz = el.dataset.tz;
    var config = { responsive: true, displaylogo: false };
    var state = document.getElementById("heat-chart-state");

    function draw(fig) {
      figure = fig;
      el.dataset.window = fig.meta.window;
      if (state) state.textContent = fig.meta.live ? "live" : "from hourly/daily rollups";
      return Plotly.react(el, fig.data, fig.layout, config);
    }

    function lastX() {
      var xs = el.data && el.data[0] ? el.data[0].x : [];
      return xs.length ? xs[xs.length - 1] : "";
    }

    document.addEventListener("heatsite:event", function (ev) {
      var e = ev.detail;
      if (e.type !== "heat.reading" || !figure.meta.live) return;
      if (String(e.site_id) !== siteId) return;
      var x = localX(e.ts, tz);
      if (x <= lastX()) return; // already drawn (the figure was fetched after the reading)
      Plotly.extendTraces(
        el, { x: [[x], [x], [x]], y: [[e.power_kw], [e.supply_c], [e.return_c]] },
        [0, 1, 2], figure.meta.max_points
      );
      el.dataset.lastTs = e.ts;
      el.dataset.seq = String(Number(el.dataset.seq || 0) + 1);
    });

    document.querySelectorAll("[data-window]").forEach(function (button) {
      button.addEventListener("click", function () {
        var window_ = button.dataset.window;
        document.querySelectorAll("[data-window]").forEach(function (b) {
          b.classList.toggle("active", b === button);
        });
        fetch(el.dataset.url + "?window=" + encodeURIComponent(window_), {
          headers: { Accept: "application/json" }, credentials: "same-origin",
        }).then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.json();
        }).then(draw).catch(function (err) {
          if (state) state.textContent = "could not load (" + err.message + ")";
        });
      });
    });

    draw(figure);
  }

  window.HeatsiteHeat = { siteChart: siteChart, localX: localX };
})();
