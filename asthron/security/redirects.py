"""Where a form may send the browser next: a plain path on this site, or nowhere."""

from __future__ import annotations

import re

# RFC 3986 path and query characters (unreserved, sub-delims, ":", "@", "/", "?", and "%"
# escapes), and nothing else: no control character or space can reach a Location header
# (where CR LF split the response and WebOb refuses with a 500), no backslash that a browser
# reads as "/", and no scheme or host.
SAME_SITE_PATH = re.compile(r"/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*")


def safe_next(value, default: str = "/") -> str:
    """``value`` if it is a plain same-site path such as ``/inbox?q=1``, else ``default``."""
    if isinstance(value, str) and len(value) <= 2000 and SAME_SITE_PATH.fullmatch(value):
        return value
    return default
