// The service map: pointing at a service (or focusing its link) brings out
// its calls and the services at their other ends, on the map and in the
// table of calls.
(function () {
  "use strict";
  function mark(node) {
    var svg = node.closest("svg.map");
    var name = node.dataset.service;
    svg.classList.add("focus");
    node.classList.add("hot");
    svg.querySelectorAll(".edge").forEach(function (e) {
      var peer = e.dataset.caller === name ? e.dataset.callee : e.dataset.callee === name ? e.dataset.caller : null;
      if (peer === null) return;
      e.classList.add("hot");
      svg.querySelectorAll(".node").forEach(function (n) { if (n.dataset.service === peer) n.classList.add("hot"); });
    });
    document.querySelectorAll(".svcmap tr.edge-row").forEach(function (r) {
      if (r.dataset.caller === name || r.dataset.callee === name) r.classList.add("hot");
    });
  }
  function clear() {
    document.querySelectorAll("svg.map.focus").forEach(function (svg) { svg.classList.remove("focus"); });
    document.querySelectorAll("svg.map .hot, .svcmap tr.hot").forEach(function (el) { el.classList.remove("hot"); });
  }
  function on(type, fn) {
    document.addEventListener(type, function (e) {
      var node = e.target.closest && e.target.closest("svg.map .node");
      if (node) fn(node);
    });
  }
  on("mouseover", function (n) { clear(); mark(n); });
  on("focusin", function (n) { clear(); mark(n); });
  on("mouseout", clear);
  on("focusout", clear);
})();
