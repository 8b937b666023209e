"""Dashboard: register websites, edit the widget's look, hours and privacy notice."""

from __future__ import annotations

import json

from pyramid.httpexceptions import HTTPNotFound
from pyramid.view import view_config

from asthron.forms import FormError, field, matched_id, notice, parse_form, redirect
from asthron.security.permissions import Permission
from asthron.sites import service
from asthron.sites.config import widget_config
from asthron.sites.forms import THEMES, SiteForm, grid_of
from asthron.sites.models import Site

FIELDS = (
    "name",
    "title",
    "greeting",
    "accent_color",
    "position",
    "theme",
    "launcher_text",
    "reply_time",
    "language",
    "timezone",
    "privacy_notice",
    "privacy_url",
)


def _form_input(request) -> service.SiteInput:
    """The posted site form (FormError for a field sent twice, too long or not JSON), as the
    service's input; the service checks the settings themselves (SiteError)."""
    form = parse_form(SiteForm, request.POST)
    return service.SiteInput(**form.settings_input())


def _values_of(site: Site | None) -> dict:
    if site is None:
        return {
            "name": "",
            "origins": "",
            "title": "Chat with us",
            "greeting": "Hi! How can we help?",
            "accent_color": "#2f5bea",
            "position": "right",
            "theme": "auto",
            "launcher_text": "",
            "reply_time": "",
            "language": "en",
            "timezone": "UTC",
            "privacy_notice": "",
            "privacy_url": "",
            "business_hours": "{}",
            "holidays": "",
            "hours_mode": "always",
            "grid": grid_of(None),
        }
    return {
        **{name: getattr(site, name) for name in FIELDS},
        "origins": "\n".join(site.allowed_origins or []),
        "business_hours": json.dumps(site.business_hours or {}),
        "holidays": "\n".join(site.holidays or []),
        "hours_mode": "schedule" if site.business_hours else "always",
        "grid": grid_of(site.business_hours),
    }


def _posted_values(request, site: Site | None) -> dict:
    """The form as posted, to show it again with its error (the grid as the owner left it)."""
    values = dict(_values_of(site), **request.POST.mixed())
    for row in values["grid"]:
        day = row["day"]
        row["open"] = bool(request.POST.get(f"{day}_open"))
        row["ranges"] = [
            [request.POST.get(f"{day}_from_{i}", ""), request.POST.get(f"{day}_to_{i}", "")]
            for i in range(len(row["ranges"]))
        ]
    return values


def _page(request, site: Site, **extra) -> dict:
    """What the site's page shows: the form, the live preview, the snippet and the rest."""
    return {
        "site": site,
        "values": _values_of(site),
        "themes": THEMES,
        "snippet": service.embed_snippet(site, request.app_settings.public_url),
        "identity": _identity(request, site),
        "policy": _policy(request, site),
        "preview_config": json.dumps(widget_config(request, site), separators=(",", ":")),
        **extra,
    }


@view_config(
    route_name="sites.list",
    renderer="sites/list.html",
    permission=Permission.SETTINGS,
    request_method="GET",
)
def site_list(request):
    return {"sites": service.list_sites(request.db), "notice": notice(request)}


@view_config(
    route_name="sites.create",
    renderer="sites/edit.html",
    permission=Permission.SETTINGS,
    request_method="GET",
)
def site_new(request):
    return {"site": None, "values": _values_of(None), "themes": THEMES, "snippet": None}


@view_config(
    route_name="sites.create",
    renderer="sites/edit.html",
    permission=Permission.SETTINGS,
    request_method="POST",
)
def site_create(request):
    try:
        data = _form_input(request)
        site = service.create_site(request.db, request.actor, data)
    except (service.SiteError, FormError) as exc:
        request.response.status_code = 400
        return {
            "site": None,
            "values": _posted_values(request, None),
            "themes": THEMES,
            "snippet": None,
            "error": str(exc),
        }
    return redirect(request, "sites.edit", "site_saved", site_id=site.id)


def _site(request) -> Site:
    site = request.db.get(Site, matched_id(request, "site_id"))
    if site is None:
        raise HTTPNotFound()
    return site


