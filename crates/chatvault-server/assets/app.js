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

  // Charts: the data is JSON in a data- attribute (the CSP allows no inline script), and
  // its "kind" says how to draw it. Labels and values are figures and names of buckets,
  // never message content.
  var BLUE = "#4f6bed", RED = "#d4351c";
  function option(data) {
    switch (data.kind) {
      case "histogram":
        return {
          grid: { left: 48, right: 16, top: 32, bottom: 56 }, tooltip: { trigger: "axis" },
          legend: { top: 0, data: data.series.map(function (s) { return s.name; }) },
          xAxis: { type: "category", data: data.labels, axisLabel: { interval: 0, rotate: 30 } },
          yAxis: { type: "value", minInterval: 1 },
          series: data.series.map(function (s, i) { return { name: s.name, type: "bar", data: s.data, itemStyle: { color: i === 0 ? "#a3b1f5" : BLUE } }; })
        };
      case "heatmap":
        var hours = []; for (var h = 0; h < 24; h++) hours.push(String(h));
        var max = data.cells.reduce(function (m, c) { return Math.max(m, c[2] || 0); }, 1);
        return {
          grid: { left: 48, right: 72, top: 8, bottom: 28 }, tooltip: { position: "top" },
          xAxis: { type: "category", data: hours, splitArea: { show: true } },
          yAxis: { type: "category", data: data.days, inverse: true, splitArea: { show: true } },
          visualMap: { min: 0, max: max, calculable: true, orient: "vertical", right: 0, top: "middle", itemHeight: 120, inRange: { color: ["#e8f5e9", "#ffd666", RED] } },
          series: [{ type: "heatmap", data: data.cells, label: { show: false } }]
        };
      case "gauge":
        return {
          series: [{ type: "gauge", min: 0, max: 100, pointer: { show: false }, progress: { show: true, width: 14 }, axisLine: { lineStyle: { width: 14 } },
            title: { offsetCenter: [0, "78%"], fontSize: 13 },
            detail: { valueAnimation: false, offsetCenter: [0, "42%"], formatter: data.value === null ? "-" : "{value}%", fontSize: 24 }, data: [{ value: data.value === null ? 0 : data.value, name: data.name }] }]
        };
      case "bars":
        return {
          grid: { left: 80, right: 24, top: 8, bottom: 24 }, tooltip: { trigger: "axis" },
          xAxis: { type: "value", minInterval: 1 }, yAxis: { type: "category", data: data.labels, inverse: true },
          series: [{ type: "bar", data: data.data, itemStyle: { color: BLUE } }]
        };
      default:
        if (!data.hours || data.hours.length === 0) return null;
        var labels = data.labels || ["ok", "flagged"];
        return {
          grid: { left: 40, right: 16, top: 24, bottom: 48 }, tooltip: { trigger: "axis" }, legend: { top: 0, data: labels },
          xAxis: { type: "category", data: data.hours, axisLabel: { hideOverlap: true } }, yAxis: { type: "value", minInterval: 1 },
          series: [
            { name: labels[0], type: "bar", stack: "n", barMaxWidth: 48, data: data.plain, itemStyle: { color: BLUE } },
            { name: labels[1], type: "bar", stack: "n", barMaxWidth: 48, data: data.flagged, itemStyle: { color: RED } }
          ]
        };
    }
  }
  function charts(root) {
    if (typeof echarts === "undefined") return;
    (root || document).querySelectorAll("[data-chart]").forEach(function (el) {
      var data;
      try { data = JSON.parse(el.getAttribute("data-chart")); } catch (e) { return; }
      var opt = option(data);
      if (!opt) { el.classList.add("chart-empty"); return; }
      opt.animation = false;
      var chart = echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(opt);
      el.setAttribute("data-drawn", "1");
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

  // The alert feed: the server pushes each alert event over SSE (same origin, the
  // session cookie); the list is then fetched again as server-rendered HTML, so no event
  // data is ever put into the page from here. EventSource reconnects by itself.
  function alertFeed() {
    var state = document.querySelector("[data-alert-stream]");
    if (!state || !window.EventSource) return;
    var list = document.getElementById("alert-list");
    var pending = false;
    function reload() {
      if (pending || !window.htmx) return;
      pending = true;
      window.htmx.ajax("GET", state.getAttribute("data-alert-list"), { target: list, swap: "innerHTML" }).then(function () {
        pending = false;
        list.setAttribute("data-reloads", String(Number(list.getAttribute("data-reloads") || "0") + 1));
      }, function () { pending = false; });
    }
    var es = new EventSource(state.getAttribute("data-alert-stream"));
    es.onopen = function () { state.textContent = state.getAttribute("data-live"); state.setAttribute("data-connected", "1"); };
    es.onerror = function () { state.textContent = state.getAttribute("data-offline"); state.removeAttribute("data-connected"); };
    ["alert.raised", "alert.escalated", "alert.acknowledged", "alert.resolved", "resync"].forEach(function (name) {
      es.addEventListener(name, reload);
    });
    es.addEventListener("end", function () { es.close(); state.textContent = state.getAttribute("data-offline"); });
  }

  document.addEventListener("DOMContentLoaded", function () { setBack(); charts(); focusHit(); alertFeed(); });
  document.addEventListener("htmx:afterSwap", function (e) { charts(e.target); });
})();
