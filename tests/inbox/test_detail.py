"""One conversation for staff: the visitor's context, the AI summary, the transcript with
notes, and the controls partial that htmx swaps."""

from __future__ import annotations

import re


def test_visitor_context_and_summary(make_staff, chat):
    page = make_staff().get(f"/inbox/{chat}").text
    context = page.split('id="context"')[1]
    assert "Grace Hopper" in context and "grace@example.com" in context
    assert "(Europe/Madrid)" in context and re.search(
        r'data-tz="Europe/Madrid">\d\d:\d\d<', context
    )
    assert 'href="https://shop.example.com/checkout"' in context  # the current page
    pages = re.findall(r'<span class="url">([^<]+)</span>', context)
    assert pages == [
        "https://shop.example.com/checkout",
        "https://shop.example.com/teapots",
        "https://shop.example.com/",
    ]
    assert "First seen" in context
    assert "<h2>Summary</h2>" in context and "Where is my order 1234?" in context


def test_unknown_time_zone_is_shown_as_unknown(make_staff, chat, run_in_tm):
    from asthron.conversations.models import Visitor as VisitorRow

    def mars(db):
        db.query(VisitorRow).one().timezone = "Mars/Olympus_Mons"

    run_in_tm(mars)
    context = make_staff().get(f"/inbox/{chat}").text.split('id="context"')[1]
    assert "<dt>Local time</dt><dd>unknown</dd>" in context


def test_htmx_reply_and_note_swap_the_controls(make_staff, chat, stored_events):
    alice = make_staff(name="Alice")
    joined = alice.post(f"/inbox/{chat}/join", htmx=True)
    assert joined.status_int == 200 and joined.headers["X-Inbox-Partial"] == "1"
    assert "You are handling this chat." in joined.text
    assert 'id="context" class="context card" hx-swap-oob="true"' in joined.text
    client_id = re.search(r'name="client_id" value="([0-9a-f]{32})"', joined.text).group(1)

    sent = alice.post(
        f"/inbox/{chat}/reply", {"body": "On its way!", "client_id": client_id}, htmx=True
    )
    assert sent.status_int == 200
    assert re.search(r'<textarea id="reply-body"[^>]*></textarea>', sent.text)  # emptied
    # The same client_id again (a double submit) stores nothing new.
    again = alice.post(
        f"/inbox/{chat}/reply", {"body": "On its way!", "client_id": client_id}, htmx=True
    )
    assert again.status_int == 200
    assert [r[1] for r in stored_events(chat)].count("staff_message") == 1

    refused = alice.post(f"/inbox/{chat}/reply", {"body": "   "}, htmx=True)
    assert refused.status_int == 422 and "reply must not be empty." in refused.text

    noted = alice.post(f"/inbox/{chat}/notes", {"body": "checked the courier"}, htmx=True)
    assert noted.status_int == 200
    rows = stored_events(chat)
    assert rows[-1][1:] == ("note", "checked the courier", False)
    # The page shows the note as internal.
    page = alice.get(f"/inbox/{chat}").text
    assert re.search(
        r'class="ev ev-note internal"[^>]*>\s*<div class="ev-meta"><span '
        r'class="ev-author">Alice · internal note',
        page,
    )


def test_panel_is_a_read_only_partial(make_staff, chat, conversation_state):
    staff = make_staff()
    panel = staff.get(f"/inbox/{chat}/panel")
    assert panel.headers["X-Inbox-Partial"] == "1"
    assert 'id="controls"' in panel.text and ">Join</button>" in panel.text
    assert conversation_state(chat)["owner"] == "assistant"
    assert staff.get("/inbox/999999/panel", status=404)


def test_plain_form_posts_redirect_back_with_a_notice(make_staff, chat):
    staff = make_staff()
    response = staff.post(f"/inbox/{chat}/join", {"csrf_token": staff.csrf}, json_=False)
    assert response.status_int == 303
    assert response.headers["Location"].endswith(f"/inbox/{chat}?done=joined")
    assert "You joined the chat." in staff.get(f"/inbox/{chat}?done=joined").text
    assert "You joined" not in staff.get(f"/inbox/{chat}?done=<script>").text
