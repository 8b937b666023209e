// "Copy" buttons: <button data-copy="ID" hidden> copies the value of the field #ID. They stay
// hidden without JavaScript, where the read-only field is there to select by hand.
(function () {
  "use strict";
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var label = button.textContent;
    button.hidden = false;
    button.addEventListener("click", function () {
      source.focus();
      source.select();
      // execCommand works inside the click on any origin; the Clipboard API needs a secure
      // context and may wait on a permission, so it is only the fallback.
      var copied = false;
      try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
      if (!copied && navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(source.value).catch(function () {});
      }
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 2000);
    });
  });
})();
