/* Compare page: draws the server-built plotly figures and swaps them when the chart or column
   changes. Figures come from the compare-chart view (pure builders in apps/planning/figures.py);
   PNG and SVG downloads are plotly's own modebar tools. Maps use our vendored topojson. */
(function () {
  "use strict";
  var gettext = window.gettext || function (s) { return s; };
  var el = document.getElementById("compare-chart");
  if (!el) return;
  var kind = document.getElementById("chart-kind");
  var column = document.getElementById("chart-column");
  var metric = document.getElementById("chart-metric");
  var svgButton = {
    name: gettext("Download plot as SVG"),
    icon: Plotly.Icons.camera,
    click: function (gd) { Plotly.downloadImage(gd, { format: "svg", filename: "heatsite-compare" }); },
  };
  var config = {
    responsive: true,
    displaylogo: false,
    topojsonURL: el.dataset.topojsonUrl,
    toImageButtonOptions: { format: "png", filename: "heatsite-compare" },
    modeBarButtonsToAdd: [svgButton],
  };

  function draw(figure) {
    el.dataset.chart = kind.value;
    Plotly.react(el, figure.data, figure.layout, config).then(function () {
      el.dataset.ready = kind.value;
      el.on("plotly_click", function (ev) {
        var id = ev.points && ev.points[0] && ev.points[0].customdata;
        if (id) window.location.href = "/sites/" + id + "/";
      });
    });
  }

  function ticked() {
    return Array.prototype.map.call(
      document.querySelectorAll("#compare-table input[name=sites]:checked"),
      function (box) { return "&ids=" + encodeURIComponent(box.value); }
    ).join("");
  }

  function load() {
    var k = kind.value;
    column.classList.toggle("d-none", k === "scatter" || k === "series");
    metric.classList.toggle("d-none", k !== "series");
    delete el.dataset.ready;
    var url = el.dataset.chartUrl + "&chart=" + k + "&column=" + encodeURIComponent(column.value) +
      "&metric=" + encodeURIComponent(metric.value) + (k === "series" ? ticked() : "");
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        if (!res.ok) { el.textContent = res.body.detail || gettext("Chart unavailable"); return; }
        draw(res.body);
      });
  }

  [kind, column, metric].forEach(function (s) { s.addEventListener("change", load); });
  var initial = document.getElementById("compare-figure");
  draw(JSON.parse(initial.textContent));
})();
