// Interactive cards in the chat (events of type "card"): the lead form, and the confirmation
// of contact details read from the visitor's message. Native form controls, labelled, with
// per-field errors tied to their field (aria-describedby); text only ever as Text nodes.
import { h } from "./dom.js";
import { formatDay, formatWhen, visitorTimeZone } from "./format.js";

const EMAIL_RE = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const CONTACT = ["name", "email", "phone", "company"];
const AUTOFILL = { name: "name", email: "email", phone: "tel", company: "organization" };
let seq = 0; // element ids, unique within the shadow root

// What is wrong with one value, or "" (the server checks again, strictly).
function problem(spec, value, s) {
  if (!value) return spec.required ? s.required : "";
  if (spec.kind === "email" && !EMAIL_RE.test(value)) return s.bad_email;
  if (spec.kind === "phone" && (value.match(/\d/g) || []).length < 6) return s.bad_phone;
  return "";
}

// ev: the card event; send(fields) posts it (a promise of {ok, status, data}); after() runs
// once it is saved (focus goes back to the composer).
export function card(ev, s, send, after) {
  const d = ev.data || {};
  const confirming = d.card === "confirm_contact";
  const values = (confirming && d.values) || {};
  const specs = confirming
    ? CONTACT.filter((k) => typeof values[k] === "string").map((k) => ({
        name: k,
        label: s[k],
        kind: k === "email" || k === "phone" ? k : "text",
      }))
    : (Array.isArray(d.fields) ? d.fields : []).filter((f) => f && typeof f.name === "string");
  const id = "c" + ++seq;
  const el = h("div", { class: "card", role: "group", "aria-labelledby": id });
  const err = h("p", { class: "err", role: "alert", hidden: true });
  const intro = () => h("p", { id }, ev.body || "");

  const list = (vals) =>
    h(
      "dl",
      null,
      ...specs
        .filter((f) => vals[f.name])
        .flatMap((f) => [h("dt", null, f.label || f.name), h("dd", null, String(vals[f.name]))]),
    );

  function done(vals) {
    el.classList.add("done");
    // replaceChildren would write a null as the text "null" (a finished card from history).
    el.replaceChildren(...[intro(), vals && list(vals), h("p", { class: "ok" }, "✓ " + s.details_sent)].filter(Boolean));
  }

  async function post(fields, busy) {
    busy.disabled = true;
    err.hidden = true;
    let r = null;
    try {
      r = await send(fields);
    } catch (e) {
      // shown below
    }
    busy.disabled = false;
    if (r && r.ok) {
      done(fields);
      after();
      return;
    }
    const error = r && r.data && r.data.error;
    if (r && r.status === 422 && error && error.fields) return form(fields, error.fields, error.message);
    err.textContent = s.error;
    err.hidden = false;
  }

  // The values with Confirm and Edit.
  function review() {
    const ok = h("button", { type: "button", class: "btn", onclick: () => post(values, ok) }, s.confirm);
    el.replaceChildren(
      intro(),
      list(values),
      err,
      h(
        "div",
        { class: "row" },
        h("button", { type: "button", class: "btn ghost", onclick: () => form(values, {}, "", 1) }, s.edit),
        ok,
      ),
    );
  }

  // The fields as inputs, in the given order; errors (field -> message) next to each.
  function form(vals, errors, message, focus) {
    const inputs = [];
    const rows = specs.map((f, i) => {
      const fid = id + "-" + i;
      const attrs = {
        id: fid,
        name: f.name,
        required: !!f.required,
        "aria-describedby": fid + "e",
        autocomplete: AUTOFILL[f.name],
      };
      const input =
        f.kind === "textarea"
          ? h("textarea", { ...attrs, rows: "3", maxlength: "2000" })
          : f.kind === "select"
            ? h(
                "select",
                attrs,
                h("option", { value: "" }, s.choose),
                ...(Array.isArray(f.options) ? f.options : []).map((o) => h("option", null, String(o))),
              )
            : h("input", {
                ...attrs,
                maxlength: "320",
                type: f.kind === "email" ? "email" : f.kind === "phone" ? "tel" : "text",
              });
      input.value = vals[f.name] == null ? "" : String(vals[f.name]);
      const note = h("p", { class: "ferr", id: fid + "e" });
      inputs.push([input, note, f]);
      return h(
        "div",
        null,
        h(
          "label",
          { for: fid },
          f.label || f.name,
          f.required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null,
        ),
        input,
        note,
      );
    });
    const fields = h("fieldset", null, ...rows);
    const submit = h("button", { type: "submit", class: "btn" }, confirming ? s.confirm : s.submit);
    const mark = () => {
      let first = null;
      for (const [input, note, f] of inputs) {
        const msg = errors[f.name] || "";
        note.textContent = msg;
        if (msg) input.setAttribute("aria-invalid", "true");
        else input.removeAttribute("aria-invalid");
        if (msg && !first) first = input;
      }
      return first;
    };
    const box = h(
      "form",
      {
        novalidate: true,
        onsubmit: (e) => {
          e.preventDefault();
          const out = {};
          errors = {};
          for (const [input, , spec] of inputs) {
            out[spec.name] = input.value.trim();
            const msg = problem(spec, out[spec.name], s);
            if (msg) errors[spec.name] = msg;
          }
          const first = mark();
          if (first) return first.focus();
          post(out, fields);
        },
      },
      fields,
      err,
      h("div", { class: "row" }, submit),
    );
    el.replaceChildren(intro(), box);
    const first = mark();
    // A server error on a field the form does not show goes in the card's alert.
    if (message && !first) {
      err.textContent = message;
      err.hidden = false;
    }
    if (first) first.focus();
    else if (focus && inputs.length) inputs[0][0].focus();
  }

  if (d.done) done(null);
  else if (confirming) review();
  else form({}, {});
  return el;
}

