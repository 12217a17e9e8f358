/* Plotly charts of Heatsite pages; figures are data columns embedded with json_script. */
(function () {
  "use strict";
  var layout = function (title) {
    return {
      margin: { l: 50, r: 50, t: 10, b: 40 }, legend: { orientation: "h" },
      xaxis: { type: "date" }, yaxis: { title: { text: title } },
      yaxis2: { title: { text: "°C" }, overlaying: "y", side: "right" },
    };
  };
  function nodeSensors(elementId, dataId) {
    var el = document.getElementById(elementId), src = document.getElementById(dataId);
    if (!el || !src) return;
    var h = JSON.parse(src.textContent);
    var traces = [
      { x: h.at, y: h.power_w, name: "Power (W)", type: "scatter", mode: "lines" },
      { x: h.at, y: h.cpu_temp_c, name: "CPU (°C)", yaxis: "y2", type: "scatter", mode: "lines" },
      { x: h.at, y: h.water_out_c, name: "Water out (°C)", yaxis: "y2", type: "scatter", mode: "lines" },
    ];
    Plotly.newPlot(el, traces, layout("W"), { responsive: true, displaylogo: false });
    document.addEventListener("heatsite:event", function (ev) {
      var e = ev.detail;
      if (e.type === "node.state" && String(e.node_id) === el.dataset.nodeId && e.power_w !== undefined) {
        Plotly.extendTraces(el, { x: [[new Date().toISOString()]], y: [[e.power_w]] }, [0]);
      }
    });
  }
  window.HeatsiteCharts = { nodeSensors: nodeSensors, layout: layout };
})();
