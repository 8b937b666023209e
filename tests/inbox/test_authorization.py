"""Who may do what in a conversation, and internal notes staying internal: never in a
visitor payload (events, long poll, stream) nor in what the model is given."""

from __future__ import annotations

import pytest

from tests.inbox.conftest import AnsweringResponder, wait_for

NOTE = "INTERNAL: refund approved up to 20%"


@pytest.fixture
def waiting(visitor, no_replies):
    """A conversation waiting for a person (the visitor asked for one)."""
    conversation = visitor.open()
    visitor.send(conversation["id"], "Can I talk to a human please")
    return conversation["id"]


def test_only_the_owner_replies_types_and_returns(make_staff, waiting, conversation_state):
    alice, bob = make_staff(name="Alice"), make_staff(name="Bob")
    assert alice.act(waiting, "join").status_int == 200
    for action, data in (("reply", {"body": "hi"}), ("return", {}), ("typing", {"active": "1"})):
        response = bob.act(waiting, action, **data)
        assert response.status_int == 409, (action, response.text)
        assert response.json["error"]["code"] == "not_owner"
    # Bob may still read along and leave notes.
    assert bob.get(f"/inbox/{waiting}").status_int == 200
    assert bob.act(waiting, "notes", body=NOTE).status_int == 200
    assert conversation_state(waiting) == {
        "owner": "human",
        "status": "open",
        "assigned_user_id": alice.id,
    }


def test_closing_someone_elses_chat_needs_an_admin(make_staff, waiting, conversation_state):
    alice, bob, admin = make_staff(name="Alice"), make_staff(name="Bob"), make_staff("admin")
    alice.act(waiting, "join")
    refused = bob.act(waiting, "close")
    assert refused.status_int == 403
    assert refused.json["error"]["message"] == (
        "Alice is handling this chat; only they or an admin can close it."
    )
    assert conversation_state(waiting)["status"] == "open"
    assert admin.act(waiting, "close").status_int == 200
    assert conversation_state(waiting)["status"] == "closed"
    # Anyone may reopen; it goes back to the assistant.
    assert bob.act(waiting, "reopen").status_int == 200
    assert conversation_state(waiting) == {
        "owner": "assistant",
        "status": "open",
        "assigned_user_id": None,
    }


def test_a_waiting_chat_nobody_owns_may_be_closed_by_anyone(
    make_staff, waiting, conversation_state
):
    assert make_staff().act(waiting, "close").status_int == 200
    assert conversation_state(waiting)["status"] == "closed"
    refused = make_staff().act(waiting, "join")
    assert refused.status_int == 409 and refused.json["error"]["code"] == "conversation_closed"


def test_refusals_are_4xx_in_every_answer_format(make_staff, waiting):
    alice, bob = make_staff(name="Alice"), make_staff(name="Bob")
    alice.act(waiting, "join")
    # htmx: the controls partial, with the reason, and the status.
    partial = bob.post(f"/inbox/{waiting}/join", htmx=True)
    assert partial.status_int == 409
    assert partial.headers["X-Inbox-Partial"] == "1"
    assert (
        'id="controls"' in partial.text and "Alice is already handling this chat." in partial.text
    )
    # A plain form post: the page again, with the reason.
    page = bob.post(f"/inbox/{waiting}/join", {"csrf_token": bob.csrf}, json_=False)
    assert page.status_int == 409 and "Alice is already handling this chat." in page.text
    # Bad input is a 4xx too, never a 500.
    assert alice.act(waiting, "reply", body="").status_int == 422
    assert alice.act(waiting, "reply", body="x" * 4001).status_int == 422
    assert alice.act(waiting, "read", last_event_id="-1").status_int == 400
    assert alice.act(waiting, "typing", active="1").status_int == 204
    assert alice.act(999999, "join").status_int == 404
    assert alice.post("/inbox/presence", {"status": "asleep"}).status_int == 400
    assert alice.get("/inbox?filter=everything", status=400)
    twice = alice.web.post(
        f"/inbox/{waiting}/reply?x=1",
        [("body", "a"), ("body", "b")],
        headers={"X-CSRF-Token": alice.csrf},
        status="*",
    )
    assert twice.status_int == 400


