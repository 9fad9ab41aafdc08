// The public pages' one script (the Content-Security-Policy allows no inline script and no eval). Without
// JavaScript every field shows, with a line saying which kinds need it, and every form still posts.
(function () {
  "use strict";

  // The proof of work runs in the vendored PBKDF2 worker (vendor/altcha/workers), never a blob: or another origin.
  if (window.$altcha && window.$altcha.algorithms) {
    window.$altcha.algorithms.set("PBKDF2/SHA-256", function () {
      return new Worker("/static/vendor/altcha/workers/pbkdf2.js");
    });
  }

  // Show the fields the chosen kind asks for: a complaint needs a civil ID and a contact, a report may be
  // anonymous, a suggestion needs no identity.
  function showFieldsOf(kind) {
    document.querySelectorAll("[data-hidden-for]").forEach(function (element) {
      element.classList.toggle("kind-hides", element.getAttribute("data-hidden-for") === kind);
    });
    document.querySelectorAll("[data-shown-for]").forEach(function (element) {
      element.classList.toggle("d-none", element.getAttribute("data-shown-for") !== kind);
    });
    var civilId = document.getElementById("civil_id");
    if (civilId) { civilId.required = kind === "complaint"; }
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("input[name='kind']")) { showFieldsOf(event.target.value); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var chosen = document.querySelector("input[name='kind']:checked");
    if (chosen) { showFieldsOf(chosen.value); }
    var problems = document.getElementById("problems");
    if (problems) { problems.focus(); }
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { window.print(); });
    });
  });
})();
