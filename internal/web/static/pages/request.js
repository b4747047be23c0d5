// Request view. Without script a span is selected by its ?span= link; with
// it, a click on a span's row (or any link to a span) marks the span and its
// log lines and swaps in its details, fetched from that same link, without a
// reload. A log line's span link also scrolls to the span and flashes it;
// pointing at a log line highlights its span. Up and down arrows move
// between spans. Handlers are on the document, so that the live refresh,
// which replaces #main, keeps them.
(function () {
  "use strict";
  var loading = 0; // the latest load; older answers are dropped

  function inView(el) { return el && el.closest && el.closest(".request-view"); }

  document.addEventListener("click", function (e) {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    if (!inView(e.target)) return;
    var a = e.target.closest("a");
    var row = e.target.closest("tr.span");
    if (a && a.classList.contains("close") && a.closest("#span-details")) {
      e.preventDefault();
      select("", a.href, false);
      return;
    }
    if (a && !a.dataset.span) return; // other links navigate
    if (!a && row) a = row.querySelector("a.span-link");
    if (!a || !a.dataset.span) return;
    e.preventDefault();
    select(a.dataset.span, a.href, !row);
  });

  document.addEventListener("keydown", function (e) {
    if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
    var row = e.target.closest && e.target.closest(".request-view tr.span");
    if (!row) return;
    var next = e.key === "ArrowDown" ? row.nextElementSibling : row.previousElementSibling;
    var a = next && next.querySelector("a.span-link");
    if (!a) return;
    e.preventDefault();
    a.focus();
    select(a.dataset.span, a.href, false);
  });

  function hover(e, on) {
    var log = e.target.closest && e.target.closest(".request-view tr.log[data-span]");
    if (!log) return;
    var row = document.getElementById("span-" + log.dataset.span);
    if (row) row.classList.toggle("hl", on);
  }
  document.addEventListener("mouseover", function (e) { hover(e, true); });
  document.addEventListener("mouseout", function (e) { hover(e, false); });

  // select marks span id ("" for none) and its log lines, shows its
  // details and puts its link in the address bar.
  function select(id, href, scroll) {
    var marked = document.querySelectorAll(".request-view tr.span, .request-view tr.log");
    for (var i = 0; i < marked.length; i++) {
      var r = marked[i];
      r.classList.toggle("sel", id !== "" && r.dataset.span === id);
      var l = r.classList.contains("span") && r.querySelector("a.span-link");
      if (l) {
        if (r.dataset.span === id) l.setAttribute("aria-current", "true");
        else l.removeAttribute("aria-current");
      }
    }
    var row = id && document.getElementById("span-" + id);
    if (row && scroll) {
      row.scrollIntoView({ block: "center" });
      row.classList.remove("flash");
      void row.offsetWidth; // restart the animation
      row.classList.add("flash");
    }
    history.replaceState(null, "", href);
    load(href);
  }

  function load(href) {
    var n = ++loading;
    var panel = document.getElementById("span-details");
    if (panel) panel.setAttribute("aria-busy", "true");
    fetch(href, { headers: { "Accept": "text/html" } }).then(function (r) {
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (!html || n !== loading) return;
      var next = new DOMParser().parseFromString(html, "text/html").getElementById("span-details");
      var cur = document.getElementById("span-details");
      if (next && cur) {
        cur.innerHTML = next.innerHTML;
        cur.removeAttribute("aria-busy");
      }
    }).catch(function () {
      // The link still works: a plain navigation shows the same details.
      if (n === loading) location.href = href;
    });
  }
})();
