"""Control characters a visitor sends never reach the database (and from there a terminal)."""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa

from asthron.text import is_control
from tests.fixtures.visitors import ORIGIN, Visitor

API = "/api/widget/v1"
OSC_TITLE = "\x1b]0;PWNED\x07"  # sets the terminal's title, then rings its bell
CSI_C1 = "\x9b31m"  # the one-byte (C1) form of ESC [


def _stored_strings(db):
    """(table.column, text) of every string stored anywhere, JSON values included."""
    from asthron.db import Base

    def walk(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for key, item in value.items():
                yield from walk(key)
                yield from walk(item)
        elif isinstance(value, list):
            for item in value:
                yield from walk(item)

    for table in Base.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, sa.String | sa.Text | sa.JSON)]
        if not columns:
            continue
        # In insertion order: PostgreSQL returns an updated row after the others otherwise.
        for row in db.execute(sa.select(*columns).order_by(*table.primary_key.columns)):
            for column, value in zip(columns, row, strict=True):
                for text in walk(value):
                    yield f"{table.name}.{column.name}", text


def _dirty(db) -> list[tuple[str, str]]:
    return [
        (where, text)
        for where, text in _stored_strings(db)
        if any(is_control(ch) and ch not in "\n\t" for ch in text)
    ]


def test_an_email_with_control_characters_is_refused(testapp, site, run_in_tm):
    visitor = Visitor(testapp, site)

    response = testapp.post_json(
        f"{API}/offline-messages",
        {"name": "Eve", "email": f"esc{OSC_TITLE}x@example.com", "message": "hello"},
        headers=visitor.headers,
        status=422,
    )

    assert response.json["error"]["code"] == "invalid_input"
    assert "email" in response.json["error"]["message"]
    assert run_in_tm(_dirty) == []


def test_no_visitor_string_is_stored_with_control_characters(testapp, site, run_in_tm):
    session = testapp.post_json(
        f"{API}/sessions",
        {
            "site_key": site["key"],
            # Percent-escapes are decoded when UTM values are read from the page address.
            "page_url": "https://shop.example.com/?utm_source=%1b]0;PWNED%07&utm_campaign=a%C2%9Bb",
            "timezone": f"Europe/Paris{OSC_TITLE}",
        },
        headers={"Origin": ORIGIN, "User-Agent": f"Mozilla/5.0 {OSC_TITLE}{CSI_C1}"},
        status=201,
    )
    headers = {"Authorization": f"Bearer {session.json['visitor_token']}", "Origin": ORIGIN}
    conversation = testapp.post_json(
        f"{API}/conversations",
        {"page_url": f"https://shop.example.com/{OSC_TITLE}"},
        headers=headers,
    ).json
    url = f"{API}/conversations/{conversation['id']}"
    testapp.post_json(
        f"{url}/messages",
        {"body": f"hi{OSC_TITLE} there{CSI_C1}\x7f\nsecond line", "client_id": "client-0001"},
        headers=headers,
        status=201,
    )
    card = testapp.post_json(f"{url}/lead-form", {}, headers=headers).json["event"]
    testapp.post_json(
        f"{url}/lead",
        {
            "card_id": card["data"]["card_id"],
            "fields": {"name": f"Mallory{OSC_TITLE}\u202e", "email": "mallory@example.com"},
        },
        headers=headers,
        status=201,
    )
    testapp.post_json(
        f"{API}/offline-messages",
        {"name": f"Eve{OSC_TITLE}\nSmith", "email": "eve@example.com", "message": f"x{CSI_C1}"},
        headers=headers,
        status=201,
    )

    assert run_in_tm(_dirty) == []
    stored = defaultdict(list)
    for where, text in run_in_tm(lambda db: list(_stored_strings(db))):
        stored[where].append(text)
    # The words survive; only the control characters are gone.
    assert stored["visitors.user_agent"] == ["Mozilla/5.0 ]0;PWNED31m"]
    assert stored["conversation_events.body"][0] == "hi]0;PWNED there31m\nsecond line"
    assert sorted(stored["leads.name"]) == ["Mallory]0;PWNED"]
    assert stored["visitors.name"] == ["Eve]0;PWNED Smith"]
    assert "]0;PWNED" in stored["leads.utm"]
