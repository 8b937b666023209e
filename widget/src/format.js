// Text and time helpers. Message text only ever becomes Text nodes and <a> elements whose
// href is a checked http(s) URL: never HTML.

const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;

export function safeUrl(value) {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch (e) {
    return null;
  }
}

export function appendRichText(el, text) {
  const doc = el.ownerDocument;
  let last = 0;
  let match;
  URL_RE.lastIndex = 0;
  while ((match = URL_RE.exec(text))) {
    const raw = match[0].replace(/[.,;:!?)\]}*_~]+$/, "");
    const href = safeUrl(raw);
    if (!href) continue;
    if (match.index > last) el.appendChild(doc.createTextNode(text.slice(last, match.index)));
    const a = doc.createElement("a");
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    a.textContent = raw;
    el.appendChild(a);
    last = match.index + raw.length;
    URL_RE.lastIndex = last;
  }
  if (last < text.length) el.appendChild(doc.createTextNode(text.slice(last)));
}

// Times show in the visitor's own time zone (Intl's default), in the site's language.
function formatter(lang, options) {
  try {
    return new Intl.DateTimeFormat(lang, options);
  } catch (e) {
    return new Intl.DateTimeFormat(undefined, options);
  }
}

export function formatTime(lang, iso) {
  const date = new Date(iso);
  if (isNaN(date)) return "";
  const today = new Date().toDateString() === date.toDateString();
  return formatter(
    lang,
    today
      ? { hour: "numeric", minute: "2-digit" }
      : { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" },
  ).format(date);
}

export function formatWhen(lang, iso) {
  const date = new Date(iso);
  if (isNaN(date)) return "";
  return formatter(lang, {
    weekday: "long",
    month: "long",
    day: "numeric",
    hour: "numeric",
    minute: "2-digit",
    timeZoneName: "short",
  }).format(date);
}

// A date ("2026-03-05") as a short day label; it names a calendar day, so no zone shifts it.
export function formatDay(lang, date) {
  const day = new Date(date + "T00:00:00Z");
  if (isNaN(day)) return date;
  return formatter(lang, { weekday: "short", day: "numeric", month: "short", timeZone: "UTC" }).format(day);
}

export function visitorTimeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
  } catch (e) {
    return null;
  }
}
