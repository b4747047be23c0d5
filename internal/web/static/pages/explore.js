// Metrics explorer: the metric list filters as you type, menus and group-by
// boxes run the query when changed, Ctrl+Enter runs PromQL, and a legend
// row highlights its line. Listeners sit on the document because live
// refresh replaces the page's main part.
(function () {
  "use strict";
  function explore() { return document.querySelector("section.explore"); }

  function submit(form) {
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  }

  document.addEventListener("input", function (e) {
    var t = e.target;
    if (!t.matches || !t.matches(".metric-find input[name=find]")) return;
    var q = t.value.trim().toLowerCase();
    document.querySelectorAll(".metrics li.metric").forEach(function (li) {
      li.hidden = q !== "" && li.textContent.toLowerCase().indexOf(q) < 0;
    });
  });

  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t.matches && t.matches(".explore-query select, .explore-query input[type=checkbox], .promql select")) submit(t.form);
  });

  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (!t.matches) return;
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && t.matches(".promql textarea")) {
      e.preventDefault();
      submit(t.form);
      return;
    }
    // Arrow keys move between the search box and the visible metrics.
    if ((e.key === "ArrowDown" || e.key === "ArrowUp") && t.matches(".metric-find input, .metrics a")) {
      var links = Array.prototype.filter.call(document.querySelectorAll(".metrics li.metric a"), function (a) {
        return !a.parentNode.hidden;
      });
      var i = links.indexOf(t) + (e.key === "ArrowDown" ? 1 : -1);
      if (t.matches(".metric-find input")) i = e.key === "ArrowDown" ? 0 : -1;
      e.preventDefault();
      if (i >= 0 && i < links.length) links[i].focus();
      else if (i < 0) document.querySelector(".metric-find input").focus();
    }
  });

  // highlight dims every line but the legend row's.
  function highlight(row, on) {
    var svg = document.querySelector(".explore-chart svg.chart");
    if (!svg) return;
    var lines = svg.querySelectorAll("path.line");
    var line = lines[Number(row.dataset.series)];
    svg.classList.toggle("dim", on);
    row.classList.toggle("hl", on);
    if (line) line.classList.toggle("hl", on);
  }
  ["mouseover", "focusin"].forEach(function (ev) {
    document.addEventListener(ev, function (e) {
      var row = e.target.closest && e.target.closest(".legend tr.series");
      if (row) highlight(row, true);
    });
  });
  ["mouseout", "focusout"].forEach(function (ev) {
    document.addEventListener(ev, function (e) {
      var row = e.target.closest && e.target.closest(".legend tr.series");
      if (row && !(e.relatedTarget && row.contains(e.relatedTarget))) highlight(row, false);
    });
  });

  // Over the chart, a line follows the pointer, snapped to the nearest
  // point, and the legend shows every series' value there.
  var parsed = new WeakMap();
  function points(row) {
    if (!parsed.has(row)) {
      var pts = [];
      try { pts = JSON.parse(row.dataset.points || "[]"); } catch (err) { pts = []; }
      parsed.set(row, pts);
    }
    return parsed.get(row);
  }
  function hideCursor(fig) {
    var line = fig.querySelector("line.cursor-line");
    if (line) line.remove();
    document.querySelectorAll(".legend .cur").forEach(function (c) { c.hidden = true; });
  }
  function showCursor(fig, svg, clientX) {
    var d = fig.dataset, rect = svg.getBoundingClientRect();
    var x = (clientX - rect.left) * Number(d.width) / rect.width;
    var left = Number(d.left), right = Number(d.right), from = Number(d.from), to = Number(d.to);
    if (!rect.width || x < left || x > right) { hideCursor(fig); return; }
    var t = from + (x - left) / (right - left) * (to - from);
    var rows = document.querySelectorAll(".legend tr.series"), best = null;
    rows.forEach(function (row) {
      points(row).forEach(function (p) {
        if (best === null || Math.abs(p[0] - t) < Math.abs(best - t)) best = p[0];
      });
    });
    if (best === null) { hideCursor(fig); return; }
    var bx = left + (best - from) / (to - from) * (right - left);
    var line = svg.querySelector("line.cursor-line");
    if (!line) {
      line = document.createElementNS("http://www.w3.org/2000/svg", "line");
      line.setAttribute("class", "cursor-line");
      line.setAttribute("y1", d.top);
      line.setAttribute("y2", d.bottom);
      svg.appendChild(line);
    }
    line.setAttribute("x1", bx);
    line.setAttribute("x2", bx);
    var head = document.querySelector(".legend th.cur");
    if (head) { head.textContent = new Date(best).toISOString().slice(11, 19); head.hidden = false; }
    rows.forEach(function (row) {
      var cell = row.querySelector("td.cur");
      if (!cell) return;
      var v = "–";
      points(row).forEach(function (p) { if (p[0] === best) v = p[1]; });
      cell.textContent = v;
      cell.hidden = false;
    });
  }
  document.addEventListener("mousemove", function (e) {
    var svg = e.target.closest && e.target.closest(".explore-chart svg.chart");
    if (svg) showCursor(svg.closest(".explore-chart"), svg, e.clientX);
  });
  document.addEventListener("mouseout", function (e) {
    var svg = e.target.closest && e.target.closest(".explore-chart svg.chart");
    if (svg && !(e.relatedTarget && svg.contains(e.relatedTarget))) hideCursor(svg.closest(".explore-chart"));
  });
})();
