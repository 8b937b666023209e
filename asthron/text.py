"""Control characters in text that came from outside: stripped when stored, escaped when shown.

A visitor's name or email is later printed on an operator's terminal (``asthron leads
export``, ``users list``), where ESC starts a control sequence (retitling the window, moving
the cursor, in some terminals worse) and BEL rings. So every stored visitor string loses its
control characters (C0, DEL and C1: Unicode category Cc), and the command line escapes
whatever older rows still hold. One-line fields (names, emails, companies) also lose
bidirectional overrides and line separators, which make a terminal or a table show text in
another order, or on another line, than it is; chat messages keep them, since right-to-left
writers use them.
"""

from __future__ import annotations

import unicodedata

import phonenumbers

# Not category Cc, but they change how the text around them is displayed (Trojan Source).
DISPLAY_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def is_control(ch: str) -> bool:
    return unicodedata.category(ch) == "Cc"


def has_controls(text: str, keep: str = "") -> bool:
    return any(is_control(ch) and ch not in keep for ch in text)


def strip_controls(text: str, keep: str = "") -> str:
    """``text`` without control characters, except those in ``keep`` (say "\\n\\t" for a
    message that may have lines)."""
    return "".join(ch for ch in text if ch in keep or not is_control(ch))


def single_line(text: str) -> str:
    """One line of plain text: no control or display-control characters, and each run of
    whitespace a single space."""
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or not (is_control(ch) or ch in DISPLAY_CONTROLS)
    )
    return " ".join(kept.split())


def escape_controls(text: str, keep: str = "") -> str:
    """Control and display-control characters written as ``\\u001b`` (readable, and still
    valid inside a JSON string), except those in ``keep``."""
    return "".join(
        f"\\u{ord(ch):04x}" if (is_control(ch) or ch in DISPLAY_CONTROLS) and ch not in keep else ch
        for ch in text
    )


# A phone number as typed can hardly be longer than this, spaces and brackets included.
MAX_PHONE_INPUT = 40


def international_phone(text: str) -> str | None:
    """A phone number typed with its country code ("+44 20 7946 0958") in E.164
    ("+442079460958"), the one form stored and searched; None when blank. ValueError when it
    is not a valid number in international form."""
    text = single_line(text or "")
    if not text:
        return None
    if len(text) > MAX_PHONE_INPUT or not text.startswith("+"):
        raise ValueError("Enter the phone number with its country code, like +44 20 7946 0958.")
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        raise ValueError("That is not a valid phone number.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
