/* The site page's heat chart: a server-built plotly figure (apps/heat/figures.py), thermal power
   in its own panel above the temperatures, extended live by `heat.reading` websocket events
   (Heatsite.liveSite dispatches them as `heatsite:event`), and zoomed out to the hourly/daily
   rollups by fetching another window's figure. */
(function () {
  "use strict";

  var localX = window.HeatsiteCharts.localX; // static/js/charts.js, loaded first
  // Django's JavaScript catalog (/jsi18n/, loaded by base.html); English when it is missing.
  var gettext = window.gettext || function (s) { return s; };
  var interpolate = window.interpolate || function (f, a) { return f.replace("%s", a[0]); };

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
      if (state) {
        state.textContent = fig.meta.live ? gettext("live") : gettext("from hourly/daily rollups");
      }
      return Plotly.react(el, fig.data, fig.layout, config);
    }

    document.addEventListener("heatsite:event", function (ev) {
      var e = ev.detail;
      if (e.type !== "heat.reading" || !figure.meta.live) return;
      if (String(e.site_id) !== siteId) return;
      var x = localX(e.ts, tz);
      var previous = window.HeatsiteCharts.lastX(el);
      if (x <= previous) return; // already drawn (the figure was fetched after the reading)
      Plotly.extendTraces(
        el, { x: [[x], [x], [x]], y: [[e.power_kw], [e.supply_c], [e.return_c]] },
        [0, 1, 2], figure.meta.max_points
      );
      window.HeatsiteCharts.follow(el, previous, x);
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
          if (state) state.textContent = interpolate(gettext("could not load (%s)"), [err.message]);
        });
      });
    });

    draw(figure);
  }

  window.HeatsiteHeat = { siteChart: siteChart, localX: localX };
})();
