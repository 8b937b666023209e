"""The public privacy page of each site, at /privacy/{site_key}: no login, no cookies.

The widget's consent step links to it when the owner has not given their own page's address
(``sites/config.py``). The owner edits its text on the site's dashboard page; the text is
shown as plain paragraphs (never HTML), followed by what Asthron stores in browsers.
"""

from __future__ import annotations

from pyramid.httpexceptions import HTTPNotFound
from pyramid.view import view_config

from asthron.privacy import disclosure
from asthron.sites import service as sites


def paragraphs(text: str, site_name: str) -> list[str]:
    text = text.replace("{site}", site_name)
    return [" ".join(p.split("\n")) for p in text.split("\n\n") if p.strip()]


@view_config(
    route_name="privacy.public",
    renderer="privacy/public.html",
    request_method="GET",
    require_csrf=False,
)
def public_privacy_page(request):
    site = sites.get_by_key(request.db, request.matchdict.get("site_key"))
    if site is None:
        raise HTTPNotFound()
    request.response.cache_control = "public, max-age=300"
    return {
        "site": site,
        "paragraphs": paragraphs(sites.policy_text(site), site.name),
        "version": site.privacy_policy_version,
        "effective": site.privacy_policy_effective,
        "stored": disclosure.entries(site.public_key),
    }
