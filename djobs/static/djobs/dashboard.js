/* djobs dashboard: draws the per-minute chart and refreshes the panels in place. No dependencies. */
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";

  function el(name, attrs) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function drawChart() {
    var holder = document.getElementById("djobs-chart");
    var source = document.getElementById("djobs-throughput-data");
    if (!holder || !source) return;
    var data = JSON.parse(source.textContent);
    var width = 720, height = 160, pad = 24;
    var max = 1;
    data.forEach(function (d) { max = Math.max(max, d.completed + d.failed); });
    var svg = el("svg", { viewBox: "0 0 " + width + " " + (height + pad), class: "djobs-chart-svg" });
    var slot = (width - pad) / Math.max(data.length, 1);
    data.forEach(function (d, i) {
      var x = pad + i * slot + 1;
      var hc = (d.completed / max) * height, hf = (d.failed / max) * height;
      var title = d.minute.slice(11, 16) + " UTC: " + d.completed + " completed, " + d.failed + " failed";
      [["completed", hc, height - hc], ["failed", hf, height - hc - hf]].forEach(function (bar) {
        if (bar[1] <= 0) return;
        var r = el("rect", { x: x, y: bar[2], width: Math.max(slot - 2, 1), height: bar[1], class: "djobs-bar-" + bar[0] });
        var t = el("title", {}); t.textContent = title; r.appendChild(t);
        svg.appendChild(r);
      });
    });
    svg.appendChild(el("line", { x1: pad, y1: height, x2: width, y2: height, class: "djobs-axis" }));
    var top = el("text", { x: 0, y: 10, class: "djobs-axis-label" }); top.textContent = String(max);
    var zero = el("text", { x: 0, y: height, class: "djobs-axis-label" }); zero.textContent = "0";
    svg.appendChild(top); svg.appendChild(zero);
    [0, data.length - 1].forEach(function (i) {
      if (!data[i]) return;
      var anchor = i === 0 ? "start" : "end";
      var label = el("text", { x: pad + (i === 0 ? 0 : (i + 1) * slot), y: height + 16, "text-anchor": anchor, class: "djobs-axis-label" });
      label.textContent = data[i].minute.slice(11, 16);
      svg.appendChild(label);
    });
    holder.replaceChildren(svg);
    holder.setAttribute("data-drawn", String(data.length));
  }

  function refresh(root) {
    fetch(root.getAttribute("data-partial-url"), { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        // A redirect means the session ended (the login page): keep the figures shown.
        if (!response.ok || response.redirected) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        root.innerHTML = html;
        root.setAttribute("data-refreshed", String(Date.now()));
        drawChart();
      })
      .catch(function () { /* keep the last figures; try again at the next tick */ });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawChart();
    var root = document.getElementById("djobs-live");
    if (!root) return;
    var seconds = parseInt(root.getAttribute("data-refresh"), 10) || 10;
    window.setInterval(function () {
      if (!document.hidden) refresh(root);
    }, seconds * 1000);
  });
})();
