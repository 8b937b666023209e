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
  talk: "Talk to a person",
  staff_typing: "{name} is typing…",
  leave_details: "Leave my details",
  replies_in: "Usually replies in {when}",
  have_details: "We already have your details. Thank you!",
  phone: "Phone",
  company: "Company",
  choose: "Choose…",
  submit: "Send details",
  confirm: "Confirm",
  edit: "Edit",
  details_sent: "Details sent",
  required: "This field is required.",
  bad_email: "Enter a valid email address.",
  bad_phone: "Enter a valid phone number.",
  new_conversation: "New conversation",
  book_loading: "Looking for free times…",
  book_none: "No free times in the next two weeks.",
  book_relaxed: "Nothing is free then. These are the next free times:",
  book_zone: "Times in {zone}",
  book_days: "Days",
  book_times: "Times",
  book_other: "Another service",
  book_change: "Change time",
  book_confirm: "Book",
  book_contact: "Give an email address or a phone number.",
  book_done: "Booked:",
  book_pending: "Requested:",
  book_held: "Held until you pay:",
  pay: "Pay {amount}",
  pay_paid: "✓ Paid",
  pay_expired: "Expired",
  pay_failed: "Payment failed",
  pay_refunded: "Refunded",
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
