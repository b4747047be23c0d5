// Logs explorer: the Live button tails new matching records over
// server-sent events and prepends them to the results. Rows arrive rendered
// by the page's own template on the server (html/template escapes them), so
// the script adds no markup of its own around data.
(function () {
  "use strict";
  var maxRows = 1000; // rows kept while live, oldest dropped first

  document.addEventListener("DOMContentLoaded", function () {
    var btn = document.querySelector("button.live");
    if (!btn || !window.EventSource) return;
    btn.hidden = false;
    var status = document.querySelector(".live-status");
    var es = null, count = 0;

    function say(msg) { if (status) status.textContent = msg; }

    function stop(msg) {
      if (es) es.close();
      es = null;
      btn.setAttribute("aria-pressed", "false");
      btn.textContent = "Live";
      say(msg || "");
    }

    // since is the newest record shown, so that the tail sends only what
    // the page does not have.
    function since() {
      var row = document.querySelector("table.logs tr.log");
      return (row && row.dataset.time) || btn.dataset.since || "";
    }

    btn.addEventListener("click", function () {
      if (es) { stop("Live tail stopped."); return; }
      var table = document.querySelector("table.logs");
      var body = table && table.tBodies[0];
      if (!body) return;
      count = 0;
      var url = btn.dataset.tail;
      es = new EventSource(url + (url.indexOf("?") < 0 ? "?" : "&") + "since=" + encodeURIComponent(since()));
      btn.setAttribute("aria-pressed", "true");
      btn.textContent = "Stop";
      say("Live: waiting for new records…");
      es.addEventListener("log", function (e) {
        var tpl = document.createElement("template");
        tpl.innerHTML = e.data; // a row rendered and escaped by the server
        var row = tpl.content.querySelector("tr.log");
        if (!row) return;
        row.classList.add("fresh");
        // Records can arrive a little out of order (services export in
        // batches): put each under the newer ones. Stamps sort as text.
        var t = row.dataset.time || "", i = 0;
        while (i < body.rows.length && i < 500 && (body.rows[i].dataset.time || "") > t) i++;
        body.insertBefore(row, body.rows[i] || null);
        table.classList.remove("none");
        while (body.rows.length > maxRows) body.deleteRow(-1);
        count++;
        say("Live: " + count + " new");
      });
      es.addEventListener("gap", function (e) { say(e.data); });
      es.addEventListener("end", function (e) { stop(e.data); });
      es.addEventListener("error", function () {
        // EventSource reconnects by itself after a dropped connection; it
        // gives up (CLOSED) when the server refuses, e.g. too many tails.
        if (es && es.readyState === EventSource.CLOSED) stop("The live tail is not available now (too many open?). Try again later.");
      });
    });
  });
})();
