/* The staff inbox's glue (hand-written, no build): presence heartbeats, new-chat alerts,
   relative times, and a conversation's live transcript. Everything from the server is
   inserted with textContent, never as HTML; htmx swaps only server-rendered partials. */
(function () {
  "use strict";

  var root = document.getElementById("inbox");
  if (!root) return;

  var HEARTBEAT_MS = 30000;
  var IDLE_AFTER_MS = 5 * 60 * 1000;
  var TYPING_EVERY_MS = 3000;
  var TYPING_STOP_MS = 5000;
  var TYPES = ["visitor_message", "assistant_message", "staff_message", "system", "note", "card"];
  var OWNERSHIP = ["joined", "returned", "closed", "reopened", "handoff_waiting", "collect_contact"];

  function post(url, fields) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "X-CSRF-Token": root.getAttribute("data-csrf"),
        Accept: "application/json",
      },
      body: new URLSearchParams(fields),
    });
  }

  function alertText(text) {
    var el = document.getElementById("inbox-alert");
    if (!el) return;
    el.textContent = text;
    el.hidden = !text;
  }

  // -- presence: heartbeats, away when idle ------------------------------------------------

  var lastInput = Date.now();
  var idleSent = false;

  function beat() {
    var idle = Date.now() - lastInput > IDLE_AFTER_MS;
    idleSent = idle;
    post(root.getAttribute("data-heartbeat"), { idle: idle ? "1" : "0" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        var box = document.getElementById("presence");
        if (!data || !box) return;
        box.setAttribute("data-status", data.status);
        var label = document.getElementById("presence-status");
        if (label) label.textContent = data.status === "online" ? "Online" : "Away";
      })
      .catch(function () {});
  }

  function onInput() {
    lastInput = Date.now();
    if (idleSent) beat(); // back from idle: online again at once
  }

  ["keydown", "mousedown", "mousemove", "touchstart", "scroll", "focus"].forEach(function (name) {
    window.addEventListener(name, onInput, { passive: true, capture: true });
  });
  beat();
  setInterval(beat, HEARTBEAT_MS);

  // -- times -------------------------------------------------------------------------------

  function waited(iso) {
    var seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (seconds < 60) return "just now";
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + " min";
    var hours = Math.floor(minutes / 60);
    if (hours < 48) return hours + " h " + String(minutes % 60).padStart(2, "0") + " min";
    return Math.floor(hours / 24) + " days";
  }

  function clock(date, zone) {
    try {
      return new Intl.DateTimeFormat(undefined, {
        hour: "2-digit", minute: "2-digit", timeZone: zone || undefined,
      }).format(date);
    } catch (e) {
      return null; // an unknown time zone: keep the server's text
    }
  }

  function tick() {
    document.querySelectorAll("[data-waiting-since]").forEach(function (el) {
      el.textContent = waited(el.getAttribute("data-waiting-since"));
    });
    document.querySelectorAll("time[data-tz]").forEach(function (el) {
      var text = clock(new Date(), el.getAttribute("data-tz"));
      if (text) el.textContent = text;
    });
  }

  function localTimes(scope) {
    scope.querySelectorAll("#transcript time[datetime], .inbox-table time[datetime]").forEach(
      function (el) {
        var text = clock(new Date(el.getAttribute("datetime")));
        if (text) el.textContent = text;
      },
    );
  }

  tick();
  localTimes(document);
  setInterval(tick, 15000);

  // -- new waiting chats: notification, sound, title ----------------------------------------

  var known = null;
  var baseTitle = document.title;
  var notifyButton = document.getElementById("notify-enable");

  function beep() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    try {
      var ctx = new Ctx();
      var osc = ctx.createOscillator();
      var gain = ctx.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, ctx.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 0.35);
      osc.connect(gain).connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + 0.35);
      osc.onended = function () { ctx.close(); };
    } catch (e) { /* no audio: the notification is enough */ }
  }

  function notify(item) {
    var label = (item.querySelector("a") || item).textContent.trim();
    if ("Notification" in window && Notification.permission === "granted") {
      try {
        var n = new Notification("A visitor is waiting", {
          body: label, tag: "asthron-waiting-" + item.getAttribute("data-waiting-id"),
        });
        var link = item.querySelector("a");
        n.onclick = function () { window.focus(); if (link) window.location.href = link.href; };
      } catch (e) { /* some browsers only allow notifications from a service worker */ }
    }
    var presence = document.getElementById("presence");
    if (!presence || presence.getAttribute("data-sound") === "1") beep();
  }

  function checkWaiting() {
    var items = document.querySelectorAll("#waiting [data-waiting-id]");
    var ids = new Set();
    items.forEach(function (item) {
      var id = item.getAttribute("data-waiting-id");
      ids.add(id);
      if (known && !known.has(id)) notify(item);
    });
    known = ids;
    document.title = (ids.size ? "(" + ids.size + ") " : "") + baseTitle;
  }

  function updateNotifyButton() {
    if (!notifyButton) return;
    notifyButton.hidden = !("Notification" in window) || Notification.permission !== "default";
  }

  if (notifyButton) {
    notifyButton.addEventListener("click", function () {
      Notification.requestPermission().then(updateNotifyButton);
    });
  }
  updateNotifyButton();
  checkWaiting();

  // -- htmx: swaps, errors, drafts kept across refreshes ------------------------------------

  var kept = {};

  document.body.addEventListener("htmx:beforeSwap", function (evt) {
    var xhr = evt.detail.xhr;
    if (xhr && xhr.status >= 400 && !xhr.getResponseHeader("X-Inbox-Partial")) {
      evt.detail.shouldSwap = false;
      alertText(
        xhr.status === 400 || xhr.status === 401
          ? "Your session or its security token is out of date: reload the page."
          : "That did not work (" + xhr.status + "). Reload the page and try again.",
      );
      return;
    }
    alertText("");
    if (evt.detail.target && evt.detail.target.id === "controls") {
      // A refresh (someone joined, returned, closed) must not eat what is being typed.
      kept = {};
      var refresh = evt.detail.requestConfig && evt.detail.requestConfig.verb === "get";
      ["reply-body", "note-body"].forEach(function (id) {
        var box = document.getElementById(id);
        if (box && box.value && refresh) kept[id] = box.value;
      });
      kept.hadReply = !!document.getElementById("reply-body");
    }
  });

  document.body.addEventListener("htmx:afterSwap", function (evt) {
    tick();
    localTimes(evt.detail.target || document);
    if (evt.detail.target && evt.detail.target.id === "waiting") checkWaiting();
  });

  document.body.addEventListener("htmx:afterSettle", function (evt) {
    var target = evt.detail.target;
    if (target && target.id === "waiting") checkWaiting();
    if (!document.getElementById("controls")) return;
    ["reply-body", "note-body"].forEach(function (id) {
      var box = document.getElementById(id);
      if (box && kept[id] && !box.value) box.value = kept[id];
    });
    var reply = document.getElementById("reply-body");
    if (reply && kept.hadReply === false) reply.focus(); // just joined: ready to type
    kept = {};
  });

  document.body.addEventListener("htmx:sseMessage", function (evt) {
    if (evt.target && evt.target.id === "waiting") checkWaiting();
    localTimes(document);
    tick();
  });

  document.body.addEventListener("htmx:sendError", function () {
    alertText("The server could not be reached. Check the connection and try again.");
  });

  // -- one conversation: the live transcript -------------------------------------------------

  var log = document.getElementById("transcript");
  if (!log) return;

  var lastId = Number(log.getAttribute("data-last-id")) || 0;
  var me = root.getAttribute("data-me");
  var visitorLabel = root.getAttribute("data-visitor");
  var drafts = new Map();
  var typingLine = document.getElementById("typing");
  var readTimer = null;

  function nearBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  }

  function scrollDown(force) {
    if (force || nearBottom()) log.scrollTop = log.scrollHeight;
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function authorLabel(ev) {
    switch (ev.type) {
      case "visitor_message": return ev.author_name || visitorLabel;
      case "assistant_message": return "Assistant";
      case "card": return "Assistant · form";
      case "system": return "System";
      case "note": return (ev.author_name || "Staff") + " · internal note";
      default: return ev.author_name || "Staff";
    }
  }

  function build(ev) {
    var type = TYPES.indexOf(ev.type) >= 0 ? ev.type : "system";
    var item = el("li", "ev ev-" + type + (ev.public === false ? " internal" : ""));
    item.setAttribute("data-id", String(ev.id));
    var meta = el("div", "ev-meta");
    meta.appendChild(el("span", "ev-author", authorLabel(ev)));
    meta.appendChild(document.createTextNode(" "));
    var time = el("time");
    time.setAttribute("datetime", ev.created_at);
    time.textContent = clock(new Date(ev.created_at)) || "";
    meta.appendChild(time);
    item.appendChild(meta);
    item.appendChild(el("div", "ev-body", ev.body));
    if (type === "assistant_message" && ev.id) addReplyTools(item, ev);
    var status = ev.data && ev.data.channel_status;
    if (typeof status === "string") item.appendChild(el("div", "ev-status", status));
    return item;
  }

  // The reply's sources (article titles, for staff) and the "Mark wrong" button, as
  // templates/inbox/_event.html renders them.
  function addReplyTools(item, ev) {
    var data = ev.data || {};
    var titles = (Array.isArray(data.sources) ? data.sources : [])
      .map(function (s) { return s && typeof s.title === "string" ? s.title : ""; })
      .filter(Boolean);
    if (titles.length) item.appendChild(el("div", "ev-sources small", "Sources: " + titles.join("; ")));
    if (data.marked_wrong) {
      item.appendChild(el("div", "ev-flag small", "Marked wrong"));
      return;
    }
    var pattern = log.getAttribute("data-mark-wrong");
    if (!pattern) return;
    var form = el("form", "ev-mark-wrong");
    form.method = "post";
    form.action = pattern.replace("/replies/0/", "/replies/" + ev.id + "/");
    var token = el("input");
    token.type = "hidden";
    token.name = "csrf_token";
    token.value = root.getAttribute("data-csrf");
    var button = el("button", "secondary small", "Mark wrong");
    button.type = "submit";
    form.appendChild(token);
    form.appendChild(button);
    item.appendChild(form);
  }

  function addEvent(ev) {
    if (!ev || typeof ev.id !== "number" || typeof ev.body !== "string") return;
    if (ev.id > lastId) lastId = ev.id;
    if (log.querySelector('[data-id="' + ev.id + '"]')) return;
    var follow = nearBottom();
    var item = build(ev);
    var replyId = ev.data && ev.data.reply_id;
    var draft = replyId && drafts.get(replyId);
    if (draft) {
      draft.replaceWith(item);
      drafts.delete(replyId);
    } else {
      // In id order; drafts (no id yet) stay last.
      var ref = null;
      for (var n = log.lastElementChild; n; n = n.previousElementSibling) {
        var nid = n.hasAttribute("data-id") ? Number(n.getAttribute("data-id")) : Infinity;
        if (nid > ev.id) ref = n;
        else break;
      }
      log.insertBefore(item, ref);
    }
    if (ev.type === "assistant_message") showTyping(null);
    scrollDown(follow);
    if (ev.type === "system" && ev.data && OWNERSHIP.indexOf(ev.data.action) >= 0) {
      window.htmx && window.htmx.trigger(document.body, "inbox:refresh");
    }
    if (ev.type === "visitor_message") markReadSoon();
  }

  function onDelta(d) {
    if (!d || typeof d.reply_id !== "string" || typeof d.text !== "string") return;
    var draft = drafts.get(d.reply_id);
    if (!draft) {
      draft = build({ id: 0, type: "assistant_message", body: "", created_at: new Date().toISOString() });
      draft.removeAttribute("data-id");
      draft.classList.add("draft");
      drafts.set(d.reply_id, draft);
      log.appendChild(draft);
      showTyping(null);
    }
    draft.querySelector(".ev-body").textContent += d.text;
    scrollDown(false);
  }

  function showTyping(text) {
    typingLine.textContent = text || "";
    typingLine.hidden = !text;
  }

  function onTyping(d) {
    if (!d) return;
    if (d.author === "staff" && d.name === me) return;
    if (d.active) {
      showTyping(d.author === "assistant" ? "The assistant is writing…"
        : d.author === "staff" ? (d.name || "Someone") + " is typing…" : "The visitor is typing…");
      return;
    }
    showTyping(null);
    if (d.author === "assistant") {
      // Cancelled (a person took over) or stored: a stored reply replaces its draft; what is
      // left after a moment was never stored.
      var left = Array.from(drafts.keys());
      setTimeout(function () {
        left.forEach(function (id) {
          var draft = drafts.get(id);
          if (draft) { draft.remove(); drafts.delete(id); }
        });
      }, 3000);
    }
  }

  function markReadSoon() {
    clearTimeout(readTimer);
    readTimer = setTimeout(function () {
      if (document.visibilityState !== "visible") return;
      post(log.getAttribute("data-read"), { last_event_id: String(lastId) }).catch(function () {});
    }, 800);
  }

  function parse(e) {
    try { return JSON.parse(e.data); } catch (err) { return null; }
  }

  var source = new EventSource(log.getAttribute("data-stream") + "?after=" + lastId);
  source.addEventListener("message", function (e) { addEvent(parse(e)); });
  source.addEventListener("delta", function (e) { onDelta(parse(e)); });
  source.addEventListener("typing", function (e) { onTyping(parse(e)); });
  window.addEventListener("pagehide", function () { source.close(); });

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") markReadSoon();
  });
  if (Number(log.getAttribute("data-unread")) > 0) markReadSoon();
  scrollDown(true);

  // Typing indicator for the visitor: throttled here, capped on the server.
  var typingSentAt = 0;
  var typingStop = null;

  function sendTyping(form, active) {
    post(form.getAttribute("data-typing"), { active: active ? "1" : "0" }).catch(function () {});
  }

  document.addEventListener("input", function (evt) {
    if (!evt.target || evt.target.id !== "reply-body") return;
    var form = evt.target.form;
    var now = Date.now();
    if (now - typingSentAt > TYPING_EVERY_MS) {
      typingSentAt = now;
      sendTyping(form, true);
    }
    clearTimeout(typingStop);
    typingStop = setTimeout(function () {
      typingSentAt = 0;
      sendTyping(form, false);
    }, TYPING_STOP_MS);
  });

  document.addEventListener("submit", function (evt) {
    if (evt.target && evt.target.id === "reply-form") {
      clearTimeout(typingStop);
      typingSentAt = 0; // the reply itself ends the visitor's typing indicator
    }
  }, true);

  document.addEventListener("keydown", function (evt) {
    if (evt.target && evt.target.id === "reply-body" && evt.key === "Enter" && (evt.ctrlKey || evt.metaKey)) {
      evt.preventDefault();
      evt.target.form.requestSubmit();
    }
  });
})();
