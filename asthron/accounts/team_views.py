"""The team page: members, roles, invitations, deactivation and other people's sessions.

Roles come only from the fixed list and the acting user's allowlist (MANAGEABLE_ROLES); the
services enforce both, so nothing in a form can grant more than the actor may grant.
"""

from __future__ import annotations

from pyramid.httpexceptions import HTTPNotFound
from pyramid.view import view_config

from asthron.accounts import invitations
from asthron.accounts import service as accounts
from asthron.accounts.models import ROLES, User
from asthron.forms import field, matched_id, notice, redirect
from asthron.notify.service import delivery_states, email_configured, queue_templated_email
from asthron.security.permissions import MANAGEABLE_ROLES, Permission


def _member(request) -> User:
    user = accounts.get_user(request.db, matched_id(request, "user_id"))
    if user is None:
        raise HTTPNotFound()
    return user


def _email_status(invitation, states) -> str:
    """What became of an invitation's email, in words for the team page."""
    if invitation.email_outbox_id is None:
        return "not emailed"
    state, error = states.get(invitation.email_outbox_id, ("done", None))
    if state == "done":
        return "emailed"
    if state == "failed":
        return "email failed"
    return "email not sent yet" + (" (retrying)" if error else "")


def _page(request, error=None, status=200, invite_result=None):
    request.response.status_code = status
    pending = invitations.pending_invitations(request.db)
    states = delivery_states(request.db, [i.email_outbox_id for i in pending])
    return {
        "members": accounts.list_users(request.db),
        "invitations": [(i, _email_status(i, states)) for i in pending],
        "roles": ROLES,
        "grantable": sorted(MANAGEABLE_ROLES[request.user.role]),
        "email_configured": email_configured(request.db),
        "invite_result": invite_result,
        "error": error,
        "notice": notice(request),
    }


def _refused(request, exc: accounts.AccountError):
    """A refused change: 403 when the actor's role does not allow it, 400 for bad input."""
    request.override_renderer = "accounts/team.html"
    return _page(request, str(exc), 403 if isinstance(exc, accounts.NotAllowed) else 400)


@view_config(
    route_name="team.list",
    renderer="accounts/team.html",
    permission=Permission.TEAM,
    request_method="GET",
)
def team(request):
    return _page(request)


@view_config(
    route_name="team.invite",
    renderer="accounts/team.html",
    permission=Permission.TEAM,
    request_method="POST",
)
def invite(request):
    try:
        invitation, token = invitations.invite(
            request.db,
            request.app_settings,
            request.actor,
            request.user.role,
            field(request, "email", 320),
            field(request, "role", 16),
        )
    except accounts.AccountError as exc:
        return _refused(request, exc)
    link = request.route_url("accounts.invitation", token=token)
    emailed = email_configured(request.db)
    if emailed:
        item = queue_templated_email(
            request.db,
            invitation.email,
            "invitation",
            inviter=request.user.display_name,
            link=link,
            role=invitation.role,
            expires_at=invitation.expires_at,
        )
        invitation.email_outbox_id = item.id
    # The link is shown once, on this answer (only its hash is stored): without email it is
    # the only way in, and with email it is the fallback if delivery fails. A redirect would
    # lose it, so the page is rendered here.
    return _page(
        request,
        invite_result={
            "email": invitation.email,
            "link": link,
            "emailed": emailed,
            "expires_at": invitation.expires_at,
        },
    )


@view_config(
    route_name="team.invitation_revoke",
    renderer="accounts/team.html",
    permission=Permission.TEAM,
    request_method="POST",
)
def revoke_invitation(request):
    invitation = invitations.get_invitation(request.db, matched_id(request, "invitation_id"))
    if invitation is None:
        raise HTTPNotFound()
    try:
        invitations.revoke_invitation(request.db, request.actor, request.user.role, invitation)
    except accounts.AccountError as exc:
        return _refused(request, exc)
    return redirect(request, "team.list", "invitation_revoked")


@view_config(
    route_name="team.set_role",
    renderer="accounts/team.html",
    permission=Permission.TEAM,
    request_method="POST",
)
def set_role(request):
    member = _member(request)
    try:
        accounts.set_role(
            request.db, request.actor, request.user.role, member, field(request, "role", 16)
        )
    except accounts.AccountError as exc:
        return _refused(request, exc)
    return redirect(request, "team.list", "role_changed")


@view_config(
    route_name="team.deactivate",
    renderer="accounts/team.html",
    permission=Permission.TEAM,
    request_method="POST",
)
def deactivate(request):
    member = _member(request)
    try:
        accounts.deactivate(request.db, request.actor, request.user.role, member)
    except accounts.AccountError as exc:
        return _refused(request, exc)
    return redirect(request, "team.list", "deactivated")


@view_config(
    route_name="team.reactivate",
    renderer="accounts/team.html",
    permission=Permission.TEAM,
    request_method="POST",
)
def reactivate(request):
    member = _member(request)
    try:
        accounts.reactivate(request.db, request.actor, request.user.role, member)
    except accounts.AccountError as exc:
        return _refused(request, exc)
    return redirect(request, "team.list", "reactivated")


@view_config(
    route_name="team.sessions",
    renderer="accounts/member_sessions.html",
    permission=Permission.SESSIONS_ANY,
    request_method="GET",
)
def member_sessions(request):
    member = _member(request)
    try:
        sessions = accounts.member_sessions(
            request.db, request.app_settings, request.user.role, member
        )
    except accounts.AccountError as exc:
        return _refused(request, exc)
    return {"member": member, "sessions": sessions, "notice": notice(request)}


@view_config(
    route_name="team.sessions_revoke",
    renderer="accounts/team.html",
    permission=Permission.SESSIONS_ANY,
    request_method="POST",
)
def member_sessions_revoke(request):
    member = _member(request)
    try:
        # An admin may sign out staff and admins; only an owner may sign out an owner.
        accounts.revoke_member_sessions(
            request.db,
            request.actor,
            request.user.role,
            member,
            keep_session_id=request.user_session.id,
        )
    except accounts.AccountError as exc:
        return _refused(request, exc)
    return redirect(request, "team.sessions", "sessions_revoked", user_id=member.id)
