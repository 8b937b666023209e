// Interactive cards in the chat (events of type "card"): the lead form, and the confirmation
// of contact details read from the visitor's message. Native form controls, labelled, with
// per-field errors tied to their field (aria-describedby); text only ever as Text nodes.
import { h } from "./dom.js";

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
