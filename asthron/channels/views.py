"""Meta's webhook (verification and signed deliveries), Integrations → Channels (owners and
admins) and sending an approved WhatsApp template from the inbox."""

from __future__ import annotations

import json
import logging
import re

import sqlalchemy as sa
from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.renderers import render_to_response
from pyramid.response import Response
from pyramid.view import view_config

from asthron.audit.service import record as audit
from asthron.channels import graph, inbound, meta, outbound, service
from asthron.channels.models import KINDS, ChannelConnection
from asthron.conversations import service as conversations
from asthron.conversations.models import Conversation
from asthron.errors import status_of
from asthron.forms import field, matched_id, notice, redirect
from asthron.security.crypto import SecretDecryptionError
from asthron.security.permissions import Permission
from asthron.sites.models import Site

log = logging.getLogger(__name__)
CHALLENGE_RE = re.compile(r"\A[A-Za-z0-9_.-]{1,200}\Z")


# -- Meta's webhook ---------------------------------------------------------------------------


def _plain(status: int, text: str) -> Response:
    return Response(text, status=status, content_type="text/plain", charset="utf-8")


@view_config(route_name="channel_webhooks.meta", request_method="GET", require_csrf=False)
def webhook_verify(request):
    """Meta's subscription check: echo ``hub.challenge`` when the verify token is ours."""
    connection = service.connection_for(request.db, matched_id(request, "connection_id"))
    params = request.GET
    if not service.check_verification(
        request.secret_box, connection, params.get("hub.mode"), params.get("hub.verify_token")
    ):
        log.warning("channel webhook verification refused (connection %s)", request.matchdict)
        return _plain(403, "Verification failed.")
    challenge = params.get("hub.challenge", "")
    if not CHALLENGE_RE.match(challenge):
        return _plain(400, "hub.challenge is missing or not valid.")
    return _plain(200, challenge)


@view_config(route_name="channel_webhooks.meta", request_method="POST", require_csrf=False)
def webhook_receive(request):
    """A delivery: the signature over the raw body first (401 and nothing stored when it does
    not match), then every item; unknown items are acknowledged and ignored."""
    limit = service.max_webhook_bytes(request.app_settings)
    if (request.content_length or 0) > limit or len(request.body) > limit:
        log.warning("channel webhook refused: %s bytes (limit %s)", request.content_length, limit)
        return _plain(413, "Payload too large.")
    connection = service.connection_for(request.db, matched_id(request, "connection_id"))
    if connection is None:
        raise HTTPNotFound()
    body = request.body
    try:
        app_secret = request.secret_box.decrypt(connection.app_secret_encrypted)
    except SecretDecryptionError:
        # The keys in the secrets file changed; Meta retries, so nothing is lost meanwhile.
        log.error("channel %s: its app secret cannot be decrypted", connection.id)
        return _plain(503, "Not configured.")
    if not meta.signature_valid(app_secret, body, request.headers.get("X-Hub-Signature-256")):
        log.warning("channel %s: delivery with a bad or missing signature refused", connection.id)
        return _plain(401, "Bad signature.")
    try:
        payload = json.loads(body)
    except ValueError:
        return _plain(400, "The body is not JSON.")
    counts = inbound.handle_delivery(request.db, connection, payload)
    log.info("channel %s delivery: %s", connection.id, counts)
    return _plain(200, "EVENT_RECEIVED")


# -- Integrations → Channels ------------------------------------------------------------------


def _connection(request) -> ChannelConnection:
    connection = request.db.get(ChannelConnection, matched_id(request, "connection_id"))
    if connection is None:
        raise HTTPNotFound()
    return connection


def _sites(request) -> list[tuple[int, str]]:
    return [
        tuple(row) for row in request.db.execute(sa.select(Site.id, Site.name).order_by(Site.name))
    ]


def _list_page(request, status=200, error=None, values=None):
    request.response.status_code = status
    return {
        "connections": service.list_connections(request.db),
        "sites": dict(_sites(request)),
        "kinds": service.KIND_LABELS,
        "values": values or {},
        "error": error,
        "notice": notice(request),
    }


@view_config(
    route_name="channels.list",
    renderer="channels/list.html",
    permission=Permission.CHANNELS,
    request_method="GET",
)
def connection_list(request):
    return _list_page(request)


@view_config(
    route_name="channels.list",
    renderer="channels/list.html",
    permission=Permission.CHANNELS,
    request_method="POST",
)
def connection_create(request):
    values = {
        name: field(request, name, 200)
        for name in ("site_id", "kind", "account_id", "send_id", "label")
    }
    site_text = values["site_id"]
    try:
        connection, _verify = service.connect(
            request.db,
            request.secret_box,
            request.actor,
            site_id=int(site_text) if site_text.isascii() and site_text.isdigit() else 0,
            kind=values["kind"] if values["kind"] in KINDS else "",
            account_id=values["account_id"],
            send_id=values["send_id"],
            label=values["label"],
            access_token=field(request, "access_token", 1000),
            app_secret=field(request, "app_secret", 1000),
        )
    except service.ChannelError as exc:
        return _list_page(request, 400, exc.message, values)
    return redirect(request, "channels.detail", "channel_saved", connection_id=connection.id)


