// chatvault web UI: small progressive enhancements. Pages work without this file;
// no message content is ever handled here (it arrives escaped in the HTML).
(function () {
  "use strict";

  // The language switch returns to the page it was used on (path and query only:
  // URLs never hold message content).
  function setBack() {
    document.querySelectorAll("form[data-back] input[name=back]").forEach(function (i) {
      i.value = window.location.pathname + window.location.search;
    });
  }

  // Audit activity: entries per hour, flagged ones in red. The data is JSON in a
  // data- attribute (the CSP allows no inline script).
  function charts(root) {
    if (typeof echarts === "undefined") return;
    (root || document).querySelectorAll("[data-chart]").forEach(function (el) {
      var data;
      try { data = JSON.parse(el.getAttribute("data-chart")); } catch (e) { return; }
      if (!data.hours || data.hours.length === 0) { el.classList.add("chart-empty"); return; }
      var labels = data.labels || ["ok", "flagged"];
      var chart = echarts.init(el, null, { renderer: "canvas" });
      chart.setOption({
        animation: false,
        grid: { left: 40, right: 16, top: 24, bottom: 48 },
        tooltip: { trigger: "axis" },
        legend: { top: 0, data: labels },
        xAxis: { type: "category", data: data.hours, axisLabel: { hideOverlap: true } },
        yAxis: { type: "value", minInterval: 1 },
        series: [
          { name: labels[0], type: "bar", stack: "n", barMaxWidth: 48, data: data.plain, itemStyle: { color: "#4f6bed" } },
          { name: labels[1], type: "bar", stack: "n", barMaxWidth: 48, data: data.flagged, itemStyle: { color: "#d4351c" } }
        ]
      });
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }

  // "/" jumps to the search box, as on most search pages.
  document.addEventListener("keydown", function (e) {
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) return;
    var q = document.querySelector("input[name=q]");
    if (q) { e.preventDefault(); q.focus(); q.select(); }
  });

  // A message opened in context is scrolled to and focused.
  function focusHit() {
    var el = document.querySelector(".msg.focus");
    if (el) { el.setAttribute("tabindex", "-1"); el.scrollIntoView({ block: "center" }); el.focus({ preventScroll: true }); }
  }

  document.addEventListener("DOMContentLoaded", function () { setBack(); charts(); focusHit(); });
  document.addEventListener("htmx:afterSwap", function (e) { charts(e.target); });
})();
