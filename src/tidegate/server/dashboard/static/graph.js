// The lineage graph's interaction; the SVG is complete without it. Hovering a model lights it,
// its neighbours and the edges between them; clicking a column lights every column it reads
// and every column that reads it, as far as the drawn edges go (click again to clear).
(function () {
  "use strict";
  var svg = document.getElementById("lineage");
  if (!svg) return;
  var edges = Array.prototype.slice.call(svg.querySelectorAll("path.edge"));

  function clear() {
    svg.classList.remove("dim");
    svg.querySelectorAll(".lit").forEach(function (el) { el.classList.remove("lit"); });
  }

  function light(selector) {
    var el = svg.querySelector(selector);
    if (el) el.classList.add("lit");
  }

  svg.querySelectorAll("g.node").forEach(function (node) {
    var name = node.getAttribute("data-node");
    node.addEventListener("mouseenter", function () {
      if (svg.querySelector("g.column.lit")) return;  // a column's lineage stays until cleared
      svg.classList.add("dim");
      node.classList.add("lit");
      edges.forEach(function (edge) {
        if (edge.classList.contains("column")) return;
        var from = edge.getAttribute("data-from"), to = edge.getAttribute("data-to");
        if (from !== name && to !== name) return;
        edge.classList.add("lit");
        light('g.node[data-node="' + CSS.escape(from === name ? to : from) + '"]');
      });
    });
    node.addEventListener("mouseleave", function () {
      if (!svg.querySelector("g.column.lit")) clear();
    });
  });

  function follow(start, forward) {
    var seen = {}, queue = [start];
    seen[start] = true;
    while (queue.length) {
      var current = queue.shift();
      edges.forEach(function (edge) {
        if (!edge.classList.contains("column")) return;
        var here = edge.getAttribute(forward ? "data-from" : "data-to");
        var there = edge.getAttribute(forward ? "data-to" : "data-from");
        if (here !== current) return;
        edge.classList.add("lit");
        if (!seen[there]) { seen[there] = true; queue.push(there); }
      });
    }
    return Object.keys(seen);
  }

  svg.querySelectorAll("g.column").forEach(function (column) {
    column.addEventListener("click", function (event) {
      event.preventDefault();
      var id = column.getAttribute("data-column");
      var was = column.classList.contains("lit");
      clear();
      if (was) return;
      svg.classList.add("dim");
      follow(id, true).concat(follow(id, false)).forEach(function (key) {
        var row = svg.querySelector('g.column[data-column="' + CSS.escape(key) + '"]');
        if (!row) return;
        row.classList.add("lit");
        row.closest("g.node").classList.add("lit");
      });
    });
  });
})();
