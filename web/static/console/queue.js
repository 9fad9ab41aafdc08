// A queue does not refresh itself under a person's selection: the bulk triage's ticked rows stay ticked.
(function () {
  "use strict";
  document.addEventListener("htmx:beforeRequest", function (event) {
    var element = event.detail.elt;
    if (element && element.id === "queue-rows" && element.querySelector("input[name='reference']:checked")) {
      event.preventDefault();
    }
  });
})();
