// Errors pages: the list's filters apply on change, and the issue page's
// collapsed system frames open and close together.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var filters = document.querySelector("form.issue-filters");
    if (filters) {
      filters.addEventListener("change", function (e) {
        if (e.target.tagName === "SELECT") filters.submit();
      });
    }
    // The button lives in #main, which live refresh replaces: listen on
    // the document so that it keeps working.
    document.addEventListener("click", function (e) {
      var b = e.target.closest && e.target.closest("button.expand-frames");
      if (!b) return;
      var open = b.dataset.open !== "1";
      document.querySelectorAll(".issue-page li.sysrun details").forEach(function (d) { d.open = open; });
      b.dataset.open = open ? "1" : "";
      b.textContent = open ? "collapse system frames" : "show all frames";
    });
    showExpand();
    new MutationObserver(showExpand).observe(document.getElementById("main") || document.body, { childList: true });
  });

  function showExpand() {
    var b = document.querySelector("button.expand-frames");
    if (b && document.querySelector(".issue-page li.sysrun")) b.hidden = false;
  }
})();
