// The console's one script (the Content-Security-Policy allows no inline script and no eval).
// htmx does the rest; without JavaScript every form still posts and every page renders.
(function () {
  "use strict";
  // A queue refreshes itself (hx-trigger="every 30s") only while its tab is visible.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var element = event.detail.elt;
    if (element && element.hasAttribute("data-refresh-when-visible") && document.visibilityState !== "visible") {
      event.preventDefault();
    }
  });
  // A checkbox that selects every row of a table (bulk triage).
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[data-select-all]")) { return; }
    var form = box.closest("form");
    form.querySelectorAll("input[name='" + box.getAttribute("data-select-all") + "']").forEach(function (each) {
      each.checked = box.checked;
    });
  });
})();
