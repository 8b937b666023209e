"""The inbox list: filters, site allowlist, search (hostile input too), keyset pagination,
unread counts and waiting times."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from asthron.db import utcnow
from asthron.inbox import service as inbox


@pytest.fixture
def make_conversation(run_in_tm):
    """A conversation in the given state, with its own visitor and messages, made directly."""
    from asthron.conversations.models import Conversation, ConversationEvent, Visitor
    from asthron.security.tokens import new_token, token_hash

    def make(
        site_id,
        owner="assistant",
        status="open",
        assigned=None,
        messages=(),
        name=None,
        email=None,
        at=None,
        waiting_for=None,
        unread=0,
    ):
        def create(db):
            visitor = Visitor(
                site_id=site_id, token_hash=token_hash(new_token()), name=name, email=email
            )
            db.add(visitor)
            db.flush()
            when = at or utcnow()
            conversation = Conversation(
                site_id=site_id,
                visitor_id=visitor.id,
                owner=owner,
                status=status,
                open_slot=1 if status == "open" else None,
                assigned_user_id=assigned,
                last_activity_at=when,
                waiting_since=utcnow() - waiting_for if waiting_for else None,
                unread_for_staff=unread,
            )
            db.add(conversation)
            db.flush()
            for type_, body in messages:
                db.add(
                    ConversationEvent(
                        conversation_id=conversation.id,
                        type=type_,
                        body=body,
                        public=type_ != "note",
                        created_at=when,
                    )
                )
            return conversation.id

        return run_in_tm(create)

    return make


@pytest.fixture
def listing(run_in_tm):
    def run(user_id=None, limit=50, **params):
        def query(db):
            q = inbox.parse_query(db, params)
            page = inbox.list_conversations(db, user_id, q, limit=limit)
            return [row.id for row in page.rows], page.next_cursor

        return run_in_tm(query)

    return run


def test_filters(site, make_site, make_conversation, make_user, listing):
    me, other = make_user("staff"), make_user("staff")
    second = make_site("Blog", origins=("https://blog.example.com",))
    base = utcnow() - dt.timedelta(hours=1)
    ids = {
        "assistant": make_conversation(site["id"], at=base),
        "waiting": make_conversation(
            site["id"],
            "waiting",
            at=base + dt.timedelta(minutes=1),
            waiting_for=dt.timedelta(minutes=3),
        ),
        "mine": make_conversation(
            site["id"], "human", assigned=me["id"], at=base + dt.timedelta(minutes=2)
        ),
        "theirs": make_conversation(
            second["id"], "human", assigned=other["id"], at=base + dt.timedelta(minutes=3)
        ),
        "closed": make_conversation(
            second["id"], "human", "closed", assigned=me["id"], at=base + dt.timedelta(minutes=4)
        ),
    }
    newest_first = [ids[k] for k in ("closed", "theirs", "mine", "waiting", "assistant")]
    assert listing(me["id"])[0] == newest_first
    assert listing(me["id"], filter="all")[0] == newest_first
    assert listing(me["id"], filter="waiting")[0] == [ids["waiting"]]
    assert listing(me["id"], filter="mine")[0] == [ids["mine"]]  # not the closed one
    assert listing(other["id"], filter="mine")[0] == [ids["theirs"]]
    assert listing(me["id"], filter="assistant")[0] == [ids["assistant"]]
    assert listing(me["id"], filter="human")[0] == [ids["theirs"], ids["mine"]]
    assert listing(me["id"], filter="closed")[0] == [ids["closed"]]
    assert listing(me["id"], site=str(second["id"]))[0] == [ids["closed"], ids["theirs"]]
    assert listing(me["id"], site=str(site["id"]), filter="human")[0] == [ids["mine"]]


@pytest.mark.parametrize(
    "params, message",
    [
        ({"filter": "deleted"}, "Unknown filter"),
        ({"site": "999"}, "Unknown site."),
        ({"site": "1 OR 1=1"}, "Unknown site."),
        ({"site": "²"}, "Unknown site."),
        ({"before": "abc"}, "cursor is not valid"),
        ({"before": "1-2-3"}, "cursor is not valid"),
        ({"q": "x" * 201}, "too long"),
    ],
)
def test_bad_filters_are_a_clear_400(make_staff, site, params, message):
    staff = make_staff()
    page = staff.get("/inbox", params=params, status=400)
    assert message in page.text
    stream = staff.get("/inbox/stream", params=params, status=400)
    assert message in stream.text


def test_search_by_name_email_and_message_text(site, make_conversation, listing):
    grace = make_conversation(site["id"], name="Grace Hopper", messages=[("visitor_message", "hi")])
    ada = make_conversation(
        site["id"],
        email="ada@example.com",
        messages=[("visitor_message", "Do you ship TEAPOTS to Spain?")],
    )
    staff = make_conversation(site["id"], messages=[("staff_message", "Your refund is on its way")])
    noted = make_conversation(site["id"], messages=[("note", "vip customer")])
    system = make_conversation(site["id"], messages=[("system", "Grace joined the chat")])
    assert listing(q="grace")[0] == [grace]  # a system line does not count
    assert listing(q="ADA@EXAMPLE")[0] == [ada]
    assert listing(q="teapots")[0] == [ada]
    assert listing(q="refund")[0] == [staff]
    assert listing(q="VIP")[0] == [noted]
    assert listing(q="nothing like this")[0] == []
    assert system not in listing(q="joined")[0]


def test_hostile_search_is_literal(site, make_conversation, listing, make_staff):
    percent = make_conversation(site["id"], messages=[("visitor_message", "100% sure")])
    underscore = make_conversation(site["id"], messages=[("visitor_message", "my_order_id")])
    quote = make_conversation(site["id"], name="O'Brien")
    backslash = make_conversation(site["id"], messages=[("visitor_message", r"C:\temp")])
    plain = make_conversation(site["id"], messages=[("visitor_message", "100 sure, order id")])
    assert listing(q="%")[0] == [percent]
    assert listing(q="100%")[0] == [percent]
    assert listing(q="_")[0] == [underscore]
    assert listing(q="my_order")[0] == [underscore]
    assert listing(q="'")[0] == [quote]
    assert listing(q="O'Brien")[0] == [quote]
    assert listing(q="\\")[0] == [backslash]
    assert listing(q="%' OR '1'='1")[0] == []
    assert listing(q="\\%")[0] == []
    assert set(listing()[0]) == {percent, underscore, quote, backslash, plain}
    # The same over HTTP, and the text comes back escaped in the search box.
    page = make_staff().get("/inbox", params={"q": '%\' OR "1"="1'})
    assert 'value="%&#39; OR &#34;1&#34;=&#34;1"' in page.text
    assert "No conversations here." in page.text


def test_keyset_pagination_covers_everything_once(site, make_conversation, listing, make_staff):
    same = utcnow() - dt.timedelta(minutes=30)
    ids = [make_conversation(site["id"], at=same) for _ in range(4)]  # ties on the timestamp
    ids += [make_conversation(site["id"], at=same + dt.timedelta(seconds=n)) for n in range(1, 4)]
    expected = [*reversed(ids[4:]), *reversed(ids[:4])]  # newest first; ties by id, descending
    seen, cursor = [], None
    for _ in range(10):
        page, cursor = listing(limit=3, **({"before": cursor} if cursor else {}))
        seen += page
        if cursor is None:
            break
    assert seen == expected
    # Paging on from a cursor with a larger page neither repeats nor skips.
    first, cursor = listing(limit=3)
    rest, _ = listing(limit=50, before=cursor)
    assert first + rest == expected
    assert "Older conversations" not in make_staff().get("/inbox").text  # 7 < 50


def test_pagination_links_over_http(site, make_conversation, make_staff, monkeypatch):
    monkeypatch.setattr(inbox, "PAGE_SIZE", 2)
    ids = [make_conversation(site["id"], at=utcnow() - dt.timedelta(minutes=n)) for n in range(5)]
    staff = make_staff()
    seen, url, pages = [], "/inbox", 0
    for _ in range(5):
        pages += 1
        page = staff.get(url)
        assert ('sse-swap="list"' in page.text) == (pages == 1)
        seen += [int(x) for x in re.findall(r'data-conversation-id="(\d+)"', page.text)]
        link = re.search(r'href="(http://localhost/inbox\?[^"]*before=[^"]+)">Older', page.text)
        if not link:
            break
        url = link.group(1).replace("&amp;", "&")
    assert seen == ids and pages == 3


def test_unread_counts(make_staff, visitor, no_replies, run_in_tm):
    conversation = visitor.open()
    for text in ("one", "two", "three"):
        visitor.send(conversation["id"], text)
    staff = make_staff()
    row = re.search(r'title="(\d+) unread"', staff.get("/inbox").text)
    assert row and row.group(1) == "3"
    events = visitor.events(conversation["id"]).json["events"]
    # Read up to the second message: one left.
    assert staff.act(conversation["id"], "read", last_event_id=str(events[1]["id"])).json == {
        "unread": 1
    }
    assert 'title="1 unread"' in staff.get("/inbox").text
    # A staff reply reads everything.
    visitor.send(conversation["id"], "four")
    assert 'title="2 unread"' in staff.get("/inbox").text
    staff.act(conversation["id"], "join")
    staff.act(conversation["id"], "reply", body="Hello!")
    assert "unread" not in re.sub(r"Unread</th>", "", staff.get("/inbox").text).split("<tbody>")[1]


def test_waiting_time(site, make_conversation, make_staff):
    seven = make_conversation(
        site["id"], "waiting", name="Grace", waiting_for=dt.timedelta(minutes=7, seconds=5)
    )
    long_ago = make_conversation(
        site["id"], "waiting", name="Ada", waiting_for=dt.timedelta(hours=2, minutes=3)
    )
    html = make_staff().get("/inbox").text
    strip = html.split('id="waiting"')[1].split("</section>")[0]
    # Longest-waiting first in the waiting strip, each with its time.
    assert strip.index("Ada") < strip.index("Grace")
    assert re.search(rf'data-waiting-id="{seven}".*?>7 min</span>', strip, re.S)
    assert re.search(rf'data-waiting-id="{long_ago}".*?>2 h 03 min</span>', strip, re.S)
    assert "2 waiting for a person" in re.sub(r"<[^>]+>", "", strip)
    # And in the list rows.
    rows = html.split("<tbody>")[1]
    assert ">7 min</span>" in rows and ">2 h 03 min</span>" in rows


def test_waited_text():
    now = utcnow()
    assert inbox.waited(None, now) == ""
    assert inbox.waited(now - dt.timedelta(seconds=30), now) == "just now"
    assert inbox.waited(now + dt.timedelta(seconds=30), now) == "just now"  # clock skew
    assert inbox.waited(now - dt.timedelta(minutes=59, seconds=59), now) == "59 min"
    assert inbox.waited(now - dt.timedelta(hours=1), now) == "1 h 00 min"
    assert inbox.waited(now - dt.timedelta(days=3), now) == "3 days"


def test_cursor_round_trip():
    when = dt.datetime(2026, 5, 1, 12, 30, 45, 123456, tzinfo=dt.UTC)
    assert inbox.decode_cursor(inbox.encode_cursor(when, 42)) == (when, 42)
    with pytest.raises(inbox.InboxInputError):
        inbox.decode_cursor("12-")


def test_like_pattern_escapes_wildcards():
    assert inbox.like_pattern("50%_a\\b") == "%50\\%\\_a\\\\b%"
