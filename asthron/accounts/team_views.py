"""The team page: members, roles, invitations, deactivation and other people's sessions."""

from __future__ import annotations

from pyramid.httpexceptions import HTTPNotFound
from pyramid.view import view_config

from asthron.accounts import service as accounts
from asthron.accounts.models import ROLES, Invitation, User
from asthron.accounts.permissions import MANAGEABLE_ROLES, Permission
from asthron.forms import field, notice, redirect
from asthron.notify.service import queue_email


def _member(request) -> User:
    user = request.db.get(User, int(request.matchdict["user_id"]))
    if user is None:
        raise HTTPNotFound()
    return user


def _page(request, error=None, status=200):
    request.response.status_code = status
    return {
        "members": accounts.list_users(request.db),
        "invitations": accounts.pending_invitations(request.db),
        "roles": ROLES,
        "grantable": sorted(MANAGEABLE_ROLES[request.user.role]),
        "error": error,
        "notice": notice(request),
    }


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
        invitation, token = accounts.invite(
            request.db,
            request.app_settings,
            request.actor,
            request.user.role,
            field(request, "email", 320),
            field(request, "role", 16),
        )
    except accounts.AccountError as exc:
        return _page(request, str(exc), 400)
    link = request.route_url("accounts.invitation", token=token)
    renderer_values = {
        "inviter": request.user.display_name,
        "link": link,
        "role": invitation.role,
        "expires_at": invitation.expires_at,
    }
    from pyramid.renderers import render

    queue_email(
        request.db,
        invitation.email,
        f"{request.user.display_name} invited you to Asthron",
        render("email/invitation.txt", renderer_values, request),
        render("email/invitation.html", renderer_values, request),
    )
    return redirect(request, "team.list", "invited")


@view_config(
    route_name="team.invitation_revoke",
    renderer="accounts/team.html",
    permission=Permission.TEAM,
    request_method="POST",
)
def revoke_invitation(request):
    invitation = request.db.get(Invitation, int(request.matchdict["invitation_id"]))
    if invitation is None:
        raise HTTPNotFound()
    try:
        accounts.revoke_invitation(request.db, request.actor, request.user.role, invitation)
    except accounts.AccountError as exc:
        return _page(request, str(exc), 403)
    return redirect(request, "team.list", "invitation_revoked")


@view_config(
    route_name="team.set_role",
    renderer="accounts/team.html",
    permission=Permission.TEAM,
    request_method="POST",
)
def set_role(request):
    try:
        accounts.set_role(
            request.db,
            request.actor,
            request.user.role,
            _member(request),
            field(request, "role", 16),
        )
    except accounts.NotAllowed as exc:
        return _page(request, str(exc), 403)
    except accounts.AccountError as exc:
        return _page(request, str(exc), 400)
    return redirect(request, "team.list", "role_changed")


@view_config(
    route_name="team.deactivate",
    renderer="accounts/team.html",
    permission=Permission.TEAM,
    request_method="POST",
)
def deactivate(request):
    try:
        accounts.deactivate(request.db, request.actor, request.user.role, _member(request))
    except accounts.NotAllowed as exc:
        return _page(request, str(exc), 403)
    except accounts.AccountError as exc:
        return _page(request, str(exc), 400)
    return redirect(request, "team.list", "deactivated")


@view_config(
    route_name="team.reactivate",
    renderer="accounts/team.html",
    permission=Permission.TEAM,
    request_method="POST",
)
def reactivate(request):
    try:
        accounts.reactivate(request.db, request.actor, request.user.role, _member(request))
    except accounts.AccountError as exc:
        return _page(request, str(exc), 403)
    return redirect(request, "team.list", "reactivated")


@view_config(
    route_name="team.sessions",
    renderer="accounts/member_sessions.html",
    permission=Permission.SESSIONS_ANY,
    request_method="GET",
)
def member_sessions(request):
    member = _member(request)
    return {
        "member": member,
        "sessions": accounts.active_sessions(request.db, member, request.app_settings),
        "notice": notice(request),
    }


@view_config(
    route_name="team.sessions_revoke",
    renderer="accounts/team.html",
    permission=Permission.SESSIONS_ANY,
    request_method="POST",
)
def member_sessions_revoke(request):
    member = _member(request)
    # An admin may sign out staff and admins; only an owner may sign out an owner.
    if member.role not in MANAGEABLE_ROLES[request.user.role]:
        return _page(request, "You cannot sign out this member.", 403)
    accounts.revoke_all_sessions(
        request.db,
        request.actor,
        member,
        "revoked by admin",
        keep_session_id=request.user_session.id,
    )
    return redirect(request, "team.sessions", "sessions_revoked", user_id=member.id)
