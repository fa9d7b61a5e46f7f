// tidegate: the log of a run at work, followed live. The page already holds the log so far;
// this appends each new line the server sends (server-sent events), then shows the final status.
(function () {
  "use strict";
  var log = document.getElementById("log");
  if (!log || !log.dataset.events || !window.EventSource) {
    return;
  }
  var source = new EventSource(log.dataset.events);
  source.onmessage = function (event) {
    var line = document.createElement("span");
    line.className = "line";
    line.textContent = event.data;
    log.appendChild(line);
    log.appendChild(document.createTextNode("\n"));
  };
  source.addEventListener("end", function (event) {
    source.close();
    var badge = document.querySelector("#status .badge");
    if (badge) {
      badge.className = "badge " + event.data;
      badge.textContent = event.data;
    }
    log.removeAttribute("data-events");
  });
})();
