/* The case page's keyboard shortcuts and the label picker's search as one types.
   Without this script the page works the same with the mouse: every decision is a submit
   button, and the picker's form reloads the page with its hits. */
(function () {
  "use strict";
  var picker = document.getElementById("picker");
  var hits = document.getElementById("picker-hits");

  // A key names a button by its data-key ("c" confirm, "1"-"5" the short list, "r" release);
  // "/" goes to the picker. Keys typed into a field are the field's.
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    var target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) {
      if (event.key === "Escape") target.blur();
      return;
    }
    if (event.key === "/" && picker) {
      event.preventDefault();
      picker.focus();
      return;
    }
    var button = document.querySelector('[data-key="' + CSS.escape(event.key) + '"]');
    if (button) {
      event.preventDefault();
      button.click();
    }
  });

  if (!picker || !hits) return;
  var timer = null;
  var asked = null;
  function look() {
    var query = picker.value.trim();
    if (query === asked) return;
    asked = query;
    fetch(picker.dataset.search + "?q=" + encodeURIComponent(query), {credentials: "same-origin"})
      .then(function (response) {
        // an ended session answers with the sign-in page: nothing to list (a pick signs in again)
        return response.ok && !response.redirected ? response.text() : "";
      })
      .then(function (html) { if (asked === query) hits.innerHTML = html; });
  }
  picker.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(look, 150);
  });
  picker.form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearTimeout(timer);
    look();
  });
})();