def _detail_page(request, connection, status=200, error=None, test_result=None):
    request.response.status_code = status
    try:
        secrets_ = service.masked_secrets(request.secret_box, connection)
        verify_token = service.verify_token(request.secret_box, connection)
    except SecretDecryptionError as exc:
        secrets_, verify_token, error = {}, "", error or str(exc)
    return {
        "connection": connection,
        "site_name": dict(_sites(request)).get(connection.site_id, ""),
        "kind_label": service.KIND_LABELS[connection.kind],
        "masked": secrets_,
        "verify_token": verify_token,
        "webhook_url": request.route_url("channel_webhooks.meta", connection_id=connection.id),
        "error": error,
        "test_result": test_result,
        "notice": notice(request),
    }


@view_config(
    route_name="channels.detail",
    renderer="channels/detail.html",
    permission=Permission.CHANNELS,
    request_method="GET",
)
def connection_detail(request):
    return _detail_page(request, _connection(request))


@view_config(
    route_name="channels.detail",
    renderer="channels/detail.html",
    permission=Permission.CHANNELS,
    request_method="POST",
)
def connection_update(request):
    connection = _connection(request)
    try:
        service.update_connection(
            request.db,
            request.secret_box,
            request.actor,
            connection,
            label=field(request, "label", 200),
            enabled=field(request, "enabled", 10) == "1",
            access_token=field(request, "access_token", 1000),
            app_secret=field(request, "app_secret", 1000),
        )
    except service.ChannelError as exc:
        return _detail_page(request, connection, 400, exc.message)
    return redirect(request, "channels.detail", "channel_saved", connection_id=connection.id)


@view_config(
    route_name="channels.test",
    renderer="channels/detail.html",
    permission=Permission.CHANNELS,
    request_method="POST",
)
def connection_test(request):
    """Ask the Graph API who the token is: the phone number (WhatsApp) or the page (/me)."""
    connection = _connection(request)
    path = (
        f"{connection.account_id}?fields=display_phone_number,verified_name"
        if connection.kind == "whatsapp"
        else "me?fields=id,name"
    )
    audit(request.db, request.actor, "channel.test", "channel_connection", connection.id)
    try:
        token = request.secret_box.decrypt(connection.access_token_encrypted)
        answer = graph.request(
            graph.GraphConfig.from_settings(request.app_settings), "GET", path, token
        )
    except (graph.GraphError, SecretDecryptionError) as exc:
        return _detail_page(request, connection, 400, f"The test failed: {exc}")
    name = answer.get("verified_name") or answer.get("name") or ""
    number = answer.get("display_phone_number") or answer.get("id") or ""
    return _detail_page(
        request, connection, test_result=f"Connected: {str(name)[:120]} {str(number)[:40]}".strip()
    )


@view_config(route_name="channels.delete", permission=Permission.CHANNELS, request_method="POST")
def connection_delete(request):
    service.disconnect(request.db, request.actor, _connection(request))
    return redirect(request, "channels.list", "channel_deleted")


# -- a WhatsApp template, from the inbox ------------------------------------------------------


@view_config(
    route_name="channels.template", permission=Permission.CONVERSATIONS, request_method="POST"
)
def send_template(request):
    """Outside WhatsApp's 24-hour window only an approved template may start the talk again;
    the person handling the chat sends one by its name and language."""
    conversation = request.db.get(Conversation, matched_id(request, "conversation_id"))
    if conversation is None:
        raise HTTPNotFound()
    name, language = field(request, "template_name", 600), field(request, "template_language", 40)
    user = request.user
    try:
        if conversation.channel != "whatsapp":
            raise service.ChannelError("Template messages are for WhatsApp conversations.")
        if conversation.status != "open":
            raise conversations.ConversationError(
                "This conversation is closed.", "conversation_closed"
            )
        name, language = outbound.check_template(name, language)
        conversations.lock_conversation(request.db, conversation)
        if conversation.owner != "human" or conversation.assigned_user_id != user.id:
            raise conversations.ConversationError(
                "You are not handling this chat (anymore); join it first.", "not_owner"
            )
        event = conversations.append_event(
            request.db,
            conversation,
            "staff_message",
            f"Template message: {name} ({language})",
            author_name=user.display_name,
            author_user_id=user.id,
            data={"template": {"name": name, "language": language}},
        )
    except conversations.ConversationError as exc:
        response = render_to_response(
            "error.html", {"status": status_of(exc), "message": exc.message}, request=request
        )
        response.status_code = status_of(exc)
        return response
    audit(
        request.db,
        request.actor,
        "channel.template_send",
        "conversation",
        conversation.id,
        {"template": name, "language": language, "event_id": event.id},
    )
    return HTTPSeeOther(
        request.route_url(
            "inbox.detail", conversation_id=conversation.id, _query={"done": "replied"}
        )
    )
