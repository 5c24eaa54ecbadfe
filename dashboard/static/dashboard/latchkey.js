// Small conveniences for the dashboard's pages; every page works the same without them.
// Loaded from a file, never inline, so that the Content-Security-Policy can forbid inline
// script altogether. Each part starts only on a page that has its elements.
(function () {
  "use strict";

  // A scope picker's presets (the create form's, a key's edit form's) tick boxes at once;
  // without JavaScript they send the form back with the boxes ticked.
  function presets(form) {
    form.querySelectorAll("button[name=preset]").forEach(function (button) {
      button.addEventListener("click", function (event) {
        event.preventDefault();
        var wanted = button.dataset.scopes.split(" ");
        form.querySelectorAll("input[name=scopes]").forEach(function (box) {
          box.checked = wanted.indexOf(box.value) !== -1;
        });
      });
    });
  }

  // Create an API key: the presets, "No expiration" shows its warning, the date box shows
  // only with "Custom date" (without JavaScript both are always shown), and the create button
  // is disabled once pressed (the server refuses a resent form too).
  function keyForm(form) {
    presets(form);
    var warning = document.getElementById("never-warning");
    var customDate = document.getElementById("custom-date");
    function sync() {
      var chosen = form.querySelector("input[name=expiry]:checked");
      var expiry = chosen ? chosen.value : "";
      if (warning) warning.hidden = expiry !== "never";
      if (customDate) customDate.hidden = expiry !== "custom";
    }
    form.querySelectorAll("input[name=expiry]").forEach(function (radio) {
      radio.addEventListener("change", sync);
    });
    sync();
    form.addEventListener("submit", function (event) {
      if (event.submitter && event.submitter.name === "preset") return;
      var create = document.getElementById("create-key");
      if (create) create.disabled = true;
    });
  }

  // The new key, shown once: a copy button, and never shown again from the back-forward cache.
  function newKey(card) {
    var button = document.getElementById("copy-key");
    var field = document.getElementById("api-key");
    var status = document.getElementById("copy-status");
    if (button && field) {
      button.hidden = false;
      button.addEventListener("click", function () {
        field.select();
        var done = function () {
          status.textContent = "Copied to the clipboard.";
          button.textContent = "Copied";
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(field.value).then(done, function () {
            document.execCommand("copy");
            done();
          });
        } else {
          document.execCommand("copy");
          done();
        }
      });
    }
    // A page restored from the back-forward cache would show the key again: remove it and
    // leave for the key list.
    window.addEventListener("pageshow", function (event) {
      if (event.persisted) {
        card.remove();
        window.location.replace(card.dataset.leaveTo);
      }
    });
  }

  var form = document.getElementById("key-form");
  if (form) keyForm(form);
  var editForm = document.getElementById("key-edit-form");
  if (editForm) presets(editForm);
  var card = document.getElementById("new-key");
  if (card) newKey(card);
})();
