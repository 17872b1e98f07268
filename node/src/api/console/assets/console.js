// certnet console: the one script. It makes the feed live (Server-Sent Events of rows the node
// renders and escapes) and marks how long ago each live row arrived. Everything else is plain HTML.
"use strict";
(function () {
  const live = document.getElementById("live");
  const rows = document.getElementById("feed-rows");
  if (!live || !rows || !window.EventSource) return;
  const source = new EventSource(live.dataset.stream);
  source.addEventListener("open", function () {
    live.textContent = "live";
    live.className = "on";
  });
  source.addEventListener("error", function () {
    live.textContent = "reconnecting…";
    live.className = "off";
  });
  source.addEventListener("row", function (event) {
    // The row is HTML the node rendered with every value escaped (maud).
    const template = document.createElement("template");
    template.innerHTML = event.data;
    const row = template.content.firstElementChild;
    if (!row || document.querySelector('tr[data-id="' + row.dataset.id + '"]')) return;
    row.classList.add("new");
    rows.prepend(row);
    const empty = document.getElementById("feed-empty");
    if (empty) empty.remove();
    setTimeout(function () { row.classList.remove("new"); }, 4000);
  });
})();
