"""Input rules shared by the lead pages: the error a person can fix, control characters,
tags."""

import re

# Control characters have no place in a name, a tag or a note.
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
MAX_TAGS = 20
MAX_TAG = 40
_TAG_RE = re.compile(r"^[\w][\w \-]*$")


class LeadInputError(ValueError):
    """Input a person can fix; ``field`` names the form field when there is one."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


def normalize_tag(text: str) -> str:
    tag = " ".join(str(text).split()).lower()
    if not tag or len(tag) > MAX_TAG or not _TAG_RE.match(tag):
        raise LeadInputError(
            f"A tag is letters, digits, spaces, - and _ ({MAX_TAG} characters at most).", "tags"
        )
    return tag


def parse_tags(text: str) -> list[str]:
    tags = []
    for part in text.replace("\n", ",").split(","):
        if part.strip():
            tag = normalize_tag(part)
            if tag not in tags:
                tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise LeadInputError(f"At most {MAX_TAGS} tags.", "tags")
    return tags
