// The site editor (templates/sites/edit.html): sends the draft settings to the live preview
// (the real widget.js in a sandboxed frame, in preview mode) as the owner types, copies the
// snippet, and small helpers for the hours grid. The page works without it, minus the preview.
(function () {
  "use strict";

  function byId(id) {
    return document.getElementById(id);
  }

  // -- live preview ------------------------------------------------------------------------
  var form = byId("site-form");
  var frame = byId("widget-preview");
  var avatarDraft = null;
  if (form && frame) {
    var base = {};
    try {
      base = JSON.parse(frame.getAttribute("data-config")) || {};
    } catch (e) {
      base = {};
    }
    var value = function (name) {
      var field = form.elements.namedItem(name);
      return field && typeof field.value === "string" ? field.value : "";
    };
    var draft = function () {
      var config = Object.assign({}, base, {
        title: value("title").trim() || "Chat with us",
        greeting: value("greeting").trim(),
        accent_color: value("accent_color").toLowerCase(),
        position: value("position") === "left" ? "left" : "right",
        theme: value("theme") || "auto",
        launcher_text: value("launcher_text").trim(),
        reply_time: value("reply_time").trim(),
        privacy: Object.assign({}, base.privacy || {}, { notice: value("privacy_notice").trim() }),
      });
      if (avatarDraft) config.avatar_url = avatarDraft;
      return config;
    };
    var send = function () {
      if (frame.contentWindow) frame.contentWindow.postMessage({ asthronPreview: draft() }, "*");
    };
    form.addEventListener("input", send);
    form.addEventListener("change", send);
    frame.addEventListener("load", send);

    // A chosen avatar shows in the preview before it is uploaded.
    var file = byId("avatar-file");
    if (file) {
      file.addEventListener("change", function () {
        var chosen = file.files && file.files[0];
        if (!chosen || !/^image\/(png|jpeg|gif|webp)$/.test(chosen.type) || chosen.size > 262144) return;
        var reader = new FileReader();
        reader.onload = function () {
          avatarDraft = String(reader.result);
          send();
        };
        reader.readAsDataURL(chosen);
      });
    }
  }

  // -- the snippet's copy button -------------------------------------------------------------
  document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
    var source = byId(button.getAttribute("data-copy"));
    var status = button.parentNode.querySelector(".copy-status");
    if (!source) return;
    button.hidden = false;
    var say = function (text) {
      if (status) status.textContent = text;
    };
    button.addEventListener("click", function () {
      var text = source.textContent;
      var fallback = function () {
        var range = document.createRange();
        range.selectNodeContents(source);
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        var copied = false;
        try {
          copied = document.execCommand("copy");
        } catch (e) {
          copied = false;
        }
        say(copied ? "Copied." : "Press Ctrl+C (⌘C) to copy the selected snippet.");
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () {
          say("Copied.");
        }, fallback);
      } else fallback();
    });
  });

  // -- hours grid helpers --------------------------------------------------------------------
  // Empty break ranges stay out of sight until "Add a break" (without this script they all show).
  var showRanges = function (row) {
    row.querySelectorAll(".range").forEach(function (range, i) {
      var filled = [].some.call(range.querySelectorAll("input"), function (input) {
        return input.value;
      });
      if (i === 0 || filled) range.hidden = false;
    });
    var more = row.querySelector("button.add-break");
    if (more) more.hidden = !row.querySelector(".range[hidden]");
  };
  if (form) {
    form.querySelectorAll(".hours-grid tr[data-day]").forEach(function (row) {
      var day = row.querySelector("th").textContent;
      row.querySelectorAll(".range").forEach(function (range, i) {
        if (i > 0 && !range.querySelector("input").value) range.hidden = true;
      });
      var more = document.createElement("button");
      more.type = "button";
      more.className = "link add-break";
      more.textContent = "Add a break";
      more.setAttribute("aria-label", "Add a break on " + day);
      more.addEventListener("click", function () {
        var next = row.querySelector(".range[hidden]");
        if (next) {
          next.hidden = false;
          next.querySelector("input").focus();
        }
        showRanges(row);
      });
      row.querySelector(".ranges").appendChild(more);
      showRanges(row);
    });
  }
  var copyMonday = byId("copy-monday");
  if (copyMonday && form) {
    copyMonday.hidden = false;
    copyMonday.addEventListener("click", function () {
      var monday = form.querySelector('tr[data-day="mon"]');
      var fields = monday.querySelectorAll("input");
      ["tue", "wed", "thu", "fri"].forEach(function (day) {
        var row = form.querySelector('tr[data-day="' + day + '"]');
        row.querySelectorAll("input").forEach(function (input, i) {
          if (!fields[i]) return;
          if (input.type === "checkbox") input.checked = fields[i].checked;
          else input.value = fields[i].value;
        });
        showRanges(row);
      });
    });
  }
  var addHoliday = byId("holiday-add");
  if (addHoliday && form) {
    addHoliday.parentNode.hidden = false;
    addHoliday.addEventListener("click", function () {
      var date = byId("holiday-date").value;
      var list = form.elements.namedItem("holidays");
      if (!date || !list) return;
      var days = list.value.split(/[\s,]+/).filter(Boolean);
      if (days.indexOf(date) < 0) days.push(date);
      list.value = days.sort().join("\n");
    });
  }
})();
