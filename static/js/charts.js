/* Plotly charts of Heatsite pages: figures are built by the server (each app's figures.py) and
   embedded with json_script; these helpers keep live points in the same local time. */
(function () {
  "use strict";

  // Plotly has no time zones: x values are the site's local wall-clock time, as the server
  // writes them ("YYYY-MM-DD HH:MM:SS", apps/core/charts.py), whatever the browser's zone.
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

  // Arithmetic on wall-clock strings (read as if UTC: only differences matter).
  function wallMs(x) {
    if (typeof x === "number") return x;
    return Date.parse(String(x).slice(0, 19).replace(" ", "T") + "Z");
  }
  function wallString(ms) {
    return new Date(ms).toISOString().slice(0, 19).replace("T", " ");
  }

  function lastX(el) {
    var xs = el.data && el.data[0] ? el.data[0].x : [];
    return xs.length ? xs[xs.length - 1] : "";
  }

  // After a live point at `x`: a fixed window that showed the newest point slides to end at
  // `x`, keeping its width; a window the user zoomed into the past stays where it is.
  function follow(el, previousLast, x) {
    var axis = (el.layout && el.layout.xaxis) || {};
    var range = axis.range;
    if (axis.autorange !== false || !range || range.length !== 2) return;
    var end = wallMs(range[1]);
    if (!(wallMs(x) > end)) return;
    if (previousLast && end < wallMs(previousLast)) return;
    var width = end - wallMs(range[0]);
    Plotly.relayout(el, { "xaxis.range": [wallString(wallMs(x) - width), x] });
  }

  // The node page's sensors (apps/hardware/figures.py): power in trace 0 grows with the
  // `node.state` events of this node, at the poll's time in the site's zone.
  function nodeSensors(elementId, dataId) {
    var el = document.getElementById(elementId), src = document.getElementById(dataId);
    if (!el || !src || !window.Plotly) return;
    var figure = JSON.parse(src.textContent);
    var tz = el.dataset.tz;
    Plotly.newPlot(el, figure.data, figure.layout, { responsive: true, displaylogo: false });
    document.addEventListener("heatsite:event", function (ev) {
      var e = ev.detail;
      if (e.type !== "node.state" || String(e.node_id) !== el.dataset.nodeId) return;
      if (e.power_w === undefined || e.power_w === null) return;
      var x = localX(e.at || new Date().toISOString(), tz);
      var previous = lastX(el);
      if (x <= previous) return;
      Plotly.extendTraces(el, { x: [[x]], y: [[e.power_w]] }, [0]);
      follow(el, previous, x);
    });
  }

  window.HeatsiteCharts = {
    localX: localX, follow: follow, lastX: lastX, nodeSensors: nodeSensors,
  };
})();
