// Streams an assessment's progress into its page (server-sent events). The page works
// without it: reloading shows the log so far.
(function () {
  var status = document.getElementById("status");
  if (!status || !window.EventSource) return;
  var log = document.getElementById("log");
  var report = document.getElementById("report");
  var shown = log.textContent.split("\n").filter(function (l) { return l.length > 0; }).length;
  var seen = 0;
  var events = new EventSource(status.getAttribute("data-events"));
  events.addEventListener("line", function (e) {
    seen += 1;
    if (seen <= shown) return;
    log.appendChild(document.createTextNode(e.data + "\n"));
  });
  events.addEventListener("done", function (e) {
    status.textContent = e.data;
    report.hidden = false;
    events.close();
  });
})();
