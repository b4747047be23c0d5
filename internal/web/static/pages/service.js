// The service page: a chart's legend keys show and hide its lines.
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var key = e.target.closest && e.target.closest(".svc .legend .key");
    if (!key) return;
    var box = key.closest(".chart-box");
    var on = key.getAttribute("aria-pressed") !== "true";
    key.setAttribute("aria-pressed", on ? "true" : "false");
    box.querySelectorAll("path.line." + CSS.escape(key.dataset.series)).forEach(function (p) {
      p.classList.toggle("off", !on);
    });
  });
})();