def test_every_post_needs_the_csrf_token(make_staff, waiting, conversation_state):
    alice = make_staff()
    for action in ("join", "notes", "close", "read", "typing"):
        response = alice.web.post(f"/inbox/{waiting}/{action}", {"body": "x"}, status="*")
        assert response.status_int == 400, action
    assert alice.web.post("/inbox/heartbeat", {"idle": "0"}, status="*").status_int == 400
    assert conversation_state(waiting)["owner"] == "waiting"
    # The header alone is enough (htmx and fetch send it).
    assert alice.act(waiting, "join").status_int == 200


def test_the_inbox_is_for_staff_only(testapp, visitor, waiting):
    anonymous = testapp.get("/inbox", status=303)
    assert "/login" in anonymous.headers["Location"]
    assert testapp.get(f"/inbox/{waiting}", status=303)
    # A visitor's bearer token is no way in.
    assert testapp.get("/inbox", headers=visitor.headers, status="*").status_int in (303, 401)
    assert testapp.post(
        f"/inbox/{waiting}/join", headers=visitor.headers, status="*"
    ).status_int in (
        400,
        401,
    )


def test_get_changes_nothing(make_staff, waiting, run_in_tm):
    """Opening a conversation does not mark it read: that is a POST from inbox.js."""
    from asthron.conversations.models import Conversation

    alice = make_staff()

    def unread(db):
        return db.get(Conversation, waiting).unread_for_staff

    before = run_in_tm(unread)
    assert before == 1
    alice.get(f"/inbox/{waiting}")
    alice.get(f"/inbox/{waiting}/panel")
    alice.get("/inbox")
    assert run_in_tm(unread) == before
    last = alice.act(waiting, "read", last_event_id="999999")
    assert last.json == {"unread": 0}
    assert run_in_tm(unread) == 0


def test_notes_never_reach_the_visitor_or_the_model(
    live_server, registry, make_staff, http_visitor, stored_events
):
    answering = AnsweringResponder()
    registry["reply_runner"].responder = answering
    visitor = http_visitor()
    conversation_id = visitor.open()
    stream = visitor.stream(conversation_id)
    visitor.send(conversation_id, "hello")
    wait_for(lambda: answering.contexts, message="the first reply")
    staff = make_staff(name="Alice")
    assert staff.act(conversation_id, "notes", body=NOTE).status_int == 200
    visitor.send(conversation_id, "anything else?")
    wait_for(lambda: len(answering.contexts) == 2, message="the second reply")
    wait_for(
        lambda: [r[1] for r in stored_events(conversation_id)].count("assistant_message") == 2,
        message="the second reply stored",
    )

    # The model: the note is not in what it was given.
    prompt = repr(answering.contexts)
    assert NOTE not in prompt and "refund" not in prompt
    # Polling and long polling.
    polled = visitor.events(conversation_id)
    assert all(NOTE not in repr(e) for e in polled)
    status, data = visitor.call(
        "GET", f"/conversations/{conversation_id}/events?after={polled[-1]['id']}&wait=1"
    )
    assert status == 200 and data["events"] == []
    # The stream: read everything up to the last stored event.
    last_id = stored_events(conversation_id)[-1][0]
    frames = stream.read_until(lambda f: f.id == last_id or (f.id or 0) > last_id)
    assert all(NOTE not in repr(f.data) for f in frames)
    assert all(not (isinstance(f.data, dict) and f.data.get("type") == "note") for f in frames)
    stream.close()
    # Staff do see it.
    assert NOTE in staff.get(f"/inbox/{conversation_id}").text


def test_visitor_text_is_escaped_everywhere(make_staff, visitor, no_replies, run_in_tm):
    from asthron.conversations.models import Visitor as VisitorRow

    hostile = '<img src=x onerror=alert(1)><script>alert("x")</script>'
    conversation = visitor.open()
    visitor.send(conversation["id"], hostile)

    def name_them(db):
        row = db.query(VisitorRow).one()
        row.name = '"><script>alert(2)</script>'
        row.current_page_url = "javascript:alert(3)"

    run_in_tm(name_them)
    staff = make_staff()
    for page in (staff.get("/inbox"), staff.get(f"/inbox/{conversation['id']}")):
        assert "<script>alert" not in page.text and "<img src=x" not in page.text
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text
        assert 'href="javascript:' not in page.text
        csp = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert " on" not in _tags(page.text) and "style=" not in page.text


def _tags(html: str) -> str:
    """All the attribute text of the page's tags, to look for on* handlers."""
    import re

    return " ".join(re.findall(r"<[a-zA-Z][^>]*>", html)).replace("\n", " ")