def _policy(request, site: Site, text: str | None = None, effective: str | None = None) -> dict:
    saved = site.privacy_policy_effective
    return {
        "text": service.policy_text(site) if text is None else text,
        "effective": (saved.isoformat() if saved else "") if effective is None else effective,
        "version": site.privacy_policy_version,
        "url": request.route_url("privacy.public", site_key=site.public_key),
    }


def _identity(request, site: Site, new_secret: str | None = None, rotated=False) -> dict:
    return {
        "masked": service.identity_secret_masked(request.secret_box, site),
        "new_secret": new_secret,
        "rotated": rotated,
    }


@view_config(
    route_name="sites.edit",
    renderer="sites/edit.html",
    permission=Permission.SETTINGS,
    request_method="GET",
)
def site_edit(request):
    return _page(request, _site(request), notice=notice(request))


@view_config(
    route_name="sites.privacy_policy",
    renderer="sites/edit.html",
    permission=Permission.SETTINGS,
    request_method="POST",
)
def privacy_policy_update(request):
    """Save the public privacy page's text and effective date; a change raises its version."""
    site = _site(request)
    text = field(request, "privacy_policy_text", service.MAX_POLICY_LENGTH + 1000)
    effective = field(request, "effective", 20)
    try:
        changed = service.set_privacy_policy(request.db, request.actor, site, text, effective)
    except service.SiteError as exc:
        request.response.status_code = 400
        return _page(request, site, policy=_policy(request, site, text, effective), error=str(exc))
    return redirect(
        request,
        "sites.edit",
        "privacy_page_saved" if changed else "nothing_changed",
        site_id=site.id,
    )


@view_config(
    route_name="sites.identity_secret",
    renderer="sites/edit.html",
    permission=Permission.SETTINGS,
    request_method="POST",
)
def identity_secret_rotate(request):
    """Generate or rotate the site's identity secret. The page shows it this once (no redirect:
    it is in this response only, which is never cached); afterwards only a masked form."""
    site = _site(request)
    rotated = site.identity_secret_encrypted is not None
    secret = service.rotate_identity_secret(request.db, request.secret_box, request.actor, site)
    return _page(request, site, identity=_identity(request, site, secret, rotated))


@view_config(
    route_name="sites.edit",
    renderer="sites/edit.html",
    permission=Permission.SETTINGS,
    request_method="POST",
)
def site_update(request):
    site = _site(request)
    try:
        data = _form_input(request)
        service.update_site(request.db, request.actor, site, data)
    except (service.SiteError, FormError) as exc:
        request.response.status_code = 400
        request.db.expire(site)
        return _page(request, site, values=_posted_values(request, site), error=str(exc))
    return redirect(request, "sites.edit", "site_saved", site_id=site.id)


@view_config(
    route_name="sites.avatar",
    renderer="sites/edit.html",
    permission=Permission.SETTINGS,
    request_method="POST",
)
def avatar_update(request):
    """Upload the widget's avatar (team photo), or remove it (``remove`` posted)."""
    site = _site(request)
    try:
        if field(request, "remove", 10):
            changed = service.remove_avatar(request.db, request.actor, site)
            return redirect(
                request,
                "sites.edit",
                "avatar_removed" if changed else "nothing_changed",
                site_id=site.id,
            )
        upload = request.POST.get("avatar")
        stream = getattr(upload, "file", None)
        if stream is None:
            raise service.SiteError("Choose an image file to upload.")
        data = stream.read(service.MAX_AVATAR_BYTES + 1)
        service.set_avatar(request.db, request.actor, site, data)
    except service.SiteError as exc:
        request.response.status_code = 400
        return _page(request, site, error=str(exc))
    return redirect(request, "sites.edit", "avatar_saved", site_id=site.id)


@view_config(
    route_name="sites.preview",
    renderer="sites/preview.html",
    permission=Permission.SETTINGS,
    request_method="GET",
)
def site_preview(request):
    """The editor's live preview: a page, framed by the site's page only, that runs the real
    widget.js in preview mode with the saved settings; the editor's script sends the draft
    ones as the owner types (static/site-editor.js)."""
    site = _site(request)
    request.csp["frame-ancestors"] = ["'self'"]
    request.response.headers["X-Frame-Options"] = "SAMEORIGIN"
    config = widget_config(request, site)
    return {"site": site, "config": json.dumps(config, separators=(",", ":"))}
