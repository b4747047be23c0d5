// Telltale's dashboard works without this script; with it, pages refresh in
// place, the range form applies on change, and the theme can be switched.
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.add("js");
  var saved = localStorage.getItem("telltale-theme");
  if (saved) root.dataset.theme = saved;

  document.addEventListener("DOMContentLoaded", function () {
    var theme = document.querySelector("button.theme");
    if (theme) {
      theme.hidden = false;
      theme.addEventListener("click", function () {
        var dark = root.dataset.theme ? root.dataset.theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
        root.dataset.theme = dark ? "light" : "dark";
        localStorage.setItem("telltale-theme", root.dataset.theme);
      });
    }
    var range = document.querySelector("form.range");
    if (range) range.addEventListener("change", function () { range.submit(); });

    // "/" focuses the search box, as in most dashboards.
    document.addEventListener("keydown", function (e) {
      var t = e.target.tagName;
      if (e.key === "/" && t !== "INPUT" && t !== "TEXTAREA" && t !== "SELECT") {
        e.preventDefault();
        var q = document.querySelector(".search input");
        if (q) q.focus();
      }
    });

    var every = { "5s": 5000, "30s": 30000 }[document.body.dataset.refresh];
    if (every) setInterval(refresh, every);
  });

  // refresh fetches the page again and swaps its main part, keeping the
  // scroll position and anything the user is typing in.
  function refresh() {
    if (document.hidden) return;
    fetch(location.href, { headers: { "Accept": "text/html" } }).then(function (r) {
      if (!r.ok) return null;
      return r.text();
    }).then(function (html) {
      if (!html) return;
      var doc = new DOMParser().parseFromString(html, "text/html");
      var next = doc.getElementById("main"), cur = document.getElementById("main");
      if (!next || !cur || cur.contains(document.activeElement)) return;
      // Keep open what the user opened: details by position.
      var open = [];
      cur.querySelectorAll("details").forEach(function (d, i) { if (d.open) open.push(i); });
      cur.innerHTML = next.innerHTML;
      var all = cur.querySelectorAll("details");
      open.forEach(function (i) { if (all[i]) all[i].open = true; });
    }).catch(function () {});
  }
})();
