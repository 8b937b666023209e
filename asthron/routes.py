"""Every route, named feature.action."""


def includeme(config):
    config.add_route("health.check", "/healthz")

    config.add_route("dashboard.home", "/")
    config.add_route("accounts.login", "/login")
    config.add_route("accounts.logout", "/logout")
    config.add_route("accounts.password", "/account/password")
    config.add_route("accounts.sessions", "/account/sessions")
    config.add_route("accounts.theme", "/account/theme")
    config.add_route("accounts.session_revoke", "/account/sessions/{session_id:\\d{1,9}}/revoke")
    config.add_route("accounts.invitation", "/invitations/{token}")

    config.add_route("team.list", "/team")
    config.add_route("team.invite", "/team/invite")
    config.add_route("team.invitation_revoke", "/team/invitations/{invitation_id:\\d{1,9}}/revoke")
    config.add_route("team.set_role", "/team/{user_id:\\d{1,9}}/role")
    config.add_route("team.deactivate", "/team/{user_id:\\d{1,9}}/deactivate")
    config.add_route("team.reactivate", "/team/{user_id:\\d{1,9}}/reactivate")
    config.add_route("team.sessions", "/team/{user_id:\\d{1,9}}/sessions")
    config.add_route("team.sessions_revoke", "/team/{user_id:\\d{1,9}}/sessions/revoke")

    config.add_route("audit.list", "/audit")
    config.add_route("audit.export", "/audit/export.csv")
    config.add_route("privacy.page", "/privacy")
    config.add_route("privacy.retention", "/privacy/retention")
    config.add_route("privacy.export", "/privacy/export.zip")
    config.add_route("privacy.erase", "/privacy/erase")
    # After the owner's /privacy/… routes, which it must never shadow.
    config.add_route("privacy.public", "/privacy/{site_key:[A-Za-z0-9_-]{8,64}}")

    config.add_route("sites.list", "/sites")
    config.add_route("sites.create", "/sites/new")
    config.add_route("sites.edit", "/sites/{site_id:\\d{1,9}}")
    config.add_route("sites.identity_secret", "/sites/{site_id:\\d{1,9}}/identity-secret")
    config.add_route("sites.privacy_policy", "/sites/{site_id:\\d{1,9}}/privacy-page")
    config.add_route("sites.preview", "/sites/{site_id:\\d{1,9}}/preview")
    config.add_route("sites.avatar", "/sites/{site_id:\\d{1,9}}/avatar")

    config.add_route("conversations.list", "/conversations")
    config.add_route("conversations.detail", "/conversations/{conversation_id:\\d{1,9}}")
    config.add_route(
        "conversations.mark_wrong",
        "/conversations/{conversation_id:\\d{1,9}}/replies/{event_id:\\d{1,9}}/wrong",
    )

    config.add_route("bookings.list", "/bookings")
    config.add_route("bookings.agenda", "/bookings/calendar")
    # Staff actions on one booking (other pages link to these names).
    config.add_route("bookings.approve", "/bookings/{booking_id:\\d{1,9}}/approve")
    config.add_route("bookings.decline", "/bookings/{booking_id:\\d{1,9}}/decline")
    config.add_route("bookings.cancel", "/bookings/{booking_id:\\d{1,9}}/cancel")
    config.add_route("bookings.no_show", "/bookings/{booking_id:\\d{1,9}}/no-show")
    config.add_route("bookings.reschedule", "/bookings/{booking_id:\\d{1,9}}/reschedule")
    config.add_route("bookings.setup", "/bookings/setup")
    config.add_route("bookings.service_new", "/bookings/setup/services/new")
    config.add_route("bookings.service_edit", "/bookings/setup/services/{service_id:\\d{1,9}}")
    config.add_route("bookings.resource_new", "/bookings/setup/resources/new")
    booking_resource = "/bookings/setup/resources/{resource_id:\\d{1,9}}"
    config.add_route("bookings.resource_edit", booking_resource)
    config.add_route("bookings.resource_hours", booking_resource + "/hours")
    config.add_route("bookings.resource_override", booking_resource + "/overrides")
    config.add_route("bookings.resource_override_remove", booking_resource + "/overrides/remove")
    config.add_route("bookings.resource_holidays", booking_resource + "/holidays")
    # Calendar connections per staff member/resource; the OAuth callback Google redirects to.
    config.add_route("bookings.calendars", "/bookings/calendars")
    config.add_route(
        "bookings.calendar_caldav", "/bookings/calendars/{resource_id:\\d{1,9}}/caldav"
    )
    config.add_route(
        "bookings.calendar_google_start", "/bookings/calendars/{resource_id:\\d{1,9}}/google"
    )
    config.add_route(
        "bookings.calendar_choose", "/bookings/calendars/{resource_id:\\d{1,9}}/choose"
    )
    config.add_route("bookings.calendar_test", "/bookings/calendars/{resource_id:\\d{1,9}}/test")
    config.add_route(
        "bookings.calendar_disconnect", "/bookings/calendars/{resource_id:\\d{1,9}}/disconnect"
    )
    config.add_route("bookings.calendar_google_callback", "/bookings/calendars/google/callback")
    config.add_route("bookings.google_app", "/bookings/calendars/google-app")

    config.add_route("inbox.list", "/inbox")
    config.add_route("inbox.stream", "/inbox/stream")
    config.add_route("inbox.heartbeat", "/inbox/heartbeat")
    config.add_route("inbox.presence", "/inbox/presence")
    inbox_conversation = "/inbox/{conversation_id:\\d{1,9}}"
    config.add_route("inbox.detail", inbox_conversation)
    config.add_route("inbox.panel", inbox_conversation + "/panel")
    config.add_route("inbox.events", inbox_conversation + "/stream")
    config.add_route("inbox.join", inbox_conversation + "/join")
    config.add_route("inbox.reply", inbox_conversation + "/reply")
    config.add_route("inbox.typing", inbox_conversation + "/typing")
    config.add_route("inbox.return", inbox_conversation + "/return")
    config.add_route("inbox.close", inbox_conversation + "/close")
    config.add_route("inbox.reopen", inbox_conversation + "/reopen")
    config.add_route("inbox.note", inbox_conversation + "/notes")
    config.add_route("inbox.read", inbox_conversation + "/read")
    config.add_route("inbox.visitor", inbox_conversation + "/visitor")

    config.add_route("widget.script", "/widget.js")
    config.add_route("widget.demo", "/demo")
    config.add_route(
        "widget.avatar", "/widget-avatar/{site_key:[A-Za-z0-9_-]{8,64}}/{digest:[0-9a-f]{64}}"
    )
    config.add_route(
        "unsubscribe.visitor", "/unsubscribe/{visitor_id:\\d{1,9}}/{token:[0-9a-f]{64}}"
    )

    # The public booking page of a service, and the booking's own page (its random reference).
    config.add_route("bookings.page", "/book/{site_key}/{slug}")
    config.add_route("bookings.done", "/booked/{reference}")
    # The customer's pay page (the payment's random reference), and the one a held booking's
    # customer is sent to (the booking's reference).
    config.add_route("payments.pay", "/pay/{reference}")
    config.add_route("payments.booking", "/pay/booking/{reference}")
    # Stripe's signed webhook (no cookies, no CSRF: the signature is the authority).
    config.add_route("hooks.stripe", "/hooks/stripe")
    # The customer's own links from the booking's emails (a random token each; see
    # asthron/bookings/links.py): GET shows a page, only POST changes anything.
    config.add_route("bookings.manage", "/booking/{token}")
    config.add_route("bookings.manage_cancel", "/booking/{token}/cancel")
    config.add_route("bookings.manage_reschedule", "/booking/{token}/reschedule")

    api = "/api/widget/v1"
    config.add_route("widget_api.preflight", api + "/*subpath", request_method="OPTIONS")
    config.add_route("widget_api.openapi", api + "/openapi.json")
    config.add_route("widget_api.sessions", api + "/sessions")
    config.add_route("widget_api.config", api + "/config")
    config.add_route("widget_api.consent", api + "/consent")
    config.add_route("widget_api.conversations", api + "/conversations")
    conversation = api + "/conversations/{conversation_id}"
    config.add_route("widget_api.messages", conversation + "/messages")
    config.add_route("widget_api.events", conversation + "/events")
    config.add_route("widget_api.stream", conversation + "/stream")
    config.add_route("widget_api.read", conversation + "/read")
    config.add_route("widget_api.handoff", conversation + "/handoff")
    config.add_route("widget_api.lead", conversation + "/lead")
    config.add_route("widget_api.lead_form", conversation + "/lead-form")
    config.add_route("widget_api.booking_slots", conversation + "/booking/slots")
    config.add_route("widget_api.booking_hold", conversation + "/booking/hold")
    config.add_route("widget_api.booking_confirm", conversation + "/booking/confirm")
    config.add_route("widget_api.offline_messages", api + "/offline-messages")

    config.add_route("integrations.email", "/integrations/email")
    config.add_route("integrations.email_test", "/integrations/email/test")
    config.add_route("integrations.email_templates", "/integrations/email/templates")
    config.add_route(
        "integrations.email_template", "/integrations/email/templates/{name:[a-z_]{1,64}}"
    )
    config.add_route("alerts.rules", "/integrations/email/routing")
    config.add_route("alerts.rule", "/integrations/email/routing/{rule_id:\\d{1,9}}")
    config.add_route("alerts.rule_delete", "/integrations/email/routing/{rule_id:\\d{1,9}}/delete")

    config.add_route("knowledge.list", "/knowledge")
    config.add_route("knowledge.sources", "/knowledge/sources")
    config.add_route("knowledge.upload", "/knowledge/upload")
    config.add_route("knowledge.source", "/knowledge/sources/{source_id:\\d{1,9}}")
    config.add_route("knowledge.source_crawl", "/knowledge/sources/{source_id:\\d{1,9}}/crawl")
    config.add_route("knowledge.source_delete", "/knowledge/sources/{source_id:\\d{1,9}}/delete")
    config.add_route("knowledge.crawl", "/knowledge/crawls/{crawl_id:\\d{1,9}}")
    config.add_route("knowledge.create", "/knowledge/new")
    config.add_route("knowledge.gaps", "/knowledge/gaps")
    config.add_route("knowledge.gaps_dismiss", "/knowledge/gaps/dismiss")
    config.add_route("knowledge.synonyms", "/knowledge/synonyms")
    config.add_route("knowledge.edit", "/knowledge/{article_id:\\d{1,9}}")
    config.add_route("knowledge.delete", "/knowledge/{article_id:\\d{1,9}}/delete")

    config.add_route("assistant.profile", "/assistant")
    config.add_route("assistant.providers", "/integrations/ai")
    config.add_route("assistant.budget", "/integrations/ai/budget")
    config.add_route("assistant.prices", "/integrations/ai/prices")
    config.add_route("assistant.providers_test", "/integrations/ai/{slot}/test")
    config.add_route("assistant.providers_remove", "/integrations/ai/{slot}/remove")
    config.add_route("usage.dashboard", "/usage")

    config.add_route("payments.settings", "/integrations/payments")
    config.add_route("payments.check", "/integrations/payments/check")
    config.add_route("payments.list", "/payments")
    config.add_route("payments.detail", "/payments/{payment_id:\\d{1,9}}")
    config.add_route("payments.refund", "/payments/{payment_id:\\d{1,9}}/refund")
    config.add_route("payments.request", "/payments/request/{conversation_id:\\d{1,9}}")

    config.add_route("webhooks.list", "/integrations/webhooks")
    endpoint = "/integrations/webhooks/{endpoint_id:\\d{1,9}}"
    config.add_route("webhooks.detail", endpoint)
    config.add_route("webhooks.test", endpoint + "/test")
    config.add_route("webhooks.rotate", endpoint + "/rotate")
    config.add_route("webhooks.delete", endpoint + "/delete")
    delivery = endpoint + "/deliveries/{delivery_id:\\d{1,9}}"
    config.add_route("webhooks.delivery", delivery)
    config.add_route("webhooks.redeliver", delivery + "/redeliver")

    config.add_route("channels.list", "/integrations/channels")
    channel = "/integrations/channels/{connection_id:\\d{1,9}}"
    config.add_route("channels.detail", channel)
    config.add_route("channels.test", channel + "/test")
    config.add_route("channels.delete", channel + "/delete")
    config.add_route("channels.template", "/inbox/{conversation_id:\\d{1,9}}/template")
    # Meta's webhook: verification (GET) and signed deliveries (POST); no cookies, no CSRF.
    config.add_route("channel_webhooks.meta", "/channels/meta/{connection_id:\\d{1,9}}/webhook")

    config.add_route("leads.list", "/leads")
    config.add_route("leads.bulk", "/leads/bulk")
    config.add_route("leads.export", "/leads/export.csv")
    config.add_route("leads.settings", "/leads/settings")
    config.add_route("leads.rules", "/leads/settings/rules")
    config.add_route("leads.questions", "/leads/settings/questions")
    lead_question = "/leads/settings/questions/{question_id:\\d{1,9}}"
    config.add_route("leads.question", lead_question)
    config.add_route("leads.question_move", lead_question + "/move")
    config.add_route("leads.site_form", "/leads/settings/sites/{site_id:\\d{1,9}}")
    lead = "/leads/{lead_id:\\d{1,9}}"
    config.add_route("leads.detail", lead)
    config.add_route("leads.update", lead + "/edit")
    config.add_route("leads.status", lead + "/status")
    config.add_route("leads.assign", lead + "/assign")
    config.add_route("leads.tags", lead + "/tags")
    config.add_route("leads.note", lead + "/notes")
    config.add_route("leads.ai_note", lead + "/ai-note")
    config.add_route("leads.ai_note_regenerate", lead + "/ai-note/regenerate")
    config.add_route("leads.proposal", lead + "/proposals/{proposal_id:\\d{1,9}}")
