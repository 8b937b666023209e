// English is built in; config.strings (the server's translation file for the site's
// language, same keys) overrides any of these.
export const EN = {
  open: "Open chat",
  close: "Close chat",
  placeholder: "Type your message…",
  send: "Send",
  typing: "Typing…",
  privacy_accept: "Got it",
  privacy_link: "Privacy policy",
  closed_until: "We're closed right now. We'll reply from {when}.",
  closed: "We're closed right now.",
  leave_message: "Leave a message",
  name: "Name",
  email: "Email",
  message: "Message",
  message_sent: "Thanks! We'll reply by email.",
  retry: "Not sent. Retry",
  you: "You",
  assistant: "Assistant",
  new_messages: "new messages",
  sending: "Sending…",
  error: "Something went wrong. Please try again.",
  back: "Back to chat",
};

export function mergeStrings(overrides) {
  const out = { ...EN };
  if (overrides && typeof overrides === "object") {
    for (const key in EN) {
      if (typeof overrides[key] === "string" && overrides[key]) out[key] = overrides[key];
    }
  }
  return out;
}
