/* Plotly in the page's language (<html lang>): month and day names on time axes, the decimal
   mark and thousands separator of tick labels and hovers. Load after plotly.min.js and the
   vendored locale files (static/vendor/plotly/plotly-locale-*.js). */
(function () {
  "use strict";
  if (!window.Plotly) return;
  var lang = (document.documentElement.lang || "en").slice(0, 2).toLowerCase();
  // Plotly's English is its built-in "en"; other languages need their vendored locale file.
  window.Plotly.setPlotConfig({ locale: lang === "fr" ? "fr" : "en" });
})();