// The booking card (data.card "booking"): a service, then a day and a time in the visitor's
// own time zone, then name and email or phone, then booked. api(step, body) posts to the
// card's endpoint (slots, hold, confirm); after(event) shows the confirmation event.
// A 409 means the time went: the card says so and shows fresh times.
export function bookingCard(ev, s, lang, api, after) {
  const d = (ev.data && ev.data.booking) || {};
  const services = (Array.isArray(d.services) ? d.services : []).filter((x) => x && typeof x.slug === "string");
  const id = "c" + ++seq;
  const el = h("div", { class: "card", role: "group", "aria-labelledby": id });
  const err = h("p", { class: "err", role: "alert", hidden: true });
  const show = (...nodes) => el.replaceChildren(h("p", { id }, ev.body || ""), ...nodes.filter(Boolean), err);
  const fail = (r) => {
    err.textContent = (r && r.data && r.data.error && r.data.error.message) || s.error;
    err.hidden = false;
  };
  const btn = (label, onclick, cls) => h("button", { type: "button", class: cls || "btn ghost", onclick }, label);
  const zoneName = visitorTimeZone() || undefined;
  let service = d.service;
  const nameOf = (slug) => (services.find((x) => x.slug === slug) || {}).name || "";

  function done(c) {
    el.classList.add("done");
    show(
      h(
        "p",
        { class: "ok" },
        (c.status === "held" ? "" : "✓ ") + (c.status === "pending" ? s.book_pending : c.status === "held" ? s.book_held : s.book_done),
        c.start ? " " + (c.service || "") + ", " + formatWhen(lang, c.start) : "",
      ),
    );
  }

  function pick() {
    show(h("div", { class: "row start" }, ...services.map((x) => btn(`${x.name} · ${x.duration_minutes} min`, () => times(x.slug, "", 1)))));
  }

  async function times(slug, message, focus) {
    service = slug;
    err.hidden = true;
    show(h("p", { role: "status" }, s.book_loading));
    let r = null;
    try {
      r = await api("slots", { service: slug, timezone: zoneName });
    } catch (e) {
      // shown below
    }
    if (!r || !r.ok) return fail(r);
    const days = r.data.days || [];
    const other = services.length > 1 ? btn(s.book_other, pick, "linkbtn") : null;
    const note = message ? h("p", { class: "err", role: "alert" }, message) : null;
    if (!days.length) return show(note, h("p", null, s.book_none), other);
    const list = h("div", { class: "row start", role: "group", "aria-label": s.book_times });
    const dayBtns = days.map((day, i) => btn(formatDay(lang, day.date), () => open(i, 1)));
    function open(i, move) {
      dayBtns.forEach((b, j) => b.setAttribute("aria-pressed", String(i === j)));
      list.replaceChildren(...days[i].slots.map((slot) => btn(slot.time, (e) => hold(slot, e.currentTarget))));
      if (move) list.firstChild.focus();
    }
    show(
      note,
      r.data.relaxed ? h("p", null, s.book_relaxed) : null,
      h("p", { class: "tz" }, s.book_zone.replace("{zone}", r.data.timezone)),
      h("div", { class: "row start", role: "group", "aria-label": s.book_days }, ...dayBtns),
      list,
      other,
    );
    open(0);
    if (focus) dayBtns[0].focus();
  }

  async function hold(slot, button) {
    button.disabled = true;
    err.hidden = true;
    let r = null;
    try {
      r = await api("hold", { service, start: slot.start });
    } catch (e) {
      // shown below
    }
    if (r && r.status === 409) return times(service, r.data.error.message, 1);
    button.disabled = false;
    if (!r || !r.ok) return fail(r);
    details(r.data, {}, r.data.prefill || {});
  }

  function details(held, errors, values) {
    const inputs = {};
    const rows = ["name", "email", "phone"].map((k) => {
      const fid = id + "-" + k;
      const input = h("input", {
        id: fid,
        name: k,
        type: k === "email" ? "email" : k === "phone" ? "tel" : "text",
        autocomplete: k === "phone" ? "tel" : k,
        maxlength: "320",
        required: k === "name",
        "aria-invalid": errors[k] ? "true" : null,
        "aria-describedby": fid + "e",
      });
      input.value = values[k] || "";
      inputs[k] = input;
      return h("div", null, h("label", { for: fid }, s[k]), input, h("p", { class: "ferr", id: fid + "e" }, errors[k] || ""));
    });
    const submit = h("button", { type: "submit", class: "btn" }, s.book_confirm);
    show(
      h(
        "form",
        {
          novalidate: true,
          onsubmit: (e) => {
            e.preventDefault();
            confirm(held, inputs, submit);
          },
        },
        h("p", null, h("strong", null, formatWhen(lang, held.start))),
        h("fieldset", null, ...rows),
        h("p", { class: "tz" }, s.book_contact),
        h("div", { class: "row" }, btn(s.book_change, () => times(service, "", 1)), submit),
      ),
    );
    (inputs[["name", "email", "phone"].find((k) => errors[k])] || inputs.name).focus();
  }

  async function confirm(held, inputs, submit) {
    const v = {};
    for (const k in inputs) v[k] = inputs[k].value.trim();
    const errors = {};
    if (!v.name) errors.name = s.required;
    if (v.email && !EMAIL_RE.test(v.email)) errors.email = s.bad_email;
    if (!v.email && !v.phone) errors.email = s.book_contact;
    if (Object.keys(errors).length) return details(held, errors, v);
    submit.disabled = true;
    err.hidden = true;
    let r = null;
    try {
      r = await api("confirm", { hold: held.hold, name: v.name, email: v.email || null, phone: v.phone || null, timezone: zoneName });
    } catch (e) {
      // shown below
    }
    if (r && r.ok) {
      done({ status: r.data.status, service: nameOf(service), start: held.start });
      return after(r.data.event);
    }
    if (r && r.status === 409) return times(service, r.data.error.message, 1);
    if (r && r.status === 422 && r.data.error.fields) return details(held, r.data.error.fields, v);
    submit.disabled = false;
    fail(r);
  }

  if (ev.data.done) done(d.confirmed || {});
  else if (service && services.some((x) => x.slug === service)) times(service);
  else pick();
  return el;
}
// A payment card (a payment request or a booking's deposit): the amount, its state, and a
// link that opens Stripe Checkout in a new tab. Later events carry the new state
// (data.payment.card_id / status) and update the card in place.
const payCards = new Map();
const PAY_DONE = ["paid", "expired", "failed", "refunded"];

export function payCard(ev, s) {
  const p = (ev.data && ev.data.payment) || {};
  const id = "c" + ++seq;
  const state = h("p", { class: "ps", role: "status" });
  const link = /^https?:\/\//.test(p.url || "")
    ? h("a", { class: "btn", href: p.url, target: "_blank", rel: "noopener noreferrer" }, s.pay.replace("{amount}", p.amount || ""))
    : null;
  const el = h("div", { class: "card", role: "group", "aria-labelledby": id }, h("p", { id }, ev.body || ""), state, link);
  const card = { el, state, link };
  if (typeof p.card_id === "string") payCards.set(p.card_id, card);
  paySet(card, p.status, s);
  return el;
}

function paySet(card, status, s) {
  const done = PAY_DONE.includes(status);
  card.state.textContent = done ? s["pay_" + status] : "";
  card.state.hidden = !done;
  if (card.link) card.link.hidden = done;
  card.el.classList.toggle("done", status === "paid");
}

// An event about a payment's new state: the card (if shown) follows it.
export function payUpdate(p, s) {
  const card = p && payCards.get(p.card_id);
  if (card) paySet(card, p.status, s);
}
