// The Asthron chat widget. One IIFE, no dependencies; the only global is window.Asthron.
import { bookingCard, card, payCard, payUpdate } from "./cards.js";
import { h, icon } from "./dom.js";
import { appendRichText, formatTime, formatWhen, safeUrl, visitorTimeZone } from "./format.js";
import { readEventStream } from "./sse.js";
import { mergeStrings } from "./strings.js";
import { stylesheetText } from "./styles.js";

const API_PATH = "/api/widget/v1";
const DEFAULT_ACCENT = "#2f5bea";
const PAGE_SIZE = 200; // the server returns at most this many events per request
// Who owns the conversation after a system event with this data.action.
const OWNER_AFTER = {
  handoff_waiting: "waiting",
  collect_contact: "waiting",
  joined: "human",
  returned: "assistant",
  closed: "closed",
  reopened: "assistant",
};

function findScript() {
  const current = document.currentScript;
  if (current && current.src) return current;
  const scripts = document.querySelectorAll("script[src][data-site]");
  for (let i = scripts.length - 1; i >= 0; i--) {
    if (/\/widget\.js(?:[?#]|$)/.test(scripts[i].src)) return scripts[i];
  }
  return null;
}

// White or near-black text, whichever reads better on the accent colour.
function textOn(hex) {
  const channel = (i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
  return luminance > 0.4 ? "#111827" : "#ffffff";
}

function clientId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    if (signal) signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });
}

// preview: the dashboard's editor shows this widget in a sandboxed frame with a draft
// config (JSON on the script tag, then postMessage from the parent); it calls no API.
function createWidget(siteKey, apiBase, identity, preview) {
  const storageKey = "asthron:" + siteKey;
  // The signed-in user the page vouches for ("" if none); a session belongs to one of them.
  const user = identity ? identity.email.trim().toLowerCase() : "";
  let store = null;
  try {
    store = window.localStorage;
  } catch (e) {
    // storage blocked (sandboxed frame, privacy mode): the session lasts for this page view
  }
  const load = () => {
    try {
      return JSON.parse(store.getItem(storageKey)) || {};
    } catch (e) {
      return {};
    }
  };
  // t: visitor token, c: conversation id, ok: privacy notice acknowledged, r: last read event,
  // u: the identity the session was started with
  let saved = load();
  if ((saved.u || "") !== user) saved = {}; // another user, or logged out: a session of its own
  const save = () => {
    try {
      store.setItem(storageKey, JSON.stringify(saved));
    } catch (e) {
      // not persisted
    }
  };

  let config = null;
  let s = null; // strings
  let lang = "en";
  let built = false;
  let isOpen = false;
  let wantOpen = false;
  let restarts = 0;
  let cursor = 0; // the newest event id seen in the current conversation
  let unread = 0;
  let live = null; // AbortController of the stream or long-poll loop
  let polling = false;
  let opening = null; // a pending POST /conversations
  let readTimer = 0;
  let replyStarting = false; // typing began since the stream connected: deltas will follow
  let owner = "assistant"; // of the current conversation: assistant, waiting, human or closed
  let divider = 0; // where a "New conversation" divider goes once the next one starts
  let staffTimer = 0;
  const byId = new Map(); // event id -> element
  const pending = new Map(); // client_id -> {id, body, el}
  const drafts = new Map(); // reply_id -> {el, text}: assistant replies still streaming
  const finished = new Set(); // reply_ids whose stored message has arrived

  // Elements, assigned by build().
  let host, wrap, launcher, badge, panel, closedBar, leaveBtn, scroller, log, typing, foot;
  let consent, consentErr, acceptBtn, composer, textarea, offForm, offErr, offSubmit, offDone;
  let doneText, nameIn, emailIn, msgIn, personBtn, typingLabel, tools, detailsBtn;

  async function call(path, body, signal) {
    if (preview != null) return { status: 0, ok: false, data: null };
    const headers = {};
    if (saved.t) headers.Authorization = "Bearer " + saved.t;
    if (body) headers["Content-Type"] = "application/json";
    const res = await fetch(apiBase + path, {
      method: body ? "POST" : "GET",
      headers,
      body: body ? JSON.stringify(body) : undefined,
      signal,
      credentials: "omit",
      cache: "no-store",
    });
    let data = null;
    try {
      data = await res.json();
    } catch (e) {
      // no JSON body
    }
    if (res.status === 401 && built) setTimeout(restart);
    return { status: res.status, ok: res.ok, data };
  }

  function warn(r) {
    const error = r && r.data && r.data.error;
    console.warn("Asthron: the chat widget could not start" + (error ? ": " + error.message : "."));
  }

  async function boot(attempt) {
    try {
      if (saved.t) {
        const r = await call("/config");
        if (r.ok) config = r.data;
        else if (r.status === 401) saved = {};
        else return warn(r);
      }
      if (!config) {
        const r = await call("/sessions", {
          site_key: siteKey,
          page_url: location.href,
          timezone: visitorTimeZone(),
          identity: identity || undefined,
        });
        if (!r.ok) return warn(r);
        saved = { t: r.data.visitor_token, u: user || undefined };
        save();
        config = r.data.config;
      }
    } catch (e) {
      if (attempt < 4) setTimeout(() => boot(attempt + 1), 2000 * 2 ** attempt);
      return;
    }
    build();
    if (saved.c) {
      await loadHistory();
      connect();
    }
  }

  // A token the server no longer accepts: start over with a new session.
  function restart() {
    if (!built || restarts++ > 2) return;
    disconnect();
    wantOpen = isOpen;
    host.remove();
    built = isOpen = polling = false;
    config = null;
    saved = {};
    save();
    [byId, pending, drafts, finished].forEach((m) => m.clear());
    cursor = unread = divider = 0;
    owner = "assistant";
    boot(0);
  }

  // -- the interface -----------------------------------------------------------------------

  function build() {
    s = mergeStrings(config.strings);
    lang = typeof config.language === "string" ? config.language : "en";
    const accent = /^#[0-9a-f]{6}$/i.test(config.accent_color) ? config.accent_color : DEFAULT_ACCENT;
    const limit = String((config.limits && config.limits.max_message_length) || 4000);
    const privacy = config.privacy || {};
    const privacyUrl = safeUrl(privacy.url);
    const hours = config.hours || {};
    const theme = config.theme === "light" || config.theme === "dark" ? config.theme : "auto";
    const avatarUrl =
      safeUrl(config.avatar_url) ||
      (preview != null && /^data:image\/(png|jpeg|gif|webp);base64,[\w+/=]+$/.test(config.avatar_url)
        ? config.avatar_url
        : null);
    closedBar = leaveBtn = null;

    host = h("div", { id: "asthron-widget" });
    const root = host.attachShadow({ mode: "open" });
    const css = stylesheetText(accent, textOn(accent));
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
      root.adoptedStyleSheets = [sheet];
    } catch (e) {
      root.appendChild(h("style", null, css)); // browsers without constructable stylesheets
    }

    badge = h("span", { class: "badge", "aria-hidden": "true", hidden: true });
    launcher = h(
      "button",
      { type: "button", class: "launcher", "aria-expanded": "false", "aria-controls": "p", onclick: toggle },
      icon("chat"),
      config.launcher_text ? h("span", { class: "lt" }, String(config.launcher_text)) : null,
      badge,
    );
    if (config.launcher_text) launcher.classList.add("txt");

    const title = h("h2", { class: "title", id: "t" }, config.title || "");
    personBtn = h("button", { type: "button", class: "hb", onclick: talk }, icon("person"), s.talk);
    // The title wraps rather than truncates; "Talk to a person" has a row of its own.
    const head = h(
      "div",
      { class: "head" },
      h(
        "div",
        { class: "hr" },
        avatarUrl ? h("img", { class: "av", src: avatarUrl, alt: "" }) : null,
        h(
          "div",
          { class: "ht" },
          title,
          config.reply_time ? h("p", { class: "sub" }, s.replies_in.replace("{when}", String(config.reply_time))) : null,
        ),
        h("button", { type: "button", class: "x", "aria-label": s.close, onclick: close }, icon("close")),
      ),
      personBtn,
    );

    if (hours.open_now === false) {
      const when = hours.next_open_at ? formatWhen(lang, hours.next_open_at) : "";
      leaveBtn = h("button", { type: "button", class: "linkbtn", onclick: showOffline }, s.leave_message);
      closedBar = h(
        "div",
        { class: "closed" },
        h("span", null, when ? s.closed_until.replace("{when}", when) : s.closed),
        leaveBtn,
      );
    }

    log = h("div", { class: "log", role: "log", "aria-live": "polite", "aria-labelledby": "t" });
    if (config.greeting) {
      const greeting = message("assistant", config.greeting);
      greeting.setAttribute("data-id", "0");
      greeting.lastChild.remove(); // no author/time line
      log.appendChild(greeting);
    }
    typing = h(
      "div",
      { class: "typing", hidden: true },
      h("i"),
      h("i"),
      h("i"),
      (typingLabel = h("span", { class: "sr" }, s.typing)),
    );
    scroller = h("div", { class: "scroll" }, log, typing);

    const notice = h("p", null);
    appendRichText(notice, privacy.notice || "");
    consentErr = h("p", { class: "err", role: "alert", hidden: true }, s.error);
    acceptBtn = h("button", { type: "button", class: "btn", onclick: accept }, s.privacy_accept);
    consent = h(
      "div",
      { class: "consent" },
      privacy.notice ? notice : null,
      consentErr,
      h(
        "div",
        { class: "row" },
        privacyUrl
          ? h("a", { href: privacyUrl, target: "_blank", rel: "noopener noreferrer" }, s.privacy_link)
          : null,
        acceptBtn,
      ),
    );

    textarea = h("textarea", {
      rows: "1",
      placeholder: s.placeholder,
      "aria-label": s.message,
      maxlength: limit,
      enterkeyhint: "send",
    });
    textarea.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        submit();
      }
    });
    textarea.addEventListener("input", grow);
    composer = h(
      "form",
      { class: "composer", onsubmit: (e) => (e.preventDefault(), submit()) },
      textarea,
      h("button", { type: "submit", class: "send", "aria-label": s.send }, icon("send")),
    );
    detailsBtn = detailsButton();
    tools = h("div", { class: "tools" }, detailsBtn);
    foot = h("div", { class: "foot" }, consent, composer, tools);

    nameIn = h("input", { type: "text", required: true, maxlength: "120", autocomplete: "name" });
    emailIn = h("input", { type: "email", required: true, maxlength: "254", autocomplete: "email" });
    msgIn = h("textarea", { required: true, maxlength: limit });
    offErr = h("p", { class: "err", role: "alert", hidden: true }, s.error);
    offSubmit = h("button", { type: "submit", class: "btn" }, s.send);
    const back = () => h("button", { type: "button", class: "btn ghost", onclick: showChat }, s.back);
    offForm = h(
      "form",
      { class: "offline", hidden: true, onsubmit: sendOffline },
      h("label", null, s.name, nameIn),
      h("label", null, s.email, emailIn),
      h("label", null, s.message, msgIn),
      offErr,
      h("div", { class: "row" }, back(), offSubmit),
    );
    doneText = h("p", { class: "done", tabindex: "-1" }, s.message_sent);
    offDone = h("div", { class: "offline", hidden: true }, doneText, h("div", { class: "row" }, back()));

    panel = h(
      "div",
      { class: "panel", id: "p", role: "dialog", "aria-labelledby": "t", hidden: true },
      head,
      closedBar,
      scroller,
      offForm,
      offDone,
      foot,
    );
    wrap = h("div", { class: "w " + theme + (config.position === "left" ? " left" : "") }, launcher, panel);
    wrap.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && isOpen) {
        e.preventDefault();
        e.stopPropagation();
        close();
      }
    });
    root.appendChild(wrap);
    built = true;
    refresh();
    showBadge();
    const mount = () => (document.body || document.documentElement).appendChild(host);
    if (document.body) mount();
    else document.addEventListener("DOMContentLoaded", mount, { once: true });
    if (wantOpen) open();
  }

  // Consent is remembered in this browser and by the server (config.visitor.consent_at).
  const needsConsent = () =>
    !saved.ok &&
    !(config.visitor && config.visitor.consent_at) &&
    !!(config.privacy && (config.privacy.notice || safeUrl(config.privacy.url)));

  function refresh() {
    const gate = needsConsent();
    consent.hidden = !gate;
    composer.hidden = tools.hidden = personBtn.hidden = gate;
    if (leaveBtn) leaveBtn.hidden = gate;
  }

  // While a person is on the way or in the chat, asking for one again makes no sense.
  function setOwner(value) {
    owner = value;
    if (built) personBtn.disabled = value === "waiting" || value === "human";
  }

  // A short local note in the log (not stored), after the newest event.
  function note(text) {
    place(h("div", { class: "sys" }, text), cursor + 0.5);
    scrollDown(true);
  }

  function showBadge() {
    badge.hidden = !unread || isOpen;
    badge.textContent = unread > 9 ? "9+" : String(unread);
    launcher.setAttribute(
      "aria-label",
      isOpen ? s.close : unread ? `${s.open} (${unread} ${s.new_messages})` : s.open,
    );
    launcher.replaceChild(icon(isOpen ? "down" : "chat"), launcher.firstChild);
  }

  function focusInside() {
    const target = !offForm.hidden
      ? nameIn
      : !offDone.hidden
        ? doneText
        : needsConsent()
          ? acceptBtn
          : textarea;
    target.focus();
  }

  function open() {
    if (!built) return void (wantOpen = true);
    if (!isOpen) {
      isOpen = true;
      panel.hidden = false;
      wrap.classList.add("open");
      launcher.setAttribute("aria-expanded", "true");
      showBadge();
      scrollDown(true);
      markReadSoon();
    }
    if (preview == null) focusInside(); // the preview never takes the editor's focus
  }

  function close() {
    if (!built) return void (wantOpen = false);
    if (!isOpen) return;
    const hadFocus = !!host.shadowRoot.activeElement;
    isOpen = false;
    panel.hidden = true;
    wrap.classList.remove("open");
    launcher.setAttribute("aria-expanded", "false");
    showBadge();
    if (hadFocus) launcher.focus();
  }

  function toggle() {
    isOpen ? close() : open();
  }

  function grow() {
    textarea.style.height = "auto";
    textarea.style.height = Math.min(textarea.scrollHeight, 120) + "px";
  }

  function scrollDown(force) {
    const { scrollTop, scrollHeight, clientHeight } = scroller;
    if (force || scrollHeight - scrollTop - clientHeight < 120) scroller.scrollTop = scrollHeight;
  }

  // -- messages ----------------------------------------------------------------------------

  function meta(el, ...children) {
    el.lastChild.replaceChildren(...children.filter(Boolean));
  }

  function who(author, name) {
    return author === "visitor" ? s.you : author === "assistant" ? s.assistant : name || "";
  }

  function timeEl(iso) {
    return iso ? h("time", { datetime: iso }, formatTime(lang, iso)) : null;
  }

  function message(author, body, iso, name) {
    if (author === "system") {
      const el = h("div", { class: "sys" }, body);
      if (iso) el.title = formatTime(lang, iso);
      return el;
    }
    const bubble = h("div", { class: "bubble" });
    appendRichText(bubble, body);
    const label = who(author, name);
    return h(
      "div",
      { class: author === "visitor" ? "msg me" : "msg" },
      bubble,
      h("div", { class: "meta" }, label ? h("span", null, label) : null, timeEl(iso)),
    );
  }

  // Insert in event-id order; elements without an id (sending, streaming) stay last.
  function place(el, id) {
    el.setAttribute("data-id", id);
    let ref = null;
    for (let n = log.lastElementChild; n; n = n.previousElementSibling) {
      const nid = n.hasAttribute("data-id") ? +n.getAttribute("data-id") : Infinity;
      if (nid > id) ref = n;
      else break;
    }
    log.insertBefore(el, ref);
  }

  function addEvent(ev) {
    if (!ev || typeof ev.id !== "number" || typeof ev.body !== "string") return;
    if (ev.conversation_id === saved.c && ev.id > cursor) cursor = ev.id;
    if (byId.has(ev.id)) return; // already shown (POST response and stream both deliver it)
    const author = ev.author;
    const item = author === "visitor" && ev.client_id && pending.get(ev.client_id);
    const replyId = ev.data && ev.data.reply_id;
    let el;
    if (item) {
      // Our own message, confirmed: keep the element, swap "Sending…" for the time.
      pending.delete(ev.client_id);
      el = item.el;
      el.classList.remove("failed");
      el.setAttribute("data-id", ev.id);
      meta(el, h("span", null, s.you), timeEl(ev.created_at));
    } else {
      const kind = ev.type === "card" && ev.data && ev.data.card;
      el =
        kind === "lead_form" || kind === "confirm_contact" // other kinds show as their text
          ? card(ev, s, (fields) => submitCard(ev, fields), focusInside)
          : kind === "booking"
            ? bookingCard(ev, s, lang, (step, body) => bookingCall(ev, step, body), (e) => {
                addEvent(e);
                focusInside();
              })
            : kind === "payment"
              ? payCard(ev, s)
              : message(author, ev.body, ev.created_at, ev.author_name);
      if (kind !== "payment" && ev.data && ev.data.payment) payUpdate(ev.data.payment, s);
      const action = author === "system" && ev.data && ev.data.action;
      if (action === "collect_contact") {
        // "Leave my details" shows once: on the newest request for them, not also below.
        log.querySelectorAll(".sys .linkbtn").forEach((b) => b.remove());
        el.appendChild(detailsButton());
        detailsBtn.hidden = true;
      }
      if (ev.conversation_id === saved.c && OWNER_AFTER[action]) setOwner(OWNER_AFTER[action]);
      const draft = replyId && drafts.get(replyId);
      if (draft) {
        // The stored reply replaces its streamed draft (a new node, so screen readers hear it).
        draft.el.replaceWith(el);
        el.setAttribute("data-id", ev.id);
      } else place(el, ev.id);
    }
    byId.set(ev.id, el);
    if (replyId) {
      finished.add(replyId);
      drafts.delete(replyId);
    }
    if (author !== "visitor") {
      typing.hidden = true;
      clearTimeout(staffTimer);
      if (ev.id > (saved.r || 0) && !(isOpen && !document.hidden)) unread++;
      showBadge();
    }
    scrollDown(author === "visitor" || ev.type === "card");
    if (isOpen) markReadSoon();
  }

  function onDelta(d) {
    if (!d || typeof d.reply_id !== "string" || typeof d.text !== "string") return;
    if (finished.has(d.reply_id)) return;
    let draft = drafts.get(d.reply_id);
    if (!draft) {
      if (!replyStarting) {
        // Joined mid-reply: the start is missing, so wait for the stored message instead.
        finished.add(d.reply_id);
        typing.hidden = false;
        return;
      }
      replyStarting = false;
      const text = document.createTextNode("");
      const el = h("div", { class: "msg prov", "aria-hidden": "true" }, h("div", { class: "bubble" }, text));
      draft = { el, text };
      drafts.set(d.reply_id, draft);
      log.appendChild(el);
      typing.hidden = true;
    }
    draft.text.data += d.text;
    scrollDown();
  }

  function dropDraft(replyId) {
    const draft = drafts.get(replyId);
    if (draft) {
      draft.el.remove();
      drafts.delete(replyId);
    }
  }

  function onTyping(d) {
    if (!d || d.author === "visitor") return;
    const staff = d.author === "staff";
    const name = staff && typeof d.name === "string" && d.name;
    clearTimeout(staffTimer);
    typingLabel.className = name ? "tl" : "sr"; // a person's name shows; the assistant's dots do
    typingLabel.textContent = name ? s.staff_typing.replace("{name}", name) : s.typing;
    if (d.active) {
      if (staff) {
        typing.hidden = false;
        staffTimer = setTimeout(() => (typing.hidden = true), 20000); // the "stopped" was lost
      } else {
        replyStarting = true;
        typing.hidden = drafts.size > 0;
      }
      scrollDown();
      return;
    }
    typing.hidden = true;
    if (staff) return;
    if (d.reply_id) dropDraft(d.reply_id); // the reply was withdrawn (a person took over)
    else {
      // Normally the stored message replaces the draft at once; if it never comes, tidy up.
      const ids = [...drafts.keys()];
      setTimeout(() => ids.forEach(dropDraft), 15000);
    }
  }

  function markReadSoon() {
    clearTimeout(readTimer);
    readTimer = setTimeout(() => {
      if (!isOpen || document.hidden) return;
      unread = 0;
      showBadge();
      if (saved.c && cursor > (saved.r || 0)) {
        saved.r = cursor;
        save();
        call(`/conversations/${saved.c}/read`, { last_event_id: cursor }).catch(() => {});
      }
    }, 300);
  }

  // -- conversation, history and live updates ----------------------------------------------

  function useConversation(id) {
    if (saved.c === id) return;
    disconnect();
    saved.c = id;
    cursor = 0;
    save();
    setOwner("assistant");
    if (divider && built) {
      place(h("div", { class: "sep" }, h("span", null, s.new_conversation)), divider);
      scrollDown(true);
    }
    divider = 0;
  }

  // The conversation was closed (or is gone): the next call opens a new one.
  function renew(id) {
    if (saved.c === id) divider = cursor + 0.5;
    forgetConversation(id);
  }

  // Run fn(conversation id), creating the conversation first if there is none; when the
  // server says it is closed (409 conversation_closed) or gone (404), once more in a new one.
  async function inConversation(fn) {
    for (let attempt = 0; ; attempt++) {
      const id = await conversation();
      const r = await fn(id);
      const code = r.data && r.data.error && r.data.error.code;
      if (attempt || !(r.status === 404 || code === "conversation_closed")) return r;
      renew(id);
    }
  }

  function forgetConversation(id) {
    if (saved.c !== id) return;
    disconnect();
    delete saved.c;
    save();
  }

  function conversation() {
    if (saved.c) return Promise.resolve(saved.c);
    if (!opening) {
      opening = call("/conversations", { page_url: location.href })
        .then(async (r) => {
          if (!r.ok) throw r;
          useConversation(r.data.id);
          setOwner(r.data.status === "open" ? r.data.owner : "closed");
          if (r.status === 200) await loadHistory(); // an open conversation we had lost track of
          connect(); // listen before the first message, so its reply streams from the start
          return r.data.id;
        })
        .finally(() => (opening = null));
    }
    return opening;
  }

  async function loadHistory() {
    const id = saved.c;
    let after = 0;
    try {
      for (let page = 0; page < 20; page++) {
        const r = await call(`/conversations/${id}/events?after=${after}`);
        if (r.status === 404) return forgetConversation(id);
        if (!r.ok || saved.c !== id) return;
        r.data.events.forEach(addEvent);
        if (r.data.events.length < PAGE_SIZE) return;
        after = r.data.last_id;
      }
    } catch (e) {
      // the live connection catches up from the cursor
    }
  }

  function connect() {
    if (live || !saved.c || !built) return;
    const controller = (live = new AbortController());
    follow(saved.c, controller.signal).finally(() => {
      if (live === controller) live = null;
    });
  }

  function disconnect() {
    if (live) live.abort();
    live = null;
  }

  // Server-sent events over fetch(), reconnecting with Last-Event-ID; long polling when a
  // stream is refused (429 too_many_streams) or cannot be opened.
  async function follow(id, signal) {
    let retry = 2000;
    let failures = 0;
    const handlers = {
      message: addEvent,
      delta: onDelta,
      typing: onTyping,
      reply_cancelled: (d) => d && (finished.add(d.reply_id), dropDraft(d.reply_id)),
      ownership: (d) => d && typeof d.owner === "string" && owner !== "closed" && setOwner(d.owner),
    };
    while (!signal.aborted && saved.c === id) {
      let opened = false;
      try {
        if (!polling) {
          const headers = { Authorization: "Bearer " + saved.t, Accept: "text/event-stream" };
          if (cursor) headers["Last-Event-ID"] = String(cursor);
          const res = await fetch(`${apiBase}/conversations/${id}/stream?after=${cursor}`, {
            headers,
            signal,
            credentials: "omit",
            cache: "no-store",
          });
          if (res.status === 401) return void restart();
          if (res.status === 404) return forgetConversation(id);
          const type = res.headers.get("Content-Type") || "";
          if (!res.ok || !res.body || !type.startsWith("text/event-stream")) {
            polling = true;
            continue;
          }
          opened = true;
          failures = 0;
          replyStarting = false;
          await readEventStream(
            res.body,
            (event, data) => {
              const handler = handlers[event];
              if (!handler || signal.aborted || saved.c !== id) return;
              try {
                handler(JSON.parse(data));
              } catch (e) {
                // a malformed frame is skipped
              }
            },
            (ms) => (retry = ms),
          );
        } else {
          const r = await call(`/conversations/${id}/events?after=${cursor}&wait=25`, null, signal);
          if (r.status === 401) return;
          if (r.status === 404) return forgetConversation(id);
          if (r.ok) {
            if (saved.c === id) r.data.events.forEach(addEvent);
            failures = 0;
            continue;
          }
          failures++;
        }
      } catch (e) {
        if (signal.aborted) return;
        if (!opened) polling = true;
        failures++;
      }
      await sleep(Math.min(retry * 2 ** Math.min(failures, 4), 30000), signal);
    }
  }

  // -- sending -----------------------------------------------------------------------------

  function submit() {
    const body = textarea.value.trim();
    if (!body || needsConsent()) return;
    textarea.value = "";
    grow();
    const item = { id: clientId(), body, el: message("visitor", body) };
    pending.set(item.id, item);
    log.appendChild(item.el);
    scrollDown(true);
    deliver(item);
  }

  async function deliver(item) {
    item.el.classList.remove("failed");
    meta(item.el, h("span", null, s.sending));
    try {
      // Closed or gone: it continues in a new conversation, with the same client id.
      const r = await inConversation((id) =>
        call(`/conversations/${id}/messages`, {
          body: item.body,
          client_id: item.id, // the same id on a retry: the server stores the message once
          page_url: location.href,
        }),
      );
      if (!r.ok) throw r;
      addEvent(r.data);
      connect();
    } catch (e) {
      if (!pending.has(item.id)) return; // the stream delivered it after all
      item.el.classList.add("failed");
      meta(item.el, h("button", { type: "button", class: "retry", onclick: () => deliver(item) }, s.retry));
    }
  }

  // "Talk to a person": the server hands off and says (by a system event) who will answer.
  async function talk() {
    personBtn.disabled = true;
    focusInside(); // the disabled button cannot keep the focus
    try {
      const r = await inConversation((id) => call(`/conversations/${id}/handoff`, {}));
      if (!r.ok) throw r;
      setOwner(r.data.owner);
    } catch (e) {
      setOwner(owner);
      note(s.error);
    }
  }

  const detailsButton = () =>
    h("button", { type: "button", class: "linkbtn", onclick: leaveDetails }, s.leave_details);

  const submitCard = (ev, fields) =>
    call(`/conversations/${ev.conversation_id}/lead`, { card_id: ev.data.card_id, fields });

  const bookingCall = (ev, step, body) =>
    call(`/conversations/${ev.conversation_id}/booking/${step}`, { card_id: ev.data.card_id, ...body });

  // "Leave my details": the server puts a lead form card in the chat (or there is one already).
  async function leaveDetails() {
    detailsBtn.disabled = true;
    try {
      if (owner === "closed" && saved.c) renew(saved.c);
      const r = await inConversation((id) => call(`/conversations/${id}/lead-form`, {}));
      if (!r.ok) throw r;
      const ev = r.data.event;
      if (ev) addEvent(ev);
      const cards = log.querySelectorAll(".card:not(.done)");
      const target = (ev ? byId.get(ev.id) : cards[cards.length - 1]) || null;
      const field = target && target.querySelector("input,select,textarea,button");
      if (field) {
        field.focus({ preventScroll: true });
        // The whole form in view (its top first if it is taller than the log), not just the
        // field; only the log scrolls, never the host page.
        const box = scroller.getBoundingClientRect();
        const r = target.getBoundingClientRect();
        if (r.top < box.top || r.height > box.height) scroller.scrollTop += r.top - box.top - 8;
        else if (r.bottom > box.bottom) scroller.scrollTop += r.bottom - box.bottom + 8;
      } else note(s.have_details);
    } catch (e) {
      note(s.error);
    }
    detailsBtn.disabled = false;
  }

  async function accept() {
    acceptBtn.disabled = true;
    consentErr.hidden = true;
    try {
      const r = await call("/consent", {});
      if (!r.ok) throw r;
      saved.ok = 1;
      save();
      refresh();
      focusInside();
    } catch (e) {
      consentErr.hidden = false;
    }
    acceptBtn.disabled = false;
  }

  function showOffline() {
    scroller.hidden = foot.hidden = offDone.hidden = true;
    offForm.hidden = false;
    nameIn.focus();
  }

  function showChat() {
    offForm.hidden = offDone.hidden = true;
    scroller.hidden = foot.hidden = false;
    scrollDown(true);
    focusInside();
  }

  async function sendOffline(e) {
    e.preventDefault();
    offSubmit.disabled = true;
    offErr.hidden = true;
    try {
      const r = await call("/offline-messages", {
        name: nameIn.value,
        email: emailIn.value,
        message: msgIn.value,
      });
      if (!r.ok) throw r;
      useConversation(r.data.conversation.id);
      setOwner(r.data.conversation.owner);
      addEvent(r.data.event);
      msgIn.value = "";
      offForm.hidden = true;
      offDone.hidden = false;
      doneText.focus();
      connect();
    } catch (err) {
      offErr.hidden = false;
    }
    offSubmit.disabled = false;
  }

  // A page leaving frees its stream at once; one restored from the back/forward cache resumes.
  window.addEventListener("pagehide", disconnect);
  window.addEventListener("pageshow", (e) => e.persisted && connect());
  document.addEventListener("visibilitychange", () => isOpen && !document.hidden && markReadSoon());

  function showPreview(next) {
    if (!next || typeof next !== "object") return;
    if (built) host.remove();
    built = isOpen = false;
    byId.clear();
    config = next;
    wantOpen = true;
    build();
  }

  if (preview != null) {
    try {
      showPreview(JSON.parse(preview));
    } catch (e) {
      // no initial draft: wait for the editor's message
    }
    window.addEventListener("message", (e) => {
      if (e.source === window.parent && e.data && e.data.asthronPreview) showPreview(e.data.asthronPreview);
    });
  } else boot(0);
  return { open, close, toggle };
}

function start() {
  if (window.Asthron) return;
  const script = findScript();
  const siteKey = script && script.getAttribute("data-site");
  if (!siteKey) {
    console.warn("Asthron: the widget's script tag needs a data-site attribute.");
    return;
  }
  // Optional signed identity from the page: data-user-email, -name, -signature (HMAC made by
  // the business's server; this server checks it).
  const attr = (name) => script.getAttribute("data-user-" + name) || undefined;
  const identity = attr("email") ? { email: attr("email"), name: attr("name"), signature: attr("signature") || "" } : null;
  const widget = createWidget(
    siteKey,
    new URL(script.src).origin + API_PATH,
    identity,
    script.getAttribute("data-preview"),
  );
  window.Asthron = Object.freeze({ open: widget.open, close: widget.close, toggle: widget.toggle });
}

start();
